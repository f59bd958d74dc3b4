//! Fixed sample records (the golden vectors' cases) and proptest strategies for every record.

use std::collections::{BTreeMap, HashMap};

use celeriac_schemas::*;
use proptest::collection::{btree_map, hash_map, vec};
use proptest::option::of;
use proptest::prelude::*;
use uuid::Uuid;

/// A record type the tests know how to sample.
pub(crate) trait Sample: Record + std::fmt::Debug + PartialEq + Clone {
    /// The file stem, e.g. `TaskMessage`.
    const SHORT: &'static str;
    /// Fixed records, by case name.
    fn cases() -> Vec<(&'static str, Self)>;
    /// Random records.
    fn strategy() -> BoxedStrategy<Self>;
    /// The record as a writer of schema `version` could have written it (fields it lacks at
    /// their defaults), which is what today's reader must decode from that writer's bytes.
    fn written_by_version(self, _version: u32) -> Self {
        self
    }
}

// ---- fixed samples --------------------------------------------------------------------------

pub(super) const T0: i64 = 1_750_000_000_000;

pub(super) fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0192_0000_0000_7000_8000_0000_0000_0000 | n)
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Sample for TaskMessage {
    const SHORT: &'static str = "TaskMessage";
    fn cases() -> Vec<(&'static str, Self)> {
        let minimal = TaskMessage {
            id: id(1),
            task: "proj.add".into(),
            args: b"[2,3]".to_vec(),
            content_type: "application/json".into(),
            root_id: id(1),
            parent_id: None,
            group_id: None,
            workflow_step: None,
            retries: 0,
            max_retries: None,
            eta: None,
            expires: None,
            priority: None,
            queue: "default".into(),
            routing_key: None,
            soft_time_limit_ms: None,
            time_limit_ms: None,
            retry_policy: None,
            headers: BTreeMap::new(),
            trace_context: BTreeMap::new(),
            published_at: T0,
            origin: None,
            ignore_result: false,
            args_repr: None,
        };
        let full = TaskMessage {
            id: id(2),
            task: "proj.fetch_ünïcode".into(),
            args: (0u8..=255).collect(),
            content_type: "application/x-msgpack".into(),
            root_id: id(3),
            parent_id: Some(id(4)),
            group_id: Some(id(5)),
            workflow_step: Some(7),
            retries: 2,
            max_retries: Some(5),
            eta: Some(T0 + 5_000),
            expires: Some(T0 + 3_600_000),
            priority: Some(9),
            queue: "math".into(),
            routing_key: Some("math.add".into()),
            soft_time_limit_ms: Some(25_000),
            time_limit_ms: Some(30_000),
            retry_policy: Some(RetryPolicy {
                backoff_base_ms: 1_000,
                backoff_max_ms: 600_000,
                jitter: true,
            }),
            headers: map(&[("lang", "rust"), ("x-tenant", "acme")]),
            trace_context: map(&[(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )]),
            published_at: T0 - 1,
            origin: Some("gen1@host".into()),
            ignore_result: true,
            args_repr: Some("(2, '***')".into()),
        };
        vec![("minimal", minimal), ("full", full)]
    }
    fn strategy() -> BoxedStrategy<Self> {
        (
            (
                any_uuid(),
                text(),
                bytes(),
                text(),
                any_uuid(),
                of(any_uuid()),
                of(any_uuid()),
            ),
            (
                of(any::<i32>()),
                any::<i32>(),
                of(any::<i32>()),
                of(any::<i64>()),
                of(any::<i64>()),
            ),
            (
                of(any::<i32>()),
                text(),
                of(text()),
                of(any::<i64>()),
                of(any::<i64>()),
            ),
            (
                of(retry_policy()),
                string_map(),
                string_map(),
                any::<i64>(),
                of(text()),
            ),
            (any::<bool>(), of(text())),
        )
            .prop_map(|(a, b, c, d, e)| TaskMessage {
                id: a.0,
                task: a.1,
                args: a.2,
                content_type: a.3,
                root_id: a.4,
                parent_id: a.5,
                group_id: a.6,
                workflow_step: b.0,
                retries: b.1,
                max_retries: b.2,
                eta: b.3,
                expires: b.4,
                priority: c.0,
                queue: c.1,
                routing_key: c.2,
                soft_time_limit_ms: c.3,
                time_limit_ms: c.4,
                retry_policy: d.0,
                headers: d.1,
                trace_context: d.2,
                published_at: d.3,
                origin: d.4,
                ignore_result: e.0,
                args_repr: e.1,
            })
            .boxed()
    }
    fn written_by_version(mut self, version: u32) -> Self {
        if version < 2 {
            self.args_repr = None;
        }
        self
    }
}

fn retry_policy() -> impl Strategy<Value = RetryPolicy> {
    (any::<i64>(), any::<i64>(), any::<bool>()).prop_map(|(b, m, j)| RetryPolicy {
        backoff_base_ms: b,
        backoff_max_ms: m,
        jitter: j,
    })
}

impl Sample for WorkflowSpec {
    const SHORT: &'static str = "WorkflowSpec";
    fn cases() -> Vec<(&'static str, Self)> {
        let add = |n: u128, args: &[u8], slots, mode, options| WorkflowStep {
            step_id: format!("0.{n}"),
            task_id: id(100 + n),
            kind: StepKind::Task,
            task: "proj.add".into(),
            args: args.to_vec(),
            content_type: "application/json".into(),
            input_slots: slots,
            input_mode: mode,
            options,
            errback: false,
            link_error: vec![],
        };
        let chain = WorkflowSpec {
            id: id(10),
            label: Some("(2 + 2) * 8".into()),
            created_at: T0,
            steps: vec![
                add(0, b"[2,2]", 0, InputMode::Ignore, StepOptions::default()),
                WorkflowStep {
                    task: "proj.mul".into(),
                    link_error: vec![2],
                    ..add(
                        1,
                        b"[8]",
                        1,
                        InputMode::FirstArg,
                        StepOptions {
                            queue: Some("math".into()),
                            priority: Some(3),
                            countdown_ms: Some(1_500),
                            eta: Some(T0 + 10),
                            expires: Some(T0 + 60_000),
                            soft_time_limit_ms: Some(1_000),
                            time_limit_ms: Some(2_000),
                            max_retries: Some(3),
                            headers: HashMap::from([("x-tenant".to_string(), "acme".to_string())]),
                        },
                    )
                },
                WorkflowStep {
                    task: "proj.on_error".into(),
                    errback: true,
                    kind: StepKind::Task,
                    ..add(2, b"[]", 0, InputMode::Ignore, StepOptions::default())
                },
            ],
            edges: vec![WorkflowEdge {
                from: 0,
                to: 1,
                slot: 0,
            }],
            output: 1,
        };
        let chord = WorkflowSpec {
            id: id(11),
            label: None,
            created_at: T0,
            steps: vec![
                add(0, b"[1,1]", 0, InputMode::Ignore, StepOptions::default()),
                add(1, b"[2,2]", 0, InputMode::Ignore, StepOptions::default()),
                WorkflowStep {
                    kind: StepKind::Collect,
                    task: String::new(),
                    ..add(2, b"", 2, InputMode::ListFirstArg, StepOptions::default())
                },
                WorkflowStep {
                    kind: StepKind::Map,
                    task: "proj.tsum".into(),
                    ..add(3, b"", 1, InputMode::FirstArg, StepOptions::default())
                },
                WorkflowStep {
                    kind: StepKind::Starmap,
                    ..add(4, b"", 1, InputMode::FirstArg, StepOptions::default())
                },
            ],
            edges: vec![
                WorkflowEdge {
                    from: 0,
                    to: 2,
                    slot: 0,
                },
                WorkflowEdge {
                    from: 1,
                    to: 2,
                    slot: 1,
                },
                WorkflowEdge {
                    from: 2,
                    to: 3,
                    slot: 0,
                },
                WorkflowEdge {
                    from: 2,
                    to: 4,
                    slot: 0,
                },
            ],
            output: 3,
        };
        vec![("chain", chain), ("chord", chord)]
    }
    fn strategy() -> BoxedStrategy<Self> {
        (
            any_uuid(),
            of(text()),
            any::<i64>(),
            vec(step(), 0..4),
            vec(edge(), 0..4),
            any::<i32>(),
        )
            .prop_map(
                |(id, label, created_at, steps, edges, output)| WorkflowSpec {
                    id,
                    label,
                    created_at,
                    steps,
                    edges,
                    output,
                },
            )
            .boxed()
    }
}

fn step() -> impl Strategy<Value = WorkflowStep> {
    let kind = prop_oneof![
        Just(StepKind::Task),
        Just(StepKind::Collect),
        Just(StepKind::Map),
        Just(StepKind::Starmap)
    ];
    let mode = prop_oneof![
        Just(InputMode::Ignore),
        Just(InputMode::FirstArg),
        Just(InputMode::ListFirstArg)
    ];
    (
        (text(), any_uuid(), kind, text(), bytes(), text()),
        (
            any::<i32>(),
            mode,
            step_options(),
            any::<bool>(),
            vec(any::<i32>(), 0..4),
        ),
    )
        .prop_map(|(a, b)| WorkflowStep {
            step_id: a.0,
            task_id: a.1,
            kind: a.2,
            task: a.3,
            args: a.4,
            content_type: a.5,
            input_slots: b.0,
            input_mode: b.1,
            options: b.2,
            errback: b.3,
            link_error: b.4,
        })
}

fn step_options() -> impl Strategy<Value = StepOptions> {
    (
        (
            of(text()),
            of(any::<i32>()),
            of(any::<i64>()),
            of(any::<i64>()),
            of(any::<i64>()),
        ),
        (
            of(any::<i64>()),
            of(any::<i64>()),
            of(any::<i32>()),
            hash_map(text(), text(), 0..3),
        ),
    )
        .prop_map(|(a, b)| StepOptions {
            queue: a.0,
            priority: a.1,
            countdown_ms: a.2,
            eta: a.3,
            expires: a.4,
            soft_time_limit_ms: b.0,
            time_limit_ms: b.1,
            max_retries: b.2,
            headers: b.3,
        })
}

fn edge() -> impl Strategy<Value = WorkflowEdge> {
    (any::<i32>(), any::<i32>(), any::<i32>()).prop_map(|(from, to, slot)| WorkflowEdge {
        from,
        to,
        slot,
    })
}

// ---- strategy atoms -------------------------------------------------------------------------

pub(crate) fn any_uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

pub(crate) fn text() -> impl Strategy<Value = String> {
    prop_oneof![".{0,12}", any::<String>()]
}

pub(crate) fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..48)
}

pub(crate) fn string_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    btree_map(text(), text(), 0..4)
}

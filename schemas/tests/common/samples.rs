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

const T0: i64 = 1_750_000_000_000;

fn id(n: u128) -> Uuid {
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

fn task_error() -> impl Strategy<Value = TaskError> {
    (text(), text(), of(text())).prop_map(|(type_name, message, traceback)| TaskError {
        type_name,
        message,
        traceback,
    })
}

fn event_kind() -> impl Strategy<Value = TaskEventKind> {
    use TaskEventKind::*;
    prop_oneof![
        Just(Received),
        Just(Started),
        Just(Succeeded),
        Just(Failed),
        Just(Retried),
        Just(Revoked),
        Just(Rejected)
    ]
}

impl Sample for TaskEvent {
    const SHORT: &'static str = "TaskEvent";
    fn cases() -> Vec<(&'static str, Self)> {
        let started = TaskEvent {
            id: id(20),
            task_id: id(1),
            root_id: id(1),
            workflow_step: None,
            task: "proj.add".into(),
            kind: TaskEventKind::Started,
            timestamp: T0 + 3,
            hostname: "worker1@host".into(),
            retries: 0,
            result: None,
            content_type: None,
            error: None,
            runtime_ms: None,
            next_eta: None,
            queue: "default".into(),
        };
        let retried = TaskEvent {
            id: id(21),
            task_id: id(2),
            root_id: id(3),
            workflow_step: Some(1),
            kind: TaskEventKind::Retried,
            retries: 2,
            result: Some(b"\x00\x01partial".to_vec()),
            content_type: Some("application/avro".into()),
            error: Some(TaskError {
                type_name: "TimeLimitExceeded".into(),
                message: "soft time limit (25s) exceeded".into(),
                traceback: Some("at proj::fetch (src/lib.rs:10)".into()),
            }),
            runtime_ms: Some(25_001),
            next_eta: Some(T0 + 60_000),
            queue: "math".into(),
            ..started.clone()
        };
        vec![("started", started), ("retried", retried)]
    }
    fn strategy() -> BoxedStrategy<Self> {
        (
            (
                any_uuid(),
                any_uuid(),
                any_uuid(),
                of(any::<i32>()),
                text(),
                event_kind(),
                any::<i64>(),
            ),
            (
                text(),
                any::<i32>(),
                of(bytes()),
                of(text()),
                of(task_error()),
                of(any::<i64>()),
            ),
            (of(any::<i64>()), text()),
        )
            .prop_map(|(a, b, c)| TaskEvent {
                id: a.0,
                task_id: a.1,
                root_id: a.2,
                workflow_step: a.3,
                task: a.4,
                kind: a.5,
                timestamp: a.6,
                hostname: b.0,
                retries: b.1,
                result: b.2,
                content_type: b.3,
                error: b.4,
                runtime_ms: b.5,
                next_eta: c.0,
                queue: c.1,
            })
            .boxed()
    }
}

fn task_state() -> impl Strategy<Value = TaskState> {
    use TaskState::*;
    prop_oneof![
        Just(Pending),
        Just(Received),
        Just(Started),
        Just(Retry),
        Just(Success),
        Just(Failure),
        Just(Revoked)
    ]
}

impl Sample for TaskResult {
    const SHORT: &'static str = "TaskResult";
    fn cases() -> Vec<(&'static str, Self)> {
        let success = TaskResult {
            task_id: id(1),
            root_id: id(1),
            parent_id: None,
            task: "proj.add".into(),
            state: TaskState::Success,
            result: Some(b"5".to_vec()),
            content_type: Some("application/json".into()),
            error: None,
            retries: 0,
            hostname: Some("worker1@host".into()),
            date_done: T0 + 7,
            expires_at: Some(T0 + 86_400_000),
        };
        let failure = TaskResult {
            task_id: id(2),
            root_id: id(3),
            parent_id: Some(id(4)),
            state: TaskState::Failure,
            result: None,
            content_type: None,
            error: Some(TaskError {
                type_name: "ValueError".into(),
                message: "division by zero".into(),
                traceback: None,
            }),
            retries: 5,
            hostname: None,
            expires_at: None,
            ..success.clone()
        };
        vec![("success", success), ("failure", failure)]
    }
    fn strategy() -> BoxedStrategy<Self> {
        (
            (
                any_uuid(),
                any_uuid(),
                of(any_uuid()),
                text(),
                task_state(),
                of(bytes()),
            ),
            (
                of(text()),
                of(task_error()),
                any::<i32>(),
                of(text()),
                any::<i64>(),
                of(any::<i64>()),
            ),
        )
            .prop_map(|(a, b)| TaskResult {
                task_id: a.0,
                root_id: a.1,
                parent_id: a.2,
                task: a.3,
                state: a.4,
                result: a.5,
                content_type: b.0,
                error: b.1,
                retries: b.2,
                hostname: b.3,
                date_done: b.4,
                expires_at: b.5,
            })
            .boxed()
    }
}

fn control_kind() -> impl Strategy<Value = ControlKind> {
    use ControlKind::*;
    prop_oneof![
        Just(Revoke),
        Just(Terminate),
        Just(RateLimit),
        Just(Ping),
        Just(Shutdown),
        Just(Inspect)
    ]
}

impl Sample for ControlCommand {
    const SHORT: &'static str = "ControlCommand";
    fn cases() -> Vec<(&'static str, Self)> {
        let ping = ControlCommand {
            id: id(30),
            kind: ControlKind::Ping,
            task_ids: vec![],
            task_name: None,
            rate_limit: None,
            inspect: None,
            destination: vec![],
            reply_to: Some("celeriac.replies.abc".into()),
            issued_at: T0,
            expires_at: Some(T0 + 1_000),
        };
        let revoke = ControlCommand {
            id: id(31),
            kind: ControlKind::Terminate,
            task_ids: vec![id(1), id(2)],
            destination: vec!["worker1@host".into(), "worker2@host".into()],
            reply_to: None,
            expires_at: None,
            ..ping.clone()
        };
        let rate = ControlCommand {
            id: id(32),
            kind: ControlKind::RateLimit,
            task_name: Some("proj.fetch".into()),
            rate_limit: Some("10/s".into()),
            inspect: Some("stats".into()),
            ..ping.clone()
        };
        vec![("ping", ping), ("terminate", revoke), ("rate_limit", rate)]
    }
    fn strategy() -> BoxedStrategy<Self> {
        (
            (
                any_uuid(),
                control_kind(),
                vec(any_uuid(), 0..4),
                of(text()),
                of(text()),
            ),
            (
                of(text()),
                vec(text(), 0..3),
                of(text()),
                any::<i64>(),
                of(any::<i64>()),
            ),
        )
            .prop_map(|(a, b)| ControlCommand {
                id: a.0,
                kind: a.1,
                task_ids: a.2,
                task_name: a.3,
                rate_limit: a.4,
                inspect: b.0,
                destination: b.1,
                reply_to: b.2,
                issued_at: b.3,
                expires_at: b.4,
            })
            .boxed()
    }
}

impl Sample for ControlReply {
    const SHORT: &'static str = "ControlReply";
    fn cases() -> Vec<(&'static str, Self)> {
        vec![(
            "pong",
            ControlReply {
                command_id: id(30),
                hostname: "worker1@host".into(),
                body: r#"{"ok":"pong"}"#.into(),
                timestamp: T0 + 2,
            },
        )]
    }
    fn strategy() -> BoxedStrategy<Self> {
        (any_uuid(), text(), text(), any::<i64>())
            .prop_map(|(command_id, hostname, body, timestamp)| ControlReply {
                command_id,
                hostname,
                body,
                timestamp,
            })
            .boxed()
    }
}

impl Sample for WorkerHeartbeat {
    const SHORT: &'static str = "WorkerHeartbeat";
    fn cases() -> Vec<(&'static str, Self)> {
        vec![(
            "busy",
            WorkerHeartbeat {
                hostname: "worker1@host".into(),
                pid: 4242,
                queues: vec!["default".into(), "math".into()],
                active: 8,
                processed: 1_234_567_890_123,
                timestamp: T0 + 9,
                software_version: "0.1.0".into(),
            },
        )]
    }
    fn strategy() -> BoxedStrategy<Self> {
        (
            text(),
            any::<i32>(),
            vec(text(), 0..4),
            any::<i32>(),
            any::<i64>(),
            any::<i64>(),
            text(),
        )
            .prop_map(
                |(hostname, pid, queues, active, processed, timestamp, software_version)| {
                    WorkerHeartbeat {
                        hostname,
                        pid,
                        queues,
                        active,
                        processed,
                        timestamp,
                        software_version,
                    }
                },
            )
            .boxed()
    }
}

fn dead_kind() -> impl Strategy<Value = DeadLetterKind> {
    use DeadLetterKind::*;
    prop_oneof![
        Just(Undecodable),
        Just(UnknownTask),
        Just(RetriesExhausted),
        Just(Rejected)
    ]
}

impl Sample for DeadLetter {
    const SHORT: &'static str = "DeadLetter";
    fn cases() -> Vec<(&'static str, Self)> {
        let poison = DeadLetter {
            original: b"{\"not\": \"avro\"}".to_vec(),
            source_topic: "celeriac.tasks.default".into(),
            partition: 3,
            offset: 1_000_000_007,
            key: Some(b"k".to_vec()),
            reason: "bad magic: expected the Avro single-object marker C3 01, saw 7B 22".into(),
            kind: DeadLetterKind::Undecodable,
            task_id: None,
            dead_at: T0 + 11,
        };
        let exhausted = DeadLetter {
            key: None,
            kind: DeadLetterKind::RetriesExhausted,
            task_id: Some(id(2)),
            reason: "failed 6 times; max_retries is 5".into(),
            ..poison.clone()
        };
        vec![("undecodable", poison), ("retries_exhausted", exhausted)]
    }
    fn strategy() -> BoxedStrategy<Self> {
        (
            (bytes(), text(), any::<i32>(), any::<i64>(), of(bytes())),
            (text(), dead_kind(), of(any_uuid()), any::<i64>()),
        )
            .prop_map(|(a, b)| DeadLetter {
                original: a.0,
                source_topic: a.1,
                partition: a.2,
                offset: a.3,
                key: a.4,
                reason: b.0,
                kind: b.1,
                task_id: b.2,
                dead_at: b.3,
            })
            .boxed()
    }
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

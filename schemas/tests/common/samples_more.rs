//! Samples and strategies for the records other than `TaskMessage` and `WorkflowSpec`.

use celeriac_schemas::*;
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;

use super::samples::{any_uuid, bytes, id, text, Sample, T0};

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
                concurrency: 8,
                freq_ms: 2000,
                coordinator: "running".into(),
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
            (any::<i32>(), any::<i64>(), text()),
        )
            .prop_map(
                |(
                    hostname,
                    pid,
                    queues,
                    active,
                    processed,
                    timestamp,
                    software_version,
                    (concurrency, freq_ms, coordinator),
                )| {
                    WorkerHeartbeat {
                        hostname,
                        pid,
                        queues,
                        active,
                        processed,
                        timestamp,
                        software_version,
                        concurrency,
                        freq_ms,
                        coordinator,
                    }
                },
            )
            .boxed()
    }
    fn written_by_version(mut self, version: u32) -> Self {
        if version < 2 {
            self.concurrency = 0;
            self.freq_ms = 0;
        }
        if version < 3 {
            self.coordinator = String::new();
        }
        self
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

fn beat_kind() -> impl Strategy<Value = BeatFireKind> {
    use BeatFireKind::*;
    prop_oneof![Just(Fired), Just(Skipped), Just(Registered)]
}

impl Sample for BeatFire {
    const SHORT: &'static str = "BeatFire";
    fn cases() -> Vec<(&'static str, Self)> {
        let fired = BeatFire {
            entry: "cleanup-daily".into(),
            window: T0 + 60_000,
            kind: BeatFireKind::Fired,
            task_id: Some(id(3)),
            missed: 2,
            recorded_at: T0 + 60_042,
            leader: "beat1@host".into(),
        };
        let skipped = BeatFire {
            kind: BeatFireKind::Skipped,
            task_id: None,
            ..fired.clone()
        };
        vec![("fired", fired), ("skipped", skipped)]
    }
    fn strategy() -> BoxedStrategy<Self> {
        (
            (text(), any::<i64>(), beat_kind(), of(any_uuid())),
            (any::<i64>(), any::<i64>(), text()),
        )
            .prop_map(|(a, b)| BeatFire {
                entry: a.0,
                window: a.1,
                kind: a.2,
                task_id: a.3,
                missed: b.0,
                recorded_at: b.1,
                leader: b.2,
            })
            .boxed()
    }
}

//! `TaskEvent` and `TaskError`: what happened to one attempt (`schemas/avro/TaskEvent.avsc`).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What happened to one attempt of a task, on `celeriac.events` (key: the root id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskEvent {
    /// Id of this event, so a consumer can drop a duplicate delivery.
    #[serde(deserialize_with = "crate::uuid_field::deserialize")]
    pub id: Uuid,
    /// The task the event is about.
    #[serde(deserialize_with = "crate::uuid_field::deserialize")]
    pub task_id: Uuid,
    /// The task's workflow (root) id; the record's key.
    #[serde(deserialize_with = "crate::uuid_field::deserialize")]
    pub root_id: Uuid,
    /// Index into the workflow's steps; `None` for a lone task.
    pub workflow_step: Option<i32>,
    /// The registered task name.
    pub task: String,
    /// What happened.
    pub kind: TaskEventKind,
    /// When it happened (milliseconds since the Unix epoch, emitter's clock).
    pub timestamp: i64,
    /// The worker (or coordinator) that emitted the event.
    pub hostname: String,
    /// The attempt's retry count: 0 for the first attempt.
    pub retries: i32,
    /// The return value for [`TaskEventKind::Succeeded`], encoded as `content_type` says.
    #[serde(with = "apache_avro::serde_avro_bytes_opt")]
    pub result: Option<Vec<u8>>,
    /// Encoding of `result`; `None` when there is none.
    pub content_type: Option<String>,
    /// The failure, for failed, retried, revoked and rejected attempts.
    pub error: Option<TaskError>,
    /// How long the body ran, in milliseconds.
    pub runtime_ms: Option<i64>,
    /// When the retry will run, for [`TaskEventKind::Retried`].
    pub next_eta: Option<i64>,
    /// The queue the attempt was taken from.
    pub queue: String,
}

/// What happened to an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskEventKind {
    /// A worker took the message.
    Received,
    /// The body began to run.
    Started,
    /// It returned a result.
    Succeeded,
    /// It failed for good.
    Failed,
    /// It failed and will run again at `next_eta`.
    Retried,
    /// It was revoked or expired before or while running.
    Revoked,
    /// It could not be run at all (unknown task, undecodable arguments).
    Rejected,
}

/// Why an attempt failed, in the terms of Celery's `exc_type`, `exc_message` and `traceback`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TaskError {
    /// The kind of error, for example `"TimeLimitExceeded"`; matched by `autoretry_for`.
    pub type_name: String,
    /// The error's message (its `Display` text).
    pub message: String,
    /// Where it happened: a backtrace, a panic location or the source chain, if known.
    pub traceback: Option<String>,
}

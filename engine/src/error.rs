//! The engine's error type: what went wrong submitting, running or waiting for work.

use std::time::Duration;

use uuid::Uuid;

use crate::task::TaskError;

/// `Result` with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The log (Kafka or the embedded log) failed.
    #[error(transparent)]
    Log(#[from] celeriac_topics::Error),
    /// A record or payload could not be encoded or decoded.
    #[error(transparent)]
    Schema(#[from] celeriac_schemas::Error),
    /// A canvas is invalid or could not be compiled.
    #[error(transparent)]
    Canvas(#[from] celeriac_canvas::Error),
    /// The state store failed.
    #[error("state store at {path}: {detail}")]
    Storage {
        /// The store's directory.
        path: String,
        /// What failed.
        detail: String,
    },
    /// A configuration value is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// A queue name that cannot name a topic.
    #[error("invalid queue name {0:?}: use 1 to 200 ASCII letters, digits, '.', '_' or '-'")]
    InvalidQueue(String),
    /// A payload past the record limit (`[topics] max-record-bytes`): nothing was sent.
    #[error("{what} take {size} bytes, past the limit of {limit} ([topics] max-record-bytes)")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// No task of this name is registered.
    #[error("unknown task {0:?}: register it with app.task(..) in the worker's binary")]
    UnknownTask(String),
    /// Waiting for a result took longer than allowed.
    #[error("task {task_id} did not finish within {after:?}")]
    Timeout {
        /// The task waited for.
        task_id: Uuid,
        /// The bound that passed.
        after: Duration,
    },
    /// The task failed; its error is attached.
    #[error("task {task_id} failed: {error}")]
    TaskFailed {
        /// The failed task.
        task_id: Uuid,
        /// Its error.
        error: TaskError,
    },
    /// The task was revoked before it ran.
    #[error("task {0} was revoked")]
    Revoked(Uuid),
    /// A result was recorded but its value is not of the expected type.
    #[error("task {task_id}: the result does not decode as {expected}: {detail}")]
    ResultType {
        /// The task.
        task_id: Uuid,
        /// The Rust type asked for.
        expected: &'static str,
        /// The decoder's message.
        detail: String,
    },
    /// A record read from a topic is not what the topic carries.
    #[error("undecodable record at {topic}[{partition}]@{offset}: {reason}")]
    Undecodable {
        /// The topic read.
        topic: String,
        /// Its partition.
        partition: i32,
        /// The record's offset.
        offset: i64,
        /// What the decoder said.
        reason: String,
    },
    /// A worker's answer to a control command does not have the expected shape.
    #[error("reply from {hostname}: {detail}")]
    BadReply {
        /// The worker that answered.
        hostname: String,
        /// What was wrong with the body.
        detail: String,
    },
    /// The worker's coordinator could not stay up; the worker stopped.
    #[error("the coordinator could not stay up: {0}")]
    CoordinatorFailed(String),
    /// A worker asked to stop did not within its grace period and the leave bound (the
    /// cluster did not answer its last commits); it was left behind.
    #[error(
        "the worker did not stop within {after:?} (the cluster does not answer its last \
         commits): left behind; unfinished messages will run again"
    )]
    ShutdownTimedOut {
        /// The grace period plus the leave bound.
        after: Duration,
    },
    /// The app, worker or reader was shut down.
    #[error("the {0} is shut down")]
    Shutdown(&'static str),
}

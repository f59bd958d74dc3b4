//! `TaskResult`: the latest state of a task (`schemas/avro/TaskResult.avsc`).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Codec, Record as _, Result, TaskError};

/// The latest state of a task, on the compacted `celeriac.results` topic (key: the task id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskResult {
    /// The task; the record's key.
    #[serde(deserialize_with = "crate::uuid_field::deserialize")]
    pub task_id: Uuid,
    /// The task's workflow (root) id; equal to `task_id` for a lone task.
    #[serde(deserialize_with = "crate::uuid_field::deserialize")]
    pub root_id: Uuid,
    /// The task whose completion published this one, if any.
    #[serde(default, deserialize_with = "crate::uuid_field::deserialize_option")]
    pub parent_id: Option<Uuid>,
    /// The registered task name.
    pub task: String,
    /// Where the task is.
    pub state: TaskState,
    /// The return value for [`TaskState::Success`], encoded as `content_type` says.
    #[serde(with = "apache_avro::serde_avro_bytes_opt")]
    pub result: Option<Vec<u8>>,
    /// Encoding of `result`; `None` when there is none.
    pub content_type: Option<String>,
    /// The failure for [`TaskState::Failure`] and [`TaskState::Revoked`] (the last one for `Retry`).
    pub error: Option<TaskError>,
    /// How many times the task was retried.
    pub retries: i32,
    /// The worker that ran the last attempt, if one did.
    pub hostname: Option<String>,
    /// When the task reached this state (milliseconds since the Unix epoch).
    pub date_done: i64,
    /// When the result may be forgotten; `None` keeps it.
    pub expires_at: Option<i64>,
}

/// Celery's task states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskState {
    /// Not known yet.
    Pending,
    /// A worker took it.
    Received,
    /// Its body is running.
    Started,
    /// It failed and waits for its next attempt.
    Retry,
    /// It returned a result. Terminal.
    Success,
    /// It failed for good. Terminal.
    Failure,
    /// It was revoked. Terminal.
    Revoked,
}

impl TaskState {
    /// Celery's name for the state, as the records spell it.
    ///
    /// ```
    /// assert_eq!(celeriac_schemas::TaskState::Success.name(), "SUCCESS");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            TaskState::Pending => "PENDING",
            TaskState::Received => "RECEIVED",
            TaskState::Started => "STARTED",
            TaskState::Retry => "RETRY",
            TaskState::Success => "SUCCESS",
            TaskState::Failure => "FAILURE",
            TaskState::Revoked => "REVOKED",
        }
    }

    /// True for `Success`, `Failure` and `Revoked`: states a task never leaves.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Success | TaskState::Failure | TaskState::Revoked
        )
    }
}

/// The task and state of a [`TaskResult`]: what a reader needs to route a result without
/// decoding all of it (see [`TaskResult::head`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultHead {
    /// The task.
    pub task_id: Uuid,
    /// Its state.
    pub state: TaskState,
}

/// The first fields of `TaskResult`, in schema order, up to its state.
#[derive(Deserialize)]
struct HeadFields<'a> {
    #[serde(deserialize_with = "crate::uuid_field::deserialize")]
    task_id: Uuid,
    #[serde(deserialize_with = "crate::uuid_field::deserialize")]
    _root_id: Uuid,
    #[serde(default, deserialize_with = "crate::uuid_field::deserialize_option")]
    _parent_id: Option<Uuid>,
    #[serde(borrow)]
    _task: &'a str,
    state: TaskState,
}

impl TaskResult {
    /// Reads only the task id and state of an encoded result: a few allocation-free steps
    /// instead of a whole decode. Records of older schema versions are decoded whole.
    ///
    /// ```
    /// use celeriac_schemas::{Record, TaskResult, TaskState};
    ///
    /// let id = uuid::Uuid::now_v7();
    /// let result = TaskResult {
    ///     task_id: id, root_id: id, parent_id: None, task: "add".into(),
    ///     state: TaskState::Success, result: Some(b"3".to_vec()),
    ///     content_type: Some("application/json".into()), error: None, retries: 0,
    ///     hostname: None, date_done: 0, expires_at: None,
    /// };
    /// let head = TaskResult::head(&result.encode()?)?;
    /// assert_eq!((head.task_id, head.state), (id, TaskState::Success));
    /// # Ok::<(), celeriac_schemas::Error>(())
    /// ```
    pub fn head(bytes: &[u8]) -> Result<ResultHead> {
        match Codec::DEFAULT.decode_prefix::<TaskResult, HeadFields<'_>>(bytes)? {
            Some(head) => Ok(ResultHead {
                task_id: head.task_id,
                state: head.state,
            }),
            None => TaskResult::decode(bytes).map(|result| ResultHead {
                task_id: result.task_id,
                state: result.state,
            }),
        }
    }
}

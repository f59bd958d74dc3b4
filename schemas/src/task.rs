//! `TaskMessage`: one task to run (`schemas/avro/TaskMessage.avsc`).

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One task to run: what a worker consumes from `celeriac.tasks.<queue>` (key: the task id)
/// and what waits on `celeriac.timers` until its `eta`. Carries what Celery's message protocol
/// v2 carries. Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskMessage {
    /// The task id: unique per task, the same for every retry of it.
    #[serde(deserialize_with = "crate::uuid_field::deserialize")]
    pub id: Uuid,
    /// The registered task name, for example `"proj.add"`.
    pub task: String,
    /// The task's arguments, encoded as `content_type` says.
    #[serde(with = "apache_avro::serde_avro_bytes")]
    pub args: Vec<u8>,
    /// Encoding of `args` and of the result (see [`ContentType`](crate::ContentType)).
    pub content_type: String,
    /// The workflow this task belongs to; equal to `id` for a lone task.
    #[serde(deserialize_with = "crate::uuid_field::deserialize")]
    pub root_id: Uuid,
    /// The task whose completion published this one, if any.
    #[serde(default, deserialize_with = "crate::uuid_field::deserialize_option")]
    pub parent_id: Option<Uuid>,
    /// The group this task is a member of, if any.
    #[serde(default, deserialize_with = "crate::uuid_field::deserialize_option")]
    pub group_id: Option<Uuid>,
    /// Index into the [`WorkflowSpec`](crate::WorkflowSpec)'s steps; `None` for a lone task.
    pub workflow_step: Option<i32>,
    /// Retries so far; 0 on the first attempt.
    pub retries: i32,
    /// Retry budget; `None` uses the task's registered default.
    pub max_retries: Option<i32>,
    /// Not before this time; `None` runs as soon as a worker takes it.
    pub eta: Option<i64>,
    /// Revoke rather than run after this time; `None` never expires.
    pub expires: Option<i64>,
    /// 0 (lowest) to 9 (highest); `None` is the queue's default.
    pub priority: Option<i32>,
    /// The queue the task was published to (topic `celeriac.tasks.<queue>`).
    pub queue: String,
    /// The routing key the producer asked for, kept for Celery compatibility.
    pub routing_key: Option<String>,
    /// Soft time limit in milliseconds; `None` uses the task's default.
    pub soft_time_limit_ms: Option<i64>,
    /// Hard time limit in milliseconds; `None` uses the task's default.
    pub time_limit_ms: Option<i64>,
    /// Retry spacing; `None` uses the task's registered policy.
    pub retry_policy: Option<RetryPolicy>,
    /// Application headers, copied to every retry.
    pub headers: BTreeMap<String, String>,
    /// W3C Trace Context carrier (`traceparent`, `tracestate`, `baggage`); empty when not traced.
    pub trace_context: BTreeMap<String, String>,
    /// When the producer published this attempt (for queue latency).
    pub published_at: i64,
    /// Host name of the producer, if it said.
    pub origin: Option<String>,
    /// True when nobody will ask for the result: it is neither stored nor produced.
    pub ignore_result: bool,
    /// Added in v2: a short, human-readable rendering of `args` for logs and dashboards
    /// (Celery's `argsrepr`); `None` shows nothing.
    pub args_repr: Option<String>,
}

/// How retries are spaced: exponential backoff from `backoff_base_ms`, doubling each retry,
/// capped at `backoff_max_ms`, optionally with full jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Delay before the first retry, in milliseconds; doubled for each further retry.
    pub backoff_base_ms: i64,
    /// Upper bound of the delay between two attempts, in milliseconds.
    pub backoff_max_ms: i64,
    /// Draw each delay uniformly from zero to the computed backoff.
    pub jitter: bool,
}

impl TaskMessage {
    /// A lone task (its own root) on queue `default`, published now, with a fresh v4 id.
    pub fn new(task: impl Into<String>, content_type: impl Into<String>, args: Vec<u8>) -> Self {
        let id = Uuid::new_v4();
        TaskMessage {
            id,
            task: task.into(),
            args,
            content_type: content_type.into(),
            root_id: id,
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
            published_at: now_millis(),
            origin: None,
            ignore_result: false,
            args_repr: None,
        }
    }
}

/// Milliseconds since the Unix epoch, by this host's clock (0 before 1970), shifted by
/// [`clock_offset_ms`].
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .saturating_add(clock_offset_ms())
}

/// The variable that shifts this process's clock, for fault runs: a process started with
/// `CELERIAC_CLOCK_OFFSET_MS=-3000` behaves as a host whose clock is 3 s behind.
pub const CLOCK_OFFSET_VAR: &str = "CELERIAC_CLOCK_OFFSET_MS";

/// How far this process's clock is shifted (`CELERIAC_CLOCK_OFFSET_MS`, read once; 0 when
/// unset or not a number of milliseconds).
pub fn clock_offset_ms() -> i64 {
    static OFFSET: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *OFFSET.get_or_init(|| {
        std::env::var(CLOCK_OFFSET_VAR)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    })
}

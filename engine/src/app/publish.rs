//! Publishing tasks: building the `TaskMessage`, routing it, and sending it to its queue —
//! or to the timers topic when it must wait for a countdown or ETA.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use celeriac_schemas::{now_millis, Record, RetryPolicy, TaskMessage};
use celeriac_topics::OutRecord;
use uuid::Uuid;

use super::App;
use crate::results::AsyncResult;
use crate::Result;

/// The header of a task message parked on the timers topic to wait for its eta.
///
/// The coordinator that owns the timer sends the message to its queue unchanged once it is
/// due by the coordinator's clock, so a message on a task queue that carries this header was
/// released by that coordinator, and a worker runs it whatever its own clock says of the eta.
/// (A worker whose clock is behind would otherwise park it again, to be fired again at once,
/// for as long as the skew lasts.) A message with a future eta and without the header — sent
/// straight to a queue by another producer — is parked once, with the header.
pub const PARKED_HEADER: &str = "celeriac.timer.parked";

/// Celery's `apply_async` options for one call.
#[derive(Debug, Clone, Default)]
pub struct SendOptions {
    /// Run no sooner than this long after sending.
    pub countdown: Option<Duration>,
    /// Run no sooner than this time.
    pub eta: Option<SystemTime>,
    /// Revoke instead of running after this time.
    pub expires: Option<SystemTime>,
    /// The queue, overriding routes and the task's option.
    pub queue: Option<String>,
    /// 0 (lowest) to 9 (highest).
    pub priority: Option<u8>,
    /// Extra message headers.
    pub headers: BTreeMap<String, String>,
    /// The retry budget, overriding the task's.
    pub max_retries: Option<u32>,
    /// Backoff policy, overriding the task's.
    pub retry_policy: Option<RetryPolicy>,
    /// Soft time limit, overriding the task's.
    pub soft_time_limit: Option<Duration>,
    /// Hard time limit, overriding the task's.
    pub time_limit: Option<Duration>,
    /// Use this task id instead of a new one.
    pub task_id: Option<Uuid>,
}

pub(crate) fn millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl App {
    /// Builds the message for `task` with encoded `args` and `options`.
    pub(crate) fn message(
        &self,
        task: &str,
        content_type: &str,
        args: Vec<u8>,
        options: &SendOptions,
    ) -> TaskMessage {
        let mut message = TaskMessage::new(task, content_type, args);
        message.id = options.task_id.unwrap_or_else(Uuid::now_v7);
        message.root_id = message.id;
        message.queue = options
            .queue
            .clone()
            .unwrap_or_else(|| self.queue_for(task));
        let now = now_millis();
        message.eta = match (options.eta, options.countdown) {
            (Some(eta), _) => Some(millis(eta)),
            (None, Some(countdown)) => Some(now.saturating_add(duration_ms(countdown))),
            (None, None) => None,
        };
        message.expires = options.expires.map(millis);
        message.priority = options.priority.map(i32::from);
        message.headers = options.headers.clone();
        message.max_retries = options
            .max_retries
            .map(|n| i32::try_from(n).unwrap_or(i32::MAX));
        message.retry_policy = options.retry_policy;
        message.soft_time_limit_ms = options.soft_time_limit.map(duration_ms);
        message.time_limit_ms = options.time_limit.map(duration_ms);
        message.origin = Some(self.inner.hostname.clone());
        message
    }

    /// Sends a message: to its queue, or to the timers topic when its ETA is in the future.
    pub(crate) async fn publish(&self, message: &TaskMessage) -> Result<()> {
        crate::validate_queue(&message.queue)?;
        self.check_size(
            "the task's arguments",
            message.args.len(),
            self.inner.names.max_payload_bytes(),
        )?;
        let record = self.route_record(message)?;
        if *record.topic != *self.inner.names.timers() {
            self.ensure_queue(&message.queue).await?;
        }
        self.inner.log.send(record)?.await?;
        Ok(())
    }

    /// Refuses a payload past its limit, before anything is sent.
    pub(crate) fn check_size(&self, what: &'static str, size: usize, limit: usize) -> Result<()> {
        if size > limit {
            return Err(crate::Error::TooLarge { what, size, limit });
        }
        Ok(())
    }

    /// The record a message becomes: `tasks.<queue>` keyed by task id, or `timers` keyed by
    /// root id when it must wait.
    pub(crate) fn route_record(&self, message: &TaskMessage) -> Result<OutRecord> {
        if message.eta.is_some_and(|eta| eta > now_millis()) {
            self.timer_record(message)
        } else {
            self.queue_record(message)
        }
    }

    /// `message` for its queue, `tasks.<queue>`, keyed by task id.
    pub(crate) fn queue_record(&self, message: &TaskMessage) -> Result<OutRecord> {
        Ok(OutRecord::keyed(
            self.task_topic(&message.queue),
            crate::coordinator::record_key(&message.id),
            Bytes::from(message.encode()?),
        ))
    }

    /// `message` parked on `timers` until its eta, keyed by root id and marked with
    /// [`PARKED_HEADER`].
    pub(crate) fn timer_record(&self, message: &TaskMessage) -> Result<OutRecord> {
        let payload = if message.headers.contains_key(PARKED_HEADER) {
            message.encode()?
        } else {
            let mut parked = message.clone();
            parked.headers.insert(PARKED_HEADER.into(), "true".into());
            parked.encode()?
        };
        Ok(OutRecord::keyed(
            self.inner.names.timers(),
            crate::coordinator::record_key(&message.root_id),
            Bytes::from(payload),
        ))
    }

    /// Sends many messages at once (one batch per call to the log).
    async fn publish_batch(&self, messages: &[TaskMessage]) -> Result<()> {
        let mut records = Vec::with_capacity(messages.len());
        for message in messages {
            let record = self.route_record(message)?;
            if *record.topic != *self.inner.names.timers() {
                self.ensure_queue(&message.queue).await?;
            }
            records.push(record);
        }
        self.inner.log.send_batch(records).await?;
        Ok(())
    }

    /// Sends task `name` with JSON positional `args` — the untyped path the command line,
    /// HTTP and other languages use. The task need not be registered in this process.
    pub async fn send_task(
        &self,
        name: &str,
        args: &serde_json::Value,
        options: SendOptions,
    ) -> Result<AsyncResult<serde_json::Value>> {
        let args = match args {
            serde_json::Value::Array(_) => {
                serde_json::to_vec(args).map_err(|e| crate::Error::Config(e.to_string()))?
            }
            other => {
                return Err(crate::Error::Config(format!(
                    "task arguments are a JSON array of positional values, not {other}"
                )))
            }
        };
        let message = self.message(name, celeriac_canvas::JSON, args, &options);
        self.publish(&message).await?;
        Ok(AsyncResult::new(
            self.clone(),
            message.id,
            message.published_at,
        ))
    }

    /// Sends task `name` once per element of `calls` (each a JSON array of positional
    /// arguments) in one batch; returns the task ids in order.
    pub async fn send_tasks(
        &self,
        name: &str,
        calls: Vec<serde_json::Value>,
        options: SendOptions,
    ) -> Result<Vec<Uuid>> {
        let mut messages = Vec::with_capacity(calls.len());
        for args in calls {
            if !args.is_array() {
                return Err(crate::Error::Config(format!(
                    "task arguments are a JSON array of positional values, not {args}"
                )));
            }
            let bytes =
                serde_json::to_vec(&args).map_err(|e| crate::Error::Config(e.to_string()))?;
            messages.push(self.message(name, celeriac_canvas::JSON, bytes, &options));
        }
        self.publish_batch(&messages).await?;
        Ok(messages.iter().map(|m| m.id).collect())
    }

    /// Waits until every task in `ids` reached a terminal state (success or not). History is
    /// read once per partition for all the tasks whose results the reader no longer holds.
    pub async fn wait_for_all(&self, ids: &[Uuid], timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        let tasks = ids.iter().map(|id| (*id, crate::results::sent_at(id)));
        let waiting = tokio::time::timeout_at(deadline, self.inner.results.wait_many(tasks));
        let timed_out = |task_id: Uuid| crate::Error::Timeout {
            task_id,
            after: timeout,
        };
        let receivers = match waiting.await {
            Ok(receivers) => receivers?,
            Err(_) => return Err(timed_out(ids.first().copied().unwrap_or_default())),
        };
        for (id, receiver) in receivers {
            match tokio::time::timeout_at(deadline, receiver).await {
                Ok(Ok(_)) => {}
                Ok(Err(_)) => return Err(crate::Error::Shutdown("result reader")),
                Err(_) => return Err(timed_out(id)),
            }
        }
        Ok(())
    }
}

//! The typed handle of a registered task: `delay`, `apply_async`, `apply`, and (through
//! `Deref` to the canvas's `TaskRef`) the signatures `s`, `si`, `partial`, `map`, `chunks`.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::time::{Duration, SystemTime};

use celeriac_canvas::{TaskArgs, TaskRef};
use celeriac_schemas::{ContentType, RetryPolicy};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use super::{decode_output, Ctx, DeliveryInfo, Request, TaskBody};
use crate::app::{App, SendOptions};
use crate::results::AsyncResult;
use crate::{Error, Result};

/// A registered task with its input and output types.
pub struct Task<In, Out> {
    app: App,
    task_ref: TaskRef<In, Out>,
}

impl<In, Out> Clone for Task<In, Out> {
    fn clone(&self) -> Self {
        Self {
            app: self.app.clone(),
            task_ref: self.task_ref.clone(),
        }
    }
}

impl<In, Out> std::fmt::Debug for Task<In, Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Task({})", self.task_ref.name())
    }
}

impl<In, Out> Deref for Task<In, Out> {
    type Target = TaskRef<In, Out>;

    fn deref(&self) -> &TaskRef<In, Out> {
        &self.task_ref
    }
}

impl<In, Out> Task<In, Out> {
    pub(crate) fn new(app: App, task_ref: TaskRef<In, Out>) -> Self {
        Self { app, task_ref }
    }
}

impl<In, Out> Task<In, Out>
where
    In: TaskArgs + Send + 'static,
    Out: Serialize + DeserializeOwned + Send + 'static,
{
    /// Sends the task with default options (Celery's `delay`).
    pub async fn delay(&self, args: In) -> Result<AsyncResult<Out>> {
        self.apply_async(args).send().await
    }

    /// Starts a call with options (Celery's `apply_async`); finish with [`ApplyAsync::send`].
    pub fn apply_async(&self, args: In) -> ApplyAsync<'_, In, Out> {
        ApplyAsync {
            task: self,
            args,
            options: SendOptions::default(),
        }
    }

    /// Runs the task here and now, without a worker or the log (Celery's `apply`). Retry
    /// requests are honoured at once, up to the task's budget.
    pub async fn apply(&self, args: In) -> Result<Out> {
        let name = self.task_ref.name();
        let entry = self
            .app
            .inner
            .registry
            .get(name)
            .ok_or_else(|| Error::UnknownTask(name.to_owned()))?;
        let bytes =
            serde_json::to_vec(&args.to_args()?).map_err(|e| Error::Config(e.to_string()))?;
        let id = Uuid::now_v7();
        let mut retries = 0;
        loop {
            let ctx = Ctx::new(
                self.local_request(id, retries),
                entry.options.soft_time_limit,
            );
            let outcome = match &entry.body {
                TaskBody::Async(handler) => handler(ctx, ContentType::Json, &bytes).await,
                TaskBody::Blocking(handler) => handler(ctx, ContentType::Json, &bytes),
            };
            match outcome {
                Ok(output) => {
                    return decode_output(celeriac_canvas::JSON, &output).map_err(|detail| {
                        Error::ResultType {
                            task_id: id,
                            expected: std::any::type_name::<Out>(),
                            detail,
                        }
                    })
                }
                Err(error)
                    if error.retry_request().is_some() && retries < entry.options.max_retries =>
                {
                    retries += 1
                }
                Err(error) => return Err(Error::TaskFailed { task_id: id, error }),
            }
        }
    }

    fn local_request(&self, id: Uuid, retries: u32) -> Request {
        Request {
            id,
            task: self.task_ref.name().to_owned(),
            root_id: id,
            parent_id: None,
            group_id: None,
            retries,
            eta: None,
            expires: None,
            headers: BTreeMap::new(),
            delivery_info: DeliveryInfo {
                queue: String::new(),
                topic: String::new(),
                partition: -1,
                offset: -1,
            },
            hostname: self.app.hostname().to_owned(),
            workflow_step: None,
        }
    }
}

/// A task call being configured (Celery's `apply_async` keyword arguments).
#[must_use = "nothing is sent until .send().await"]
pub struct ApplyAsync<'a, In, Out> {
    task: &'a Task<In, Out>,
    args: In,
    options: SendOptions,
}

impl<In, Out> ApplyAsync<'_, In, Out>
where
    In: TaskArgs + Send + 'static,
    Out: Serialize + DeserializeOwned + Send + 'static,
{
    /// Runs no sooner than `delay` from now.
    pub fn countdown(mut self, delay: Duration) -> Self {
        self.options.countdown = Some(delay);
        self
    }

    /// Runs no sooner than `at`.
    pub fn eta(mut self, at: SystemTime) -> Self {
        self.options.eta = Some(at);
        self
    }

    /// Is revoked instead of run after `at`.
    pub fn expires(mut self, at: SystemTime) -> Self {
        self.options.expires = Some(at);
        self
    }

    /// Is revoked instead of run once `after` has passed from now.
    pub fn expires_in(mut self, after: Duration) -> Self {
        self.options.expires = Some(SystemTime::now() + after);
        self
    }

    /// Goes to `queue`.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.options.queue = Some(queue.into());
        self
    }

    /// Sets the priority (0–9).
    pub fn priority(mut self, priority: u8) -> Self {
        self.options.priority = Some(priority.min(9));
        self
    }

    /// Adds a message header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.headers.insert(name.into(), value.into());
        self
    }

    /// Overrides the retry budget.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.options.max_retries = Some(retries);
        self
    }

    /// Overrides the backoff policy.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.options.retry_policy = Some(policy);
        self
    }

    /// Overrides the hard time limit.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.options.time_limit = Some(limit);
        self
    }

    /// Overrides the soft time limit.
    pub fn soft_time_limit(mut self, limit: Duration) -> Self {
        self.options.soft_time_limit = Some(limit);
        self
    }

    /// Uses `id` as the task id.
    pub fn task_id(mut self, id: Uuid) -> Self {
        self.options.task_id = Some(id);
        self
    }

    /// Sends the task; the result handle works from any process that reaches the log.
    pub async fn send(self) -> Result<AsyncResult<Out>> {
        let app = &self.task.app;
        let args =
            serde_json::to_vec(&self.args.to_args()?).map_err(|e| Error::Config(e.to_string()))?;
        let message = app.message(
            self.task.task_ref.name(),
            celeriac_canvas::JSON,
            args,
            &self.options,
        );
        app.publish(&message).await?;
        Ok(AsyncResult::new(
            app.clone(),
            message.id,
            message.published_at,
        ))
    }
}

//! What a running task knows about itself: Celery's `task.request`, and its deadlines.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use celeriac_schemas::TaskMessage;
use celeriac_topics::TopicName;
use tokio::time::Instant;
use uuid::Uuid;

use super::TaskError;

/// Where a message was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryInfo {
    /// The queue (`tasks.<queue>` topic) it came from.
    pub queue: String,
    /// Topic name.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
}

/// Celery's `task.request`: the identity and circumstances of this attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The task's id.
    pub id: Uuid,
    /// The task name.
    pub task: String,
    /// The first task of the workflow this task belongs to (its own id if alone).
    pub root_id: Uuid,
    /// The task whose result started this one, if any.
    pub parent_id: Option<Uuid>,
    /// The group this task is a member of, if any.
    pub group_id: Option<Uuid>,
    /// Retries so far (0 on the first attempt).
    pub retries: u32,
    /// The ETA the task was scheduled for, in milliseconds since the Unix epoch.
    pub eta: Option<i64>,
    /// When the task expires, in milliseconds since the Unix epoch.
    pub expires: Option<i64>,
    /// Message headers.
    pub headers: BTreeMap<String, String>,
    /// Where the message was read from.
    pub delivery_info: DeliveryInfo,
    /// The worker running it.
    pub hostname: String,
    /// The step of its workflow, if it is part of one.
    pub workflow_step: Option<i32>,
}

/// What a worker's attempt knows; its [`Request`] is made from it when a task asks (most
/// never do).
#[derive(Debug)]
pub(crate) struct Attempt {
    /// The message being run.
    pub(crate) message: Arc<TaskMessage>,
    /// The queue it came from.
    pub(crate) queue: Arc<str>,
    /// The topic it was read from.
    pub(crate) topic: TopicName,
    /// Its partition there.
    pub(crate) partition: i32,
    /// Its offset in that partition.
    pub(crate) offset: i64,
    /// The worker running it.
    pub(crate) hostname: Arc<str>,
}

impl Attempt {
    fn request(&self) -> Request {
        let message = &self.message;
        Request {
            id: message.id,
            task: message.task.clone(),
            root_id: message.root_id,
            parent_id: message.parent_id,
            group_id: message.group_id,
            retries: u32::try_from(message.retries).unwrap_or(0),
            eta: message.eta,
            expires: message.expires,
            headers: message.headers.clone(),
            delivery_info: DeliveryInfo {
                queue: self.queue.to_string(),
                topic: self.topic.to_string(),
                partition: self.partition,
                offset: self.offset,
            },
            hostname: self.hostname.to_string(),
            workflow_step: message.workflow_step,
        }
    }
}

/// Where a context's request comes from.
#[derive(Debug)]
enum RequestSource {
    /// Made up front (a local `apply`).
    Ready(Request),
    /// A worker's attempt: made on first use.
    Attempt(Attempt, OnceLock<Request>),
}

/// The context handed to task functions registered with
/// [`App::task_with`](crate::App::task_with).
#[derive(Debug, Clone)]
pub struct Ctx {
    request: Arc<RequestSource>,
    soft_deadline: Option<Instant>,
}

impl Ctx {
    pub(crate) fn new(request: Request, soft_time_limit: Option<Duration>) -> Self {
        Self::with_source(RequestSource::Ready(request), soft_time_limit)
    }

    /// The context of a worker's attempt.
    pub(crate) fn for_attempt(attempt: Attempt, soft_time_limit: Option<Duration>) -> Self {
        Self::with_source(
            RequestSource::Attempt(attempt, OnceLock::new()),
            soft_time_limit,
        )
    }

    fn with_source(source: RequestSource, soft_time_limit: Option<Duration>) -> Self {
        Self {
            request: Arc::new(source),
            soft_deadline: soft_time_limit.map(|limit| Instant::now() + limit),
        }
    }

    /// This attempt's request: id, parents, retries, headers, delivery info, hostname.
    pub fn request(&self) -> &Request {
        match &*self.request {
            RequestSource::Ready(request) => request,
            RequestSource::Attempt(attempt, request) => request.get_or_init(|| attempt.request()),
        }
    }

    /// True once the soft time limit has passed: clean up and return.
    pub fn soft_time_limit_exceeded(&self) -> bool {
        self.soft_deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    /// Resolves when the soft time limit passes (never, without one); for `select!`.
    pub async fn soft_deadline(&self) {
        match self.soft_deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    }

    /// A retry request after `countdown`: `return Err(ctx.retry_in(secs(5)))`.
    pub fn retry_in(&self, countdown: Duration) -> TaskError {
        TaskError::retry_in(countdown)
    }

    /// A retry request using the task's backoff policy.
    pub fn retry(&self) -> TaskError {
        TaskError::retry()
    }
}

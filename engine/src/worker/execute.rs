//! Running one task: rate limit, time limits, panics, and the outcome as records — a result
//! event, a retry on the timers path, or a failure (dead-lettered when retries ran out) —
//! handed to the queue's [reporter](super::report) once sent.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use celeriac_schemas::{now_millis, ContentType, DeadLetterKind, TaskEventKind, TaskMessage};
use futures::FutureExt as _;
use tokio::time::Instant;

use super::events::{
    dead_lettered, event, event_record, failure, send_event, unrecordable, OutcomeRecords,
};
use super::rate_limit::TokenBucket;
use super::report::{Pending, Reporter};
use super::WorkerShared;
use crate::registry::TaskEntry;
use crate::task::{Attempt, Ctx, TaskBody, TaskError};
use crate::{lock, Result};

use crate::coordinator::STEP_KIND_HEADER;

/// A message taken from a queue, ready to run.
pub(crate) struct Job {
    pub(crate) message: Arc<TaskMessage>,
    pub(crate) entry: Arc<TaskEntry>,
    pub(crate) content_type: ContentType,
    pub(crate) record: celeriac_topics::Record,
    pub(crate) queue: Arc<str>,
}

/// How an attempt ended.
pub(crate) enum Outcome {
    Success(Vec<u8>),
    Failure(TaskError),
    /// Aborted by `terminate`: recorded as revoked.
    Terminated,
}

/// Runs `job`, sends its outcome's records and hands their deliveries to the queue's
/// reporter, which tells the queue loop once they are durable.
pub(crate) async fn execute(shared: Arc<WorkerShared>, job: Job, reporter: Reporter) {
    let permit = match shared.semaphore.try_acquire() {
        Ok(permit) if !rate_limited(&shared, &job.entry) => Ok(permit),
        quick => {
            drop(quick);
            // Waiting for a slot or a token: the message is reserved meanwhile.
            let reserved = Reserved {
                message: job.message.clone(),
                queue: job.queue.clone(),
                received_at: now_millis(),
            };
            lock(&shared.reserved).insert(job.message.id, reserved);
            let permit = shared.semaphore.acquire().await;
            if permit.is_ok() {
                wait_for_rate_limit(&shared, &job.entry).await;
            }
            lock(&shared.reserved).remove(&job.message.id);
            permit
        }
    };
    let Ok(_permit) = permit else {
        return;
    };
    // The attempt is boxed: this future (moved into its task and through the scheduler)
    // stays small.
    let outcome = if shared.revocations.is_revoked(job.message.id) {
        Outcome::Terminated
    } else {
        match Box::pin(run(&shared, &job)).await {
            Some(outcome) => outcome,
            None => return, // abandoned at shutdown: its offset stays uncommitted
        }
    };
    let records = outcome_records(&shared, &job, &outcome).map_or_else(
        |error| unrecordable(&shared, &job.record, Some(&job.message), &error),
        Some,
    );
    let Some(records) = records else {
        return; // nothing could be encoded: its offset stays uncommitted (logged)
    };
    let position = (job.record.topic_partition(), job.record.offset);
    let pending = Pending::send(
        shared.app.inner.log.as_ref(),
        position,
        Some(job.message.id),
        records,
    );
    shared.count_processed(); // after the outcome went to the log (or was refused)
    reporter.hand_in(pending);
}

/// A message waiting for a slot or a rate-limit token, for `inspect reserved`.
pub(crate) struct Reserved {
    pub(crate) message: Arc<TaskMessage>,
    pub(crate) queue: Arc<str>,
    pub(crate) received_at: i64,
}

/// True when a token must be taken before `entry` runs.
fn rate_limited(shared: &WorkerShared, entry: &TaskEntry) -> bool {
    entry.options.rate_limit.is_some() || shared.rate_limit_commanded.load(Ordering::Relaxed)
}

async fn wait_for_rate_limit(shared: &WorkerShared, entry: &TaskEntry) {
    loop {
        let wait = {
            let mut limits = lock(&shared.rate_limits);
            let bucket = match (limits.get_mut(&entry.name), entry.options.rate_limit) {
                (Some(bucket), _) => bucket,
                (None, Some(rate)) => limits
                    .entry(entry.name.clone())
                    .or_insert_with(|| TokenBucket::new(rate)),
                (None, None) => return,
            };
            match bucket.take(Instant::now()) {
                Ok(()) => return,
                Err(wait) => wait,
            }
        };
        tokio::time::sleep(wait).await;
    }
}

fn millis(ms: Option<i64>) -> Option<Duration> {
    ms.and_then(|ms| u64::try_from(ms).ok())
        .map(Duration::from_millis)
}

/// One attempt, abortable by `terminate` and by a shutdown, its panics caught. `None` when a
/// shutdown's grace period cut it off: nothing is recorded and the message runs again.
async fn run(shared: &WorkerShared, job: &Job) -> Option<Outcome> {
    let options = &job.entry.options;
    if options.track_started {
        if let Ok(delivery) =
            send_event(shared, &event(shared, &job.message, TaskEventKind::Started))
        {
            drop(delivery); // ordered before the outcome on the same partition; not awaited
        }
    }
    let soft = millis(job.message.soft_time_limit_ms).or(options.soft_time_limit);
    let hard = millis(job.message.time_limit_ms).or(options.time_limit);
    let attempt = Attempt {
        message: job.message.clone(),
        queue: job.queue.clone(),
        topic: job.record.topic.clone(),
        partition: job.record.partition,
        offset: job.record.offset,
        hostname: shared.hostname.clone(),
    };
    let ctx = Ctx::for_attempt(attempt, soft);
    let (body, abort) = futures::future::abortable(body(job, ctx));
    let running = Running {
        message: job.message.clone(),
        started_at: now_millis(),
    };
    lock(&shared.active).insert(job.message.id, (running, abort));
    let joined = match hard {
        Some(limit) => tokio::time::timeout(limit, body).await.ok(),
        None => Some(body.await),
    };
    lock(&shared.active).remove(&job.message.id);
    Some(match joined {
        None => {
            let limit = hard.unwrap_or_default();
            Outcome::Failure(TaskError::new(
                "TimeLimitExceeded",
                format!("hard time limit ({limit:?}) exceeded"),
            ))
        }
        Some(Ok(Ok(Ok(bytes)))) => Outcome::Success(bytes),
        Some(Ok(Ok(Err(error)))) => Outcome::Failure(error),
        Some(Ok(Err(panic))) => Outcome::Failure(panic_error(panic)),
        // Aborted: by `terminate`, or by a shutdown whose grace period ran out.
        Some(Err(futures::future::Aborted)) if shared.revocations.is_revoked(job.message.id) => {
            Outcome::Terminated
        }
        Some(Err(futures::future::Aborted)) => return None,
    })
}

/// A running task, for `inspect active`.
pub(crate) struct Running {
    pub(crate) message: Arc<TaskMessage>,
    pub(crate) started_at: i64,
}

/// What a task body's future yields: its outcome, or the payload of its panic.
type BodyOutput = std::thread::Result<Result<Vec<u8>, TaskError>>;

/// The body as a future of this task (an async body runs in place, with its panics caught; a
/// CPU-bound one on the blocking pool).
fn body(job: &Job, ctx: Ctx) -> futures::future::BoxFuture<'static, BodyOutput> {
    let content_type = job.content_type;
    let message = job.message.clone();
    match job.entry.body.clone() {
        TaskBody::Async(handler) => std::panic::AssertUnwindSafe(async move {
            match message.headers.get(STEP_KIND_HEADER).map(String::as_str) {
                Some(kind @ ("MAP" | "STARMAP")) => {
                    let calls = per_item_args(content_type, &message.args, kind == "STARMAP")?;
                    let mut results = Vec::with_capacity(calls.len());
                    for call in calls {
                        results.push(handler(ctx.clone(), content_type, &call).await?);
                    }
                    join_results(content_type, results)
                }
                _ => handler(ctx, content_type, &message.args).await,
            }
        })
        .catch_unwind()
        .boxed(),
        TaskBody::Blocking(handler) => {
            let joined =
                tokio::task::spawn_blocking(move || handler(ctx, content_type, &message.args));
            joined
                .map(|joined| match joined {
                    Ok(output) => Ok(output),
                    Err(error) if error.is_panic() => Err(error.into_panic()),
                    Err(_) => Ok(Err(TaskError::new(
                        "WorkerLost",
                        "the blocking pool shut down before the task ran",
                    ))),
                })
                .boxed()
        }
    }
}

/// For MAP/STARMAP steps: the single argument is a list of items; each becomes one call.
fn per_item_args(
    content_type: ContentType,
    args: &[u8],
    star: bool,
) -> Result<Vec<Vec<u8>>, TaskError> {
    let bad = |e: String| TaskError::new("ArgumentError", e);
    let outer: Vec<serde_json::Value> = match content_type {
        ContentType::MsgPack => rmp_serde::from_slice(args).map_err(|e| bad(e.to_string()))?,
        _ => serde_json::from_slice(args).map_err(|e| bad(e.to_string()))?,
    };
    let items = celeriac_canvas::map_items(outer).map_err(bad)?;
    items
        .into_iter()
        .map(|item| {
            let call = if star {
                item
            } else {
                serde_json::Value::Array(vec![item])
            };
            match content_type {
                ContentType::MsgPack => rmp_serde::to_vec(&call).map_err(|e| bad(e.to_string())),
                _ => serde_json::to_vec(&call).map_err(|e| bad(e.to_string())),
            }
        })
        .collect()
}

fn join_results(content_type: ContentType, results: Vec<Vec<u8>>) -> Result<Vec<u8>, TaskError> {
    let encode = |e: String| TaskError::new("EncodeError", e);
    let values: Vec<serde_json::Value> = results
        .iter()
        .map(|bytes| match content_type {
            ContentType::MsgPack => rmp_serde::from_slice(bytes).map_err(|e| encode(e.to_string())),
            _ => serde_json::from_slice(bytes).map_err(|e| encode(e.to_string())),
        })
        .collect::<Result<_, _>>()?;
    match content_type {
        ContentType::MsgPack => rmp_serde::to_vec(&values).map_err(|e| encode(e.to_string())),
        _ => serde_json::to_vec(&values).map_err(|e| encode(e.to_string())),
    }
}

fn panic_error(payload: Box<dyn std::any::Any + Send>) -> TaskError {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-text payload".into());
    TaskError::new("Panic", message)
}

/// The records an outcome becomes, not yet sent.
pub(crate) fn outcome_records(
    shared: &WorkerShared,
    job: &Job,
    outcome: &Outcome,
) -> Result<OutcomeRecords> {
    let message = &job.message;
    match outcome {
        Outcome::Success(bytes) => {
            let keep = !(message.ignore_result || job.entry.options.ignore_result);
            // A result the log would refuse fails its task here: sent, it would be
            // resent forever and its message never committed.
            if let Some(why) = keep
                .then(|| shared.app.names().result_past_limit(bytes.len()))
                .flatten()
            {
                let error = TaskError::new("ResultTooLarge", why);
                let failed = failure(shared, message, TaskEventKind::Failed, &error);
                return Ok(OutcomeRecords::Single(event_record(shared, &failed)?));
            }
            let mut succeeded = event(shared, message, TaskEventKind::Succeeded);
            if keep {
                succeeded.result = Some(bytes.clone());
                succeeded.content_type = Some(job.content_type.as_str().to_owned());
            }
            Ok(OutcomeRecords::Single(event_record(shared, &succeeded)?))
        }
        Outcome::Terminated => {
            let error = TaskError::new("Terminated", "revoked by a control command");
            let revoked = failure(shared, message, TaskEventKind::Revoked, &error);
            Ok(OutcomeRecords::Single(event_record(shared, &revoked)?))
        }
        Outcome::Failure(error) => failure_records(shared, job, error),
    }
}

/// A failed attempt: a retry if the error asks for one (or matches `autoretry_for`) and the
/// budget allows, else a failure — dead-lettered when it was a retry that ran out.
fn failure_records(shared: &WorkerShared, job: &Job, error: &TaskError) -> Result<OutcomeRecords> {
    let message = &job.message;
    let options = &job.entry.options;
    let wants_retry =
        error.retry_request().is_some() || options.autoretry_for.iter().any(|k| k == error.kind());
    if !wants_retry {
        let failed = failure(shared, message, TaskEventKind::Failed, error);
        return Ok(OutcomeRecords::Single(event_record(shared, &failed)?));
    }
    let mut policy = shared.app.retry_policy_for(&message.queue, options);
    if let Some(max) = message.max_retries {
        policy.max_retries = u32::try_from(max).unwrap_or(0);
    }
    if let Some(retry) = message.retry_policy {
        policy.retry_backoff = true;
        policy.retry_backoff_base = millis(Some(retry.backoff_base_ms)).unwrap_or_default();
        policy.retry_backoff_max = millis(Some(retry.backoff_max_ms)).unwrap_or_default();
        policy.retry_jitter = retry.jitter;
    }
    let retries = u32::try_from(message.retries).unwrap_or(0);
    let requested = error.retry_request().and_then(|r| r.countdown);
    match policy.retry_delay(retries, requested, fastrand::f64()) {
        Some(delay) => {
            let mut next = TaskMessage::clone(message);
            next.retries += 1;
            let now = shared.now();
            next.eta =
                Some(now.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)));
            next.published_at = now;
            // Decided by the delay, not by comparing the eta with a clock again.
            let retry_message = if delay.is_zero() {
                shared.app.queue_record(&next)?
            } else {
                shared.app.timer_record(&next)?
            };
            let mut retried = failure(shared, message, TaskEventKind::Retried, error);
            retried.next_eta = next.eta;
            Ok(OutcomeRecords::Retry {
                message: retry_message,
                retried: event_record(shared, &retried)?,
            })
        }
        None => {
            let exhausted = if error.retry_request().is_some() {
                TaskError::new(
                    "MaxRetriesExceededError",
                    format!(
                        "{} gave up after {} retries: {}",
                        message.task,
                        retries,
                        error.message()
                    ),
                )
            } else {
                error.clone()
            };
            let reason = format!("retries exhausted after {retries}: {exhausted}");
            dead_lettered(
                shared,
                &job.record,
                DeadLetterKind::RetriesExhausted,
                reason,
                Some((message, &exhausted)),
            )
        }
    }
}

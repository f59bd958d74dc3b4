//! One queue's consume loop: take messages within the prefetch bound, screen them (poison,
//! unknown task, revoked, expired, early), start the rest, and commit by low watermark.

use std::sync::Arc;
use std::time::Duration;

use celeriac_schemas::{
    now_millis, ContentType, DeadLetterKind, Record as _, TaskEventKind, TaskMessage,
};
use celeriac_topics::{Consumer, ConsumerConfig, ConsumerEvent, Record, TopicPartition};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::events::{dead_letter, event, failure, send_event};
use super::execute::{execute, Job};
use super::inflight::InFlight;
use super::report::{spawn_reporter, Reporter};
use super::WorkerShared;
use crate::task::TaskError;
use crate::Result;

/// How often finished offsets are committed.
const COMMIT_EVERY: Duration = Duration::from_millis(100);

/// Consumes `queue` until the worker is cancelled, then drains within `grace`.
pub(crate) async fn run(
    shared: Arc<WorkerShared>,
    queue: String,
    prefetch: usize,
    grace: Duration,
) -> Result<()> {
    let names = &shared.app.inner.names;
    let config = ConsumerConfig::new(names.worker_group(&queue), [names.tasks(&queue)])
        .client_id(shared.app.hostname().to_owned());
    let consumer = shared.app.inner.log.consumer(config).await?;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let reporter = spawn_reporter(shared.clone(), done_tx);
    let queue_name: Arc<str> = queue.as_str().into();
    let mut inflight = InFlight::default();
    let mut paused = false;
    let mut last_commit = Instant::now();
    while !shared.cancel.is_cancelled() {
        while let Ok((tp, offset)) = done_rx.try_recv() {
            inflight.finish(&tp, offset);
        }
        let budget = prefetch.saturating_sub(inflight.running());
        paused = apply_backpressure(consumer.as_ref(), budget == 0, paused)?;
        if last_commit.elapsed() >= COMMIT_EVERY {
            commit(consumer.as_ref(), &mut inflight).await;
            last_commit = Instant::now();
        }
        let wait = if inflight.running() > 0 {
            Duration::from_millis(10)
        } else {
            Duration::from_millis(100)
        };
        let polled = tokio::select! {
            polled = consumer.poll(budget.max(1), wait) => polled,
            _ = shared.cancel.cancelled() => break,
        };
        match polled {
            Ok(ConsumerEvent::Records(records)) => {
                for record in records {
                    dispatch(&shared, &queue_name, record, &mut inflight, &reporter).await;
                }
            }
            Ok(ConsumerEvent::Assigned(_)) => paused = false,
            Ok(ConsumerEvent::Revoked(partitions)) => {
                partitions.iter().for_each(|tp| inflight.forget(tp))
            }
            Err(error) => {
                tracing::warn!(%error, queue, "poll failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    drop(reporter); // the reporter ends once the last attempt has handed in its outcome
    drain(
        &shared,
        consumer.as_ref(),
        &mut inflight,
        &mut done_rx,
        grace,
    )
    .await;
    consumer.close().await?;
    Ok(())
}

fn apply_backpressure(consumer: &dyn Consumer, full: bool, paused: bool) -> Result<bool> {
    if full != paused {
        let assignment = consumer.assignment()?;
        if full {
            consumer.pause(&assignment)?;
        } else {
            consumer.resume(&assignment)?;
        }
    }
    Ok(full)
}

async fn commit(consumer: &dyn Consumer, inflight: &mut InFlight) {
    let offsets = inflight.committable();
    if offsets.is_empty() {
        return;
    }
    if let Err(error) = consumer.commit(&offsets).await {
        tracing::warn!(%error, "commit failed; the messages may run again after a rebalance");
    }
}

/// Stops taking messages, waits up to `grace` for running ones, commits what finished.
async fn drain(
    shared: &WorkerShared,
    consumer: &dyn Consumer,
    inflight: &mut InFlight,
    done: &mut mpsc::UnboundedReceiver<(TopicPartition, i64)>,
    grace: Duration,
) {
    let deadline = Instant::now() + grace;
    let mut reporter_ended = false;
    while inflight.running() > 0 {
        match tokio::time::timeout_at(deadline, done.recv()).await {
            Ok(Some((tp, offset))) => inflight.finish(&tp, offset),
            Ok(None) => {
                reporter_ended = true;
                break;
            }
            Err(_) => break,
        }
    }
    if inflight.running() > 0 && reporter_ended {
        // Every attempt has ended; these outcomes (or dead letters) were not recorded.
        tracing::warn!(
            unrecorded = inflight.running(),
            "messages whose outcome was not recorded will run again"
        );
    } else if inflight.running() > 0 {
        tracing::warn!(
            running = inflight.running(),
            "grace period over; unfinished tasks will run again"
        );
        // Nothing more starts (messages waiting for a slot give up) and running ones stop.
        shared.semaphore.close();
        for (_, (_, abort)) in crate::lock(&shared.active).drain() {
            abort.abort();
        }
    }
    commit(consumer, inflight).await;
}

/// Screens one message and starts it, or settles it at once.
async fn dispatch(
    shared: &Arc<WorkerShared>,
    queue: &Arc<str>,
    record: Record,
    inflight: &mut InFlight,
    reporter: &Reporter,
) {
    let tp = record.topic_partition();
    let offset = record.offset;
    match screen(shared, queue, record).await {
        Ok(Some(job)) => {
            inflight.start(&tp, offset);
            tokio::spawn(execute(shared.clone(), job, reporter.clone()));
        }
        Ok(None) => inflight.skip(&tp, offset),
        Err(error) => {
            // Not settled (the log refused the dead letter or event): it stays in flight and
            // uncommitted, so it is read again after a restart rather than lost.
            tracing::error!(%error, %tp, offset, "could not settle a message; it stays uncommitted");
            inflight.start(&tp, offset);
        }
    }
}

/// Decides what to do with a message: `Some(job)` to run it; `None` when it was settled
/// (dead-lettered, revoked, expired, or forwarded to wait for its ETA).
async fn screen(shared: &WorkerShared, queue: &Arc<str>, record: Record) -> Result<Option<Job>> {
    let settle = |delivery: Result<celeriac_topics::Delivery>| async move {
        match delivery {
            Ok(delivery) => delivery.await.map(drop).map_err(crate::Error::from),
            Err(error) => Err(error),
        }
    };
    let message = match TaskMessage::decode(&record.payload) {
        Ok(message) => message,
        Err(error) => {
            let reason = format!("undecodable task message: {error}");
            settle(dead_letter(
                shared,
                &record,
                DeadLetterKind::Undecodable,
                reason,
                None,
            ))
            .await?;
            return Ok(None);
        }
    };
    let Some(entry) = shared.app.inner.registry.get(&message.task) else {
        let error = TaskError::new(
            "UnknownTask",
            format!(
                "no task named {:?} is registered on this worker",
                message.task
            ),
        );
        settle(send_event(
            shared,
            &failure(shared, &message, TaskEventKind::Failed, &error),
        ))
        .await?;
        settle(dead_letter(
            shared,
            &record,
            DeadLetterKind::UnknownTask,
            error.to_string(),
            Some(message.id),
        ))
        .await?;
        return Ok(None);
    };
    let content_type = match ContentType::parse(&message.content_type) {
        Ok(content_type) => content_type,
        Err(error) => {
            let error = TaskError::new("ContentTypeRefused", error.to_string());
            settle(send_event(
                shared,
                &failure(shared, &message, TaskEventKind::Failed, &error),
            ))
            .await?;
            settle(dead_letter(
                shared,
                &record,
                DeadLetterKind::Rejected,
                error.to_string(),
                Some(message.id),
            ))
            .await?;
            return Ok(None);
        }
    };
    let now = now_millis();
    let revoked = shared.revocations.is_revoked(message.id);
    let expired = message.expires.is_some_and(|expires| expires <= now);
    if revoked || expired {
        let why = if revoked {
            "revoked by a control command"
        } else {
            "expired before it could run"
        };
        let error = TaskError::new(if revoked { "Revoked" } else { "Expired" }, why);
        settle(send_event(
            shared,
            &failure(shared, &message, TaskEventKind::Revoked, &error),
        ))
        .await?;
        return Ok(None);
    }
    if message.eta.is_some_and(|eta| eta > now) {
        // Sent with an ETA straight to the queue: it waits on the timers path instead.
        let forwarded = shared
            .app
            .route_record(&message)
            .and_then(|r| Ok(shared.app.inner.log.send(r)?));
        settle(forwarded).await?;
        return Ok(None);
    }
    if shared.send_events {
        if let Ok(delivery) = send_event(shared, &event(shared, &message, TaskEventKind::Received))
        {
            drop(delivery);
        }
    }
    Ok(Some(Job {
        message: Arc::new(message),
        entry,
        content_type,
        record,
        queue: queue.clone(),
    }))
}

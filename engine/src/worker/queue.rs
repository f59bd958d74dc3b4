//! One queue's consume loop: take messages within the prefetch bound, screen them (poison,
//! unknown task, revoked, expired, early), start the rest, and commit by low watermark.
//!
//! A message screened out is settled through the reporter like an attempt's outcome: its
//! dead letter (or revocation, or forward to the timers path) is sent again until the log
//! takes it, and the message is done — its offset committable — only once that is durable.

use std::sync::Arc;
use std::time::Duration;

use celeriac_schemas::{ContentType, DeadLetterKind, Record as _, TaskEventKind, TaskMessage};
use celeriac_topics::{Consumer, ConsumerConfig, ConsumerEvent, Record};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::events::{
    dead_lettered, event, event_record, failure, send_event, unrecordable, OutcomeRecords,
};
use super::execute::{execute, Job};
use super::inflight::InFlight;
use super::report::{spawn_reporter, Pending, Position, Reporter};
use super::WorkerShared;
use crate::app::PARKED_HEADER;
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
                    dispatch(&shared, &queue_name, record, &mut inflight, &reporter);
                }
            }
            Ok(ConsumerEvent::Assigned(partitions)) => {
                // librdkafka can hand a partition back still paused from before the
                // rebalance: resume what was assigned, and let backpressure pause it again.
                if let Err(error) = consumer.resume(&partitions) {
                    tracing::warn!(%error, queue, "resuming newly assigned partitions");
                }
                paused = false;
            }
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
    done: &mut mpsc::UnboundedReceiver<Position>,
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

/// Screens one message and starts it, or hands what settles it to the reporter; either way
/// it stays in flight until its records are durable.
fn dispatch(
    shared: &Arc<WorkerShared>,
    queue: &Arc<str>,
    record: Record,
    inflight: &mut InFlight,
    reporter: &Reporter,
) {
    let tp = record.topic_partition();
    let offset = record.offset;
    match screen(shared, queue, record) {
        Screened::Run(job) => {
            inflight.start(&tp, offset);
            tokio::spawn(execute(shared.clone(), job, reporter.clone()));
        }
        Screened::Settle { records, task_id } => {
            inflight.start(&tp, offset);
            let log = shared.app.inner.log.as_ref();
            reporter.hand_in(Pending::send(log, (tp, offset), task_id, records));
        }
        Screened::Stuck => inflight.start(&tp, offset),
    }
}

/// What the queue loop does with a message.
enum Screened {
    /// Run it.
    Run(Job),
    /// Write these records instead (a dead letter, a revocation, a forward to wait for its
    /// ETA); the message is done once they are durable.
    Settle {
        records: OutcomeRecords,
        task_id: Option<uuid::Uuid>,
    },
    /// Nothing could be encoded to settle it (logged): it stays uncommitted.
    Stuck,
}

/// Decides what to do with a message.
fn screen(shared: &WorkerShared, queue: &Arc<str>, record: Record) -> Screened {
    let message = match TaskMessage::decode(&record.payload) {
        Ok(message) => message,
        Err(error) => {
            let reason = format!("undecodable task message: {error}");
            let records = dead_lettered(shared, &record, DeadLetterKind::Undecodable, reason, None);
            return settle(shared, &record, None, records);
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
        let (kind, reason) = (DeadLetterKind::UnknownTask, error.to_string());
        let records = dead_lettered(shared, &record, kind, reason, Some((&message, &error)));
        return settle(shared, &record, Some(&message), records);
    };
    let content_type = match ContentType::parse(&message.content_type) {
        Ok(content_type) => content_type,
        Err(error) => {
            let error = TaskError::new("ContentTypeRefused", error.to_string());
            let (kind, reason) = (DeadLetterKind::Rejected, error.to_string());
            let records = dead_lettered(shared, &record, kind, reason, Some((&message, &error)));
            return settle(shared, &record, Some(&message), records);
        }
    };
    let now = shared.now();
    let revoked = shared.revocations.is_revoked(message.id);
    let expired = message.expires.is_some_and(|expires| expires <= now);
    if revoked || expired {
        let why = if revoked {
            "revoked by a control command"
        } else {
            "expired before it could run"
        };
        let error = TaskError::new(if revoked { "Revoked" } else { "Expired" }, why);
        let revocation = failure(shared, &message, TaskEventKind::Revoked, &error);
        let records = event_record(shared, &revocation).map(OutcomeRecords::Single);
        return settle(shared, &record, Some(&message), records);
    }
    if waits_for_eta(&message, now) {
        // Sent with an ETA straight to the queue: it waits on the timers path instead.
        let records = shared
            .app
            .timer_record(&message)
            .map(OutcomeRecords::Single);
        return settle(shared, &record, Some(&message), records);
    }
    if shared.send_events {
        if let Ok(delivery) = send_event(shared, &event(shared, &message, TaskEventKind::Received))
        {
            drop(delivery);
        }
    }
    Screened::Run(Job {
        message: Arc::new(message),
        entry,
        content_type,
        record,
        queue: queue.clone(),
    })
}

/// True when `message` must wait on the timers path before it runs: its eta is after `now`
/// and it was never parked there. One that was has been released by the coordinator owning
/// its timer, whose clock decides ([`PARKED_HEADER`]), so a worker whose clock is behind
/// runs it rather than parking it again.
fn waits_for_eta(message: &TaskMessage, now: i64) -> bool {
    message.eta.is_some_and(|eta| eta > now) && !message.headers.contains_key(PARKED_HEADER)
}

/// Settles a message with `records`, or — when they could not be encoded — with what
/// [`unrecordable`] makes of it.
fn settle(
    shared: &WorkerShared,
    record: &Record,
    message: Option<&TaskMessage>,
    records: Result<OutcomeRecords>,
) -> Screened {
    let records = records.map_or_else(|error| unrecordable(shared, record, message, &error), Some);
    match records {
        Some(records) => Screened::Settle {
            records,
            task_id: message.map(|m| m.id),
        },
        None => Screened::Stuck,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(eta: Option<i64>, parked: bool) -> TaskMessage {
        let mut message = TaskMessage::new("t", "application/json", b"[]".to_vec());
        message.eta = eta;
        if parked {
            message.headers.insert(PARKED_HEADER.into(), "true".into());
        }
        message
    }

    #[test]
    fn a_message_waits_for_its_eta_once() {
        let now = 1_000_000;
        assert!(
            waits_for_eta(&message(Some(now + 1), false), now),
            "early and never parked"
        );
        assert!(!waits_for_eta(&message(Some(now), false), now), "due");
        assert!(!waits_for_eta(&message(None, false), now), "no eta");
        // Released by its coordinator while this worker's clock is a minute behind.
        assert!(
            !waits_for_eta(&message(Some(now + 60_000), true), now),
            "parked once already"
        );
    }
}

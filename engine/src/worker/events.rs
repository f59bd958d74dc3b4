//! What a worker tells the rest of the system: task events, dead letters, heartbeats, and the
//! records each settled message becomes ([`OutcomeRecords`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use celeriac_schemas::{
    now_millis, DeadLetter, DeadLetterKind, Record, TaskEvent, TaskEventKind, TaskMessage,
    WorkerHeartbeat,
};
use celeriac_topics::{Delivery, OutRecord};
use uuid::Uuid;

use super::WorkerShared;
use crate::task::TaskError;
use crate::Result;

/// A task event about `message`, with nothing else filled in.
pub(crate) fn event(
    shared: &WorkerShared,
    message: &TaskMessage,
    kind: TaskEventKind,
) -> TaskEvent {
    TaskEvent {
        id: Uuid::now_v7(),
        task_id: message.id,
        root_id: message.root_id,
        workflow_step: message.workflow_step,
        task: message.task.clone(),
        kind,
        timestamp: now_millis(),
        hostname: shared.app.hostname().to_owned(),
        retries: message.retries,
        result: None,
        content_type: None,
        error: None,
        runtime_ms: None,
        next_eta: None,
        queue: message.queue.clone(),
    }
}

/// A FAILED (or REVOKED) event carrying `error`.
pub(crate) fn failure(
    shared: &WorkerShared,
    message: &TaskMessage,
    kind: TaskEventKind,
    error: &TaskError,
) -> TaskEvent {
    TaskEvent {
        error: Some(error.to_record()),
        ..event(shared, message, kind)
    }
}

/// Queues an event on the events topic (key: root id); the delivery resolves when durable.
pub(crate) fn send_event(shared: &WorkerShared, event: &TaskEvent) -> Result<Delivery> {
    Ok(shared.app.inner.log.send(event_record(shared, event)?)?)
}

/// The record of an event on the events topic (key: root id).
pub(crate) fn event_record(shared: &WorkerShared, event: &TaskEvent) -> Result<OutRecord> {
    Ok(OutRecord::keyed(
        shared.app.inner.names.events(),
        crate::coordinator::record_key(&event.root_id),
        Bytes::from(event.encode()?),
    ))
}

/// The records one settled message becomes, built once: a record the log refuses is sent
/// again as these same bytes (see [the reporter](super::report)), and each variant says which
/// records must be durable before which.
#[derive(Debug)]
pub(crate) enum OutcomeRecords {
    /// One record: a SUCCEEDED, REVOKED or FAILED event, or a message forwarded to wait on the
    /// timers path.
    Single(OutRecord),
    /// A retry: the next attempt's message and the RETRIED event naming its eta, sent together.
    Retry {
        /// The next attempt, on the timers path (or straight to its queue when it waits for
        /// nothing).
        message: OutRecord,
        /// The RETRIED event of this attempt.
        retried: OutRecord,
    },
    /// A message given up on: its dead letter, and then — only once the dead letter is
    /// durable — its FAILED event, so a failure anyone can see has its dead letter written.
    DeadLettered {
        /// The original bytes and the reason, for `celeriac.dead`.
        dead_letter: OutRecord,
        /// The FAILED event; `None` for bytes that are not a task message.
        failed: Option<OutRecord>,
    },
}

impl OutcomeRecords {
    /// The records to send at once, and the one to send only after those are durable.
    pub(crate) fn into_stages(self) -> (Vec<OutRecord>, Option<OutRecord>) {
        match self {
            OutcomeRecords::Single(record) => (vec![record], None),
            OutcomeRecords::Retry { message, retried } => (vec![message, retried], None),
            OutcomeRecords::DeadLettered {
                dead_letter,
                failed,
            } => (vec![dead_letter], failed),
        }
    }
}

/// The one place a message is given up on: `record` dead-lettered with `kind` and `reason`,
/// and, for a task message, a FAILED event carrying `error`.
pub(crate) fn dead_lettered(
    shared: &WorkerShared,
    record: &celeriac_topics::Record,
    kind: DeadLetterKind,
    reason: String,
    failed: Option<(&TaskMessage, &TaskError)>,
) -> Result<OutcomeRecords> {
    let task_id = failed.map(|(message, _)| message.id);
    let failed = match failed {
        Some((message, error)) => Some(event_record(
            shared,
            &failure(shared, message, TaskEventKind::Failed, error),
        )?),
        None => None,
    };
    Ok(OutcomeRecords::DeadLettered {
        dead_letter: dead_letter_record(shared, record, kind, reason, task_id)?,
        failed,
    })
}

/// What a message whose outcome could not be encoded becomes: dead-lettered as rejected with
/// why (and failed, if even that event encodes), so it is settled rather than held for ever.
/// `None` when not even the dead letter encodes: the message then stays uncommitted.
pub(crate) fn unrecordable(
    shared: &WorkerShared,
    record: &celeriac_topics::Record,
    message: Option<&TaskMessage>,
    cause: &crate::Error,
) -> Option<OutcomeRecords> {
    let error = TaskError::new(
        "Unrecordable",
        format!("the outcome could not be encoded: {cause}"),
    );
    let reason = error.to_string();
    let failed = message.map(|message| (message, &error));
    dead_lettered(shared, record, DeadLetterKind::Rejected, reason.clone(), failed)
        .or_else(|_| dead_lettered(shared, record, DeadLetterKind::Rejected, reason, None))
        .map_err(|error| {
            tracing::error!(%error, topic = %record.topic, partition = record.partition, offset = record.offset,
                "cannot record a message's outcome or dead letter; it stays uncommitted");
        })
        .ok()
}

/// The record that dead-letters `record` with the reason (key: the task id when known).
fn dead_letter_record(
    shared: &WorkerShared,
    record: &celeriac_topics::Record,
    kind: DeadLetterKind,
    reason: String,
    task_id: Option<Uuid>,
) -> Result<OutRecord> {
    let letter = DeadLetter {
        original: record.payload.to_vec(),
        source_topic: record.topic.to_string(),
        partition: record.partition,
        offset: record.offset,
        key: record.key.as_ref().map(|k| k.to_vec()),
        reason,
        kind,
        task_id,
        dead_at: now_millis(),
    };
    let names = &shared.app.inner.names;
    let key = task_id.map_or_else(
        || format!("{}:{}:{}", record.topic, record.partition, record.offset),
        |id| id.to_string(),
    );
    Ok(OutRecord::keyed(
        names.dead(),
        key,
        Bytes::from(letter.encode()?),
    ))
}

/// Sends a heartbeat every `every` until the worker stops (the first one is sent before the
/// worker answers control commands, by [`heartbeat`]).
pub(crate) async fn heartbeats(shared: Arc<WorkerShared>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await; // the first tick is immediate; the first beat is already out
    loop {
        ticks.tick().await;
        if !shared.send_events {
            continue;
        }
        if let Err(error) = heartbeat(&shared, every) {
            tracing::warn!(%error, "heartbeat not sent");
        }
    }
}

/// Queues one heartbeat on the events topic (key: the host name).
pub(crate) fn heartbeat(shared: &WorkerShared, every: Duration) -> Result<Delivery> {
    let beat = WorkerHeartbeat {
        hostname: shared.app.hostname().to_owned(),
        pid: i32::try_from(std::process::id()).unwrap_or(-1),
        queues: shared.queues.clone(),
        active: i32::try_from(crate::lock(&shared.active).len()).unwrap_or(i32::MAX),
        processed: shared.processed.load(Ordering::Relaxed),
        timestamp: now_millis(),
        software_version: env!("CARGO_PKG_VERSION").to_owned(),
        concurrency: i32::try_from(shared.concurrency).unwrap_or(i32::MAX),
        freq_ms: i64::try_from(every.as_millis()).unwrap_or(i64::MAX),
        coordinator: shared.coordinator_label(),
    };
    let names = &shared.app.inner.names;
    let bytes = beat.encode()?;
    Ok(shared.app.inner.log.send(OutRecord::keyed(
        names.events(),
        beat.hostname.clone(),
        bytes,
    ))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(topic: &str) -> OutRecord {
        OutRecord::keyed(topic, "key", &b"bytes"[..])
    }

    fn topics(records: &[OutRecord]) -> Vec<&str> {
        records.iter().map(|r| &*r.topic).collect()
    }

    #[test]
    fn a_dead_letter_is_durable_before_its_failure_is_sent() {
        let (first, then) = OutcomeRecords::DeadLettered {
            dead_letter: record("dead"),
            failed: Some(record("events")),
        }
        .into_stages();
        assert_eq!(topics(&first), ["dead"], "the dead letter goes alone first");
        assert_eq!(then.map(|r| r.topic.to_string()).as_deref(), Some("events"));
    }

    #[test]
    fn a_retry_and_its_event_go_together() {
        let (first, then) = OutcomeRecords::Retry {
            message: record("timers"),
            retried: record("events"),
        }
        .into_stages();
        assert_eq!(topics(&first), ["timers", "events"]);
        assert!(then.is_none());
    }
}

//! What a worker tells the rest of the system: task events, dead letters, heartbeats.

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

/// Sends `original` to the dead-letter topic with the reason.
pub(crate) fn dead_letter(
    shared: &WorkerShared,
    record: &celeriac_topics::Record,
    kind: DeadLetterKind,
    reason: String,
    task_id: Option<Uuid>,
) -> Result<Delivery> {
    let letter = dead_letter_record(shared, record, kind, reason, task_id)?;
    Ok(shared.app.inner.log.send(letter)?)
}

/// The record that dead-letters `record` with the reason (key: the task id when known).
pub(crate) fn dead_letter_record(
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

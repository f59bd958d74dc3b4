//! The control topic as a worker sees it: revocations (remembered across restarts by reading
//! the topic's history at start), and live commands — terminate, rate limit, ping, inspect,
//! shutdown.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use celeriac_schemas::{now_millis, ControlCommand, ControlKind, ControlReply, Record};
use celeriac_topics::{ConsumerConfig, ConsumerEvent, OutRecord, TopicPartition};
use uuid::Uuid;

use super::rate_limit::{RateLimit, TokenBucket};
use super::WorkerShared;
use crate::app::App;
use crate::inspect::{ActiveEntry, Pong, ReservedEntry, ScheduledEntry, WorkerStats};
use crate::{lock, Result};

/// Task ids revoked by control commands.
#[derive(Debug, Default)]
pub(crate) struct Revocations {
    revoked: RwLock<HashSet<Uuid>>,
    /// Where the history read at start ended: live listening starts here.
    history_end: i64,
}

impl Revocations {
    /// Reads every revocation still on the control topic.
    pub(crate) async fn load(app: &App) -> Result<Self> {
        let tp = TopicPartition::new(app.inner.names.control(), 0);
        let mut reader = app.inner.log.read_partition(&tp, 0).await?;
        let history_end = reader.end();
        let mut revoked = HashSet::new();
        while let Some(batch) = reader.next_batch().await? {
            for record in batch {
                if let Ok(command) = ControlCommand::decode(&record.payload) {
                    if matches!(command.kind, ControlKind::Revoke | ControlKind::Terminate) {
                        revoked.extend(command.task_ids);
                    }
                }
            }
        }
        Ok(Self {
            revoked: RwLock::new(revoked),
            history_end,
        })
    }

    /// True when `id` was revoked.
    pub(crate) fn is_revoked(&self, id: Uuid) -> bool {
        self.revoked
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&id)
    }

    fn revoke(&self, ids: &[Uuid]) {
        self.revoked
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .extend(ids.iter().copied());
    }
}

/// Follows the control topic from where the history ended, until the worker stops.
pub(crate) async fn listen(shared: Arc<WorkerShared>) {
    let names = &shared.app.inner.names;
    let group = format!("{}.control.{}", names.prefix(), Uuid::now_v7());
    let consumer = match shared
        .app
        .inner
        .log
        .consumer(ConsumerConfig::new(group, [names.control()]))
        .await
    {
        Ok(consumer) => consumer,
        Err(error) => return tracing::error!(%error, "cannot follow the control topic"),
    };
    loop {
        let polled = tokio::select! {
            polled = consumer.poll(100, Duration::from_millis(500)) => polled,
            _ = shared.cancel.cancelled() => break,
        };
        match polled {
            Ok(ConsumerEvent::Assigned(partitions)) => {
                for tp in partitions {
                    if let Err(error) = consumer.seek(&tp, shared.revocations.history_end) {
                        tracing::warn!(%error, "control topic: seek failed");
                    }
                }
            }
            Ok(ConsumerEvent::Records(records)) => {
                for record in records {
                    match ControlCommand::decode(&record.payload) {
                        Ok(command) => apply(&shared, command).await,
                        Err(error) => tracing::warn!(%error, "undecodable control command ignored"),
                    }
                }
            }
            Ok(ConsumerEvent::Revoked(_)) => {}
            Err(error) => {
                tracing::warn!(%error, "control topic poll failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    let _ = consumer.close().await;
}

async fn apply(shared: &WorkerShared, command: ControlCommand) {
    let hostname = shared.app.hostname();
    if !command.destination.is_empty() && !command.destination.iter().any(|d| d == hostname) {
        return;
    }
    if command.expires_at.is_some_and(|at| at < now_millis()) {
        return tracing::debug!(id = %command.id, "expired control command ignored");
    }
    match command.kind {
        ControlKind::Revoke => shared.revocations.revoke(&command.task_ids),
        ControlKind::Terminate => {
            shared.revocations.revoke(&command.task_ids);
            let active = lock(&shared.active);
            for id in &command.task_ids {
                if let Some((_, abort)) = active.get(id) {
                    abort.abort();
                }
            }
        }
        ControlKind::RateLimit => set_rate_limit(shared, &command),
        ControlKind::Shutdown => shared.cancel.cancel(),
        ControlKind::Ping | ControlKind::Inspect => reply(shared, &command).await,
    }
}

fn set_rate_limit(shared: &WorkerShared, command: &ControlCommand) {
    let Some(task) = &command.task_name else {
        return tracing::warn!("rate_limit command without a task name");
    };
    let rate = match command.rate_limit.as_deref().map(str::trim) {
        None | Some("0" | "") => {
            // Back to the task's own option, if any.
            lock(&shared.rate_limits).remove(task);
            return;
        }
        Some(rate) => rate,
    };
    match rate.parse::<RateLimit>() {
        Ok(rate) => {
            lock(&shared.rate_limits).insert(task.clone(), TokenBucket::new(rate));
            shared.rate_limit_commanded.store(true, Ordering::Relaxed);
        }
        Err(error) => tracing::warn!(%error, "rate_limit command ignored"),
    }
}

async fn reply(shared: &WorkerShared, command: &ControlCommand) {
    let Some(topic) = &command.reply_to else {
        return;
    };
    let body = if command.kind == ControlKind::Ping {
        json(&Pong { ok: "pong".into() })
    } else {
        match command.inspect.as_deref() {
            None | Some("ping") => json(&Pong { ok: "pong".into() }),
            Some("active") => json(&active(shared)),
            Some("reserved") => json(&reserved(shared)),
            Some("scheduled") => scheduled(shared),
            Some("registered") => json(&shared.app.task_names()),
            Some("stats") => json(&stats(shared)),
            Some(other) => serde_json::json!({
                "error": format!("unknown inspect command {other:?}: expected active, scheduled, reserved, registered or stats")
            }),
        }
    };
    let reply = ControlReply {
        command_id: command.id,
        hostname: shared.app.hostname().to_owned(),
        body: body.to_string(),
        timestamp: now_millis(),
    };
    let sent = reply
        .encode()
        .map_err(crate::Error::from)
        .and_then(|bytes| {
            let record =
                OutRecord::keyed(topic.clone(), command.id.to_string(), Bytes::from(bytes));
            Ok(shared.app.inner.log.send(record)?)
        });
    if let Err(error) = sent {
        tracing::warn!(%error, "control reply not sent");
    }
}

fn json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value)
        .unwrap_or_else(|e| serde_json::json!({"error": format!("cannot encode the reply: {e}")}))
}

fn active(shared: &WorkerShared) -> Vec<ActiveEntry> {
    let mut tasks: Vec<_> = shared
        .active()
        .into_iter()
        .map(|t| ActiveEntry {
            id: t.id,
            task: t.task,
            started_at: t.started_at,
        })
        .collect();
    tasks.sort_by_key(|t| (t.started_at, t.id));
    tasks
}

fn reserved(shared: &WorkerShared) -> Vec<ReservedEntry> {
    let mut tasks: Vec<_> = lock(&shared.reserved)
        .values()
        .map(|reserved| ReservedEntry {
            id: reserved.message.id,
            task: reserved.message.task.clone(),
            received_at: reserved.received_at,
            queue: reserved.queue.to_string(),
        })
        .collect();
    tasks.sort_by_key(|t| (t.received_at, t.id));
    tasks
}

/// At most this many timers in one `inspect scheduled` answer.
const SCHEDULED_LIMIT: usize = 10_000;

/// The timers of this worker's coordinator: messages waiting for their ETA. A worker keeps
/// none itself (it forwards early messages to the timers topic); without a coordinator in
/// this process the answer is empty.
fn scheduled(shared: &WorkerShared) -> serde_json::Value {
    let Some(store) = shared.coordinator_store.get() else {
        return json(&Vec::<ScheduledEntry>::new());
    };
    match store.timers(SCHEDULED_LIMIT) {
        Ok(timers) => json(
            &timers
                .into_iter()
                .map(|m| ScheduledEntry {
                    id: m.id,
                    task: m.task,
                    eta: m.eta.unwrap_or(0),
                    queue: m.queue,
                    retries: m.retries,
                })
                .collect::<Vec<_>>(),
        ),
        Err(error) => serde_json::json!({"error": format!("reading the timers: {error}")}),
    }
}

fn stats(shared: &WorkerShared) -> WorkerStats {
    let rate_limits = lock(&shared.rate_limits)
        .iter()
        .map(|(task, bucket)| (task.clone(), bucket.rate().to_string()))
        .collect();
    WorkerStats {
        hostname: shared.app.hostname().to_owned(),
        pid: std::process::id(),
        processed: shared.processed.load(std::sync::atomic::Ordering::Relaxed),
        active: lock(&shared.active).len(),
        reserved: lock(&shared.reserved).len(),
        concurrency: shared.concurrency,
        prefetch: shared.prefetch,
        queues: shared.queues.clone(),
        uptime_s: shared.started.elapsed().as_secs(),
        rate_limits,
        software_version: env!("CARGO_PKG_VERSION").to_owned(),
        coordinator: shared.coordinator_label(),
    }
}

impl App {
    /// Revokes tasks: workers will not start them; with `terminate`, running ones are
    /// aborted too. Remembered across worker restarts.
    pub async fn revoke(&self, ids: &[Uuid], terminate: bool) -> Result<()> {
        let command = ControlCommand {
            id: Uuid::now_v7(),
            kind: if terminate {
                ControlKind::Terminate
            } else {
                ControlKind::Revoke
            },
            task_ids: ids.to_vec(),
            task_name: None,
            rate_limit: None,
            inspect: None,
            destination: Vec::new(),
            reply_to: None,
            issued_at: now_millis(),
            expires_at: None,
        };
        let record = OutRecord::keyed(
            self.inner.names.control(),
            command.id.to_string(),
            Bytes::from(command.encode()?),
        );
        self.inner.log.send(record)?.await?;
        Ok(())
    }
}

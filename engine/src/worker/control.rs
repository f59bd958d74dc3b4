//! The control topic as a worker sees it: revocations (remembered across restarts by reading
//! the topic's history at start), and live commands — terminate, rate limit, ping, inspect,
//! shutdown.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use celeriac_schemas::{now_millis, ControlCommand, ControlKind, ControlReply, Record};
use celeriac_topics::{ConsumerConfig, ConsumerEvent, OutRecord, TopicPartition};
use uuid::Uuid;

use super::rate_limit::{RateLimit, TokenBucket};
use super::WorkerShared;
use crate::app::App;
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
    let (Some(task), Some(rate)) = (&command.task_name, &command.rate_limit) else {
        return tracing::warn!("rate_limit command without a task name and a rate");
    };
    match rate.parse::<RateLimit>() {
        Ok(rate) => {
            lock(&shared.rate_limits).insert(task.clone(), TokenBucket::new(rate));
        }
        Err(error) => tracing::warn!(%error, "rate_limit command ignored"),
    }
}

async fn reply(shared: &WorkerShared, command: &ControlCommand) {
    let Some(topic) = &command.reply_to else {
        return;
    };
    let body = match command.inspect.as_deref() {
        None | Some("ping") => serde_json::json!({"ok": "pong"}),
        Some("active") => serde_json::json!(shared
            .active()
            .iter()
            .map(|t| serde_json::json!({"id": t.id, "task": t.task, "started_at": t.started_at}))
            .collect::<Vec<_>>()),
        Some("registered") => serde_json::json!(shared.app.task_names()),
        Some("stats") => serde_json::json!({
            "processed": shared.processed.load(std::sync::atomic::Ordering::Relaxed),
            "active": lock(&shared.active).len(),
            "queues": shared.queues,
        }),
        Some(other) => serde_json::json!({"error": format!("unknown inspect command {other:?}")}),
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

//! Timers: countdowns, ETAs and retries wait on `timers` and in the timer index until due.
//!
//! A task message with an eta arms a timer; a tick fires every due timer of a partition: the
//! message goes to its queue unchanged (eta kept) and a *fired marker* — the message with no
//! eta and the due time in the [`TIMER_DUE_HEADER`] header — goes back to the same `timers`
//! partition in the same transaction. Applying the marker disarms the timer, so rebuilding
//! the state from the log never fires a timer twice.

use celeriac_schemas::{
    DeadLetter, DeadLetterKind, Record as _, TaskError, TaskMessage, TaskState,
};
use celeriac_topics::OutRecord;

use super::core::{record_key, Action, Apply, RecordMeta};
use super::error::{Error, Result};
use super::events::NewResult;
use super::state::{keys, u32_at, u64_at, uuid_at, StateAccess, Table};

/// The header of a fired marker holding the due time (ms) of the timer it disarms.
pub const TIMER_DUE_HEADER: &str = "celeriac.timer.due";

/// Where a task's timer sits in the index: `partition · due`.
fn location(value: &[u8]) -> Option<(u32, i64)> {
    Some((u32_at(value, 0)?, u64_at(value, 4)? as i64))
}

impl<S: StateAccess + ?Sized> Apply<'_, S> {
    /// Arms (or re-arms) the timer of a task message with an eta.
    pub(super) fn arm(
        &mut self,
        meta: RecordMeta,
        message: &TaskMessage,
        bytes: &[u8],
    ) -> Result<()> {
        let queue = message.queue.as_str();
        if !queue.is_empty() {
            if let Err(error) = crate::validate_queue(queue) {
                return self.refuse_timer(meta, message, bytes, error.to_string());
            }
        }
        let due = message.eta.unwrap_or(0).max(0);
        let partition = meta.partition as u32;
        let id = keys::task(&message.id);
        if let Some((old_partition, old_due)) = self
            .state
            .get(Table::TimerIds, &id)?
            .as_deref()
            .and_then(location)
        {
            self.state.delete(
                Table::Timers,
                &keys::timer(old_partition, old_due, &message.id),
            );
        }
        self.state.put(
            Table::Timers,
            &keys::timer(partition, due, &message.id),
            bytes,
        );
        let mut value = [0u8; 12];
        value[..4].copy_from_slice(&partition.to_be_bytes());
        value[4..].copy_from_slice(&(due as u64).to_be_bytes());
        self.state.put(Table::TimerIds, &id, &value);
        self.core.stats.timers_armed += 1;
        Ok(())
    }

    /// A countdown whose message could never be published (its queue names no topic): it fails
    /// now, with the reason, and its bytes go to `dead`.
    fn refuse_timer(
        &mut self,
        meta: RecordMeta,
        message: &TaskMessage,
        bytes: &[u8],
        reason: String,
    ) -> Result<()> {
        tracing::warn!(task = %message.id, %reason, "refusing a countdown");
        let previous = self.result(&message.id)?;
        if !previous.as_ref().is_some_and(|r| r.state.is_terminal()) {
            let new = NewResult {
                task_id: message.id,
                root_id: message.root_id,
                parent_id: message.parent_id,
                task: &message.task,
                state: TaskState::Failure,
                result: None,
                content_type: None,
                error: Some(TaskError {
                    type_name: "InvalidQueue".into(),
                    message: reason.clone(),
                    traceback: None,
                }),
                retries: message.retries,
                hostname: None,
                date_done: meta.timestamp_ms,
            };
            self.record(new, previous)?;
        }
        self.dead_letter(DeadLetter {
            original: bytes.to_vec(),
            source_topic: self.core.config.names.timers().to_string(),
            partition: meta.partition,
            offset: meta.offset,
            key: Some(record_key(&message.root_id).to_vec()),
            reason,
            kind: DeadLetterKind::Rejected,
            task_id: Some(message.id),
            dead_at: self.now_ms,
        })
    }

    /// Disarms a timer on its fired marker (when the marker names the armed due time).
    pub(super) fn disarm(&mut self, meta: RecordMeta, marker: &TaskMessage) -> Result<()> {
        let id = keys::task(&marker.id);
        let Some((partition, due)) = self
            .state
            .get(Table::TimerIds, &id)?
            .as_deref()
            .and_then(location)
        else {
            return Ok(());
        };
        let named = marker
            .headers
            .get(TIMER_DUE_HEADER)
            .and_then(|d| d.parse::<i64>().ok());
        if partition != meta.partition as u32 || named.is_some_and(|named| named != due) {
            return Ok(()); // the marker of an earlier arm of the same task
        }
        self.state
            .delete(Table::Timers, &keys::timer(partition, due, &marker.id));
        self.state.delete(Table::TimerIds, &id);
        Ok(())
    }

    /// Fires up to `limit` timers of `partition` due by `now_ms`.
    pub(super) fn tick(&mut self, partition: i32, now_ms: i64, limit: usize) -> Result<()> {
        let p = partition as u32;
        let from = keys::timer_bound(p, 0);
        let to = keys::timer_bound(p, now_ms.saturating_add(1));
        for (key, bytes) in self.state.scan(Table::Timers, &from, &to, limit)? {
            let task = uuid_at(&key, 12).ok_or_else(|| Error::corrupt("timers", "short key"))?;
            let due = u64_at(&key, 4).ok_or_else(|| Error::corrupt("timers", "short key"))? as i64;
            self.state.delete(Table::Timers, &key);
            self.state.delete(Table::TimerIds, &keys::task(&task));
            self.core.stats.timers_fired += 1;
            if !self.emit {
                continue;
            }
            let mut message =
                TaskMessage::decode(&bytes).map_err(|e| Error::corrupt("timers", e.to_string()))?;
            let names = &self.core.config.names;
            let queue = if message.queue.is_empty() {
                "default"
            } else {
                message.queue.as_str()
            };
            self.actions.push(Action::Enqueue(OutRecord::keyed(
                names.tasks(queue),
                record_key(&task),
                bytes,
            )));
            message.eta = None;
            message
                .headers
                .insert(TIMER_DUE_HEADER.into(), due.to_string());
            let marker = message.encode().map_err(|source| Error::Encode {
                what: "TaskMessage",
                source,
            })?;
            let record = OutRecord::keyed(names.timers(), record_key(&message.root_id), marker)
                .to_partition(partition);
            self.actions.push(Action::TimerFired(record));
        }
        Ok(())
    }
}

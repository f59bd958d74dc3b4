//! Reading the results topic's history behind a late look-up, and the clock probe.
//!
//! - A task whose age is known (a UUIDv7 id, or a send time) is looked for from that time
//!   on, in log time.
//! - A task whose age is unknown (a v4 id, as Celery makes) needs its partition's whole
//!   history. That read is shared: look-ups that arrive while one runs join the next, at
//!   most one runs per partition at a time, and one that completes records every task it
//!   saw (by position), so later look-ups of that partition read nothing.
//! - The probe: the reader writes one tombstone under [`PROBE_KEY`] and reads back the
//!   timestamp the log gave it. Its distance from this host's clock bounds how far the host
//!   is ahead of the log, so send times turn into log times whatever either clock says.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use celeriac_schemas::{now_millis, TaskResult};
use celeriac_topics::{partition_for_key, Log, OutRecord, Record, TopicName, TopicPartition};
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

use super::cache::{Cache, Position, Seen};
use crate::coordinator::record_key;
use crate::{lock, Result};

/// The key of the reader's clock probe on the results topic (a tombstone; readers skip it).
pub(super) const PROBE_KEY: &[u8] = b"celeriac.clock-probe";

/// Whole-partition reads, one at a time per partition, shared by the look-ups waiting.
#[derive(Default)]
pub(super) struct Scans {
    partitions: Mutex<HashMap<i32, Arc<PartitionScans>>>,
}

#[derive(Default)]
struct PartitionScans {
    running: Arc<tokio::sync::Mutex<()>>,
    asked: Mutex<Asked>,
}

/// The ids the next read looks for, how many reads have begun, and which one finished last.
#[derive(Default)]
struct Asked {
    begun: u64,
    /// The number (by `begun`) of the last read that read to the end.
    finished: u64,
    ids: HashSet<Uuid>,
}

/// The right to read one partition's history, and the ids that read looks for. A read that
/// fails or is dropped before [`done`](Self::done) covers no one: those who waited read again.
pub(super) struct Ticket {
    pub(super) ids: HashSet<Uuid>,
    number: u64,
    scans: Arc<PartitionScans>,
    _running: OwnedMutexGuard<()>,
}

impl Ticket {
    /// The read reached the end of the partition.
    pub(super) fn done(self) {
        let mut asked = lock(&self.scans.asked);
        asked.finished = asked.finished.max(self.number);
    }
}

impl Scans {
    /// Asks for `ids` in `partition`'s history. `None` when a read that began after the ask
    /// (and so looked for these ids) has finished meanwhile; else this caller reads.
    pub(super) async fn join(&self, partition: i32, ids: &[Uuid]) -> Option<Ticket> {
        let scans = lock(&self.partitions).entry(partition).or_default().clone();
        let asked_at = {
            let mut asked = lock(&scans.asked);
            asked.ids.extend(ids);
            asked.begun
        };
        let running = scans.running.clone().lock_owned().await;
        let mut asked = lock(&scans.asked);
        if asked.finished > asked_at {
            return None;
        }
        asked.begun += 1;
        let number = asked.begun;
        let ids = std::mem::take(&mut asked.ids);
        drop(asked);
        Some(Ticket {
            ids,
            number,
            scans,
            _running: running,
        })
    }
}

/// Reads `tp` from `from` to its end: the records of `ids` in full; with `everything`, every
/// other task's by position.
pub(super) async fn scan(
    log: &dyn Log,
    cache: &Mutex<Cache>,
    tp: &TopicPartition,
    from: i64,
    ids: &HashSet<Uuid>,
    everything: bool,
) -> Result<()> {
    let mut reader = log.read_partition(tp, from).await?;
    while let Some(batch) = reader.next_batch().await? {
        let mut cache = lock(cache);
        for record in &batch {
            match key_id(record) {
                Some(id) if ids.contains(&id) => apply(&mut cache, record, false),
                Some(_) if everything => apply(&mut cache, record, true),
                _ => {}
            }
        }
    }
    Ok(())
}

/// How far this host's clock is ahead of the log's (ms, at most; negative when behind):
/// the probe's read-back timestamp against the time its delivery was seen here. 0, with a
/// warning, when the probe cannot be written or read back.
pub(super) async fn measure_ahead(log: &dyn Log, topic: &TopicName) -> i64 {
    match probe(log, topic).await {
        Ok(Some(ahead)) => ahead,
        Ok(None) => {
            tracing::warn!(%topic, "results reader could not read its clock probe back; assuming the clocks agree");
            0
        }
        Err(error) => {
            tracing::warn!(%error, %topic, "results reader could not write its clock probe; assuming the clocks agree");
            0
        }
    }
}

async fn probe(log: &dyn Log, topic: &TopicName) -> Result<Option<i64>> {
    let record = OutRecord::keyed(topic.clone(), Bytes::from_static(PROBE_KEY), Bytes::new());
    let at = log.send(record)?.await?;
    let delivered = now_millis();
    let tp = TopicPartition::new(topic, at.partition);
    let mut reader = log.read_partition(&tp, at.offset).await?;
    while let Some(batch) = reader.next_batch().await? {
        for record in &batch {
            if record.offset == at.offset {
                return Ok(Some(delivered - record.timestamp_ms));
            }
            if record.offset > at.offset {
                return Ok(None);
            }
        }
    }
    Ok(None)
}

/// The partition of the results topic a task's records go to.
pub(super) fn partition_of(id: &Uuid, partitions: i32) -> i32 {
    partition_for_key(&record_key(id), partitions)
}

/// The task a results record is about (its key).
pub(super) fn key_id(record: &Record) -> Option<Uuid> {
    Uuid::try_parse_ascii(record.key.as_deref()?).ok()
}

/// A result record as the cache takes it: its task and state read, the rest left encoded.
pub(super) fn seen(record: &Record) -> Option<Seen> {
    match TaskResult::head(&record.payload) {
        Ok(head) => Some(Seen {
            task_id: head.task_id,
            state: head.state,
            payload: record.payload.clone(),
            at: Position {
                partition: record.partition,
                offset: record.offset,
            },
            timestamp_ms: record.timestamp_ms,
        }),
        Err(error) => {
            tracing::warn!(%error, partition = record.partition, offset = record.offset, "undecodable record on the results topic");
            None
        }
    }
}

/// Records one record of the results topic: a result (by position only with
/// `by_position`), or a tombstone (empty payload).
pub(super) fn apply(cache: &mut Cache, record: &Record, by_position: bool) {
    let at = Position {
        partition: record.partition,
        offset: record.offset,
    };
    if record.payload.is_empty() {
        match key_id(record) {
            Some(id) => cache.forget(&id, Some(at)),
            None if record.key.as_deref() == Some(PROBE_KEY) => {}
            None => tracing::warn!(
                partition = record.partition,
                offset = record.offset,
                "tombstone without a task id key on the results topic"
            ),
        }
        return;
    }
    if let Some(seen) = seen(record) {
        if by_position {
            cache.record_position(&seen);
        } else {
            cache.record(seen);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asks for `id` on a task of its own; true when a read by someone else covered it.
    fn ask(scans: &Arc<Scans>, id: Uuid) -> tokio::task::JoinHandle<Option<Ticket>> {
        let scans = scans.clone();
        tokio::spawn(async move { scans.join(0, &[id]).await })
    }

    async fn settle() {
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_finished_read_covers_who_asked_before_it() {
        let scans = Arc::new(Scans::default());
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let running = scans.join(0, &[a]).await.expect("reads");
        let (for_b, for_c) = (ask(&scans, b), ask(&scans, c));
        settle().await;
        running.done();
        settle().await;
        let (reader, other) = if for_b.is_finished() {
            (for_b, for_c)
        } else {
            (for_c, for_b)
        };
        let ticket = reader.await.expect("joined").expect("reads");
        ticket.done();
        assert!(
            other.await.expect("joined").is_none(),
            "covered by the read that looked for it"
        );
    }

    #[tokio::test]
    async fn a_read_dropped_before_the_end_covers_no_one() {
        let scans = Arc::new(Scans::default());
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let running = scans.join(0, &[a]).await.expect("reads");
        let (for_b, for_c) = (ask(&scans, b), ask(&scans, c));
        settle().await;
        running.done();
        settle().await;
        let (reader, other) = if for_b.is_finished() {
            (for_b, for_c)
        } else {
            (for_c, for_b)
        };
        drop(reader.await.expect("joined").expect("reads"));
        assert!(
            other.await.expect("joined").is_some(),
            "a failed read covers no one: this asker reads itself"
        );
    }
}

//! The reader that tails `celeriac.results` for one app: the tail, waits and look-ups.
//!
//! Every time it compares is the log's: record timestamps (the broker's append time on Kafka,
//! where the results topic is `LogAppendTime`; the embedded log's own clock). A task's send
//! time, read on a host's clock, is turned into log time with the skew measured when the
//! reader starts (see [`history::measure_ahead`](super::history)), so neither a coordinator's
//! clock nor this host's being off makes a finished task read as PENDING.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use celeriac_schemas::{now_millis, Record as _, TaskResult};
use celeriac_topics::{ConsumerConfig, ConsumerEvent, Log, StartFrom, TopicName, TopicPartition};
use tokio::sync::{oneshot, OnceCell};
use uuid::Uuid;

use super::cache::{Cache, CacheStats, Known, Position};
use super::history::{self, apply, key_id, partition_of, seen, Scans};
use crate::{lock, Error, Result};

/// How far ahead of this host's clock a sender's clock may be. A task id from another host
/// carries that host's time, which no measurement here can see; the skew between this host
/// and the log is measured, not assumed.
pub(super) const SENDER_MARGIN_MS: i64 = 60_000;

/// Tails the results topic for one app.
pub(crate) struct ResultReader {
    log: Arc<dyn Log>,
    topic: TopicName,
    cache: Arc<Mutex<Cache>>,
    started: OnceCell<Started>,
    scans: Scans,
    history_reads: AtomicU64,
}

/// What the reader learnt when it started.
struct Started {
    /// How far this host's clock is ahead of the log's, at most (ms; negative when behind).
    ahead_ms: i64,
    partitions: i32,
}

/// What a results reader holds and has done, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReaderStats {
    /// The cache and its waiters.
    pub cache: CacheStats,
    /// Reads of a partition's history (not the tail) since the reader started.
    pub history_reads: u64,
    /// How far this host's clock was measured ahead of the log's (ms).
    pub clock_ahead_ms: i64,
}

/// A wait for one task's terminal record; dropping it (a wait that gives up) removes it from
/// the reader.
pub(crate) struct Waiting {
    id: Uuid,
    receiver: oneshot::Receiver<Bytes>,
    cache: Arc<Mutex<Cache>>,
}

impl std::future::Future for Waiting {
    type Output = std::result::Result<Bytes, oneshot::error::RecvError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.receiver).poll(cx)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.receiver.close();
        lock(&self.cache).unwait(&self.id);
    }
}

impl ResultReader {
    pub(crate) fn new(log: Arc<dyn Log>, topic: TopicName) -> Self {
        Self {
            log,
            topic,
            cache: Arc::default(),
            started: OnceCell::new(),
            scans: Scans::default(),
            history_reads: AtomicU64::new(0),
        }
    }

    /// Starts the tail on first use: measures the skew, then reads every partition from a
    /// little before now (log time).
    async fn start(&self) -> Result<&Started> {
        self.started
            .get_or_try_init(|| async {
                let partitions = self.log.describe_topic(&self.topic).await?.partitions;
                let ahead_ms = history::measure_ahead(self.log.as_ref(), &self.topic).await;
                let since = now_millis() - ahead_ms - SENDER_MARGIN_MS;
                lock(&self.cache).complete_from(since);
                let group = format!("{}.reader.{}", self.topic, Uuid::now_v7());
                // Every partition is sought to `since` once assigned. Should the log's own
                // start position land after the seek, Earliest only means reading more;
                // Latest could skip results recorded in between.
                let config =
                    ConsumerConfig::new(group, [&self.topic]).start_from(StartFrom::Earliest);
                let consumer = self.log.consumer(config).await?;
                tokio::spawn(tail(self.log.clone(), consumer, self.cache.clone(), since));
                Ok::<_, Error>(Started {
                    ahead_ms,
                    partitions,
                })
            })
            .await
    }

    /// The earliest log time a record of a task sent at `sent_at` (ms, a host's clock; 0 when
    /// unknown) can carry.
    fn earliest(started: &Started, sent_at: i64) -> Option<i64> {
        (sent_at > 0).then(|| sent_at - started.ahead_ms - SENDER_MARGIN_MS)
    }

    /// A wait for `id`'s terminal record, encoded.
    pub(crate) async fn wait(&self, id: Uuid, sent_at: i64) -> Result<Waiting> {
        let started = self.start().await?;
        let partition = partition_of(&id, started.partitions);
        let earliest = Self::earliest(started, sent_at);
        let (tx, receiver) = oneshot::channel();
        let known = lock(&self.cache).wait(id, earliest, partition, tx);
        let waiting = Waiting {
            id,
            receiver,
            cache: self.cache.clone(),
        };
        match known {
            Known::At(at) => {
                self.fetch(&id, at).await?;
            }
            Known::Unknown { complete: false } => {
                self.read_history(&[id], earliest, partition, started)
                    .await?
            }
            Known::Result(_) | Known::Unknown { complete: true } => {}
        }
        Ok(waiting)
    }

    /// Waits for the terminal records of many tasks (`(id, sent_at)`), reading history once
    /// per partition for all that need it.
    pub(crate) async fn wait_many(
        &self,
        tasks: impl IntoIterator<Item = (Uuid, i64)>,
    ) -> Result<Vec<(Uuid, Waiting)>> {
        let started = self.start().await?;
        let mut waits = Vec::new();
        let mut fetches = Vec::new();
        // Per partition: the ids to look for and the earliest time (None: from the start).
        let mut history: std::collections::BTreeMap<i32, (Vec<Uuid>, Option<i64>)> =
            std::collections::BTreeMap::new();
        {
            let mut cache = lock(&self.cache);
            for (id, sent_at) in tasks {
                let partition = partition_of(&id, started.partitions);
                let earliest = Self::earliest(started, sent_at);
                let (tx, receiver) = oneshot::channel();
                match cache.wait(id, earliest, partition, tx) {
                    Known::At(at) => fetches.push((id, at)),
                    Known::Unknown { complete: false } => {
                        let entry = history
                            .entry(partition)
                            .or_insert_with(|| (Vec::new(), earliest));
                        entry.0.push(id);
                        entry.1 = entry.1.zip(earliest).map(|(a, b)| a.min(b));
                    }
                    Known::Result(_) | Known::Unknown { complete: true } => {}
                }
                let cache = self.cache.clone();
                waits.push((
                    id,
                    Waiting {
                        id,
                        receiver,
                        cache,
                    },
                ));
            }
        }
        for (id, at) in fetches {
            self.fetch(&id, at).await?;
        }
        for (partition, (ids, earliest)) in history {
            self.read_history(&ids, earliest, partition, started)
                .await?;
        }
        Ok(waits)
    }

    /// The latest record of `id`, reading history when the cache may not know it.
    pub(crate) async fn latest(&self, id: Uuid, sent_at: i64) -> Result<Option<TaskResult>> {
        let started = self.start().await?;
        let partition = partition_of(&id, started.partitions);
        let earliest = Self::earliest(started, sent_at);
        let mut known = lock(&self.cache).lookup(&id, earliest, partition);
        if let Known::Unknown { complete: false } = known {
            self.read_history(&[id], earliest, partition, started)
                .await?;
            known = lock(&self.cache).lookup(&id, earliest, partition);
        }
        let payload = match known {
            Known::Result(payload) => payload,
            Known::At(at) => match self.fetch(&id, at).await? {
                Some(payload) => payload,
                None => return Ok(None),
            },
            Known::Unknown { .. } => return Ok(None),
        };
        Ok(Some(TaskResult::decode(&payload)?))
    }

    /// Forgets `id` here (its tombstone is on its way to every reader).
    pub(crate) fn forget(&self, id: &Uuid) {
        lock(&self.cache).forget(id, None);
    }

    /// What the reader holds and has done.
    pub(crate) fn stats(&self) -> ReaderStats {
        ReaderStats {
            cache: lock(&self.cache).stats(),
            history_reads: self.history_reads.load(Ordering::Relaxed),
            clock_ahead_ms: self.started.get().map_or(0, |s| s.ahead_ms),
        }
    }

    /// Reads history for `ids` of `partition`: from `earliest` (log time) when their age is
    /// known; otherwise the whole partition once, shared by every look-up waiting for it.
    async fn read_history(
        &self,
        ids: &[Uuid],
        earliest: Option<i64>,
        partition: i32,
        started: &Started,
    ) -> Result<()> {
        let tp = TopicPartition::new(&self.topic, partition);
        match earliest {
            Some(earliest) => {
                let from = self.log.offset_for_time(&tp, earliest).await?;
                self.history_reads.fetch_add(1, Ordering::Relaxed);
                let ids = ids.iter().copied().collect();
                history::scan(self.log.as_ref(), &self.cache, &tp, from, &ids, false).await
            }
            None => {
                let Some(wanted) = self.scans.join(partition, ids).await else {
                    return Ok(()); // a read that began after these asked has looked for them
                };
                let dropped = {
                    let cache = lock(&self.cache);
                    if cache.history_complete(partition) {
                        return Ok(()); // the read just before this one saw everything
                    }
                    cache.dropped()
                };
                self.history_reads.fetch_add(1, Ordering::Relaxed);
                let result =
                    history::scan(self.log.as_ref(), &self.cache, &tp, 0, &wanted.ids, true).await;
                if result.is_ok() {
                    lock(&self.cache).history_read(partition, started.partitions, dropped);
                    wanted.done();
                }
                result
            }
        }
    }

    /// Reads `id`'s record at `at` and hands it to its waiters.
    async fn fetch(&self, id: &Uuid, at: Position) -> Result<Option<Bytes>> {
        let tp = TopicPartition::new(&self.topic, at.partition);
        let mut reader = self.log.read_partition(&tp, at.offset).await?;
        while let Some(batch) = reader.next_batch().await? {
            let Some(record) = batch.iter().find(|r| r.offset >= at.offset) else {
                continue;
            };
            if record.offset != at.offset || key_id(record) != Some(*id) {
                break; // compacted away, or retention deleted it
            }
            let Some(seen) = seen(record) else {
                break;
            };
            lock(&self.cache).fetched(&seen);
            return Ok(Some(seen.payload));
        }
        Ok(None)
    }
}

/// The reader's background task: from `since` (log time) on every partition, forever.
async fn tail(
    log: Arc<dyn Log>,
    consumer: Box<dyn celeriac_topics::Consumer>,
    cache: Arc<Mutex<Cache>>,
    since: i64,
) {
    loop {
        match consumer.poll(10_000, Duration::from_millis(500)).await {
            Ok(ConsumerEvent::Assigned(partitions)) => {
                for tp in partitions {
                    match log.offset_for_time(&tp, since).await {
                        Ok(offset) => {
                            if let Err(error) = consumer.seek(&tp, offset) {
                                tracing::warn!(%error, %tp, "results reader could not seek");
                            }
                        }
                        // The process is ending (its runtime is shutting down): nothing to say.
                        Err(celeriac_topics::Error::Closed(_)) => return,
                        Err(error) => {
                            tracing::warn!(%error, %tp, "results reader: offsets-for-times failed")
                        }
                    }
                }
            }
            Ok(ConsumerEvent::Records(records)) => {
                let mut cache = lock(&cache);
                for record in &records {
                    apply(&mut cache, record, false);
                }
            }
            Ok(ConsumerEvent::Revoked(_)) => {}
            Err(celeriac_topics::Error::Closed(_)) => return,
            Err(error) => {
                tracing::warn!(%error, "results reader poll failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

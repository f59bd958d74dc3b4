//! The embedded backend: a durable partitioned log in RocksDB for one process with many
//! consumers — what an `App` uses when no brokers are configured.
//!
//! Appends are serialised by one lock that allocates offsets and writes one RocksDB write
//! batch, so a batch, or a transaction's records together with its consumer offsets, is
//! visible entirely or not at all, and survives a restart of the process. Single-record sends
//! are written in groups by a writer thread ([`sends`]). Consumers wait on a notification
//! instead of polling the disk.

mod consumer;
mod group;
mod sends;
mod store;
mod tail;
mod txn;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rocksdb::{WriteBatch, WriteOptions, DB};
use tokio::sync::Notify;

use crate::config::EmbeddedConfig;
use crate::error::{Error, Result};
use crate::log::{
    Consumer, ConsumerConfig, Delivery, Log, PartitionReader, TopicDescription, TopicSpec,
    TransactionalProducer,
};
use crate::partitioner::partition_for_key;
use crate::record::{CommitOffset, OutRecord, Position, Record, TopicName, TopicPartition};

use self::consumer::{EmbeddedConsumer, EmbeddedReader};
use self::group::{lock, Groups};
use self::sends::SendQueue;
use self::store::{cf, storage, StoredTopic, OFFSETS, RECORDS, TOPICS};
use self::tail::Tail;
use self::txn::EmbeddedTransactionalProducer;

/// The embedded RocksDB log. Cheap to clone; clones share one store.
#[derive(Clone)]
pub struct EmbeddedLog {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EmbeddedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedLog")
            .field("path", &self.inner.path)
            .finish()
    }
}

/// A partition's watermarks in memory (the store is the truth; these mirror it).
#[derive(Debug)]
struct PartitionState {
    low: AtomicI64,
    high: AtomicI64,
    last_timestamp: AtomicI64,
    /// The newest records, for readers at the end of the partition.
    tail: Tail,
}

impl PartitionState {
    fn new(low: i64, high: i64, last_timestamp: i64) -> Self {
        PartitionState {
            low: AtomicI64::new(low),
            high: AtomicI64::new(high),
            last_timestamp: AtomicI64::new(last_timestamp),
            tail: Tail::default(),
        }
    }
}

#[derive(Debug)]
struct TopicState {
    id: u32,
    configs: std::collections::BTreeMap<String, String>,
    partitions: Vec<PartitionState>,
}

/// What one write moves forward in one partition.
struct Advance {
    topic: Arc<TopicState>,
    /// The next offset.
    high: i64,
    /// The newest timestamp.
    timestamp: i64,
    /// The records written, for the partition's tail.
    written: Vec<Record>,
}

struct Inner {
    db: DB,
    path: PathBuf,
    write_options: WriteOptions,
    /// Looked up for every record written and partition read: a fast seeded hash.
    topics: RwLock<HashMap<String, Arc<TopicState>, foldhash::fast::RandomState>>,
    next_topic_id: AtomicU32,
    /// Held while offsets are allocated and the write batch is written: appends are ordered.
    append_lock: Mutex<()>,
    /// Woken after every append.
    appended: Notify,
    /// Single-record sends waiting to be written together (see [`sends`]).
    sends: Arc<SendQueue>,
    groups: Groups,
    next_member: AtomicU64,
    /// Latest epoch per transactional id: an older producer with the same id is fenced.
    txn_epochs: Mutex<HashMap<String, u64>>,
    round_robin: AtomicU32,
    /// Added to the host's clock when records are stamped (a test knob: a skewed broker).
    clock_offset_ms: i64,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl EmbeddedLog {
    /// Opens the log stored under `config.dir`, creating it when missing.
    pub fn open(config: EmbeddedConfig) -> Result<Self> {
        std::fs::create_dir_all(&config.dir).map_err(|e| storage(&config.dir, e))?;
        let db = store::open_db(&config.dir)?;
        let mut topics = HashMap::default();
        let mut next_id = 0;
        for (name, stored) in store::load_topics(&db)? {
            next_id = next_id.max(stored.id + 1);
            let mut partitions = Vec::new();
            for partition in 0..stored.partitions {
                let (low, high, last) = store::partition_bounds(&db, stored.id, partition)?;
                partitions.push(PartitionState::new(low, high, last));
            }
            let state = TopicState {
                id: stored.id,
                configs: stored.configs,
                partitions,
            };
            topics.insert(name, Arc::new(state));
        }
        let mut write_options = WriteOptions::default();
        write_options.set_sync(config.sync_writes);
        let sends = Arc::new(SendQueue::default());
        let inner = Arc::new(Inner {
            db,
            path: config.dir,
            write_options,
            topics: RwLock::new(topics),
            next_topic_id: AtomicU32::new(next_id),
            append_lock: Mutex::new(()),
            appended: Notify::new(),
            sends: sends.clone(),
            groups: Groups::default(),
            next_member: AtomicU64::new(1),
            txn_epochs: Mutex::new(HashMap::new()),
            round_robin: AtomicU32::new(0),
            clock_offset_ms: config.clock_offset_ms,
        });
        sends::spawn_writer(Arc::downgrade(&inner), sends)
            .map_err(|e| storage(&inner.path, format!("cannot start the writer thread: {e}")))?;
        Ok(Self { inner })
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ordered = lock(&self.append_lock);
        self.write_queued_locked();
        self.sends.close();
    }
}

impl Inner {
    fn topic(&self, name: &str) -> Result<Arc<TopicState>> {
        let topics = self.topics.read().unwrap_or_else(|p| p.into_inner());
        topics
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownTopic(name.to_owned()))
    }

    fn partitions_of(&self, name: &str) -> i32 {
        self.topic(name).map_or(0, |t| t.partitions.len() as i32)
    }

    fn partition(&self, tp: &TopicPartition) -> Result<(Arc<TopicState>, usize)> {
        let topic = self.topic(&tp.topic)?;
        let index = usize::try_from(tp.partition)
            .ok()
            .filter(|i| *i < topic.partitions.len());
        let index = index.ok_or_else(|| Error::UnknownPartition(tp.clone()))?;
        Ok((topic, index))
    }

    fn watermarks(&self, tp: &TopicPartition) -> Result<(i64, i64)> {
        let (topic, index) = self.partition(tp)?;
        let state = &topic.partitions[index];
        Ok((
            state.low.load(Ordering::Acquire),
            state.high.load(Ordering::Acquire),
        ))
    }

    /// Appends records and commits offsets in one write batch: all or nothing.
    fn append(
        &self,
        records: Vec<OutRecord>,
        offsets: &[(String, CommitOffset)],
    ) -> Result<Vec<Position>> {
        self.append_if(records, offsets, || Ok(()))
    }

    /// As [`append`](Self::append), after `check` passes under the append lock (so a
    /// fencing or ownership check cannot race a rebalance or another producer).
    fn append_if(
        &self,
        records: Vec<OutRecord>,
        offsets: &[(String, CommitOffset)],
        check: impl FnOnce() -> Result<()>,
    ) -> Result<Vec<Position>> {
        let _ordered = lock(&self.append_lock);
        self.write_queued_locked();
        check()?;
        self.write_locked(records, offsets)
    }

    /// Queues one record for the writer thread, its partition chosen now (so an unknown
    /// topic or partition is refused at once, as an immediate write would be).
    fn queue_send(&self, mut record: OutRecord) -> Result<Delivery> {
        let topic = self.topic(&record.topic)?;
        record.partition = Some(self.choose_partition(&topic, &record)? as i32);
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.sends.push((record, tx));
        Ok(Delivery::new(async move {
            rx.await.unwrap_or_else(|_| {
                Err(Error::Invalid {
                    what: "send",
                    detail: "the log was closed before the record was written".into(),
                })
            })
        }))
    }

    /// Writes every queued send in one batch and tells the senders; the caller holds the
    /// append lock.
    fn write_queued_locked(&self) {
        if let Some((senders, written)) = self.write_queued_undelivered_locked() {
            sends::deliver(&self.path, senders, written);
        }
    }

    /// Writes every queued send in one batch; the senders are told by the caller.
    fn write_queued_undelivered_locked(&self) -> Option<sends::Written> {
        let queued = self.sends.take();
        if queued.is_empty() {
            return None;
        }
        let (records, senders): (Vec<_>, Vec<_>) = queued.into_iter().unzip();
        Some((senders, self.write_locked(records, &[])))
    }

    /// Allocates offsets and writes `records` and `offsets` in one write batch; the caller
    /// holds the append lock.
    fn write_locked(
        &self,
        records: Vec<OutRecord>,
        offsets: &[(String, CommitOffset)],
    ) -> Result<Vec<Position>> {
        let mut batch = WriteBatch::default();
        let mut positions = Vec::with_capacity(records.len());
        let mut advanced: HashMap<(u32, usize), Advance, foldhash::fast::RandomState> =
            HashMap::default();
        let records_cf = cf(&self.db, RECORDS)?;
        // Batches mostly go to one topic: look it up once per run of the same name.
        let mut last: Option<(TopicName, Arc<TopicState>)> = None;
        let mut value = Vec::new();
        for record in records {
            let topic = match &last {
                Some((name, topic)) if *name == record.topic => topic.clone(),
                _ => {
                    let topic = self.topic(&record.topic)?;
                    last = Some((record.topic.clone(), topic.clone()));
                    topic
                }
            };
            let partition = self.choose_partition(&topic, &record)?;
            let state = &topic.partitions[partition];
            let entry = advanced
                .entry((topic.id, partition))
                .or_insert_with(|| Advance {
                    high: state.high.load(Ordering::Acquire),
                    timestamp: state.last_timestamp.load(Ordering::Acquire),
                    topic: topic.clone(),
                    written: Vec::with_capacity(16),
                });
            let offset = entry.high;
            let timestamp = (now_ms() + self.clock_offset_ms).max(entry.timestamp);
            entry.high += 1;
            entry.timestamp = timestamp;
            let key = store::record_key(topic.id, partition as i32, offset);
            value.clear();
            store::encode_record_into(
                &mut value,
                timestamp,
                record.key.as_deref(),
                &record.payload,
            );
            batch.put_cf(records_cf, key, &value);
            positions.push(Position {
                partition: partition as i32,
                offset,
            });
            entry.written.push(Record {
                topic: record.topic,
                partition: partition as i32,
                offset,
                key: record.key,
                payload: record.payload,
                timestamp_ms: timestamp,
            });
        }
        let offsets_cf = cf(&self.db, OFFSETS)?;
        for (group, commit) in offsets {
            let key = store::offset_key(group, &commit.tp.topic, commit.tp.partition);
            batch.put_cf(offsets_cf, key, commit.next.to_le_bytes());
        }
        self.db
            .write_opt(batch, &self.write_options)
            .map_err(|e| storage(&self.path, e))?;
        for ((_, partition), advance) in advanced {
            let state = &advance.topic.partitions[partition];
            state.tail.extend(advance.written);
            state
                .last_timestamp
                .store(advance.timestamp, Ordering::Release);
            state.high.store(advance.high, Ordering::Release);
        }
        self.appended.notify_waiters();
        Ok(positions)
    }

    /// Up to `max` records of `topic`'s `partition` from `from` to `end` (exclusive): from
    /// the tail when it holds `from`, else from the store.
    fn read(
        &self,
        topic: &TopicState,
        tp: &TopicPartition,
        from: i64,
        end: i64,
        max: usize,
    ) -> Result<Vec<Record>> {
        let index = usize::try_from(tp.partition).ok();
        let state = index.and_then(|i| topic.partitions.get(i));
        let state = state.ok_or_else(|| Error::UnknownPartition(tp.clone()))?;
        if from >= end || max == 0 {
            return Ok(Vec::new());
        }
        if let Some(records) = state.tail.read(from, end, max) {
            return Ok(records);
        }
        store::read_range(&self.db, topic.id, &tp.topic, tp.partition, from, end, max)
    }

    fn choose_partition(&self, topic: &TopicState, record: &OutRecord) -> Result<usize> {
        let count = topic.partitions.len() as i32;
        let partition = match (record.partition, &record.key) {
            (Some(p), _) => p,
            (None, Some(key)) => partition_for_key(key, count),
            (None, None) => {
                (self.round_robin.fetch_add(1, Ordering::Relaxed) % count as u32) as i32
            }
        };
        usize::try_from(partition)
            .ok()
            .filter(|p| *p < topic.partitions.len())
            .ok_or_else(|| {
                Error::UnknownPartition(TopicPartition::new(record.topic.clone(), partition))
            })
    }

    fn committed(&self, group: &str, partitions: &[TopicPartition]) -> Result<Vec<Option<i64>>> {
        let offsets = cf(&self.db, OFFSETS)?;
        partitions
            .iter()
            .map(|tp| {
                let value = self
                    .db
                    .get_pinned_cf(offsets, store::offset_key(group, &tp.topic, tp.partition))
                    .map_err(|e| storage(&self.path, e))?;
                Ok(value
                    .and_then(|v| v.as_ref().try_into().ok())
                    .map(i64::from_le_bytes))
            })
            .collect()
    }

    fn create_topic(&self, spec: &TopicSpec) -> Result<bool> {
        if spec.partitions < 1 {
            return Err(Error::Invalid {
                what: "partition count",
                detail: format!(
                    "topic {:?} asks for {} partitions; at least 1 is needed",
                    spec.name, spec.partitions
                ),
            });
        }
        let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = topics.get(&spec.name) {
            let found = existing.partitions.len() as i32;
            if found != spec.partitions {
                return Err(Error::PartitionMismatch {
                    topic: spec.name.clone(),
                    expected: spec.partitions,
                    found,
                });
            }
            return Ok(false);
        }
        let id = self.next_topic_id.fetch_add(1, Ordering::Relaxed);
        let stored = StoredTopic {
            id,
            partitions: spec.partitions,
            configs: spec.configs.clone(),
        };
        self.db
            .put_cf(
                cf(&self.db, TOPICS)?,
                spec.name.as_bytes(),
                store::encode_topic(&stored),
            )
            .map_err(|e| storage(&self.path, e))?;
        let partitions = (0..spec.partitions)
            .map(|_| PartitionState::new(0, 0, 0))
            .collect();
        topics.insert(
            spec.name.clone(),
            Arc::new(TopicState {
                id,
                configs: spec.configs.clone(),
                partitions,
            }),
        );
        Ok(true)
    }

    fn delete_topic(&self, name: &str) -> Result<bool> {
        let _ordered = lock(&self.append_lock);
        let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        let Some(topic) = topics.remove(name) else {
            return Ok(false);
        };
        let mut batch = WriteBatch::default();
        batch.delete_cf(cf(&self.db, TOPICS)?, name.as_bytes());
        store::delete_topic_records(&self.db, &mut batch, topic.id)?;
        store::delete_topic_offsets(&self.db, &mut batch, name)?;
        self.db.write(batch).map_err(|e| storage(&self.path, e))?;
        Ok(true)
    }
}

#[async_trait]
impl Log for EmbeddedLog {
    fn backend(&self) -> &'static str {
        "embedded"
    }

    fn send(&self, record: OutRecord) -> Result<Delivery> {
        self.inner.queue_send(record)
    }

    async fn send_batch(&self, records: Vec<OutRecord>) -> Result<Vec<Position>> {
        self.inner.append(records, &[])
    }

    async fn flush(&self, _timeout: Duration) -> Result<()> {
        let _ordered = lock(&self.inner.append_lock);
        self.inner.write_queued_locked();
        Ok(())
    }

    async fn consumer(&self, config: ConsumerConfig) -> Result<Box<dyn Consumer>> {
        Ok(Box::new(EmbeddedConsumer::join(self.clone(), config)))
    }

    async fn transactional_producer(
        &self,
        transactional_id: &str,
    ) -> Result<Box<dyn TransactionalProducer>> {
        Ok(Box::new(EmbeddedTransactionalProducer::new(
            self.clone(),
            transactional_id,
        )))
    }

    async fn create_topics(&self, topics: &[TopicSpec]) -> Result<()> {
        for spec in topics {
            if self.inner.create_topic(spec)? {
                let inner = &self.inner;
                inner
                    .groups
                    .topic_changed(&spec.name, &|t| inner.partitions_of(t));
            }
        }
        Ok(())
    }

    async fn describe_topic(&self, name: &str) -> Result<TopicDescription> {
        let topic = self.inner.topic(name)?;
        Ok(TopicDescription {
            name: name.to_owned(),
            partitions: topic.partitions.len() as i32,
            replication_factor: 1,
            configs: topic.configs.clone(),
        })
    }

    async fn broker_count(&self) -> Result<usize> {
        Ok(1)
    }

    async fn list_topics(&self) -> Result<Vec<String>> {
        let topics = self.inner.topics.read().unwrap_or_else(|p| p.into_inner());
        let mut names: Vec<String> = topics.keys().cloned().collect();
        names.sort();
        Ok(names)
    }

    async fn delete_topics(&self, names: &[String]) -> Result<()> {
        for name in names {
            if self.inner.delete_topic(name)? {
                let inner = &self.inner;
                inner
                    .groups
                    .topic_changed(name, &|t| inner.partitions_of(t));
            }
        }
        Ok(())
    }

    async fn watermarks(&self, tp: &TopicPartition) -> Result<(i64, i64)> {
        self.inner.watermarks(tp)
    }

    async fn offset_for_time(&self, tp: &TopicPartition, timestamp_ms: i64) -> Result<i64> {
        let (topic, _) = self.inner.partition(tp)?;
        let (mut low, mut high) = self.inner.watermarks(tp)?;
        // Timestamps never decrease within a partition, so binary search finds the first ≥.
        while low < high {
            let mid = low + (high - low) / 2;
            match store::timestamp_at(&self.inner.db, topic.id, tp.partition, mid)? {
                Some(ts) if ts >= timestamp_ms => high = mid,
                _ => low = mid + 1,
            }
        }
        Ok(low)
    }

    async fn committed_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<Vec<Option<i64>>> {
        self.inner.committed(group, partitions)
    }

    async fn read_partition(
        &self,
        tp: &TopicPartition,
        from: i64,
    ) -> Result<Box<dyn PartitionReader>> {
        let (_, end) = self.inner.watermarks(tp)?;
        Ok(Box::new(EmbeddedReader::new(
            self.clone(),
            tp.clone(),
            from,
            end,
        )))
    }
}

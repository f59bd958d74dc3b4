//! The reader that tails `celeriac.results` for one app, and the reads of history behind a
//! late `get`: one record when the cache knows where it sits, else a scan of the task's
//! partition from its send time (one scan per partition for many tasks at once).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use celeriac_schemas::{now_millis, Record as _, TaskResult};
use celeriac_topics::{
    partition_for_key, ConsumerConfig, ConsumerEvent, Log, Record, StartFrom, TopicName,
    TopicPartition,
};
use tokio::sync::{oneshot, OnceCell};
use uuid::Uuid;

use super::cache::{Cache, Known, Position, Seen};
use crate::coordinator::record_key;
use crate::{lock, Error, Result};

/// How far before a task's send time the scan for its result starts (clock skew between
/// the submitting host and the broker).
const MARGIN_MS: i64 = 60_000;

/// Tails the results topic for one app.
pub(crate) struct ResultReader {
    log: Arc<dyn Log>,
    topic: TopicName,
    cache: Arc<Mutex<Cache>>,
    started: OnceCell<()>,
}

/// Where a scan of one partition starts: the earliest known position and send time.
#[derive(Default)]
struct ScanFrom {
    offset: Option<i64>,
    sent_at: Option<i64>,
    ids: HashSet<Uuid>,
}

impl ResultReader {
    pub(crate) fn new(log: Arc<dyn Log>, topic: TopicName) -> Self {
        Self {
            log,
            topic,
            cache: Arc::default(),
            started: OnceCell::new(),
        }
    }

    /// Starts the tail on first use.
    async fn start(&self) -> Result<()> {
        self.started
            .get_or_try_init(|| async {
                let since = now_millis() - MARGIN_MS;
                lock(&self.cache).complete_from(since);
                let group = format!("{}.reader.{}", self.topic, Uuid::now_v7());
                // Every partition is sought to `since` once assigned. Should the log's own
                // start position land after the seek, Earliest only means reading more;
                // Latest could skip results recorded in between.
                let config =
                    ConsumerConfig::new(group, [&self.topic]).start_from(StartFrom::Earliest);
                let consumer = self.log.consumer(config).await?;
                tokio::spawn(tail(self.log.clone(), consumer, self.cache.clone(), since));
                Ok::<(), Error>(())
            })
            .await
            .map(|_| ())
    }

    /// A receiver of `id`'s terminal record, encoded.
    pub(crate) async fn wait(&self, id: Uuid, sent_at: i64) -> Result<oneshot::Receiver<Bytes>> {
        self.start().await?;
        let (tx, rx) = oneshot::channel();
        let known = lock(&self.cache).wait(id, sent_at, MARGIN_MS, tx);
        match known {
            Known::At(at) => {
                self.fetch(&id, at).await?;
            }
            Known::Unknown { complete: false } => self.scan_history(id, sent_at).await?,
            Known::Result(_) | Known::Unknown { complete: true } => {}
        }
        Ok(rx)
    }

    /// Receivers of the terminal records of many tasks (`(id, sent_at)`), reading history
    /// once per partition for all that need it.
    pub(crate) async fn wait_many(
        &self,
        tasks: impl IntoIterator<Item = (Uuid, i64)>,
    ) -> Result<Vec<(Uuid, oneshot::Receiver<Bytes>)>> {
        self.start().await?;
        let mut receivers = Vec::new();
        let mut history: Vec<(Uuid, i64, Option<Position>)> = Vec::new();
        {
            let mut cache = lock(&self.cache);
            for (id, sent_at) in tasks {
                let (tx, rx) = oneshot::channel();
                match cache.wait(id, sent_at, MARGIN_MS, tx) {
                    Known::At(at) => history.push((id, sent_at, Some(at))),
                    Known::Unknown { complete: false } => history.push((id, sent_at, None)),
                    Known::Result(_) | Known::Unknown { complete: true } => {}
                }
                receivers.push((id, rx));
            }
        }
        if history.is_empty() {
            return Ok(receivers);
        }
        let partitions = self.log.describe_topic(&self.topic).await?.partitions;
        let mut scans: BTreeMap<i32, ScanFrom> = BTreeMap::new();
        for (id, sent_at, at) in history {
            let partition = at.map_or_else(|| partition_of(&id, partitions), |at| at.partition);
            let scan = scans.entry(partition).or_default();
            match at {
                Some(at) => scan.offset = Some(scan.offset.map_or(at.offset, |o| o.min(at.offset))),
                None => scan.sent_at = Some(scan.sent_at.map_or(sent_at, |s| s.min(sent_at))),
            }
            scan.ids.insert(id);
        }
        for (partition, scan) in scans {
            let tp = TopicPartition::new(&self.topic, partition);
            let mut from = scan.offset.unwrap_or(i64::MAX);
            if let Some(sent_at) = scan.sent_at {
                from = from.min(self.log.offset_for_time(&tp, sent_at - MARGIN_MS).await?);
            }
            self.scan(&tp, from, &scan.ids).await?;
        }
        Ok(receivers)
    }

    /// The latest record of `id`, reading history when the cache may not know it.
    pub(crate) async fn latest(&self, id: Uuid, sent_at: i64) -> Result<Option<TaskResult>> {
        self.start().await?;
        let known = lock(&self.cache).lookup(&id, sent_at, MARGIN_MS);
        let payload = match known {
            Known::Result(payload) => payload,
            Known::At(at) => match self.fetch(&id, at).await? {
                Some(payload) => payload,
                None => return Ok(None),
            },
            Known::Unknown { complete: true } => return Ok(None),
            Known::Unknown { complete: false } => {
                self.scan_history(id, sent_at).await?;
                match lock(&self.cache).lookup(&id, sent_at, MARGIN_MS) {
                    Known::Result(payload) => payload,
                    _ => return Ok(None),
                }
            }
        };
        Ok(Some(TaskResult::decode(&payload)?))
    }

    /// Forgets `id` here (its tombstone is on its way to every reader).
    pub(crate) fn forget(&self, id: &Uuid) {
        lock(&self.cache).forget(id);
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

    /// Reads `id`'s partition from its send time to the end, recording what it finds.
    async fn scan_history(&self, id: Uuid, sent_at: i64) -> Result<()> {
        let partitions = self.log.describe_topic(&self.topic).await?.partitions;
        let tp = TopicPartition::new(&self.topic, partition_of(&id, partitions));
        let from = self.log.offset_for_time(&tp, sent_at - MARGIN_MS).await?;
        self.scan(&tp, from, &HashSet::from([id])).await
    }

    /// Reads `tp` from `from` to its end, recording the records of `ids`.
    async fn scan(&self, tp: &TopicPartition, from: i64, ids: &HashSet<Uuid>) -> Result<()> {
        let mut reader = self.log.read_partition(tp, from).await?;
        while let Some(batch) = reader.next_batch().await? {
            let mut cache = lock(&self.cache);
            for record in &batch {
                if key_id(record).is_some_and(|id| ids.contains(&id)) {
                    apply(&mut cache, record);
                }
            }
        }
        Ok(())
    }
}

/// The partition of the results topic a task's records go to.
fn partition_of(id: &Uuid, partitions: i32) -> i32 {
    partition_for_key(&record_key(id), partitions)
}

/// The task a results record is about (its key).
fn key_id(record: &Record) -> Option<Uuid> {
    Uuid::try_parse_ascii(record.key.as_deref()?).ok()
}

/// A result record as the cache takes it: its task and state read, the rest left encoded.
fn seen(record: &Record) -> Option<Seen> {
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

/// Records one record of the results topic: a result, or a tombstone (empty payload).
fn apply(cache: &mut Cache, record: &Record) {
    if record.payload.is_empty() {
        match key_id(record) {
            Some(id) => cache.forget(&id),
            None => tracing::warn!(
                partition = record.partition,
                offset = record.offset,
                "tombstone without a task id key on the results topic"
            ),
        }
        return;
    }
    if let Some(seen) = seen(record) {
        cache.record(seen);
    }
}

/// The reader's background task: from `since` on every partition, forever.
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
                    apply(&mut cache, record);
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

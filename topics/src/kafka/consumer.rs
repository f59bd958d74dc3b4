//! A consumer group member: batched polls, rebalances surfaced as events, manual commits.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message as _};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::Notify;

use super::admin::{offsets_in_order, partition_list};
use super::errors::{is_transient_consumer_error, kafka};
use super::runtime::{blocking, OffThread};
use super::settings::{self, REQUEST_TIMEOUT};
use super::{create, log_error, log_line};
use crate::config::KafkaConfig;
use crate::error::{Error, Result};
use crate::log::{Consumer, ConsumerConfig, ConsumerEvent, GroupMetadata, GroupMetadataInner};
use crate::record::{CommitOffset, Record, TopicName, TopicPartition};

/// What the consumer's callbacks share with `poll`: queued rebalance events, and a wake-up
/// for the task waiting on an empty queue.
#[derive(Default)]
pub(crate) struct Signals {
    events: Mutex<VecDeque<ConsumerEvent>>,
    wake: Notify,
}

impl Signals {
    fn push(&self, event: ConsumerEvent) {
        self.events
            .lock()
            .expect("event queue lock")
            .push_back(event);
        self.wake.notify_one();
    }

    fn pop(&self) -> Option<ConsumerEvent> {
        self.events.lock().expect("event queue lock").pop_front()
    }

    fn is_empty(&self) -> bool {
        self.events.lock().expect("event queue lock").is_empty()
    }
}

/// Turns librdkafka's rebalance callbacks into [`ConsumerEvent`]s. The revocation is queued
/// before librdkafka gives the partitions up, the assignment after it has taken them, so a
/// poll can never return records of a partition before its `Assigned`.
pub(crate) struct MemberContext {
    signals: Arc<Signals>,
}

impl ClientContext for MemberContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, line: &str) {
        log_line(level, facility, line);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        log_error(&error, reason);
    }
}

impl ConsumerContext for MemberContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) if tpl.count() > 0 => {
                self.signals
                    .push(ConsumerEvent::Revoked(partitions_of(tpl)));
            }
            Rebalance::Error(error) => tracing::warn!(%error, "consumer group rebalance failed"),
            _ => {}
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            self.signals
                .push(ConsumerEvent::Assigned(partitions_of(tpl)));
        }
    }
}

pub(crate) fn partitions_of(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements()
        .iter()
        .map(|e| TopicPartition::new(e.topic(), e.partition()))
        .collect()
}

/// Copies records out of librdkafka's buffers. Keys and payloads of up to [`SHARED_MAX`]
/// bytes are packed into shared chunks of [`CHUNK`] bytes — one allocation per chunk rather
/// than two per record, which the consume benchmark shows is a good part of the cost of a
/// record at a million and more per second. A record's key or payload keeps its chunk alive
/// (at most 64 KiB) until it is dropped.
#[derive(Default)]
pub(crate) struct Copier {
    chunk: BytesMut,
    /// The names of the topics read so far: each record shares its topic's.
    topics: Vec<TopicName>,
}

/// Bytes per shared chunk.
const CHUNK: usize = 64 * 1024;
/// Larger keys and payloads get an allocation of their own.
const SHARED_MAX: usize = 4 * 1024;

impl Copier {
    fn copy(&mut self, bytes: &[u8]) -> Bytes {
        if bytes.is_empty() {
            return Bytes::new();
        }
        if bytes.len() > SHARED_MAX {
            return Bytes::copy_from_slice(bytes);
        }
        if self.chunk.capacity() - self.chunk.len() < bytes.len() {
            self.chunk = BytesMut::with_capacity(CHUNK);
        }
        self.chunk.extend_from_slice(bytes);
        self.chunk.split().freeze()
    }

    /// The shared name of `topic` (a consumer reads few topics: a short list is enough).
    fn topic(&mut self, topic: &str) -> TopicName {
        if let Some(name) = self.topics.iter().find(|name| ***name == *topic) {
            return name.clone();
        }
        let name: TopicName = topic.into();
        self.topics.push(name.clone());
        name
    }

    /// A record as the log hands it out.
    pub(crate) fn record(&mut self, message: &BorrowedMessage<'_>) -> Record {
        Record {
            topic: self.topic(message.topic()),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(|key| self.copy(key)),
            payload: message.payload().map(|p| self.copy(p)).unwrap_or_default(),
            timestamp_ms: message.timestamp().to_millis().unwrap_or(-1),
        }
    }
}

/// A member of a consumer group on Kafka.
pub(crate) struct KafkaConsumer {
    base: OffThread<Arc<BaseConsumer<MemberContext>>>,
    signals: Arc<Signals>,
    closed: AtomicBool,
    copier: Mutex<Copier>,
}

impl KafkaConsumer {
    /// Creates the member and subscribes; the group assigns partitions during later polls.
    pub(crate) fn join(config: &KafkaConfig, member: &ConsumerConfig) -> Result<Self> {
        if member.topics.is_empty() {
            return Err(Error::Invalid {
                what: "consumer config",
                detail: "no topics to subscribe to".to_owned(),
            });
        }
        let client = settings::consumer(config, member)?;
        let signals = Arc::new(Signals::default());
        let context = MemberContext {
            signals: Arc::clone(&signals),
        };
        let mut base: BaseConsumer<MemberContext> = create(&client, context)?;
        let waker = Arc::clone(&signals);
        base.set_nonempty_callback(move || waker.wake.notify_one());
        let topics: Vec<&str> = member.topics.iter().map(String::as_str).collect();
        base.subscribe(&topics).map_err(kafka("subscribe"))?;
        Ok(Self {
            base: OffThread::new(Arc::new(base)),
            signals,
            closed: AtomicBool::new(false),
            copier: Mutex::new(Copier::default()),
        })
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(Error::Closed("consumer"))
        } else {
            Ok(())
        }
    }

    /// Takes what is ready without waiting: an event, or up to `max` records (stopping at an
    /// event, which the next call returns). `None` when nothing is ready.
    fn take_ready(&self, max: usize) -> Result<Option<ConsumerEvent>> {
        if let Some(event) = self.signals.pop() {
            return Ok(Some(event));
        }
        let mut records = Vec::new();
        let mut copier = self.copier.lock().expect("copier lock");
        // `poll` answers `None` both for an empty queue and after serving an event (a commit
        // result, a rebalance) that may have records queued behind it; a few empty answers in
        // a row tell the two apart.
        let mut empty_answers = 0;
        while records.len() < max && empty_answers < EMPTY_ANSWERS {
            match self.base.poll(Duration::ZERO) {
                Some(Ok(message)) => {
                    empty_answers = 0;
                    records.push(copier.record(&message));
                }
                Some(Err(error)) => {
                    let transient = error
                        .rdkafka_error_code()
                        .is_some_and(is_transient_consumer_error);
                    if !transient {
                        if records.is_empty() {
                            return Err(kafka("poll")(error));
                        }
                        tracing::warn!(%error, "consumer error after a partial batch");
                        break;
                    }
                    tracing::debug!(%error, "transient consumer error; librdkafka recovers");
                }
                None => empty_answers += 1,
            }
            // A rebalance was served: the event goes out before any later record.
            if !self.signals.is_empty() {
                break;
            }
        }
        if records.is_empty() {
            Ok(self.signals.pop())
        } else {
            Ok(Some(ConsumerEvent::Records(records)))
        }
    }
}

/// Empty answers from librdkafka's poll in a row taken to mean the queue is empty.
const EMPTY_ANSWERS: u32 = 3;

/// The longest a poll sleeps without looking at the queue again. librdkafka wakes us when its
/// queue turns non-empty; this bounds the wait in the rare case where records sat behind more
/// served events than [`EMPTY_ANSWERS`].
const RECHECK: Duration = Duration::from_millis(50);

#[async_trait]
impl Consumer for KafkaConsumer {
    async fn poll(&self, max_records: usize, timeout: Duration) -> Result<ConsumerEvent> {
        self.check_open()?;
        let deadline = Instant::now() + timeout;
        loop {
            // Registered before looking, so a wake-up between the look and the wait is kept.
            let woken = self.signals.wake.notified();
            if let Some(event) = self.take_ready(max_records.max(1))? {
                return Ok(event);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(ConsumerEvent::Records(Vec::new()));
            }
            let _ = tokio::time::timeout(left.min(RECHECK), woken).await;
            self.check_open()?;
        }
    }

    async fn commit(&self, offsets: &[CommitOffset]) -> Result<()> {
        self.check_open()?;
        if offsets.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::with_capacity(offsets.len());
        for offset in offsets {
            tpl.add_partition_offset(
                &offset.tp.topic,
                offset.tp.partition,
                Offset::Offset(offset.next),
            )
            .map_err(kafka("commit"))?;
        }
        let base = Arc::clone(&self.base);
        // A synchronous commit waits for the group coordinator with no bound of its own (it
        // can wait forever while the group has none): bounded here, the caller hears of it and
        // the offsets stay uncommitted (the records are read again after a rebalance).
        let commit = blocking(move || base.commit(&tpl, CommitMode::Sync).map_err(kafka("commit")));
        match tokio::time::timeout(REQUEST_TIMEOUT, commit).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout {
                operation: "kafka commit".into(),
                after: REQUEST_TIMEOUT,
            }),
        }
    }

    fn pause(&self, partitions: &[TopicPartition]) -> Result<()> {
        self.check_open()?;
        self.base
            .pause(&partition_list(partitions)?)
            .map_err(kafka("pause"))
    }

    fn resume(&self, partitions: &[TopicPartition]) -> Result<()> {
        self.check_open()?;
        self.base
            .resume(&partition_list(partitions)?)
            .map_err(kafka("resume"))
    }

    fn seek(&self, tp: &TopicPartition, offset: i64) -> Result<()> {
        self.check_open()?;
        // Timeout zero: librdkafka seeks asynchronously, and discards records fetched
        // from before the seek, so the next poll starts at `offset`.
        self.base
            .seek(
                &tp.topic,
                tp.partition,
                Offset::Offset(offset),
                Duration::ZERO,
            )
            .map_err(kafka("seek"))
    }

    fn assignment(&self) -> Result<Vec<TopicPartition>> {
        self.check_open()?;
        let tpl = self.base.assignment().map_err(kafka("assignment"))?;
        Ok(partitions_of(&tpl))
    }

    fn group_metadata(&self) -> Result<GroupMetadata> {
        self.check_open()?;
        let metadata = self.base.group_metadata().ok_or(Error::Invalid {
            what: "consumer",
            detail: "no consumer group metadata (is group.id set?)".to_owned(),
        })?;
        Ok(GroupMetadata(GroupMetadataInner::Kafka(Arc::new(metadata))))
    }

    async fn committed(&self, partitions: &[TopicPartition]) -> Result<Vec<Option<i64>>> {
        self.check_open()?;
        if partitions.is_empty() {
            return Ok(Vec::new());
        }
        let tpl = partition_list(partitions)?;
        let base = Arc::clone(&self.base);
        let answer = blocking(move || {
            base.committed_offsets(tpl, REQUEST_TIMEOUT)
                .map_err(kafka("committed offsets"))
        })
        .await?;
        Ok(offsets_in_order(&answer, partitions))
    }

    async fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let base = Arc::clone(&self.base);
        let result = blocking(move || {
            base.close_queue().map_err(kafka("close"))?;
            // Serve the revocation and the LeaveGroup; records still arriving are dropped
            // (uncommitted, so the next owner reads them).
            let deadline = Instant::now() + REQUEST_TIMEOUT;
            while !base.closed() && Instant::now() < deadline {
                let _ = base.poll(Duration::from_millis(50));
            }
            Ok(())
        })
        .await;
        self.signals.wake.notify_waiters();
        result
    }
}

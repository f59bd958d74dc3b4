//! The contract between the engine and a log backend.
//!
//! A [`Log`] is a set of named topics, each split into partitions; a partition is an ordered,
//! durable sequence of records addressed by offsets `0, 1, 2, …`. Every backend — Kafka and the
//! embedded RocksDB log — keeps the promises written on these traits, and the conformance suite
//! (`tests/conformance.rs`) checks each one against each backend. The engine names no backend:
//! it holds an `Arc<dyn Log>`.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;
use crate::record::{CommitOffset, OutRecord, Position, Record, TopicPartition};

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Topic name, prefix included.
    pub name: String,
    /// Number of partitions (≥ 1).
    pub partitions: i32,
    /// Topic configs passed through as Kafka names them (`cleanup.policy`, `retention.ms`, …).
    pub configs: BTreeMap<String, String>,
}

impl TopicSpec {
    /// A topic with `partitions` partitions and default configs.
    pub fn new(name: impl AsRef<str>, partitions: i32) -> Self {
        Self {
            name: name.as_ref().to_owned(),
            partitions,
            configs: BTreeMap::new(),
        }
    }

    /// Sets one topic config, e.g. `.config("cleanup.policy", "compact")`.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.insert(key.into(), value.into());
        self
    }
}

/// What a backend knows about an existing topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    /// Topic name.
    pub name: String,
    /// Number of partitions.
    pub partitions: i32,
    /// Replicas of each partition (1 on the embedded log).
    pub replication_factor: i32,
    /// Configs set explicitly on the topic.
    pub configs: BTreeMap<String, String>,
}

/// Where a consumer group starts in a partition it has no committed offset for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartFrom {
    /// The first record still in the log.
    #[default]
    Earliest,
    /// Only records appended after the consumer joined.
    Latest,
}

/// How to join a consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// The group: members of one group split the partitions of the topics they subscribe to.
    pub group_id: String,
    /// Topics to subscribe to.
    pub topics: Vec<String>,
    /// Where to start without a committed offset.
    pub start_from: StartFrom,
    /// A name for this member in logs and the broker's group listing.
    pub client_id: Option<String>,
    /// Extra client properties for the Kafka backend (ignored by the embedded log).
    pub kafka: BTreeMap<String, String>,
}

impl ConsumerConfig {
    /// A member of `group_id` subscribed to `topics`, starting from the earliest record.
    pub fn new(
        group_id: impl Into<String>,
        topics: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Self {
        Self {
            group_id: group_id.into(),
            topics: topics.into_iter().map(|t| t.as_ref().to_owned()).collect(),
            start_from: StartFrom::Earliest,
            client_id: None,
            kafka: BTreeMap::new(),
        }
    }

    /// Sets where to start without a committed offset.
    pub fn start_from(mut self, start: StartFrom) -> Self {
        self.start_from = start;
        self
    }

    /// Sets the member's client id.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// Passes one property to the Kafka client.
    pub fn kafka_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.kafka.insert(key.into(), value.into());
        self
    }
}

/// What a poll of a consumer returns: records, or a change of the partitions it owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerEvent {
    /// Records in offset order per partition (empty when the poll timed out).
    Records(Vec<Record>),
    /// These partitions are now owned by this member; it reads them from their committed offsets.
    Assigned(Vec<TopicPartition>),
    /// These partitions are no longer owned; finish or drop work on them.
    Revoked(Vec<TopicPartition>),
}

/// A consumer group member's identity as seen by the group, for fencing transactional commits.
pub struct GroupMetadata(pub(crate) GroupMetadataInner);

pub(crate) enum GroupMetadataInner {
    /// Shared so a blocking `send_offsets_to_transaction` can own it on a blocking thread.
    Kafka(std::sync::Arc<rdkafka::consumer::ConsumerGroupMetadata>),
    Embedded {
        group: String,
        member: u64,
        generation: u64,
    },
}

impl std::fmt::Debug for GroupMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            GroupMetadataInner::Kafka(_) => f.write_str("GroupMetadata(kafka)"),
            GroupMetadataInner::Embedded {
                group,
                member,
                generation,
            } => {
                write!(
                    f,
                    "GroupMetadata({group}, member {member}, generation {generation})"
                )
            }
        }
    }
}

/// Resolves when a produced record is durable (acknowledged by the broker, or written).
pub struct Delivery(DeliveryInner);

enum DeliveryInner {
    Boxed(Pin<Box<dyn Future<Output = Result<Position>> + Send>>),
    /// Kafka's delivery future held inline: no allocation, and one pointer fewer to chase
    /// when awaited (measurable at hundreds of thousands of records per second).
    Kafka(crate::kafka::KafkaDelivery),
}

impl Delivery {
    /// Wraps a backend's delivery future.
    pub(crate) fn new(future: impl Future<Output = Result<Position>> + Send + 'static) -> Self {
        Self(DeliveryInner::Boxed(Box::pin(future)))
    }

    /// Wraps a Kafka delivery without boxing it.
    pub(crate) fn kafka(delivery: crate::kafka::KafkaDelivery) -> Self {
        Self(DeliveryInner::Kafka(delivery))
    }
}

impl Future for Delivery {
    type Output = Result<Position>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            DeliveryInner::Boxed(future) => future.as_mut().poll(cx),
            DeliveryInner::Kafka(delivery) => Pin::new(delivery).poll(cx),
        }
    }
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Delivery")
    }
}

/// A partitioned, ordered, durable log of topics.
///
/// Contract, for every backend:
/// - **Order**: records sent to one partition are read back in the order they were sent.
/// - **Keys**: a record with a key and no explicit partition lands in
///   [`partition_for_key`](crate::partition_for_key)`(key, partitions)`.
/// - **Durability**: once a [`Delivery`] resolves `Ok`, the record survives a restart of the
///   process (and, on Kafka, of the broker).
/// - **Isolation**: readers never see records of an aborted or uncommitted transaction.
#[async_trait]
pub trait Log: Send + Sync + 'static {
    /// The backend's name, for logs and benchmarks: `"kafka"` or `"embedded"`.
    fn backend(&self) -> &'static str;

    /// Queues one record for appending; the returned [`Delivery`] resolves when it is durable.
    /// Fails at once with [`Error::QueueFull`](crate::Error::QueueFull), handing the record
    /// back, when the backend buffers too much.
    fn send(&self, record: OutRecord) -> Result<Delivery>;

    /// Appends records and waits until all are durable; positions come back in input order.
    async fn send_batch(&self, records: Vec<OutRecord>) -> Result<Vec<Position>>;

    /// Waits until everything queued so far is durable, or `timeout` passes.
    async fn flush(&self, timeout: Duration) -> Result<()>;

    /// Joins a consumer group. Offsets are committed only by [`Consumer::commit`] (never
    /// automatically); a member that restarts without committing reads the same records again.
    async fn consumer(&self, config: ConsumerConfig) -> Result<Box<dyn Consumer>>;

    /// A producer whose sends and consumer-offset commits become visible atomically, or not
    /// at all. A newer producer with the same `transactional_id` fences the older one.
    async fn transactional_producer(
        &self,
        transactional_id: &str,
    ) -> Result<Box<dyn TransactionalProducer>>;

    /// Creates topics. A topic that exists with the same partition count is left as it is;
    /// one with another count is [`Error::PartitionMismatch`](crate::Error::PartitionMismatch).
    async fn create_topics(&self, topics: &[TopicSpec]) -> Result<()>;

    /// Describes a topic, or [`Error::UnknownTopic`](crate::Error::UnknownTopic).
    async fn describe_topic(&self, name: &str) -> Result<TopicDescription>;

    /// The names of every topic that exists, sorted (internal topics of the broker, such as
    /// `__consumer_offsets`, left out).
    async fn list_topics(&self) -> Result<Vec<String>>;

    /// How many brokers hold the log (1 for the embedded log): the most replicas a topic can
    /// have.
    async fn broker_count(&self) -> Result<usize>;

    /// Deletes topics and their records; unknown names are ignored.
    async fn delete_topics(&self, names: &[String]) -> Result<()>;

    /// The low and high watermarks of a partition: the first offset still stored and the
    /// offset the next record will get.
    async fn watermarks(&self, tp: &TopicPartition) -> Result<(i64, i64)>;

    /// The first offset whose record's timestamp is at or after `timestamp_ms`; the high
    /// watermark when there is none.
    async fn offset_for_time(&self, tp: &TopicPartition, timestamp_ms: i64) -> Result<i64>;

    /// The offsets `group` has committed for `partitions` (`None` where it has none).
    async fn committed_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<Vec<Option<i64>>>;

    /// Reads one partition from `from` up to its high watermark as of this call (replay),
    /// outside any consumer group.
    async fn read_partition(
        &self,
        tp: &TopicPartition,
        from: i64,
    ) -> Result<Box<dyn PartitionReader>>;
}

/// A member of a consumer group. All methods take `&self`, so one task can poll while
/// another commits.
#[async_trait]
pub trait Consumer: Send + Sync {
    /// Waits up to `timeout` for records (at most `max_records`) or an assignment change.
    /// An assignment change is always returned before records of newly owned partitions.
    async fn poll(&self, max_records: usize, timeout: Duration) -> Result<ConsumerEvent>;

    /// Commits, for each partition, the next offset the group will read there.
    async fn commit(&self, offsets: &[CommitOffset]) -> Result<()>;

    /// Stops fetching from these partitions until [`resume`](Self::resume) (backpressure).
    fn pause(&self, partitions: &[TopicPartition]) -> Result<()>;

    /// Fetches again from paused partitions, where they stopped.
    fn resume(&self, partitions: &[TopicPartition]) -> Result<()>;

    /// Moves the read position of an owned partition; the next poll reads from `offset`.
    fn seek(&self, tp: &TopicPartition, offset: i64) -> Result<()>;

    /// The partitions this member owns now.
    fn assignment(&self) -> Result<Vec<TopicPartition>>;

    /// This member's identity in its group, for [`TransactionalProducer::send_offsets`].
    fn group_metadata(&self) -> Result<GroupMetadata>;

    /// The offsets this group has committed for `partitions`.
    async fn committed(&self, partitions: &[TopicPartition]) -> Result<Vec<Option<i64>>>;

    /// Leaves the group so its partitions move to other members at once.
    async fn close(&self) -> Result<()>;
}

/// Produce and commit consumer offsets atomically: begin, send…, send_offsets, commit.
///
/// On an error, [`Error::txn_class`](crate::Error::txn_class) says what to do: retry the
/// call; abort and rewind the consumer to its committed offsets; or drop this producer and
/// build a new one with the same transactional id.
#[async_trait]
pub trait TransactionalProducer: Send + Sync {
    /// Starts a transaction.
    async fn begin(&self) -> Result<()>;

    /// Queues a record inside the open transaction; its delivery resolves no later than commit.
    fn send(&self, record: OutRecord) -> Result<Delivery>;

    /// Adds consumer offsets (the next offsets to read) to the open transaction.
    async fn send_offsets(&self, offsets: &[CommitOffset], group: &GroupMetadata) -> Result<()>;

    /// Commits the transaction: its records and offsets become visible together.
    async fn commit(&self) -> Result<()>;

    /// Aborts the transaction: none of its records or offsets will ever be visible.
    async fn abort(&self) -> Result<()>;
}

/// Reads a range of one partition (see [`Log::read_partition`]).
#[async_trait]
pub trait PartitionReader: Send {
    /// The next records, in offset order; `None` once the end of the range is reached.
    async fn next_batch(&mut self) -> Result<Option<Vec<Record>>>;

    /// The offset the range ends at (exclusive).
    fn end(&self) -> i64;
}

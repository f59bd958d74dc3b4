//! The units the log moves: records going in, records coming out, and where they landed.

use std::sync::Arc;

use bytes::Bytes;

/// A topic's name, shared: records and partitions of one topic hold the same allocation, so
/// moving a record around never copies its topic's name.
pub type TopicName = Arc<str>;

/// What names a topic: `&str`, `String`, `&String`, or a shared [`TopicName`] (which is
/// cloned, not copied).
pub trait IntoTopicName {
    /// The shared name.
    fn into_topic_name(self) -> TopicName;
}

impl IntoTopicName for TopicName {
    fn into_topic_name(self) -> TopicName {
        self
    }
}

impl IntoTopicName for &TopicName {
    fn into_topic_name(self) -> TopicName {
        self.clone()
    }
}

impl IntoTopicName for &str {
    fn into_topic_name(self) -> TopicName {
        self.into()
    }
}

impl IntoTopicName for String {
    fn into_topic_name(self) -> TopicName {
        self.into()
    }
}

impl IntoTopicName for &String {
    fn into_topic_name(self) -> TopicName {
        self.as_str().into()
    }
}

impl IntoTopicName for Box<str> {
    fn into_topic_name(self) -> TopicName {
        self.into()
    }
}

impl IntoTopicName for std::borrow::Cow<'_, str> {
    fn into_topic_name(self) -> TopicName {
        self.into()
    }
}

/// A partition of a topic: the unit of order, assignment and offsets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name, prefix included.
    pub topic: TopicName,
    /// Partition number, from 0.
    pub partition: i32,
}

impl TopicPartition {
    /// The partition `partition` of `topic`.
    pub fn new(topic: impl IntoTopicName, partition: i32) -> Self {
        Self {
            topic: topic.into_topic_name(),
            partition,
        }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]", self.topic, self.partition)
    }
}

/// A record to append. With a key and no explicit partition, the partition is
/// `murmur2(key) % partitions`, as Kafka's Java client computes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRecord {
    /// Destination topic.
    pub topic: TopicName,
    /// Explicit partition; `None` partitions by key (or spreads keyless records).
    pub partition: Option<i32>,
    /// Record key, if any.
    pub key: Option<Bytes>,
    /// Record value.
    pub payload: Bytes,
}

impl OutRecord {
    /// A keyed record for `topic`, partitioned by its key.
    pub fn keyed(
        topic: impl IntoTopicName,
        key: impl Into<Bytes>,
        payload: impl Into<Bytes>,
    ) -> Self {
        Self {
            topic: topic.into_topic_name(),
            partition: None,
            key: Some(key.into()),
            payload: payload.into(),
        }
    }

    /// Sends the record to an explicit partition instead of the key's.
    pub fn to_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }
}

/// A record read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Topic it was read from.
    pub topic: TopicName,
    /// Partition it was read from.
    pub partition: i32,
    /// Its offset within the partition.
    pub offset: i64,
    /// Its key, if any.
    pub key: Option<Bytes>,
    /// Its value.
    pub payload: Bytes,
    /// Append time (or producer create time), in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

impl Record {
    /// The record's partition.
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(self.topic.clone(), self.partition)
    }
}

/// Where a produced record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    /// Partition it was appended to.
    pub partition: i32,
    /// Its offset there.
    pub offset: i64,
}

/// An offset to commit: the next offset to read in a partition (Kafka's convention).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommitOffset {
    /// The partition.
    pub tp: TopicPartition,
    /// The next offset the group will read there.
    pub next: i64,
}

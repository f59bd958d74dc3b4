//! The embedded backend — a TEMPORARY STUB so the crate compiles on the `topics` branch while
//! the RocksDB implementation is written on its own branch; that version replaces this file.

use std::time::Duration;

use async_trait::async_trait;

use crate::config::EmbeddedConfig;
use crate::error::{Error, Result};
use crate::log::{
    Consumer, ConsumerConfig, Delivery, GroupMetadata, GroupMetadataInner, Log, PartitionReader,
    TopicDescription, TopicSpec, TransactionalProducer,
};
use crate::record::{OutRecord, Position, TopicPartition};

/// The embedded RocksDB log (not available on this branch: [`open`](Self::open) fails).
#[derive(Debug)]
pub enum EmbeddedLog {}

impl EmbeddedLog {
    /// Fails: the embedded backend lands on its own branch.
    pub fn open(config: EmbeddedConfig) -> Result<Self> {
        Err(Error::Storage {
            path: config.dir.display().to_string(),
            detail: "the embedded backend is not built on this branch (stub)".to_owned(),
        })
    }
}

/// Keeps what only the embedded backend uses (its group metadata, ready deliveries) alive
/// until the real backend replaces this stub.
#[allow(dead_code)]
fn stub_uses() -> (GroupMetadata, Delivery) {
    let metadata = GroupMetadata(GroupMetadataInner::Embedded {
        group: String::new(),
        member: 0,
        generation: 0,
    });
    (
        metadata,
        Delivery::ready(Err(Error::Closed("embedded log"))),
    )
}

#[async_trait]
impl Log for EmbeddedLog {
    fn backend(&self) -> &'static str {
        "embedded"
    }
    fn send(&self, _: OutRecord) -> Result<Delivery> {
        match *self {}
    }
    async fn send_batch(&self, _: Vec<OutRecord>) -> Result<Vec<Position>> {
        match *self {}
    }
    async fn flush(&self, _: Duration) -> Result<()> {
        match *self {}
    }
    async fn consumer(&self, _: ConsumerConfig) -> Result<Box<dyn Consumer>> {
        match *self {}
    }
    async fn transactional_producer(&self, _: &str) -> Result<Box<dyn TransactionalProducer>> {
        match *self {}
    }
    async fn create_topics(&self, _: &[TopicSpec]) -> Result<()> {
        match *self {}
    }
    async fn describe_topic(&self, _: &str) -> Result<TopicDescription> {
        match *self {}
    }
    async fn delete_topics(&self, _: &[String]) -> Result<()> {
        match *self {}
    }
    async fn watermarks(&self, _: &TopicPartition) -> Result<(i64, i64)> {
        match *self {}
    }
    async fn offset_for_time(&self, _: &TopicPartition, _: i64) -> Result<i64> {
        match *self {}
    }
    async fn committed_offsets(&self, _: &str, _: &[TopicPartition]) -> Result<Vec<Option<i64>>> {
        match *self {}
    }
    async fn read_partition(&self, _: &TopicPartition, _: i64) -> Result<Box<dyn PartitionReader>> {
        match *self {}
    }
}

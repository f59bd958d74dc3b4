//! The log beneath Celeriac: partitioned, ordered, durable topics behind one trait.
//!
//! The engine sees only [`Log`], [`Consumer`] and [`TransactionalProducer`]; two backends keep
//! their contract — Kafka through rdkafka, and an embedded log in RocksDB for a single process
//! with nothing to set up. [`open`] picks one from a [`LogConfig`].
//!
//! ```no_run
//! # async fn demo() -> celeriac_topics::Result<()> {
//! use celeriac_topics::{open, LogConfig, OutRecord, TopicSpec};
//! let log = open(LogConfig::embedded("./.celeriac/log")).await?;
//! log.create_topics(&[TopicSpec::new("celeriac.events", 8)]).await?;
//! let position = log.send(OutRecord::keyed("celeriac.events", "root-id", "payload"))?.await?;
//! # let _ = position; Ok(()) }
//! ```

mod config;
mod embedded;
mod error;
mod kafka;
mod log;
mod partitioner;
mod record;

pub use config::{open, EmbeddedConfig, KafkaConfig, LogConfig};
pub use embedded::EmbeddedLog;
pub use error::{Error, Result, TxnErrorClass};
pub use kafka::KafkaLog;
pub use log::{
    Consumer, ConsumerConfig, ConsumerEvent, Delivery, GroupMetadata, Log, PartitionReader,
    StartFrom, TopicDescription, TopicSpec, TransactionalProducer,
};
pub use partitioner::{murmur2, partition_for_key};
pub use record::{
    CommitOffset, IntoTopicName, OutRecord, Position, Record, TopicName, TopicPartition,
};

//! Replay: one partition from an offset to the end it had when the read began.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::Notify;

use super::consumer::Copier;
use super::errors::{is_transient_consumer_error, kafka};
use super::runtime::{blocking, OffThread};
use super::settings::{self, REQUEST_TIMEOUT};
use super::{create, LogContext};
use crate::config::KafkaConfig;
use crate::error::{Error, Result};
use crate::log::PartitionReader;
use crate::record::{Record, TopicPartition};

/// Records handed out per [`PartitionReader::next_batch`].
const BATCH: usize = 10_000;

/// Reads a partition outside any group, `read_committed`: records of aborted transactions
/// never appear, and the end is the last stable offset at open time (the high watermark when
/// no transaction is open), so a reader never waits on a transaction still in flight.
pub(crate) struct KafkaPartitionReader {
    consumer: Option<OffThread<Arc<BaseConsumer<LogContext>>>>,
    wake: Arc<Notify>,
    tp: TopicPartition,
    end: i64,
    done: bool,
    copier: Copier,
}

impl KafkaPartitionReader {
    pub(crate) async fn open(config: &KafkaConfig, tp: &TopicPartition, from: i64) -> Result<Self> {
        // `assign` needs a group id; this one is never joined and nothing is committed to it.
        let group = format!("{}-reader", config.client_id);
        let mut client = settings::standalone(config, "read_committed", Some(&group));
        client.set("enable.partition.eof", "true");
        let wake = Arc::new(Notify::new());
        let (waker, at) = (Arc::clone(&wake), tp.clone());
        let (consumer, end) = blocking(move || {
            let mut consumer: BaseConsumer<LogContext> = create(&client, LogContext::default())?;
            consumer.set_nonempty_callback(move || waker.notify_one());
            // Isolation read_committed: the "high" mark is the last stable offset.
            let (_, end) = consumer
                .fetch_watermarks(&at.topic, at.partition, REQUEST_TIMEOUT)
                .map_err(|e| unknown(&at, e))?;
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&at.topic, at.partition, Offset::Offset(from.max(0)))
                .map_err(kafka("read partition"))?;
            consumer.assign(&tpl).map_err(kafka("read partition"))?;
            Ok((consumer, end))
        })
        .await?;
        Ok(Self {
            done: from >= end,
            consumer: Some(OffThread::new(Arc::new(consumer))),
            wake,
            tp: tp.clone(),
            end,
            copier: Copier::default(),
        })
    }

    /// The consumer's position (next offset to hand out) in the partition, if known.
    fn position(consumer: &BaseConsumer<LogContext>, tp: &TopicPartition) -> Option<i64> {
        let positions = consumer.position().ok()?;
        match positions.find_partition(&tp.topic, tp.partition)?.offset() {
            Offset::Offset(offset) => Some(offset),
            _ => None,
        }
    }
}

fn unknown(tp: &TopicPartition, error: KafkaError) -> Error {
    use rdkafka::types::RDKafkaErrorCode as Code;
    match error.rdkafka_error_code() {
        Some(Code::UnknownTopicOrPartition | Code::UnknownTopic) => {
            Error::UnknownTopic(tp.topic.to_string())
        }
        Some(Code::UnknownPartition) => Error::UnknownPartition(tp.clone()),
        _ => kafka("read partition")(error),
    }
}

#[async_trait]
impl PartitionReader for KafkaPartitionReader {
    async fn next_batch(&mut self) -> Result<Option<Vec<Record>>> {
        let mut records = Vec::new();
        let mut deadline = Instant::now() + REQUEST_TIMEOUT;
        while !self.done {
            let consumer = self
                .consumer
                .as_ref()
                .ok_or(Error::Closed("partition reader"))?;
            let woken = self.wake.notified();
            match consumer.poll(Duration::ZERO) {
                Some(Ok(message)) => {
                    deadline = Instant::now() + REQUEST_TIMEOUT;
                    if message.offset() >= self.end {
                        self.done = true;
                        break;
                    }
                    records.push(self.copier.record(&message));
                    self.done = message.offset() + 1 >= self.end;
                    if records.len() >= BATCH {
                        break;
                    }
                }
                // The fetcher reached the partition's end: everything up to `end` is read.
                Some(Err(KafkaError::PartitionEOF(_))) => self.done = true,
                Some(Err(error))
                    if error
                        .rdkafka_error_code()
                        .is_some_and(is_transient_consumer_error) => {}
                Some(Err(error)) => return Err(kafka("read partition")(error)),
                None if !records.is_empty() => break,
                None => {
                    // Transaction markers at the tail are never handed out; the position
                    // still moves past them.
                    if Self::position(consumer, &self.tp).is_some_and(|p| p >= self.end) {
                        self.done = true;
                        break;
                    }
                    let wait = deadline
                        .saturating_duration_since(Instant::now())
                        .min(Duration::from_millis(100));
                    if wait.is_zero() {
                        return Err(Error::Timeout {
                            operation: format!("reading {} up to offset {}", self.tp, self.end),
                            after: REQUEST_TIMEOUT,
                        });
                    }
                    let _ = tokio::time::timeout(wait, woken).await;
                }
            }
        }
        if self.done {
            // Release the client now rather than when the reader is dropped.
            self.consumer = None;
        }
        Ok(if records.is_empty() {
            None
        } else {
            Some(records)
        })
    }

    fn end(&self) -> i64 {
        self.end
    }
}

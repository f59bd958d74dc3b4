//! Sending records: partition choice, enqueueing, and delivery futures.
//!
//! A keyed record without an explicit partition goes to
//! [`partition_for_key`](crate::partition_for_key)`(key, count)`, with `count` from a cache
//! filled at connect, by `create_topics`/`describe_topic`, and in the background on a miss.
//! On a miss the record is sent without a partition and librdkafka's `murmur2_random`
//! partitioner — the Java client's, which our function reproduces — places it; the two paths
//! agree, so order per key holds across the switch.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::channel::oneshot::Canceled;
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode as Code;

use super::errors::transactional_delivery;
use super::settings::MESSAGE_TIMEOUT_MS;
use super::{LogContext, Shared};
use crate::error::{Error, Result};
use crate::log::Delivery;
use crate::partitioner::partition_for_key;
use crate::record::{OutRecord, Position, TopicPartition};

pub(crate) type Producer = FutureProducer<LogContext>;

/// Enqueues `record` on `producer`; on failure hands it back with the client's error.
// The error is as large as the record; it is rare and handed straight back, like rdkafka's
// own `send_result`.
#[allow(clippy::result_large_err)]
pub(crate) fn enqueue(
    shared: &Arc<Shared>,
    producer: &Producer,
    record: OutRecord,
) -> std::result::Result<DeliveryFuture, (KafkaError, OutRecord)> {
    let partition = match (record.partition, &record.key) {
        (Some(partition), _) => Some(partition),
        (None, Some(key)) => shared
            .partition_count(&record.topic)
            .map(|count| partition_for_key(key, count)),
        (None, None) => None,
    };
    let mut out = FutureRecord::<[u8], [u8]>::to(&record.topic).payload(&record.payload[..]);
    if let Some(key) = &record.key {
        out = out.key(&key[..]);
    }
    if let Some(partition) = partition {
        out = out.partition(partition);
    }
    match producer.send_result(out) {
        Ok(future) => Ok(future),
        Err((error, _)) => Err((error, record)),
    }
}

/// True when the producer's local queue is full.
pub(crate) fn is_queue_full(error: &KafkaError) -> bool {
    error.rdkafka_error_code() == Some(Code::QueueFull)
}

/// A Kafka delivery future, mapped to our terms when it resolves.
pub(crate) struct KafkaDelivery {
    future: DeliveryFuture,
    transactional: bool,
}

impl KafkaDelivery {
    pub(crate) fn new(future: DeliveryFuture, transactional: bool) -> Self {
        Self {
            future,
            transactional,
        }
    }
}

impl Future for KafkaDelivery {
    type Output = Result<Position>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let transactional = self.transactional;
        Pin::new(&mut self.future).poll(cx).map(|report| {
            let result = delivered(report);
            match result {
                Err(Error::Kafka { source, .. }) if transactional => {
                    Err(transactional_delivery(source))
                }
                other => other,
            }
        })
    }
}

/// [`Log::send`](crate::Log::send) on the shared producer.
pub(crate) fn send(
    shared: &Arc<Shared>,
    producer: &Producer,
    record: OutRecord,
) -> Result<Delivery> {
    match enqueue(shared, producer, record) {
        Ok(future) => Ok(Delivery::kafka(KafkaDelivery::new(future, false))),
        Err((error, record)) if is_queue_full(&error) => Err(Error::QueueFull(Box::new(record))),
        Err((error, record)) => Err(enqueue_error(error, &record)),
    }
}

fn enqueue_error(error: KafkaError, record: &OutRecord) -> Error {
    match error.rdkafka_error_code() {
        Some(Code::UnknownTopic | Code::UnknownTopicOrPartition) => {
            Error::UnknownTopic(record.topic.to_string())
        }
        Some(Code::UnknownPartition) => Error::UnknownPartition(TopicPartition::new(
            record.topic.clone(),
            record.partition.unwrap_or(-1),
        )),
        _ => Error::Kafka {
            operation: "send",
            source: error,
        },
    }
}

/// A delivery report in our terms.
pub(crate) fn delivered(
    report: std::result::Result<OwnedDeliveryResult, Canceled>,
) -> Result<Position> {
    match report {
        Ok(Ok(delivery)) => Ok(Position {
            partition: delivery.partition,
            offset: delivery.offset,
        }),
        Ok(Err((error, message))) => Err(match error.rdkafka_error_code() {
            Some(Code::UnknownTopic | Code::UnknownTopicOrPartition) => {
                Error::UnknownTopic(message.topic().to_owned())
            }
            Some(Code::UnknownPartition) => {
                Error::UnknownPartition(TopicPartition::new(message.topic(), message.partition()))
            }
            _ => Error::Kafka {
                operation: "deliver",
                source: error,
            },
        }),
        Err(Canceled) => Err(Error::Closed("producer")),
    }
}

/// [`Log::send_batch`](crate::Log::send_batch): enqueues everything, waiting for earlier
/// deliveries whenever the local queue is full, then waits for the rest in order.
pub(crate) async fn send_batch(
    shared: &Arc<Shared>,
    producer: &Producer,
    records: Vec<OutRecord>,
) -> Result<Vec<Position>> {
    let mut positions = Vec::with_capacity(records.len());
    let mut pending = VecDeque::with_capacity(records.len());
    let patience = Duration::from_millis(MESSAGE_TIMEOUT_MS.parse().unwrap_or(120_000));
    for record in records {
        let mut record = record;
        let mut full_since: Option<Instant> = None;
        loop {
            match enqueue(shared, producer, record) {
                Ok(future) => {
                    pending.push_back(future);
                    break;
                }
                Err((error, back)) if is_queue_full(&error) => {
                    record = back;
                    let since = *full_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > patience {
                        return Err(Error::QueueFull(Box::new(record)));
                    }
                    match pending.pop_front() {
                        Some(oldest) => positions.push(delivered(oldest.await)?),
                        // Others filled the queue: give their deliveries a moment.
                        None => tokio::time::sleep(Duration::from_millis(1)).await,
                    }
                }
                Err((error, back)) => return Err(enqueue_error(error, &back)),
            }
        }
    }
    for future in pending {
        positions.push(delivered(future.await)?);
    }
    Ok(positions)
}

//! Transactions: produce and commit consumer offsets atomically.
//!
//! librdkafka's transaction calls block until the coordinator answers, so each runs on
//! tokio's blocking pool, bounded by [`REQUEST_TIMEOUT`]; a timeout comes back `Retriable`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::error::KafkaError;
use rdkafka::producer::Producer as _;
use rdkafka::{Offset, TopicPartitionList};

use super::errors::{kafka, transaction};
use super::producer::{enqueue, is_queue_full, KafkaDelivery, Producer};
use super::runtime::{blocking, OffThread};
use super::settings::{self, REQUEST_TIMEOUT};
use super::{create, LogContext, Shared};
use crate::error::{Error, Result};
use crate::log::{Delivery, GroupMetadata, GroupMetadataInner, TransactionalProducer};
use crate::record::{CommitOffset, OutRecord};

/// A transactional producer on Kafka (one librdkafka producer with a `transactional.id`).
pub(crate) struct KafkaTransactionalProducer {
    shared: OffThread<Arc<Shared>>,
    producer: OffThread<Arc<Producer>>,
}

impl KafkaTransactionalProducer {
    /// Creates the producer and registers its id with the transaction coordinator, which
    /// fences any older producer with the same id and aborts its open transaction.
    pub(crate) async fn open(shared: Arc<Shared>, transactional_id: &str) -> Result<Self> {
        if transactional_id.is_empty() {
            return Err(Error::Invalid {
                what: "transactional id",
                detail: "empty".to_owned(),
            });
        }
        let client = settings::transactional(&shared.config, transactional_id)?;
        let producer: Arc<Producer> = Arc::new(create(&client, LogContext::default())?);
        let init = Arc::clone(&producer);
        let producer = OffThread::new(producer);
        blocking(move || {
            init.init_transactions(REQUEST_TIMEOUT)
                .map_err(|e| transaction("init", e))
        })
        .await?;
        Ok(Self {
            shared: OffThread::new(shared),
            producer,
        })
    }

    async fn call(
        &self,
        operation: &'static str,
        call: impl FnOnce(&Producer) -> rdkafka::error::KafkaResult<()> + Send + 'static,
    ) -> Result<()> {
        let producer = Arc::clone(&self.producer);
        blocking(move || call(&producer).map_err(|e| transaction(operation, e))).await
    }
}

/// How long one round of [`flush`] waits for deliveries before asking again.
const FLUSH_STEP: Duration = Duration::from_millis(1);

/// Sends what the open transaction queued and waits, at most [`REQUEST_TIMEOUT`], for every
/// delivery, in steps of [`FLUSH_STEP`].
///
/// rdkafka's `commit_transaction` flushes first, but its flush waits for the delivery reports
/// on the calling thread in steps of up to 100 ms, while our producer's polling thread is the
/// one that receives them: every commit would last 100 ms. Each round here also tells
/// librdkafka to send at once, past `linger.ms`; the commit's own flush then finds nothing
/// left to wait for.
fn flush(producer: &Producer) -> rdkafka::error::KafkaResult<()> {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    loop {
        match producer.flush(FLUSH_STEP) {
            Err(KafkaError::Flush(_)) if Instant::now() < deadline => {}
            other => return other,
        }
    }
}

#[async_trait]
impl TransactionalProducer for KafkaTransactionalProducer {
    async fn begin(&self) -> Result<()> {
        self.call("begin", |p| p.begin_transaction()).await
    }

    fn send(&self, record: OutRecord) -> Result<Delivery> {
        match enqueue(&self.shared, &self.producer, record) {
            Ok(future) => Ok(Delivery::kafka(KafkaDelivery::new(future, true))),
            Err((error, record)) if is_queue_full(&error) => {
                Err(Error::QueueFull(Box::new(record)))
            }
            Err((error, _)) => Err(transaction("send", error)),
        }
    }

    async fn send_offsets(&self, offsets: &[CommitOffset], group: &GroupMetadata) -> Result<()> {
        let GroupMetadataInner::Kafka(metadata) = &group.0 else {
            return Err(Error::Invalid {
                what: "group metadata",
                detail: "it comes from a consumer of another backend".to_owned(),
            });
        };
        let mut tpl = TopicPartitionList::with_capacity(offsets.len());
        for offset in offsets {
            tpl.add_partition_offset(
                &offset.tp.topic,
                offset.tp.partition,
                Offset::Offset(offset.next),
            )
            .map_err(kafka("send offsets"))?;
        }
        let metadata = Arc::clone(metadata);
        self.call("send_offsets", move |p| {
            p.send_offsets_to_transaction(&tpl, &metadata, REQUEST_TIMEOUT)
        })
        .await
    }

    async fn commit(&self) -> Result<()> {
        self.call("commit", |p| {
            flush(p)?;
            p.commit_transaction(REQUEST_TIMEOUT)
        })
        .await
    }

    async fn abort(&self) -> Result<()> {
        self.call("abort", |p| p.abort_transaction(REQUEST_TIMEOUT))
            .await
    }
}

//! The Kafka backend: the [`Log`] contract on Apache Kafka through rdkafka (librdkafka).
//! What runs underneath is described on [`KafkaLog`]; every default setting, with the reason
//! for it, is in `settings.rs`.

mod admin;
mod consumer;
mod errors;
mod producer;
mod reader;
mod runtime;
mod settings;
mod transaction;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::admin::AdminClient;
use rdkafka::config::{FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, Producer as _};
use rdkafka::{ClientConfig, ClientContext};

use crate::config::KafkaConfig;
use crate::error::{Error, Result};
use crate::log::{
    Consumer, ConsumerConfig, Delivery, Log, PartitionReader, TopicDescription, TopicSpec,
    TransactionalProducer,
};
use crate::record::{OutRecord, Position, TopicPartition};

pub(crate) use errors::is_retriable_code;
pub(crate) use producer::KafkaDelivery;
use runtime::{blocking, OffThread};

/// The log on a Kafka cluster, shared behind an `Arc<dyn Log>`.
///
/// - **Producer**: one idempotent producer (`acks=all`) per `KafkaLog`, shared by every
///   caller; [`send`](Log::send) enqueues without waiting and returns a [`Delivery`]. Keyed
///   records go to [`partition_for_key`](crate::partition_for_key) over the topic's partition
///   count (cached; before the count is known, librdkafka's Java-compatible `murmur2_random`
///   partitioner places them — the same partition).
/// - **Consumers**: one librdkafka consumer per [`Log::consumer`]: range assignor, no
///   auto-commit, `read_committed`; rebalances come back from `poll` as events, and a poll
///   returns up to `max_records` records already fetched without waiting for more.
/// - **Transactions**: one producer per transactional id. librdkafka's blocking transaction
///   calls run on tokio's blocking pool, bounded by 30 s, and their errors carry librdkafka's
///   class ([`TxnErrorClass`](crate::TxnErrorClass)). The recipe, as librdkafka documents it:
///   `Retriable` → call the same method again; `Abortable` → abort, seek the consumer back to
///   its committed offsets, redo the batch; `Fatal` (also when fenced by a newer producer with
///   the same id) → drop the producer and open a new one with the same id.
/// - **Settings**: batching under load at a small latency cost — `linger.ms=5`,
///   `fetch.wait.max.ms=50`, `fetch.queue.backoff.ms=10`, a producer queue of 1,000,000
///   records, `session.timeout.ms=6000`, `max.poll.interval.ms=120000`, Nagle off, reconnect
///   backoff ≤ 1 s,
///   `message.timeout.ms=120000`. [`KafkaConfig::property`] overrides any of them, except the
///   few the contract rests on (idempotence, `acks=all`, the `murmur2_random` partitioner, no
///   auto-created topics, no auto-commit, `read_committed`), which are refused with
///   [`Error::Invalid`].
///
/// Blocking librdkafka calls (commits, metadata, offsets, flush) and the blocking drops of its
/// handles run on tokio's blocking pool, never on the executor's threads. Records still
/// queued when a `KafkaLog` is dropped are purged: [`flush`](Log::flush) first.
pub struct KafkaLog {
    shared: OffThread<Arc<Shared>>,
}

impl std::fmt::Debug for KafkaLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaLog")
            .field("brokers", &self.shared.config.brokers)
            .finish_non_exhaustive()
    }
}

/// What the log's producer, transactional producers and admin calls share.
pub(crate) struct Shared {
    config: KafkaConfig,
    producer: FutureProducer<LogContext>,
    /// A consumer outside any group, `read_uncommitted`: metadata, watermarks, offsets.
    metadata: BaseConsumer<LogContext>,
    admin: AdminClient<LogContext>,
    /// Partition count of each topic seen, for keyed sends.
    partitions: RwLock<HashMap<String, i32>>,
    /// Topics whose partition count was last looked up in the background, and when.
    refreshing: Mutex<HashMap<String, Instant>>,
}

/// Routes librdkafka's log lines and global errors to `tracing`; the clients `connect` makes
/// also note a refusal (bad credentials, an untrusted certificate) so it fails at once.
#[derive(Clone, Debug, Default)]
pub(crate) struct LogContext {
    refusal: Option<Arc<Mutex<Option<String>>>>,
}

/// Whether a client error means the brokers refuse us (waiting will not help).
fn is_refusal(error: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        error.rdkafka_error_code(),
        Some(Code::Authentication | Code::SSL | Code::SaslAuthenticationFailed)
    )
}

/// Logs one librdkafka line through `tracing`.
pub(crate) fn log_line(level: RDKafkaLogLevel, facility: &str, line: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => tracing::error!(target: "librdkafka", facility, "{line}"),
        RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility, "{line}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(target: "librdkafka", facility, "{line}")
        }
        RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, "{line}"),
    }
}

/// Logs one global librdkafka error through `tracing`.
pub(crate) fn log_error(error: &KafkaError, reason: &str) {
    tracing::warn!(target: "librdkafka", %error, "{reason}");
}

impl ClientContext for LogContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, line: &str) {
        log_line(level, facility, line);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if let Some(slot) = self.refusal.as_ref().filter(|_| is_refusal(&error)) {
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.to_owned());
        }
        log_error(&error, reason);
    }
}

impl ConsumerContext for LogContext {}

fn properties(client: &ClientConfig) -> BTreeMap<String, String> {
    client
        .config_map()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Creates a client, turning librdkafka's refusal of a setting into [`Error::Invalid`].
fn create<T: FromClientConfigAndContext<C>, C: ClientContext>(
    client: &ClientConfig,
    context: C,
) -> Result<T> {
    T::from_config_and_context(client, context).map_err(|error| match error {
        KafkaError::ClientConfig(_, detail, key, value) => Error::Invalid {
            what: "kafka property",
            detail: format!("{key}={value}: {detail}"),
        },
        source => Error::Kafka {
            operation: "create client",
            source,
        },
    })
}

impl KafkaLog {
    /// Creates the clients and waits, at most [`KafkaConfig::connect_timeout`], until a broker
    /// answers a metadata request; none → [`Error::BrokerUnreachable`].
    pub async fn connect(config: KafkaConfig) -> Result<KafkaLog> {
        let refusal = Arc::new(Mutex::new(None));
        let context = LogContext {
            refusal: Some(Arc::clone(&refusal)),
        };
        let producer = create(&settings::producer(&config)?, context.clone())?;
        let metadata = create(
            &settings::standalone(&config, "read_uncommitted", None),
            context.clone(),
        )?;
        let admin = create(&settings::admin(&config), context)?;
        let shared = Arc::new(Shared {
            config,
            producer,
            metadata,
            admin,
            partitions: RwLock::new(HashMap::new()),
            refreshing: Mutex::new(HashMap::new()),
        });
        let log = KafkaLog {
            shared: OffThread::new(shared),
        };
        log.wait_for_broker(&refusal).await?;
        Ok(log)
    }

    /// Asks for the cluster's metadata until a broker answers or the connect timeout passes;
    /// the answer also fills the partition-count cache. A broker that refuses our credentials
    /// or whose certificate we do not trust ends the wait at once with [`Error::Refused`].
    async fn wait_for_broker(&self, refusal: &Mutex<Option<String>>) -> Result<()> {
        let waited = self.shared.config.connect_timeout;
        let deadline = Instant::now() + waited;
        let mut last = String::from("no attempt made");
        loop {
            if let Some(reason) = refusal.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return Err(Error::Refused {
                    brokers: self.shared.config.brokers.clone(),
                    detail: reason,
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::BrokerUnreachable {
                    brokers: self.shared.config.brokers.clone(),
                    waited,
                    detail: last,
                });
            }
            let attempt = left.min(Duration::from_millis(500));
            let shared = Arc::clone(&self.shared);
            match blocking(move || Ok(shared.metadata_of(None, attempt))).await? {
                Ok(counts) => {
                    self.shared.remember_partitions(counts);
                    return Ok(());
                }
                Err(error) => last = error.to_string(),
            }
            // A refused connection fails fast; do not spin.
            tokio::time::sleep(Duration::from_millis(100).min(left)).await;
        }
    }

    /// The librdkafka properties the log's producer gets from `config` (for comparing with
    /// bare rdkafka under identical settings, as the throughput bench does).
    #[doc(hidden)]
    pub fn producer_properties(config: &KafkaConfig) -> Result<BTreeMap<String, String>> {
        Ok(properties(&settings::producer(config)?))
    }

    /// The librdkafka properties a group member gets from `config` and `member`.
    #[doc(hidden)]
    pub fn consumer_properties(
        config: &KafkaConfig,
        member: &ConsumerConfig,
    ) -> Result<BTreeMap<String, String>> {
        Ok(properties(&settings::consumer(config, member)?))
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

#[async_trait]
impl Log for KafkaLog {
    fn backend(&self) -> &'static str {
        "kafka"
    }

    fn send(&self, record: OutRecord) -> Result<Delivery> {
        producer::send(self.shared(), &self.shared.producer, record)
    }

    async fn send_batch(&self, records: Vec<OutRecord>) -> Result<Vec<Position>> {
        producer::send_batch(self.shared(), &self.shared.producer, records).await
    }

    async fn flush(&self, timeout: Duration) -> Result<()> {
        let shared = Arc::clone(self.shared());
        blocking(move || {
            shared.producer.flush(timeout).map_err(|error| match error {
                KafkaError::Flush(rdkafka::types::RDKafkaErrorCode::OperationTimedOut) => {
                    Error::Timeout {
                        operation: "flush".to_owned(),
                        after: timeout,
                    }
                }
                source => Error::Kafka {
                    operation: "flush",
                    source,
                },
            })
        })
        .await
    }

    async fn consumer(&self, config: ConsumerConfig) -> Result<Box<dyn Consumer>> {
        Ok(Box::new(consumer::KafkaConsumer::join(
            &self.shared.config,
            &config,
        )?))
    }

    async fn transactional_producer(
        &self,
        transactional_id: &str,
    ) -> Result<Box<dyn TransactionalProducer>> {
        let producer = transaction::KafkaTransactionalProducer::open(
            Arc::clone(self.shared()),
            transactional_id,
        )
        .await?;
        Ok(Box::new(producer))
    }

    async fn create_topics(&self, topics: &[TopicSpec]) -> Result<()> {
        admin::create_topics(self.shared(), topics).await
    }

    async fn describe_topic(&self, name: &str) -> Result<TopicDescription> {
        admin::describe_topic(self.shared(), name).await
    }

    async fn list_topics(&self) -> Result<Vec<String>> {
        admin::list_topics(self.shared()).await
    }

    async fn broker_count(&self) -> Result<usize> {
        admin::broker_count(self.shared()).await
    }

    async fn delete_topics(&self, names: &[String]) -> Result<()> {
        admin::delete_topics(self.shared(), names).await
    }

    async fn watermarks(&self, tp: &TopicPartition) -> Result<(i64, i64)> {
        admin::watermarks(self.shared(), tp).await
    }

    async fn offset_for_time(&self, tp: &TopicPartition, timestamp_ms: i64) -> Result<i64> {
        admin::offset_for_time(self.shared(), tp, timestamp_ms).await
    }

    async fn committed_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<Vec<Option<i64>>> {
        admin::committed_offsets(self.shared(), group, partitions).await
    }

    async fn read_partition(
        &self,
        tp: &TopicPartition,
        from: i64,
    ) -> Result<Box<dyn PartitionReader>> {
        Ok(Box::new(
            reader::KafkaPartitionReader::open(&self.shared.config, tp, from).await?,
        ))
    }
}

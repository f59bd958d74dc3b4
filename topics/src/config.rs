//! Choosing and configuring a backend.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::embedded::EmbeddedLog;
use crate::error::Result;
use crate::kafka::KafkaLog;
use crate::log::Log;

/// Which log to open.
#[derive(Debug, Clone)]
pub enum LogConfig {
    /// A Kafka cluster.
    Kafka(KafkaConfig),
    /// The embedded RocksDB log in a directory.
    Embedded(EmbeddedConfig),
}

impl LogConfig {
    /// Kafka at `brokers` (`host:port[,host:port…]`) with default settings.
    pub fn kafka(brokers: impl Into<String>) -> Self {
        Self::Kafka(KafkaConfig::new(brokers))
    }

    /// The embedded log stored under `dir`.
    pub fn embedded(dir: impl Into<PathBuf>) -> Self {
        Self::Embedded(EmbeddedConfig::new(dir))
    }
}

/// Settings of the Kafka backend. Every default is chosen for low latency that still batches
/// under load; [`property`](Self::property) passes any librdkafka setting through.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port…]`.
    pub brokers: String,
    /// Client id prefix shown in broker logs.
    pub client_id: String,
    /// How long [`open`] waits for a broker to answer before failing.
    pub connect_timeout: Duration,
    /// Extra librdkafka properties, applied last (they win over our defaults).
    pub properties: BTreeMap<String, String>,
    /// Replicas of each partition of topics created (`None`: `min(3, brokers)`).
    pub replication_factor: Option<i32>,
    /// `min.insync.replicas` of topics created (`None`: the replication factor less one, at
    /// least 1), unless a topic's own configs set it.
    pub min_insync_replicas: Option<i32>,
}

impl KafkaConfig {
    /// Kafka at `brokers` with default settings.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            client_id: "celeriac".to_owned(),
            connect_timeout: Duration::from_secs(10),
            properties: BTreeMap::new(),
            replication_factor: None,
            min_insync_replicas: None,
        }
    }

    /// Sets the replication factor of topics created.
    pub fn replication_factor(mut self, replicas: i32) -> Self {
        self.replication_factor = Some(replicas);
        self
    }

    /// Sets `min.insync.replicas` of topics created.
    pub fn min_insync_replicas(mut self, replicas: i32) -> Self {
        self.min_insync_replicas = Some(replicas);
        self
    }

    /// Sets how long to wait for a broker at start.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the client id prefix.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = id.into();
        self
    }

    /// Passes one librdkafka property through, e.g. `.property("linger.ms", "5")`.
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }
}

/// Settings of the embedded log.
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    /// Directory of the RocksDB store (created if missing).
    pub dir: PathBuf,
    /// Sync the write-ahead log on every append (survives power loss, slower). Off by default:
    /// a process crash loses nothing either way.
    pub sync_writes: bool,
    /// How far (ms) the log's clock is set off the host's when it stamps records: 0 but in
    /// tests of clock skew, where it plays a broker whose clock is wrong.
    pub clock_offset_ms: i64,
}

impl EmbeddedConfig {
    /// The embedded log stored under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            sync_writes: false,
            clock_offset_ms: 0,
        }
    }
}

/// Opens the log `config` names: for Kafka, waits (bounded by its connect timeout) until a
/// broker answers; for the embedded log, opens or creates its store.
pub async fn open(config: LogConfig) -> Result<Arc<dyn Log>> {
    Ok(match config {
        LogConfig::Kafka(config) => Arc::new(KafkaLog::connect(config).await?),
        LogConfig::Embedded(config) => Arc::new(EmbeddedLog::open(config)?),
    })
}

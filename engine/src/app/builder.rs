//! Configuring an [`App`]: brokers or the embedded log, prefix, state directory, routes.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use celeriac_topics::{open, EmbeddedConfig, KafkaConfig, Log, LogConfig};

use super::{App, AppInner};
use crate::names::TopicNames;
use crate::registry::{Registry, Routes};
use crate::results::ResultReader;
use crate::{Error, Result};

/// Builds an [`App`]. Without brokers it uses the embedded log under the state directory.
#[derive(Debug, Clone)]
pub struct AppBuilder {
    brokers: Option<String>,
    prefix: String,
    state_dir: PathBuf,
    default_queue: String,
    routes: Routes,
    partitions: Option<i32>,
    hostname: Option<String>,
    result_expires: Duration,
    connect_timeout: Duration,
    log: Option<SharedLog>,
    kafka_properties: Vec<(String, String)>,
}

/// A log handed to the builder, shared with the app that opened it.
#[derive(Clone)]
struct SharedLog(Arc<dyn Log>);

impl std::fmt::Debug for SharedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedLog({})", self.0.backend())
    }
}

impl Default for AppBuilder {
    fn default() -> Self {
        Self {
            brokers: None,
            prefix: "celeriac".into(),
            state_dir: PathBuf::from(".celeriac"),
            default_queue: "default".into(),
            routes: Routes::default(),
            partitions: None,
            hostname: None,
            result_expires: Duration::from_secs(24 * 3600),
            connect_timeout: Duration::from_secs(10),
            log: None,
            kafka_properties: Vec::new(),
        }
    }
}

impl AppBuilder {
    /// Reads `CELERIAC_BROKERS`, `CELERIAC_PREFIX`, `CELERIAC_STATE_DIR`,
    /// `CELERIAC_DEFAULT_QUEUE` and `CELERIAC_PARTITIONS`.
    pub fn from_env() -> Result<Self> {
        let mut builder = Self::default();
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if let Some(brokers) = var("CELERIAC_BROKERS") {
            builder = builder.brokers(brokers);
        }
        if let Some(prefix) = var("CELERIAC_PREFIX") {
            builder = builder.prefix(prefix);
        }
        if let Some(dir) = var("CELERIAC_STATE_DIR") {
            builder = builder.state_dir(dir);
        }
        if let Some(queue) = var("CELERIAC_DEFAULT_QUEUE") {
            builder = builder.default_queue(queue);
        }
        if let Some(partitions) = var("CELERIAC_PARTITIONS") {
            let count = partitions.parse().map_err(|_| {
                Error::Config(format!(
                    "CELERIAC_PARTITIONS={partitions:?} is not a number"
                ))
            })?;
            builder = builder.partitions(count);
        }
        Ok(builder)
    }

    /// Uses the Kafka cluster at `brokers` (`host:port[,host:port…]`).
    pub fn brokers(mut self, brokers: impl Into<String>) -> Self {
        self.brokers = Some(brokers.into());
        self
    }

    /// Prefixes every topic and group with `prefix` (default `celeriac`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Keeps local state (embedded log, coordinator store) under `dir` (default `./.celeriac`).
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = dir.into();
        self
    }

    /// The queue of tasks no route or option places (default `default`).
    pub fn default_queue(mut self, queue: impl Into<String>) -> Self {
        self.default_queue = queue.into();
        self
    }

    /// Routes tasks whose names match `pattern` (`*` wildcards) to `queue`.
    pub fn route(mut self, pattern: impl Into<String>, queue: impl Into<String>) -> Self {
        self.routes.add(pattern, queue);
        self
    }

    /// Partitions of new topics (default 8).
    pub fn partitions(mut self, partitions: i32) -> Self {
        self.partitions = Some(partitions);
        self
    }

    /// This process's name in events (default: the host name and process id).
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = Some(hostname.into());
        self
    }

    /// How long results are kept (default one day).
    pub fn result_expires(mut self, expires: Duration) -> Self {
        self.result_expires = expires;
        self
    }

    /// Passes one librdkafka property to every Kafka client of the app, over the log's defaults
    /// (e.g. `.kafka_property("linger.ms", "0")` where latency matters more than broker CPU).
    /// Properties the log's contract rests on cannot be turned off; ignored on the embedded log.
    pub fn kafka_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.kafka_properties.push((key.into(), value.into()));
        self
    }

    /// How long to wait for a broker at start (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Uses a log that is already open (for example another app's, `app.log().clone()`)
    /// instead of opening one from the brokers or the state directory: several apps — with
    /// their own host names — in one process on one embedded log.
    pub fn log(mut self, log: Arc<dyn Log>) -> Self {
        self.log = Some(SharedLog(log));
        self
    }

    /// Opens the log, creates the app's topics, and returns the app.
    pub async fn build(self) -> Result<App> {
        let config = match &self.brokers {
            Some(brokers) => LogConfig::Kafka(self.kafka_properties.iter().fold(
                KafkaConfig::new(brokers.clone()).connect_timeout(self.connect_timeout),
                |config, (key, value)| config.property(key, value),
            )),
            None => LogConfig::Embedded(EmbeddedConfig::new(self.state_dir.join("log"))),
        };
        let log = match self.log {
            Some(SharedLog(log)) => log,
            None => open(config).await?,
        };
        let mut names = TopicNames::new(self.prefix);
        if let Some(partitions) = self.partitions {
            if partitions < 1 {
                return Err(Error::Config(format!(
                    "partitions must be at least 1, not {partitions}"
                )));
            }
            names.coordinator_partitions = partitions;
            names.task_partitions = partitions;
        }
        // Topics that exist keep their partition count: a new process adopts it.
        if let Ok(existing) = log.describe_topic(&names.workflows()).await {
            names.coordinator_partitions = existing.partitions;
        }
        // Topics that exist keep their partition count: a new process adopts it.
        if let Ok(existing) = log.describe_topic(&names.workflows()).await {
            names.coordinator_partitions = existing.partitions;
        }
        log.create_topics(&names.core_topics()).await?;
        let hostname = self.hostname.unwrap_or_else(default_hostname);
        let results = ResultReader::new(log.clone(), names.results());
        Ok(App {
            inner: Arc::new(AppInner {
                log,
                names,
                registry: Registry::default(),
                routes: self.routes,
                default_queue: self.default_queue,
                state_dir: self.state_dir,
                hostname,
                result_expires: self.result_expires,
                queues_ready: Mutex::new(HashSet::new()),
                task_topics: Mutex::default(),
                results,
            }),
        })
    }
}

/// `host@pid`, Celery's worker naming.
fn default_hostname() -> String {
    format!("{}@{}", crate::host::host_name(), std::process::id())
}

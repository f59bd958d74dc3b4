//! Configuring an [`App`]: brokers or the embedded log, prefix, state directory, routes.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use celeriac_topics::{open, EmbeddedConfig, KafkaConfig, Log, LogConfig};

use super::{App, AppInner};
use crate::config::{Config, QueueConfig, TopicsConfig, WorkerConfig};
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
    topics: TopicsConfig,
    queues: BTreeMap<String, QueueConfig>,
    worker: WorkerConfig,
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
            prefix: defaults::PREFIX.into(),
            state_dir: PathBuf::from(defaults::STATE_DIR),
            default_queue: defaults::DEFAULT_QUEUE.into(),
            routes: Routes::default(),
            partitions: None,
            hostname: None,
            result_expires: defaults::RESULT_EXPIRES,
            connect_timeout: defaults::CONNECT_TIMEOUT,
            log: None,
            kafka_properties: Vec::new(),
            topics: TopicsConfig::default(),
            queues: BTreeMap::new(),
            worker: WorkerConfig::default(),
        }
    }
}

/// What an app uses when nothing is configured.
pub(crate) mod defaults {
    use std::time::Duration;

    /// Prefix of topics and groups.
    pub(crate) const PREFIX: &str = "celeriac";
    /// Where local state lives.
    pub(crate) const STATE_DIR: &str = ".celeriac";
    /// The queue of tasks no route places.
    pub(crate) const DEFAULT_QUEUE: &str = "default";
    /// Partitions of new topics.
    pub(crate) const PARTITIONS: i32 = 8;
    /// How long results are kept.
    pub(crate) const RESULT_EXPIRES: Duration = Duration::from_secs(24 * 3600);
    /// How long to wait for a broker at start.
    pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
}

impl AppBuilder {
    /// A builder from `celeriac.toml` (`CELERIAC_CONFIG`, else the working directory's, if
    /// any) with `CELERIAC_*` variables over it: see [`Config::load`].
    pub fn from_env() -> Result<Self> {
        Self::from_config(&Config::load(None)?)
    }

    /// A builder holding everything `config` sets: brokers, prefix, state directory, routes,
    /// result expiry, `[kafka]` properties (secrets read now), `[topics]`, `[queues]` and the
    /// `[worker]` defaults that [`App::worker`](crate::App::worker) starts from.
    pub fn from_config(config: &Config) -> Result<Self> {
        let mut builder = Self::default();
        if let Some(brokers) = config.brokers.as_deref().filter(|b| !b.trim().is_empty()) {
            builder = builder.brokers(brokers);
        }
        if let Some(prefix) = &config.prefix {
            builder = builder.prefix(prefix);
        }
        if let Some(dir) = &config.state_dir {
            builder = builder.state_dir(dir);
        }
        if let Some(queue) = &config.default_queue {
            builder = builder.default_queue(queue);
        }
        if let Some(partitions) = config.partitions {
            builder = builder.partitions(partitions);
        }
        if let Some(expires) = config.result_expires {
            builder = builder.result_expires(expires);
        }
        if let Some(timeout) = config.connect_timeout {
            builder = builder.connect_timeout(timeout);
        }
        for (key, value) in config.kafka_properties()? {
            builder = builder.kafka_property(key, value);
        }
        for (pattern, queue) in &config.routes.0 {
            builder = builder.route(pattern, queue);
        }
        builder.topics = config.topics.clone();
        builder.queues = config.queues.clone();
        builder.worker = config.worker.clone();
        Ok(builder)
    }

    /// Sets how topics are replicated and how long input topics keep records (`[topics]`).
    pub fn topics(mut self, topics: TopicsConfig) -> Self {
        self.topics = topics;
        self
    }

    /// Sets one queue's partitions, default retry policy and topic configs (`[queues.<name>]`).
    pub fn queue(mut self, name: impl Into<String>, queue: QueueConfig) -> Self {
        self.queues.insert(name.into(), queue);
        self
    }

    /// Sets the defaults `app.worker()` starts from (`[worker]`).
    pub fn worker_defaults(mut self, worker: WorkerConfig) -> Self {
        self.worker = worker;
        self
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
        let log = match self.log {
            Some(SharedLog(log)) => log,
            None => open(self.log_config()).await?,
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
        if let Some(retention) = self.topics.retention {
            names.set_input_retention(retention);
        }
        if let Some(bytes) = self.topics.max_record_bytes {
            names.set_max_record_bytes(bytes);
        }
        crate::validate_queue(&self.default_queue)?;
        for (_, queue) in self.routes.iter() {
            crate::validate_queue(queue)?;
        }
        for (queue, settings) in &self.queues {
            crate::names::validate_queue(queue)?;
            names.set_queue_topic(queue, settings.partitions, settings.topic_configs(queue)?);
        }
        // Topics that exist keep their partition count: a new process adopts it.
        if let Ok(existing) = log.describe_topic(&names.workflows()).await {
            names.coordinator_partitions = existing.partitions;
        }
        // A broker restarting as the process starts is waited for, as a broker not yet up is.
        let core_topics = names.core_topics();
        crate::startup::patiently(
            "creating the app's topics",
            self.connect_timeout,
            || async { Ok(log.create_topics(&core_topics).await?) },
        )
        .await?;
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
                queue_retry: self
                    .queues
                    .into_iter()
                    .filter(|(_, q)| q.has_retry_policy())
                    .collect(),
                worker_defaults: self.worker,
                queues_ready: Mutex::new(HashSet::new()),
                task_topics: Mutex::default(),
                results,
            }),
        })
    }
}

impl AppBuilder {
    /// Which log `build` opens: Kafka with the configured properties, or the embedded log.
    fn log_config(&self) -> LogConfig {
        match &self.brokers {
            Some(brokers) => {
                let mut kafka = self.kafka_properties.iter().fold(
                    KafkaConfig::new(brokers.clone()).connect_timeout(self.connect_timeout),
                    |config, (key, value)| config.property(key, value),
                );
                let limit = self.topics.max_record_bytes.unwrap_or(0);
                if limit > crate::WORKFLOW_MAX_BYTES
                    && !kafka.properties.contains_key("message.max.bytes")
                {
                    // The producer takes a batch a little past the largest record.
                    kafka = kafka.property("message.max.bytes", (limit + 4096).to_string());
                }
                kafka.replication_factor = self.topics.replication_factor;
                kafka.min_insync_replicas = self.topics.min_insync_replicas;
                LogConfig::Kafka(kafka)
            }
            None => LogConfig::Embedded(EmbeddedConfig::new(self.state_dir.join("log"))),
        }
    }
}

/// `host@pid`, Celery's worker naming.
fn default_hostname() -> String {
    format!("{}@{}", crate::host::host_name(), std::process::id())
}

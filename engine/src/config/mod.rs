//! `celeriac.toml`: everything a deployment sets, in one file, with `CELERIAC_*` variables
//! over it.
//!
//! The file is found at `--config FILE`, else at `CELERIAC_CONFIG`, else as `celeriac.toml` in
//! the working directory; with none, every value is its default. Environment variables win
//! over the file (and command-line flags over both). Keys are kebab-case; an unknown key or a
//! value of the wrong type is an error naming the key's path (`worker.concurrency`).
//!
//! ```toml
//! brokers = "kafka-1:9093,kafka-2:9093"   # unset: the embedded log under state-dir
//! prefix = "celeriac"
//! state-dir = "/var/lib/celeriac"
//! default-queue = "default"
//! partitions = 8                          # of new topics
//! result-expires = "1d"
//!
//! [kafka]                                 # librdkafka properties, as Kafka names them
//! "security.protocol" = "SASL_SSL"
//! "sasl.mechanism" = "SCRAM-SHA-512"
//! "sasl.username" = "orders"
//! "sasl.password" = { file = "/run/secrets/kafka-password" }   # or { env = "KAFKA_PASSWORD" }
//! "ssl.ca.location" = "/etc/celeriac/ca.pem"
//!
//! [topics]
//! replication-factor = 3                  # default: min(3, brokers)
//! min-insync-replicas = 2                 # default: replication factor - 1, at least 1
//! retention = "7d"                        # of the input topics (tasks, workflows, timers, events)
//!
//! [queues.reports]
//! partitions = 16
//! max-retries = 5                         # the queue's default retry policy
//! retry-backoff = true
//! retry-backoff-max = "10m"
//! topic = { "retention.ms" = "86400000" } # topic configs of tasks.reports
//!
//! [routes]                                # task name or glob → queue; the first match wins
//! "reports.*" = "reports"
//!
//! [worker]
//! queues = ["default", "reports"]
//! concurrency = 8
//! prefetch = 32
//! events = true
//! grace = "30s"
//!
//! [serve]
//! bind = "0.0.0.0:8080"
//! token-file = "/run/secrets/celeriac-token"
//!
//! [beat]                                  # see celeriac_engine::beat::BeatConfig
//! ```
//!
//! `celeriac config show` prints the effective values and where each came from.

pub(crate) mod duration;
mod env;
mod load;
mod secret;
mod show;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use load::{Source, Sources, DEFAULT_FILE};
pub use secret::{is_secret, KafkaValue};

use crate::beat::BeatConfig;
use crate::task::TaskOptions;
use crate::{Error, Result};

/// The whole of `celeriac.toml`, after environment overrides. Every field left unset takes
/// the default the builder or command it feeds has.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// Kafka bootstrap servers; unset means the embedded log.
    pub brokers: Option<String>,
    /// Prefix of every topic and group (default `celeriac`).
    pub prefix: Option<String>,
    /// Where local state lives (default `.celeriac`).
    pub state_dir: Option<PathBuf>,
    /// The queue of tasks no route places (default `default`).
    pub default_queue: Option<String>,
    /// Partitions of new topics (default 8).
    pub partitions: Option<i32>,
    /// How long results are kept (default one day).
    #[serde(default, with = "duration::option")]
    pub result_expires: Option<Duration>,
    /// How long to wait for a broker at start (default 10 s).
    #[serde(default, with = "duration::option")]
    pub connect_timeout: Option<Duration>,
    /// librdkafka properties passed to every Kafka client, as Kafka names them.
    #[serde(default)]
    pub kafka: BTreeMap<String, KafkaValue>,
    /// Replication and retention of the topics the app creates.
    #[serde(default)]
    pub topics: TopicsConfig,
    /// Per-queue partitions, default retry policy and topic configs.
    #[serde(default)]
    pub queues: BTreeMap<String, QueueConfig>,
    /// Task name or `*` glob → queue, in file order; the first match wins.
    #[serde(default)]
    pub routes: Routes,
    /// Defaults of `celeriac worker`.
    #[serde(default)]
    pub worker: WorkerConfig,
    /// Defaults of `celeriac serve`.
    #[serde(default)]
    pub serve: ServeConfig,
    /// The periodic scheduler's settings and entries, read by [`Config::beat`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beat: Option<toml::Value>,
    /// Where each value came from.
    #[serde(skip)]
    sources: Sources,
}

/// Celery's `task_routes` as written in the file: pattern and queue, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Routes(pub Vec<(String, String)>);

/// `[topics]`: how the app's topics are created.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TopicsConfig {
    /// Replicas of each partition (default `min(3, brokers)`).
    pub replication_factor: Option<i32>,
    /// `min.insync.replicas` of each topic (default one less than the replication factor,
    /// at least 1).
    pub min_insync_replicas: Option<i32>,
    /// `retention.ms` of the input topics: tasks, workflows, timers, events (default: the
    /// broker's, 7 days).
    #[serde(default, with = "duration::option")]
    pub retention: Option<Duration>,
    /// The largest record of every topic, in bytes (`max.message.bytes`; default 16 MiB, at
    /// least 1 MiB). Arguments or a result past it less 64 KiB fail their task with a clear
    /// error.
    pub max_record_bytes: Option<usize>,
}

/// `[queues.<name>]`: one queue's topic and default retry policy.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct QueueConfig {
    /// Partitions of the queue's topic (default: the app's).
    pub partitions: Option<i32>,
    /// Retries after the first attempt, for tasks that set no retry policy of their own.
    pub max_retries: Option<u32>,
    /// Delay of a retry that names none, without backoff.
    #[serde(default, with = "duration::option")]
    pub default_retry_delay: Option<Duration>,
    /// Exponential backoff between retries.
    pub retry_backoff: Option<bool>,
    /// The first backoff delay.
    #[serde(default, with = "duration::option")]
    pub retry_backoff_base: Option<Duration>,
    /// The longest backoff delay.
    #[serde(default, with = "duration::option")]
    pub retry_backoff_max: Option<Duration>,
    /// Full jitter on backoff delays.
    pub retry_jitter: Option<bool>,
    /// Topic configs of `tasks.<name>`, as Kafka names them (`"retention.ms"`).
    #[serde(default)]
    pub topic: BTreeMap<String, KafkaValue>,
}

/// `[worker]`: what `celeriac worker` does without flags.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct WorkerConfig {
    /// Queues to serve (default `["default"]`).
    pub queues: Option<Vec<String>>,
    /// Tasks running at once (default 8).
    pub concurrency: Option<usize>,
    /// Messages taken but not finished (default 4 × concurrency).
    pub prefetch: Option<usize>,
    /// Send events and heartbeats (Celery's `-E`).
    pub events: Option<bool>,
    /// How long shutdown waits for running tasks (default 30 s).
    #[serde(default, with = "duration::option")]
    pub grace: Option<Duration>,
}

/// `[serve]`: what `celeriac serve` does without flags.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ServeConfig {
    /// The address to listen on (default `127.0.0.1:8080`).
    pub bind: Option<SocketAddr>,
    /// A file holding the bearer token every request must carry.
    pub token_file: Option<PathBuf>,
    /// The largest request body, in bytes (default 1 MiB).
    pub body_limit: Option<usize>,
    /// How long a client may take to send its request head (default 10 s).
    #[serde(default, with = "duration::option")]
    pub header_timeout: Option<Duration>,
    /// How long a request may take (default 30 s).
    #[serde(default, with = "duration::option")]
    pub request_timeout: Option<Duration>,
    /// Accept tasks this binary has not registered.
    pub allow_unregistered: Option<bool>,
    /// Also run a worker in the serve process.
    pub worker: Option<bool>,
    /// Host names requests may name without a token, besides loopback ones.
    pub allowed_hosts: Option<Vec<String>>,
    /// Connections served at once (default 1024).
    pub max_connections: Option<usize>,
    /// Live event streams at once (default 64).
    pub max_event_streams: Option<usize>,
}

impl Config {
    /// The `[beat]` section, parsed (no section: no entries).
    pub fn beat(&self) -> Result<BeatConfig> {
        match &self.beat {
            None => Ok(BeatConfig::default()),
            Some(section) => BeatConfig::from_section(section.clone())
                .map_err(|error| Error::Config(format!("beat: {error}"))),
        }
    }

    /// The Kafka properties with secrets read from their files and variables.
    pub fn kafka_properties(&self) -> Result<BTreeMap<String, String>> {
        self.kafka
            .iter()
            .map(|(key, value)| Ok((key.clone(), value.resolve(&format!("kafka.{key:?}"))?)))
            .collect()
    }

    /// The serve token from `token-file`, trimmed; `None` without one.
    pub fn serve_token(&self) -> Result<Option<String>> {
        let Some(path) = &self.serve.token_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|error| {
            Error::Config(format!(
                "serve.token-file: cannot read {}: {error}",
                path.display()
            ))
        })?;
        Ok(Some(text.trim().to_owned()))
    }

    /// Checks what serde cannot: counts in range, routes to valid queues, a `[beat]` that parses.
    fn validate(&self) -> Result<()> {
        let positive = |key: &str, value: Option<i32>| match value {
            Some(n) if n < 1 => Err(Error::Config(format!("{key}: must be at least 1, not {n}"))),
            _ => Ok(()),
        };
        positive("partitions", self.partitions)?;
        positive("topics.replication-factor", self.topics.replication_factor)?;
        positive(
            "topics.min-insync-replicas",
            self.topics.min_insync_replicas,
        )?;
        if let (Some(rf), Some(min)) = (
            self.topics.replication_factor,
            self.topics.min_insync_replicas,
        ) {
            if min > rf {
                return Err(Error::Config(format!(
                    "topics.min-insync-replicas: {min} is more than the replication factor {rf}: no write could succeed"
                )));
            }
        }
        for (name, queue) in &self.queues {
            positive(&format!("queues.{name}.partitions"), queue.partitions)?;
        }
        if self.worker.concurrency == Some(0) {
            return Err(Error::Config(
                "worker.concurrency: must be at least 1".into(),
            ));
        }
        self.beat()?;
        Ok(())
    }
}

impl QueueConfig {
    /// True when the file sets any part of a retry policy for the queue.
    pub fn has_retry_policy(&self) -> bool {
        self.max_retries.is_some()
            || self.default_retry_delay.is_some()
            || self.retry_backoff.is_some()
            || self.retry_backoff_base.is_some()
            || self.retry_backoff_max.is_some()
            || self.retry_jitter.is_some()
    }

    /// `options` with this queue's retry settings over it.
    pub fn apply_retry_policy(&self, mut options: TaskOptions) -> TaskOptions {
        if let Some(n) = self.max_retries {
            options.max_retries = n;
        }
        if let Some(delay) = self.default_retry_delay {
            options.default_retry_delay = delay;
        }
        if let Some(on) = self.retry_backoff {
            options.retry_backoff = on;
        }
        if let Some(base) = self.retry_backoff_base {
            options.retry_backoff_base = base;
        }
        if let Some(max) = self.retry_backoff_max {
            options.retry_backoff_max = max;
        }
        if let Some(on) = self.retry_jitter {
            options.retry_jitter = on;
        }
        options
    }

    /// The queue topic's configs, as strings.
    pub fn topic_configs(&self, queue: &str) -> Result<BTreeMap<String, String>> {
        self.topic
            .iter()
            .map(|(key, value)| {
                Ok((
                    key.clone(),
                    value.resolve(&format!("queues.{queue}.topic.{key:?}"))?,
                ))
            })
            .collect()
    }
}

impl Serialize for Routes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (pattern, queue) in &self.0 {
            map.serialize_entry(pattern, queue)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Routes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Routes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a table of task name or glob = queue")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Routes, A::Error> {
                let mut routes = Vec::new();
                while let Some((pattern, queue)) = map.next_entry::<String, String>()? {
                    routes.push((pattern, queue));
                }
                Ok(Routes(routes))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

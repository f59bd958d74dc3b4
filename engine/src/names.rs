//! Topic names and partition counts: one prefix (`celeriac.` by default) so several apps
//! can share one cluster.

use std::collections::BTreeMap;
use std::sync::Arc;

use celeriac_topics::{TopicName, TopicSpec};

/// The largest record any topic of the app takes by default (`max.message.bytes`, set on every
/// topic at creation): 16 MiB. A workflows record is a whole compiled workflow (a chord of
/// 10,000 members is past the broker's 1 MiB default); results and chord inputs can be large.
/// [`TopicNames::set_max_record_bytes`] (`[topics] max-record-bytes`) changes it.
pub const WORKFLOW_MAX_BYTES: usize = 16 * 1024 * 1024;

/// Room left in a record for everything but its arguments or result (ids, names, headers):
/// a payload may be at most the record limit less this.
pub const RECORD_OVERHEAD: usize = 64 * 1024;

/// The topics of one Celeriac app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicNames {
    prefix: String,
    /// Partitions of `workflows`, `timers`, `events` and `results` (the co-partitioned set).
    pub coordinator_partitions: i32,
    /// Partitions of each `tasks.<queue>` topic.
    pub task_partitions: i32,
    /// The fixed topics' names, made once: every record sent shares one.
    fixed: Arc<Fixed>,
    /// Topic settings of queues configured one by one (`[queues.<name>]`).
    queue_topics: Arc<BTreeMap<String, QueueTopic>>,
    /// `retention.ms` of the input topics (tasks, workflows, timers, events), if configured.
    input_retention_ms: Option<i64>,
    /// The largest record of every topic (`max.message.bytes`).
    max_record_bytes: usize,
}

/// One configured queue's topic: its partition count and topic configs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct QueueTopic {
    partitions: Option<i32>,
    configs: BTreeMap<String, String>,
}

#[derive(Debug, PartialEq, Eq)]
struct Fixed {
    workflows: TopicName,
    timers: TopicName,
    events: TopicName,
    results: TopicName,
    control: TopicName,
    replies: TopicName,
    dead: TopicName,
    beat: TopicName,
}

impl Fixed {
    fn new(prefix: &str) -> Self {
        let name = |topic: &str| TopicName::from(format!("{prefix}.{topic}"));
        Fixed {
            workflows: name("workflows"),
            timers: name("timers"),
            events: name("events"),
            results: name("results"),
            control: name("control"),
            replies: name("replies"),
            dead: name("dead"),
            beat: name("beat"),
        }
    }
}

impl Default for TopicNames {
    fn default() -> Self {
        Self::new("celeriac")
    }
}

impl TopicNames {
    /// Names under `prefix` (without the trailing dot), with 8 partitions everywhere.
    pub fn new(prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        Self {
            fixed: Arc::new(Fixed::new(&prefix)),
            prefix,
            coordinator_partitions: 8,
            task_partitions: 8,
            queue_topics: Arc::default(),
            input_retention_ms: None,
            max_record_bytes: WORKFLOW_MAX_BYTES,
        }
    }

    /// Sets the largest record of every topic (`max.message.bytes`, at least 1 MiB).
    pub fn set_max_record_bytes(&mut self, bytes: usize) {
        self.max_record_bytes = bytes.max(1024 * 1024);
    }

    /// The largest record of every topic.
    pub fn max_record_bytes(&self) -> usize {
        self.max_record_bytes
    }

    /// The largest arguments or result a record can carry: [`max_record_bytes`](Self::max_record_bytes)
    /// less [`RECORD_OVERHEAD`]. Anything larger fails its task with a clear error instead of
    /// being refused by the log.
    pub fn max_payload_bytes(&self) -> usize {
        self.max_record_bytes.saturating_sub(RECORD_OVERHEAD)
    }

    /// Why a result of `size` bytes cannot be recorded, or `None` when it fits
    /// [`max_payload_bytes`](Self::max_payload_bytes).
    pub fn result_past_limit(&self, size: usize) -> Option<String> {
        let limit = self.max_payload_bytes();
        (size > limit).then(|| {
            format!(
                "the result takes {size} bytes, past the {limit}-byte limit of a record ([topics] max-record-bytes less 64 KiB)"
            )
        })
    }

    /// `spec` with the record limit, unless it sets its own.
    fn limited(&self, spec: TopicSpec) -> TopicSpec {
        if spec.configs.contains_key("max.message.bytes") {
            return spec;
        }
        spec.config("max.message.bytes", self.max_record_bytes.to_string())
    }

    /// Gives the input topics (tasks, workflows, timers, events) a finite `retention.ms`.
    pub fn set_input_retention(&mut self, retention: std::time::Duration) {
        self.input_retention_ms = Some(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
    }

    /// Gives `queue`'s topic its own partition count and topic configs.
    pub fn set_queue_topic(
        &mut self,
        queue: &str,
        partitions: Option<i32>,
        configs: BTreeMap<String, String>,
    ) {
        Arc::make_mut(&mut self.queue_topics).insert(
            queue.to_owned(),
            QueueTopic {
                partitions,
                configs,
            },
        );
    }

    /// `spec` with the configured input retention, unless it sets its own.
    fn input(&self, spec: TopicSpec) -> TopicSpec {
        let spec = self.limited(spec);
        match self.input_retention_ms {
            Some(ms) if !spec.configs.contains_key("retention.ms") => {
                spec.config("retention.ms", ms.to_string())
            }
            _ => spec,
        }
    }

    /// The prefix, without the trailing dot.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>.tasks.<queue>`: what workers of `queue` consume (key: task id).
    pub fn tasks(&self, queue: &str) -> String {
        format!("{}.tasks.{queue}", self.prefix)
    }

    /// `<prefix>.workflows`: compiled canvases (key: workflow id).
    pub fn workflows(&self) -> TopicName {
        self.fixed.workflows.clone()
    }

    /// `<prefix>.timers`: countdowns, ETAs and retries waiting durably (key: root id).
    pub fn timers(&self) -> TopicName {
        self.fixed.timers.clone()
    }

    /// `<prefix>.events`: task events and worker heartbeats (key: root id, or hostname).
    pub fn events(&self) -> TopicName {
        self.fixed.events.clone()
    }

    /// `<prefix>.results`: terminal and intermediate task states, compacted (key: task id).
    pub fn results(&self) -> TopicName {
        self.fixed.results.clone()
    }

    /// `<prefix>.control`: broadcast commands to workers.
    pub fn control(&self) -> TopicName {
        self.fixed.control.clone()
    }

    /// `<prefix>.replies`: workers' answers to control commands (key: command id).
    pub fn replies(&self) -> TopicName {
        self.fixed.replies.clone()
    }

    /// `<prefix>.dead`: poison messages and exhausted retries, with the reason.
    pub fn dead(&self) -> TopicName {
        self.fixed.dead.clone()
    }

    /// `<prefix>.beat`: the periodic scheduler's leadership and record of fires.
    pub fn beat(&self) -> TopicName {
        self.fixed.beat.clone()
    }

    /// Consumer group of the workers serving `queue`.
    pub fn worker_group(&self, queue: &str) -> String {
        format!("{}.workers.{queue}", self.prefix)
    }

    /// Consumer group of the coordinators.
    pub fn coordinator_group(&self) -> String {
        format!("{}.coordinator", self.prefix)
    }

    /// Consumer group of the beat processes (its one member owning the partition leads).
    pub fn beat_group(&self) -> String {
        format!("{}.beat", self.prefix)
    }

    /// Every topic the app needs except task queues, with partition counts and configs.
    pub fn core_topics(&self) -> Vec<TopicSpec> {
        let p = self.coordinator_partitions;
        vec![
            self.input(TopicSpec::new(self.workflows(), p)),
            self.input(TopicSpec::new(self.timers(), p)),
            self.input(TopicSpec::new(self.events(), p)),
            // The broker stamps results with its own clock, so a coordinator whose clock is off
            // cannot make a result look older than the task it answers.
            self.limited(
                TopicSpec::new(self.results(), p)
                    .config("cleanup.policy", "compact")
                    .config("message.timestamp.type", "LogAppendTime"),
            ),
            self.limited(
                TopicSpec::new(self.control(), 1)
                    .config("retention.ms", (7 * 24 * 3600 * 1000i64).to_string()),
            ),
            self.limited(
                TopicSpec::new(self.replies(), 1)
                    .config("retention.ms", (3600 * 1000i64).to_string()),
            ),
            self.limited(TopicSpec::new(self.dead(), 1)),
            self.limited(TopicSpec::new(self.beat(), 1)),
        ]
    }

    /// The queue a `tasks.<queue>` topic of this app serves, or `None` for another topic.
    pub fn queue_of<'t>(&self, topic: &'t str) -> Option<&'t str> {
        topic
            .strip_prefix(self.prefix.as_str())
            .and_then(|rest| rest.strip_prefix(".tasks."))
            .filter(|queue| !queue.is_empty())
    }

    /// The topic of one task queue, with its configured partitions and topic configs.
    pub fn queue_topic(&self, queue: &str) -> TopicSpec {
        let settings = self.queue_topics.get(queue);
        let partitions = settings
            .and_then(|s| s.partitions)
            .unwrap_or(self.task_partitions);
        let mut spec = TopicSpec::new(self.tasks(queue), partitions);
        if let Some(settings) = settings {
            spec.configs.extend(settings.configs.clone());
        }
        self.input(spec)
    }
}

/// The longest queue name: Kafka's topic names stop at 249 characters, and the queue's topic
/// adds the prefix and `.tasks.`.
pub const MAX_QUEUE_NAME: usize = 200;

/// Checks that `queue` can name a topic on every backend: 1 to 200 characters of ASCII
/// letters, digits, `.`, `_` and `-`, as Kafka allows.
///
/// ```
/// assert!(celeriac_engine::validate_queue("emails-high").is_ok());
/// assert!(celeriac_engine::validate_queue("a b").is_err());
/// ```
pub fn validate_queue(queue: &str) -> crate::Result<()> {
    let valid = !queue.is_empty()
        && queue.len() <= MAX_QUEUE_NAME
        && queue
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(crate::Error::InvalidQueue(queue.to_owned()))
    }
}

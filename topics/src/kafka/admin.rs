//! Topics and offsets: create, describe, delete, watermarks, offsets for times, committed
//! offsets — and the partition-count cache keyed sends rely on.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminOptions, ConfigSource, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode as Code;
use rdkafka::{Offset, TopicPartitionList};

use super::errors::kafka;
use super::runtime::blocking;
use super::settings::{self, REQUEST_TIMEOUT};
use super::{create, LogContext, Shared};
use crate::error::{Error, Result};
use crate::log::{TopicDescription, TopicSpec};
use crate::record::TopicPartition;

/// A topic's partition count per a metadata answer, for topics that exist and are whole.
type Counts = Vec<(String, i32)>;

impl Shared {
    /// Asks a broker for the partition counts of `topic`, or of every topic (blocking).
    pub(crate) fn metadata_of(
        &self,
        topic: Option<&str>,
        timeout: Duration,
    ) -> std::result::Result<Counts, KafkaError> {
        let metadata = self.metadata.fetch_metadata(topic, timeout)?;
        Ok(metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none() && !t.partitions().is_empty())
            .map(|t| (t.name().to_owned(), t.partitions().len() as i32))
            .collect())
    }

    /// How many brokers the cluster has and how many replicas each partition of `topic` has
    /// (blocking); `None` for a topic that does not exist.
    fn replication_of(&self, topic: &str) -> std::result::Result<(usize, Option<i32>), KafkaError> {
        let metadata = self.metadata.fetch_metadata(Some(topic), REQUEST_TIMEOUT)?;
        let replicas = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .and_then(|t| t.partitions().first())
            .map(|p| p.replicas().len() as i32);
        Ok((metadata.brokers().len(), replicas))
    }

    /// How many brokers the cluster has (blocking).
    fn broker_count(&self) -> std::result::Result<usize, KafkaError> {
        Ok(self
            .metadata
            .fetch_metadata(None, REQUEST_TIMEOUT)?
            .brokers()
            .len())
    }

    /// Whether every partition of `topic` has a leader, i.e. the topic can be used (blocking).
    fn is_ready(&self, topic: &str) -> std::result::Result<Option<i32>, KafkaError> {
        let metadata = self.metadata.fetch_metadata(Some(topic), REQUEST_TIMEOUT)?;
        Ok(metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .and_then(|t| {
                let whole = t.error().is_none()
                    && !t.partitions().is_empty()
                    && t.partitions()
                        .iter()
                        .all(|p| p.leader() >= 0 && p.error().is_none());
                whole.then_some(t.partitions().len() as i32)
            }))
    }

    pub(crate) fn remember_partitions(&self, counts: Counts) {
        let mut cache = self.partitions.write().expect("partition cache lock");
        cache.extend(counts);
    }

    fn forget_partitions(&self, topic: &str) {
        self.partitions
            .write()
            .expect("partition cache lock")
            .remove(topic);
    }

    /// The cached partition count of `topic`. On a miss, looks it up in the background and
    /// answers `None` — the caller then lets librdkafka's Java-compatible partitioner place
    /// the record, which agrees with ours.
    pub(crate) fn partition_count(self: &Arc<Self>, topic: &str) -> Option<i32> {
        if let Some(count) = self
            .partitions
            .read()
            .expect("partition cache lock")
            .get(topic)
        {
            return Some(*count);
        }
        self.refresh_in_background(topic);
        None
    }

    /// Looks the partition count of `topic` up on the blocking pool — at most once a second
    /// per topic, so sends to a topic that does not exist (yet) do not flood the broker.
    fn refresh_in_background(self: &Arc<Self>, topic: &str) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        {
            let mut recent = self.refreshing.lock().expect("refresh lock");
            let now = Instant::now();
            recent.retain(|_, at| now.duration_since(*at) < Duration::from_secs(1));
            if recent.contains_key(topic) {
                return;
            }
            recent.insert(topic.to_owned(), now);
        }
        let shared = Arc::clone(self);
        let topic = topic.to_owned();
        runtime.spawn_blocking(move || {
            if let Ok(counts) = shared.metadata_of(Some(&topic), REQUEST_TIMEOUT) {
                shared.remember_partitions(counts);
            }
        });
    }
}

fn admin_options() -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(REQUEST_TIMEOUT))
        .operation_timeout(Some(REQUEST_TIMEOUT))
}

pub(super) async fn create_topics(shared: &Arc<Shared>, topics: &[TopicSpec]) -> Result<()> {
    if let Some(bad) = topics.iter().find(|t| t.partitions < 1) {
        return Err(Error::Invalid {
            what: "topic",
            detail: format!(
                "{:?} needs at least one partition, not {}",
                bad.name, bad.partitions
            ),
        });
    }
    if topics.is_empty() {
        return Ok(());
    }
    let brokers = broker_count(shared).await?;
    let (replication, min_insync) = replication_for(&shared.config, brokers)?;
    let min_insync = min_insync.to_string();
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|spec| {
            let topic = NewTopic::new(
                &spec.name,
                spec.partitions,
                TopicReplication::Fixed(replication),
            );
            let topic = if spec.configs.contains_key("min.insync.replicas") {
                topic
            } else {
                topic.set("min.insync.replicas", &min_insync)
            };
            spec.configs.iter().fold(topic, |t, (k, v)| t.set(k, v))
        })
        .collect();
    let results = shared
        .admin
        .create_topics(&new, &admin_options())
        .await
        .map_err(kafka("create topics"))?;
    for result in results {
        match result {
            Ok(_) => {}
            Err((name, Code::TopicAlreadyExists)) => warn_if_unreplicated(shared, name).await,
            Err((
                name,
                code @ (Code::InvalidConfig | Code::InvalidPartitions | Code::InvalidTopic),
            )) => {
                return Err(Error::Invalid {
                    what: "topic",
                    detail: format!("{name:?}: {code}"),
                })
            }
            Err((_, code)) => return Err(kafka("create topics")(KafkaError::AdminOp(code))),
        }
    }
    for spec in topics {
        let found = wait_until_ready(shared, &spec.name).await?;
        if found != spec.partitions {
            return Err(Error::PartitionMismatch {
                topic: spec.name.clone(),
                expected: spec.partitions,
                found,
            });
        }
        shared.remember_partitions(vec![(spec.name.clone(), found)]);
    }
    Ok(())
}

/// The replication factor and `min.insync.replicas` of new topics on a cluster of `brokers`:
/// as configured, else `min(3, brokers)` and one less (at least 1).
fn replication_for(config: &crate::KafkaConfig, brokers: usize) -> Result<(i32, i32)> {
    let available = i32::try_from(brokers).unwrap_or(i32::MAX).max(1);
    let replication = config.replication_factor.unwrap_or(available.min(3));
    if replication < 1 || replication > available {
        return Err(Error::Invalid {
            what: "replication factor",
            detail: format!(
                "{replication} replicas asked for, the cluster has {available} broker(s)"
            ),
        });
    }
    let min_insync = config
        .min_insync_replicas
        .unwrap_or((replication - 1).max(1));
    if min_insync < 1 || min_insync > replication {
        return Err(Error::Invalid {
            what: "min.insync.replicas",
            detail: format!("{min_insync} with a replication factor of {replication}"),
        });
    }
    Ok((replication, min_insync))
}

/// Logs a warning when `topic`, found already made, has one replica on a cluster of three or
/// more brokers: one broker's loss loses its records.
async fn warn_if_unreplicated(shared: &Arc<Shared>, topic: String) {
    let probe = Arc::clone(shared);
    let name = topic.clone();
    if let Ok(Ok((brokers, Some(1)))) = blocking(move || Ok(probe.replication_of(&name))).await {
        if brokers >= 3 {
            tracing::warn!(
                topic,
                brokers,
                "topic {topic:?} has replication factor 1 on a cluster of {brokers} brokers: losing one broker loses its records (recreate it, or raise it with kafka-reassign-partitions)"
            );
        }
    }
}

/// Waits until every partition of a just-created topic has a leader; its partition count.
async fn wait_until_ready(shared: &Arc<Shared>, topic: &str) -> Result<i32> {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    loop {
        let (probe, name) = (Arc::clone(shared), topic.to_owned());
        let ready =
            blocking(move || probe.is_ready(&name).map_err(kafka("topic metadata"))).await?;
        if let Some(count) = ready {
            return Ok(count);
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout {
                operation: format!("creating topic {topic:?}"),
                after: REQUEST_TIMEOUT,
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(super) async fn describe_topic(shared: &Arc<Shared>, name: &str) -> Result<TopicDescription> {
    let partitions = partition_count_now(shared, name).await?;
    let (probe, topic) = (Arc::clone(shared), name.to_owned());
    let (_, replicas) = blocking(move || {
        probe
            .replication_of(&topic)
            .map_err(kafka("topic metadata"))
    })
    .await?;
    let results = shared
        .admin
        .describe_configs(&[ResourceSpecifier::Topic(name)], &admin_options())
        .await
        .map_err(kafka("describe topic configs"))?;
    let mut configs = BTreeMap::new();
    for result in results {
        let resource =
            result.map_err(|code| kafka("describe topic configs")(KafkaError::AdminOp(code)))?;
        for entry in resource.entries {
            if let (ConfigSource::DynamicTopic, Some(value)) = (&entry.source, entry.value) {
                configs.insert(entry.name, value);
            }
        }
    }
    Ok(TopicDescription {
        name: name.to_owned(),
        partitions,
        replication_factor: replicas.unwrap_or(0),
        configs,
    })
}

/// How many brokers the cluster's metadata lists.
pub(super) async fn broker_count(shared: &Arc<Shared>) -> Result<usize> {
    let probe = Arc::clone(shared);
    blocking(move || probe.broker_count().map_err(kafka("cluster metadata"))).await
}

/// Every topic the broker knows, sorted, without internal ones (`__consumer_offsets`, …).
pub(super) async fn list_topics(shared: &Arc<Shared>) -> Result<Vec<String>> {
    let probe = Arc::clone(shared);
    let counts = blocking(move || {
        probe
            .metadata_of(None, REQUEST_TIMEOUT)
            .map_err(kafka("topic metadata"))
    })
    .await?;
    let mut names: Vec<String> = counts
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| !name.starts_with("__"))
        .collect();
    names.sort();
    Ok(names)
}

/// The partition count of `topic` asked of the broker now (refreshing the cache).
async fn partition_count_now(shared: &Arc<Shared>, topic: &str) -> Result<i32> {
    let (probe, name) = (Arc::clone(shared), topic.to_owned());
    let counts = blocking(move || {
        probe
            .metadata_of(Some(&name), REQUEST_TIMEOUT)
            .map_err(kafka("topic metadata"))
    })
    .await?;
    let count = counts.iter().find(|(t, _)| t == topic).map(|(_, n)| *n);
    let count = count.ok_or_else(|| Error::UnknownTopic(topic.to_owned()))?;
    shared.remember_partitions(vec![(topic.to_owned(), count)]);
    Ok(count)
}

pub(super) async fn delete_topics(shared: &Arc<Shared>, names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let results = shared
        .admin
        .delete_topics(&refs, &admin_options())
        .await
        .map_err(kafka("delete topics"))?;
    for result in results {
        match result {
            Ok(_) | Err((_, Code::UnknownTopicOrPartition)) => {}
            Err((_, code)) => return Err(kafka("delete topics")(KafkaError::AdminOp(code))),
        }
    }
    for name in names {
        shared.forget_partitions(name);
    }
    // Deletion completes in the background; wait until the metadata no longer shows the
    // topics, so that creating one again right after does not find it "already existing".
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    loop {
        let probe = Arc::clone(shared);
        let all = blocking(move || {
            probe
                .metadata_of(None, REQUEST_TIMEOUT)
                .map_err(kafka("metadata"))
        })
        .await?;
        if !all.iter().any(|(t, _)| names.contains(t)) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout {
                operation: format!("deleting topics {names:?}"),
                after: REQUEST_TIMEOUT,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(super) async fn watermarks(shared: &Arc<Shared>, tp: &TopicPartition) -> Result<(i64, i64)> {
    // Right after a topic is created the broker may still say "not leader" for a moment:
    // such answers are retried within the request timeout.
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    loop {
        let (probe, at) = (Arc::clone(shared), tp.clone());
        let result = blocking(move || {
            Ok(probe
                .metadata
                .fetch_watermarks(&at.topic, at.partition, REQUEST_TIMEOUT))
        })
        .await?;
        match result {
            Ok(marks) => return Ok(marks),
            Err(error) if is_leader_moving(&error) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => return Err(unknown_or(shared, tp, "watermarks", error).await),
        }
    }
}

/// A partition whose leader is being elected or has just moved: asking again helps.
fn is_leader_moving(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(Code::NotLeaderForPartition | Code::LeaderNotAvailable)
    )
}

pub(super) async fn offset_for_time(
    shared: &Arc<Shared>,
    tp: &TopicPartition,
    timestamp_ms: i64,
) -> Result<i64> {
    // As for watermarks: a fresh partition's "not leader" answers are retried for a while.
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    loop {
        match offset_for_time_once(shared, tp, timestamp_ms).await? {
            Ok(offset) => return Ok(offset),
            Err(error) if is_leader_moving(&error) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => return Err(unknown_or(shared, tp, "offsets for times", error).await),
        }
    }
}

/// One offsets-for-times request; the inner error is the broker's answer, for a retry.
async fn offset_for_time_once(
    shared: &Arc<Shared>,
    tp: &TopicPartition,
    timestamp_ms: i64,
) -> Result<std::result::Result<i64, KafkaError>> {
    let mut tpl = TopicPartitionList::new();
    // Negative timestamps are librdkafka's "earliest"/"latest" markers; clamp to the epoch.
    tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(timestamp_ms.max(0)))
        .map_err(kafka("offsets for times"))?;
    let probe = Arc::clone(shared);
    let result =
        blocking(move || Ok(probe.metadata.offsets_for_times(tpl, REQUEST_TIMEOUT))).await?;
    let answer = match result {
        Ok(answer) => answer,
        Err(error) => return Ok(Err(error)),
    };
    let found = answer
        .find_partition(&tp.topic, tp.partition)
        .map(|e| (e.offset(), e.error()));
    match found {
        Some((Offset::Offset(offset), Ok(()))) if offset >= 0 => Ok(Ok(offset)),
        Some((_, Err(error))) => Ok(Err(error)),
        // No record at or after the time: the high watermark.
        _ => Ok(Ok(watermarks(shared, tp).await?.1)),
    }
}

pub(super) async fn committed_offsets(
    shared: &Arc<Shared>,
    group: &str,
    partitions: &[TopicPartition],
) -> Result<Vec<Option<i64>>> {
    if partitions.is_empty() {
        return Ok(Vec::new());
    }
    // A consumer carrying the group's id reads its offsets without joining the group.
    let client = settings::standalone(&shared.config, "read_committed", Some(group));
    let tpl = partition_list(partitions)?;
    let answer = blocking(move || {
        let reader: BaseConsumer<LogContext> = create(&client, LogContext::default())?;
        reader
            .committed_offsets(tpl, REQUEST_TIMEOUT)
            .map_err(kafka("committed offsets"))
    })
    .await?;
    Ok(offsets_in_order(&answer, partitions))
}

/// A partition list without offsets.
pub(crate) fn partition_list(partitions: &[TopicPartition]) -> Result<TopicPartitionList> {
    let mut tpl = TopicPartitionList::with_capacity(partitions.len());
    for tp in partitions {
        tpl.add_partition(&tp.topic, tp.partition);
    }
    Ok(tpl)
}

/// The committed offsets of `answer`, in the order of `partitions` (`None`: nothing committed).
pub(crate) fn offsets_in_order(
    answer: &TopicPartitionList,
    partitions: &[TopicPartition],
) -> Vec<Option<i64>> {
    let map: HashMap<(String, i32), Offset> = answer.to_topic_map();
    partitions
        .iter()
        .map(|tp| match map.get(&(tp.topic.to_string(), tp.partition)) {
            Some(Offset::Offset(offset)) if *offset >= 0 => Some(*offset),
            _ => None,
        })
        .collect()
}

/// Turns "unknown topic or partition" into the precise one of our two errors; other errors
/// pass through tagged with `operation`.
async fn unknown_or(
    shared: &Arc<Shared>,
    tp: &TopicPartition,
    operation: &'static str,
    error: KafkaError,
) -> Error {
    let unknown = matches!(
        error.rdkafka_error_code(),
        Some(Code::UnknownTopicOrPartition | Code::UnknownTopic | Code::UnknownPartition)
    );
    if !unknown {
        return kafka(operation)(error);
    }
    match partition_count_now(shared, &tp.topic).await {
        Ok(_) => Error::UnknownPartition(tp.clone()),
        Err(other) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KafkaConfig;

    #[test]
    fn replication_follows_the_cluster_unless_configured() {
        let config = KafkaConfig::new("b:9092");
        assert_eq!(replication_for(&config, 1).expect("valid"), (1, 1));
        assert_eq!(replication_for(&config, 2).expect("valid"), (2, 1));
        assert_eq!(replication_for(&config, 3).expect("valid"), (3, 2));
        assert_eq!(replication_for(&config, 5).expect("valid"), (3, 2));
        let pinned = KafkaConfig::new("b:9092")
            .replication_factor(5)
            .min_insync_replicas(3);
        assert_eq!(replication_for(&pinned, 6).expect("valid"), (5, 3));
        assert!(matches!(
            replication_for(&pinned, 3),
            Err(Error::Invalid { .. })
        ));
        let impossible = KafkaConfig::new("b:9092").min_insync_replicas(4);
        assert!(matches!(
            replication_for(&impossible, 3),
            Err(Error::Invalid { .. })
        ));
    }
}

//! Rebuilding a coordinator store from the log (`celeriac replay --state-dir DIR`).
//!
//! Every partition of `workflows`, `events` and `timers` is applied from its first record to
//! its end, state only, into a fresh directory: per partition, workflows first, then
//! events, then timers — the order in which one coordinator could have seen them, since a
//! step's events only exist once its workflow was applied. The result has the digest of a
//! live store that applied the same records with the same result expiry.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use celeriac_topics::{Log, TopicPartition};

use super::core::{Core, CoreConfig, Source};
use super::error::{Error, Result};
use super::restore::{apply_range, Range};
use super::store::CoordinatorStore;
use crate::TopicNames;

/// How to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The result expiry the live coordinator uses (default one day).
    pub result_expiry: Option<Duration>,
    /// Records applied per write batch (default 5,000).
    pub batch_records: usize,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            result_expiry: Some(Duration::from_secs(24 * 3600)),
            batch_records: 5_000,
        }
    }
}

/// Where a replay is, reported after each write batch and at the end of each partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayProgress {
    /// The partition being applied.
    pub tp: TopicPartition,
    /// The next offset to apply there.
    pub offset: i64,
    /// Where that partition ends.
    pub end: i64,
    /// Records applied so far, across all partitions.
    pub records: u64,
}

/// What a replay did and what the rebuilt store holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Records applied per topic.
    pub records: BTreeMap<String, u64>,
    /// Records that could not be used (they were dead-lettered when first read).
    pub undecodable: u64,
    /// Workflows in the store.
    pub workflows: u64,
    /// Results in the store.
    pub results: u64,
    /// Armed timers in the store.
    pub timers: u64,
    /// The store's [digest](CoordinatorStore::digest).
    pub digest: String,
    /// How long it took.
    pub elapsed: Duration,
}

/// Rebuilds the coordinator store of `names` from `log` into `state_dir`, which must not
/// exist or be empty. `progress` hears about each write batch.
pub async fn replay(
    log: &dyn Log,
    names: &TopicNames,
    state_dir: impl AsRef<Path>,
    options: ReplayOptions,
    mut progress: impl FnMut(&ReplayProgress) + Send,
) -> Result<ReplaySummary> {
    let started = Instant::now();
    let dir = state_dir.as_ref();
    let occupied = std::fs::read_dir(dir)
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false);
    if occupied {
        return Err(Error::NotFresh {
            path: dir.to_owned(),
        });
    }
    let topics = [
        (names.workflows(), Source::Workflows),
        (names.events(), Source::Events),
        (names.timers(), Source::Timers),
    ];
    let mut partitions = Vec::new();
    for (topic, _) in &topics {
        let description = log
            .describe_topic(topic)
            .await
            .map_err(|e| Error::log(format!("describing topic {topic:?}"), e))?;
        partitions.push(description.partitions);
    }
    if partitions.iter().any(|p| *p != partitions[0]) {
        return Err(Error::PartitionMismatch {
            workflows: names.workflows().to_string(),
            workflow_partitions: partitions[0],
            timers: names.timers().to_string(),
            timer_partitions: partitions[2],
            events: names.events().to_string(),
            event_partitions: partitions[1],
        });
    }
    let store = CoordinatorStore::open(dir)?;
    let mut config = CoreConfig::new(names.clone(), "replay");
    config.result_expiry = options.result_expiry;
    let mut core = Core::new(config);
    let mut records = BTreeMap::new();
    let mut total = 0u64;
    for partition in 0..partitions[0] {
        for (topic, source) in &topics {
            let tp = TopicPartition::new(topic.clone(), partition);
            let before = total;
            let mut report = |tp: &TopicPartition, at: super::restore::RangeProgress| {
                progress(&ReplayProgress {
                    tp: tp.clone(),
                    offset: at.next,
                    end: at.end,
                    records: before + at.applied,
                });
            };
            let batch = options.batch_records.max(1);
            let range = Range {
                source: *source,
                tp: &tp,
                from: 0,
                end: None,
            };
            let done = apply_range(log, &store, &mut core, range, batch, &mut report).await?;
            total += done.applied;
            *records.entry(topic.to_string()).or_insert(0) += done.applied;
        }
    }
    let counts = store.counts()?;
    Ok(ReplaySummary {
        records,
        undecodable: core.stats().undecodable,
        workflows: counts.workflows,
        results: counts.results,
        timers: counts.timers,
        digest: store.digest()?,
        elapsed: started.elapsed(),
    })
}

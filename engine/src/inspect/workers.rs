//! Workers as their heartbeats on the events topic show them (`app.workers(within)`).
//!
//! A worker sends a heartbeat every 2 s when it sends events (`send_events(true)`, Celery's
//! `-E`); the latest per host name within the window is the worker's status. A worker whose
//! last heartbeat is older than [`ALIVE_WITHIN`] is listed with `alive: false`.

use std::collections::BTreeMap;
use std::time::Duration;

use celeriac_schemas::{now_millis, Record as _, WorkerHeartbeat};
use celeriac_topics::TopicPartition;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::Result;

/// A worker whose last heartbeat is older than this is no longer alive (five heartbeats
/// missed at the default 2 s interval; a worker that says it beats less often gets five of
/// its own intervals).
pub const ALIVE_WITHIN: Duration = Duration::from_secs(10);

/// One worker, from its latest heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// The worker's name (`host@pid` by default).
    pub hostname: String,
    /// Its operating-system process id.
    pub pid: i32,
    /// The queues it consumes.
    pub queues: Vec<String>,
    /// How many tasks it runs at once (`None` for a worker whose heartbeat does not say).
    pub concurrency: Option<u32>,
    /// Tasks running at the heartbeat.
    pub active: i32,
    /// Tasks finished (in any state) since it started.
    pub processed: i64,
    /// When the latest heartbeat was sent (milliseconds since the Unix epoch).
    pub last_heartbeat: i64,
    /// True when the latest heartbeat is younger than [`ALIVE_WITHIN`] (or five of the
    /// worker's heartbeat intervals, when longer).
    pub alive: bool,
    /// The celeriac version it runs.
    pub software_version: String,
    /// How its coordinator member is doing (`running`, `restarting …: cause`, `failed: cause`,
    /// `none`); empty from workers that do not say.
    pub coordinator: String,
}

impl WorkerStatus {
    fn from_heartbeat(beat: WorkerHeartbeat, now: i64) -> Self {
        let alive_ms = i64::try_from(ALIVE_WITHIN.as_millis())
            .unwrap_or(i64::MAX)
            .max(beat.freq_ms.saturating_mul(5));
        Self {
            alive: now.saturating_sub(beat.timestamp) <= alive_ms,
            concurrency: u32::try_from(beat.concurrency).ok().filter(|c| *c > 0),
            hostname: beat.hostname,
            pid: beat.pid,
            queues: beat.queues,
            active: beat.active,
            processed: beat.processed,
            last_heartbeat: beat.timestamp,
            software_version: beat.software_version,
            coordinator: beat.coordinator,
        }
    }
}

impl App {
    /// The workers that sent a heartbeat within `within` (latest per host name), sorted by
    /// host name. Workers send heartbeats only with `send_events(true)`.
    pub async fn workers(&self, within: Duration) -> Result<Vec<WorkerStatus>> {
        let now = now_millis();
        let since = now.saturating_sub(i64::try_from(within.as_millis()).unwrap_or(i64::MAX));
        let topic = self.inner.names.events();
        let partitions = self.inner.log.describe_topic(&topic).await?.partitions;
        let reads = (0..partitions).map(|p| {
            let tp = TopicPartition::new(topic.clone(), p);
            async move { self.heartbeats_since(&tp, since).await }
        });
        let mut latest: BTreeMap<String, WorkerHeartbeat> = BTreeMap::new();
        for beats in futures::future::try_join_all(reads).await? {
            for beat in beats {
                if beat.timestamp < since {
                    continue;
                }
                match latest.get(&beat.hostname) {
                    Some(known) if known.timestamp >= beat.timestamp => {}
                    _ => {
                        latest.insert(beat.hostname.clone(), beat);
                    }
                }
            }
        }
        Ok(latest
            .into_values()
            .map(|beat| WorkerStatus::from_heartbeat(beat, now))
            .collect())
    }

    /// The heartbeats of one events partition written at or after `since`.
    async fn heartbeats_since(
        &self,
        tp: &TopicPartition,
        since: i64,
    ) -> Result<Vec<WorkerHeartbeat>> {
        let log = &self.inner.log;
        let from = log.offset_for_time(tp, since).await?;
        let mut reader = log.read_partition(tp, from).await?;
        let mut beats = Vec::new();
        while let Some(batch) = reader.next_batch().await? {
            // Task events share the topic; only heartbeats decode as heartbeats.
            beats.extend(
                batch
                    .iter()
                    .filter_map(|record| WorkerHeartbeat::decode(&record.payload).ok()),
            );
        }
        Ok(beats)
    }
}

//! Queues and their lag (`app.queues()`): for each `<prefix>.tasks.<queue>` topic, each
//! partition's end offset, the offset the queue's worker group committed there, and the
//! difference — messages published and not yet finished by a worker.

use celeriac_topics::TopicPartition;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::Result;

/// One partition of a queue topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionLag {
    /// The partition number.
    pub partition: i32,
    /// The first offset still stored.
    pub start_offset: i64,
    /// The offset the next message will get (the high watermark).
    pub end_offset: i64,
    /// The next offset the worker group will read (`None`: it never committed here).
    pub committed: Option<i64>,
    /// Messages not yet finished: `end_offset - committed` (from `start_offset` when the
    /// group never committed).
    pub lag: i64,
}

/// One queue: its topic, partitions and lag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStatus {
    /// The queue name (`default`, `math`, …).
    pub queue: String,
    /// Its topic (`<prefix>.tasks.<queue>`).
    pub topic: String,
    /// The consumer group of its workers.
    pub group: String,
    /// Each partition, by number.
    pub partitions: Vec<PartitionLag>,
    /// The sum of the partitions' lag.
    pub lag: i64,
}

impl App {
    /// Every queue topic of this app on the log, sorted by queue name, with its lag.
    pub async fn queues(&self) -> Result<Vec<QueueStatus>> {
        let names = &self.inner.names;
        let topics = self.inner.log.list_topics().await?;
        let mut out = Vec::new();
        for topic in &topics {
            let Some(queue) = names.queue_of(topic) else {
                continue;
            };
            match self.queue_status(queue, topic).await {
                Ok(status) => out.push(status),
                // Deleted since it was listed.
                Err(crate::Error::Log(celeriac_topics::Error::UnknownTopic(_))) => {}
                Err(error) => return Err(error),
            }
        }
        out.sort_by(|a, b| a.queue.cmp(&b.queue));
        Ok(out)
    }

    /// The status of one queue topic.
    async fn queue_status(&self, queue: &str, topic: &str) -> Result<QueueStatus> {
        let log = &self.inner.log;
        let group = self.inner.names.worker_group(queue);
        let count = log.describe_topic(topic).await?.partitions;
        let tps: Vec<_> = (0..count).map(|p| TopicPartition::new(topic, p)).collect();
        let committed = log.committed_offsets(&group, &tps).await?;
        let mut partitions = Vec::with_capacity(tps.len());
        for (tp, committed) in tps.iter().zip(committed) {
            let (start, end) = log.watermarks(tp).await?;
            let lag = (end - committed.unwrap_or(start).max(start)).max(0);
            partitions.push(PartitionLag {
                partition: tp.partition,
                start_offset: start,
                end_offset: end,
                committed,
                lag,
            });
        }
        Ok(QueueStatus {
            queue: queue.to_owned(),
            topic: topic.to_owned(),
            group,
            lag: partitions.iter().map(|p| p.lag).sum(),
            partitions,
        })
    }
}

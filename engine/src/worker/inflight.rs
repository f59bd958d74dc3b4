//! Acks late by low watermark: which offset of a partition is safe to commit.
//!
//! A worker runs many messages of one partition at once and they finish in any order. The
//! committed offset must never pass a message still running, or a crash would lose it; so
//! the offset to commit is the lowest offset still in flight — or one past the highest
//! offset taken when nothing is in flight.

use std::collections::{BTreeSet, HashMap};

use celeriac_topics::{CommitOffset, TopicPartition};

/// In-flight offsets of every partition a worker reads.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    /// Touched twice per task: a fast seeded hash.
    partitions: HashMap<TopicPartition, PartitionInFlight, foldhash::fast::RandomState>,
}

#[derive(Debug, Default)]
struct PartitionInFlight {
    running: BTreeSet<i64>,
    /// One past the highest offset taken.
    next: i64,
    /// The last offset committed (or known committed), to skip needless commits.
    committed: Option<i64>,
}

impl PartitionInFlight {
    fn watermark(&self) -> i64 {
        self.running.first().copied().unwrap_or(self.next)
    }
}

impl InFlight {
    /// Records that the message at `offset` was taken and is running.
    pub(crate) fn start(&mut self, tp: &TopicPartition, offset: i64) {
        let partition = self.partitions.entry(tp.clone()).or_default();
        partition.running.insert(offset);
        partition.next = partition.next.max(offset + 1);
    }

    /// Records that the message at `offset` is done (its outcome is durable downstream).
    pub(crate) fn finish(&mut self, tp: &TopicPartition, offset: i64) {
        if let Some(partition) = self.partitions.get_mut(tp) {
            partition.running.remove(&offset);
        }
    }

    /// Messages running now, over all partitions.
    pub(crate) fn running(&self) -> usize {
        self.partitions.values().map(|p| p.running.len()).sum()
    }

    /// Offsets that moved since the last call: what to commit now.
    pub(crate) fn committable(&mut self) -> Vec<CommitOffset> {
        let mut out = Vec::new();
        for (tp, partition) in &mut self.partitions {
            let watermark = partition.watermark();
            if partition.next > 0 && partition.committed != Some(watermark) {
                partition.committed = Some(watermark);
                out.push(CommitOffset {
                    tp: tp.clone(),
                    next: watermark,
                });
            }
        }
        out
    }

    /// Forgets a partition the worker no longer owns.
    pub(crate) fn forget(&mut self, tp: &TopicPartition) {
        self.partitions.remove(tp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tp() -> TopicPartition {
        TopicPartition::new("celeriac.tasks.default", 0)
    }

    #[test]
    fn the_watermark_waits_for_the_slowest_message() {
        let mut inflight = InFlight::default();
        for offset in 10..13 {
            inflight.start(&tp(), offset);
        }
        inflight.finish(&tp(), 11);
        inflight.finish(&tp(), 12);
        assert_eq!(
            inflight.committable(),
            vec![CommitOffset { tp: tp(), next: 10 }]
        );
        assert!(inflight.committable().is_empty(), "nothing moved since");
        inflight.finish(&tp(), 10);
        assert_eq!(
            inflight.committable(),
            vec![CommitOffset { tp: tp(), next: 13 }]
        );
    }

    proptest! {
        /// Whatever the finishing order, the committed offset never passes a running message
        /// and reaches the end once all are done.
        #[test]
        fn never_commits_past_a_running_message(order in Just((0i64..40).collect::<Vec<_>>()).prop_shuffle(), cut in 0usize..40) {
            let mut inflight = InFlight::default();
            for offset in 0..40 { inflight.start(&tp(), offset); }
            for offset in &order[..cut] { inflight.finish(&tp(), *offset); }
            let lowest_running = order[cut..].iter().min().copied().unwrap_or(40);
            for commit in inflight.committable() {
                prop_assert!(commit.next <= lowest_running);
            }
            for offset in &order[cut..] { inflight.finish(&tp(), *offset); }
            prop_assert_eq!(inflight.committable().last().map(|c| c.next).unwrap_or(40), 40);
        }
    }
}

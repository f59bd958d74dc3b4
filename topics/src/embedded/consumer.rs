//! Group members and partition readers of the embedded log.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::group::{lock, Member, MemberState};
use super::EmbeddedLog;
use crate::error::{Error, Result};
use crate::log::GroupMetadataInner;
use crate::log::{
    Consumer, ConsumerConfig, ConsumerEvent, GroupMetadata, PartitionReader, StartFrom,
};
use crate::record::{CommitOffset, Record, TopicPartition};

/// A member of a consumer group of the embedded log. Leaves the group when closed or dropped.
pub(super) struct EmbeddedConsumer {
    log: EmbeddedLog,
    member: Arc<Member>,
}

impl EmbeddedConsumer {
    /// Joins `config.group_id`; the first poll returns the member's assignment.
    pub(super) fn join(log: EmbeddedLog, config: ConsumerConfig) -> Self {
        let inner = &log.inner;
        let member = Arc::new(Member {
            id: inner.next_member.fetch_add(1, Ordering::Relaxed),
            group: config.group_id,
            topics: config.topics,
            start_from: config.start_from,
            state: Default::default(),
            wake: Default::default(),
        });
        inner
            .groups
            .join(member.clone(), &|t| inner.partitions_of(t));
        Self { log, member }
    }

    /// The read position of an owned partition: where it was, else the committed offset,
    /// else the start the config asks for.
    fn position(&self, state: &mut MemberState, tp: &TopicPartition) -> Result<i64> {
        if let Some(position) = state.positions.get(tp) {
            return Ok(*position);
        }
        let committed = self
            .log
            .inner
            .committed(&self.member.group, std::slice::from_ref(tp))?;
        let (low, high) = self.log.inner.watermarks(tp)?;
        let position = match (committed.first().copied().flatten(), self.member.start_from) {
            (Some(offset), _) => offset.clamp(low, high),
            (None, StartFrom::Earliest) => low,
            (None, StartFrom::Latest) => high,
        };
        state.positions.insert(tp.clone(), position);
        Ok(position)
    }

    /// Takes a pending event, or reads what is available; `None` when there is nothing.
    fn try_poll(&self, max_records: usize) -> Result<Option<ConsumerEvent>> {
        let mut state = lock(&self.member.state);
        if state.closed {
            return Err(Error::Closed("consumer"));
        }
        if let Some(event) = state.events.pop_front() {
            return Ok(Some(event));
        }
        // Read the assignment in place (taken out for the loop: `position` needs the state).
        let assignment = std::mem::take(&mut state.assignment);
        let read = self.read_assigned(&mut state, &assignment, max_records);
        state.assignment = assignment;
        let records = read?;
        Ok((!records.is_empty()).then_some(ConsumerEvent::Records(records)))
    }

    /// Up to `max_records` from the unpaused partitions of `assignment`, moving positions on.
    fn read_assigned(
        &self,
        state: &mut MemberState,
        assignment: &BTreeSet<TopicPartition>,
        max_records: usize,
    ) -> Result<Vec<Record>> {
        let mut records: Vec<Record> = Vec::new();
        for tp in assignment {
            if state.paused.contains(tp) {
                continue;
            }
            let budget = max_records.saturating_sub(records.len());
            if budget == 0 {
                break;
            }
            let from = self.position(state, tp)?;
            let Ok((topic, index)) = self.log.inner.partition(tp) else {
                continue;
            };
            let high = topic.partitions[index].high.load(Ordering::Acquire);
            let batch = self.log.inner.read(&topic, tp, from, high, budget)?;
            if let (Some(last), Some(position)) = (batch.last(), state.positions.get_mut(tp)) {
                *position = last.offset + 1;
            }
            records.extend(batch);
        }
        Ok(records)
    }

    fn owned_or_error(
        &self,
        state: &MemberState,
        tp: &TopicPartition,
        what: &'static str,
    ) -> Result<()> {
        if state.assignment.contains(tp) {
            Ok(())
        } else {
            Err(Error::Invalid {
                what,
                detail: format!(
                    "{tp} is not assigned to this member of group {:?} (the group rebalanced)",
                    self.member.group
                ),
            })
        }
    }
}

#[async_trait]
impl Consumer for EmbeddedConsumer {
    async fn poll(&self, max_records: usize, timeout: Duration) -> Result<ConsumerEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Register for wake-ups before looking, so an append in between is not missed.
            let appended = self.log.inner.appended.notified();
            let woken = self.member.wake.notified();
            tokio::pin!(appended, woken);
            appended.as_mut().enable();
            woken.as_mut().enable();
            if let Some(event) = self.try_poll(max_records.max(1))? {
                return Ok(event);
            }
            tokio::select! {
                _ = &mut appended => {}
                _ = &mut woken => {}
                _ = tokio::time::sleep_until(deadline) => return Ok(ConsumerEvent::Records(Vec::new())),
            }
        }
    }

    async fn commit(&self, offsets: &[CommitOffset]) -> Result<()> {
        {
            let state = lock(&self.member.state);
            for offset in offsets {
                self.owned_or_error(&state, &offset.tp, "commit")?;
            }
        }
        let group = &self.member.group;
        let offsets: Vec<(String, CommitOffset)> =
            offsets.iter().map(|o| (group.clone(), o.clone())).collect();
        self.log.inner.append(Vec::new(), &offsets).map(drop)
    }

    fn pause(&self, partitions: &[TopicPartition]) -> Result<()> {
        let mut state = lock(&self.member.state);
        for tp in partitions {
            self.owned_or_error(&state, tp, "pause")?;
            state.paused.insert(tp.clone());
        }
        Ok(())
    }

    fn resume(&self, partitions: &[TopicPartition]) -> Result<()> {
        let mut state = lock(&self.member.state);
        for tp in partitions {
            state.paused.remove(tp);
        }
        drop(state);
        self.member.wake.notify_one();
        Ok(())
    }

    fn seek(&self, tp: &TopicPartition, offset: i64) -> Result<()> {
        let mut state = lock(&self.member.state);
        self.owned_or_error(&state, tp, "seek")?;
        state.positions.insert(tp.clone(), offset.max(0));
        drop(state);
        self.member.wake.notify_one();
        Ok(())
    }

    fn assignment(&self) -> Result<Vec<TopicPartition>> {
        Ok(lock(&self.member.state)
            .assignment
            .iter()
            .cloned()
            .collect())
    }

    fn group_metadata(&self) -> Result<GroupMetadata> {
        let generation = lock(&self.member.state).generation;
        Ok(GroupMetadata(GroupMetadataInner::Embedded {
            group: self.member.group.clone(),
            member: self.member.id,
            generation,
        }))
    }

    async fn committed(&self, partitions: &[TopicPartition]) -> Result<Vec<Option<i64>>> {
        self.log.inner.committed(&self.member.group, partitions)
    }

    async fn close(&self) -> Result<()> {
        self.leave();
        Ok(())
    }
}

impl EmbeddedConsumer {
    fn leave(&self) {
        let mut state = lock(&self.member.state);
        if std::mem::replace(&mut state.closed, true) {
            return;
        }
        drop(state);
        let inner = &self.log.inner;
        inner
            .groups
            .leave(&self.member, &|t| inner.partitions_of(t));
    }
}

impl Drop for EmbeddedConsumer {
    fn drop(&mut self) {
        self.leave();
    }
}

/// Reads one partition of the embedded log from an offset to a fixed end.
pub(super) struct EmbeddedReader {
    log: EmbeddedLog,
    tp: TopicPartition,
    next: i64,
    end: i64,
}

impl EmbeddedReader {
    pub(super) fn new(log: EmbeddedLog, tp: TopicPartition, from: i64, end: i64) -> Self {
        Self {
            log,
            tp,
            next: from,
            end,
        }
    }
}

#[async_trait]
impl PartitionReader for EmbeddedReader {
    async fn next_batch(&mut self) -> Result<Option<Vec<Record>>> {
        const BATCH: usize = 4096;
        if self.next >= self.end {
            return Ok(None);
        }
        let (topic, _) = self.log.inner.partition(&self.tp)?;
        let (low, _) = self.log.inner.watermarks(&self.tp)?;
        let from = self.next.max(low);
        let batch = self
            .log
            .inner
            .read(&topic, &self.tp, from, self.end, BATCH)?;
        match batch.last() {
            Some(last) => self.next = last.offset + 1,
            None => self.next = self.end,
        }
        Ok(if batch.is_empty() { None } else { Some(batch) })
    }

    fn end(&self) -> i64 {
        self.end
    }
}

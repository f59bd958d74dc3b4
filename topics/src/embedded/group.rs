//! Consumer groups of the embedded log: membership, range assignment, generations.
//!
//! Every join, leave or new topic bumps the group's generation and reassigns partitions with
//! Kafka's `range` strategy (per topic, members in join order, contiguous ranges), so the
//! members that own partition *p* of co-partitioned topics are the same member. Each member is
//! told what it lost and what it gained through its event queue; commits from a member that no
//! longer owns a partition are refused, as Kafka refuses a stale generation.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::log::{ConsumerEvent, StartFrom};
use crate::record::TopicPartition;

/// Locks a mutex, taking the data even if a panicking thread poisoned it (our state stays
/// consistent between statements, so the data is still valid).
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One member's view, shared between the group and the member's consumer.
#[derive(Debug)]
pub(super) struct Member {
    pub(super) id: u64,
    pub(super) group: String,
    pub(super) topics: Vec<String>,
    pub(super) start_from: StartFrom,
    pub(super) state: Mutex<MemberState>,
    /// Woken when the member has a new event.
    pub(super) wake: Notify,
}

/// What a member owns and where it reads.
#[derive(Debug, Default)]
pub(super) struct MemberState {
    pub(super) generation: u64,
    pub(super) assignment: BTreeSet<TopicPartition>,
    pub(super) events: VecDeque<ConsumerEvent>,
    /// Next offset to read, per owned partition (absent until first read or seek).
    pub(super) positions: HashMap<TopicPartition, i64>,
    pub(super) paused: HashSet<TopicPartition>,
    pub(super) closed: bool,
}

#[derive(Debug, Default)]
struct Group {
    generation: u64,
    members: BTreeMap<u64, Arc<Member>>,
}

/// All groups of one embedded log.
#[derive(Debug, Default)]
pub(super) struct Groups {
    groups: Mutex<HashMap<String, Group>>,
}

impl Groups {
    /// Adds a member and rebalances its group.
    pub(super) fn join(&self, member: Arc<Member>, partitions_of: &dyn Fn(&str) -> i32) {
        let mut groups = lock(&self.groups);
        let group = groups.entry(member.group.clone()).or_default();
        group.members.insert(member.id, member);
        rebalance(group, partitions_of);
    }

    /// Removes a member and rebalances its group.
    pub(super) fn leave(&self, member: &Member, partitions_of: &dyn Fn(&str) -> i32) {
        let mut groups = lock(&self.groups);
        if let Some(group) = groups.get_mut(&member.group) {
            if group.members.remove(&member.id).is_some() {
                rebalance(group, partitions_of);
            }
        }
    }

    /// True when `member` of `group` still owns `tp` at `generation` (a commit may go ahead).
    pub(super) fn owns(
        &self,
        group: &str,
        member: u64,
        generation: u64,
        tp: &TopicPartition,
    ) -> bool {
        let groups = lock(&self.groups);
        let Some(member) = groups.get(group).and_then(|g| g.members.get(&member)) else {
            return false;
        };
        let state = lock(&member.state);
        state.generation == generation && state.assignment.contains(tp)
    }

    /// Rebalances every group with a member subscribed to `topic` (it was created or deleted).
    pub(super) fn topic_changed(&self, topic: &str, partitions_of: &dyn Fn(&str) -> i32) {
        let mut groups = lock(&self.groups);
        for group in groups.values_mut() {
            if group
                .members
                .values()
                .any(|m| m.topics.iter().any(|t| t == topic))
            {
                rebalance(group, partitions_of);
            }
        }
    }
}

/// Range assignment over the group's current members; tells each member what changed.
fn rebalance(group: &mut Group, partitions_of: &dyn Fn(&str) -> i32) {
    group.generation += 1;
    let mut next: BTreeMap<u64, BTreeSet<TopicPartition>> = group
        .members
        .keys()
        .map(|id| (*id, BTreeSet::new()))
        .collect();
    let topics: BTreeSet<&String> = group
        .members
        .values()
        .flat_map(|m| m.topics.iter())
        .collect();
    for topic in topics {
        let subscribers: Vec<u64> = group
            .members
            .values()
            .filter(|m| m.topics.contains(topic))
            .map(|m| m.id)
            .collect();
        for (index, partition) in range_assign(partitions_of(topic), subscribers.len()) {
            if let Some(set) = next.get_mut(&subscribers[index]) {
                set.insert(TopicPartition::new(topic.clone(), partition));
            }
        }
    }
    for (id, member) in &group.members {
        let assigned = next.remove(id).unwrap_or_default();
        let mut state = lock(&member.state);
        let lost: Vec<TopicPartition> = state.assignment.difference(&assigned).cloned().collect();
        let gained: Vec<TopicPartition> = assigned.difference(&state.assignment).cloned().collect();
        state.generation = group.generation;
        for tp in &lost {
            state.positions.remove(tp);
            state.paused.remove(tp);
        }
        if !lost.is_empty() {
            state.events.push_back(ConsumerEvent::Revoked(lost));
        }
        if !gained.is_empty() {
            state.events.push_back(ConsumerEvent::Assigned(gained));
        }
        state.assignment = assigned;
        drop(state);
        member.wake.notify_one();
    }
}

/// Kafka's range assignment of `partitions` over `members`: `(member index, partition)` pairs.
fn range_assign(partitions: i32, members: usize) -> Vec<(usize, i32)> {
    if members == 0 || partitions <= 0 {
        return Vec::new();
    }
    let per = partitions as usize / members;
    let extra = partitions as usize % members;
    let mut out = Vec::with_capacity(partitions as usize);
    let mut partition = 0;
    for member in 0..members {
        let count = per + usize::from(member < extra);
        for _ in 0..count {
            out.push((member, partition));
            partition += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_assignment_gives_contiguous_ranges_extras_first() {
        assert_eq!(
            range_assign(5, 2),
            vec![(0, 0), (0, 1), (0, 2), (1, 3), (1, 4)]
        );
        assert_eq!(range_assign(1, 3), vec![(0, 0)]);
        assert!(range_assign(4, 0).is_empty());
    }
}

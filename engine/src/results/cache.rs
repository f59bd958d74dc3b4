//! What a results reader knows: recent results in full (their encoded records, decoded
//! only when asked for), older ones by where they sit on the topic, and who is waiting for
//! which task.
//!
//! Both tiers are bounded in bytes, not in entries: a result kept in full costs its encoded
//! size plus [`FULL_OVERHEAD`]; past [`FULL_BYTES`] the oldest keeps only its position
//! ([`PLACED_COST`] bytes), so a late `get` reads one record instead of scanning. Past
//! [`PLACED_BYTES`] the reader forgets the oldest task and moves `complete_since` on: a `get`
//! for a task sent before then reads history again. Waiters are removed when their `get`
//! gives up, so a timed-out wait leaves nothing behind.
//!
//! Times here are the log's (record timestamps), never a host's clock.

use std::collections::VecDeque;

use bytes::Bytes;
use celeriac_schemas::TaskState;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::IdMap;

/// Bytes of results kept in full.
pub(super) const FULL_BYTES: usize = 64 * 1024 * 1024;
/// Bytes of results kept by position once evicted from the full tier.
pub(super) const PLACED_BYTES: usize = 64 * 1024 * 1024;
/// What one full entry costs besides its payload: the map slot, the order slot, the struct.
pub(super) const FULL_OVERHEAD: usize = 96;
/// What one entry kept by position costs.
pub(super) const PLACED_COST: usize = 64;

/// Where a record sits on the results topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Position {
    pub(super) partition: i32,
    pub(super) offset: i64,
}

/// What the cache says of one task.
#[derive(Debug)]
pub(super) enum Known {
    /// Its latest record, encoded.
    Result(Bytes),
    /// Its latest record sits here on the topic.
    At(Position),
    /// No record seen; `complete` when none was recorded since the cache has been complete.
    Unknown { complete: bool },
}

/// One record of the results topic, as the cache takes it.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    pub(super) task_id: Uuid,
    pub(super) state: TaskState,
    /// The encoded `TaskResult`.
    pub(super) payload: Bytes,
    pub(super) at: Position,
    /// When the log took it (ms, the log's clock); at or after the task was sent.
    pub(super) timestamp_ms: i64,
}

/// What the cache holds, for `/metrics` and for tests of its bounds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Results kept in full.
    pub full: usize,
    /// Bytes those cost.
    pub full_bytes: usize,
    /// Results kept by position.
    pub placed: usize,
    /// Bytes those cost.
    pub placed_bytes: usize,
    /// Waits not yet answered.
    pub waiters: usize,
}

/// A result kept in full.
struct Full {
    terminal: bool,
    payload: Bytes,
    at: Position,
    timestamp_ms: i64,
    /// Which slot of the order queue is this entry's (older slots of the id are stale).
    seq: u64,
}

/// A result kept by position.
struct Placed {
    at: Position,
    timestamp_ms: i64,
    seq: u64,
}

/// The reader's cache and waiters, behind one lock.
pub(super) struct Cache {
    full: IdMap<Full>,
    full_order: VecDeque<(Uuid, u64)>,
    full_bytes: usize,
    placed: IdMap<Placed>,
    /// Slots in order of placing; a slot whose id was placed again or removed is stale, and
    /// counts against the bound until it reaches the front.
    placed_order: VecDeque<(Uuid, u64)>,
    next_seq: u64,
    waiters: IdMap<Vec<oneshot::Sender<Bytes>>>,
    waiter_count: usize,
    /// Every result recorded at or after this log time (ms) is known (in full or by
    /// position) or was handed to its waiters.
    complete_since: i64,
    /// Partitions whose whole history was read and nothing of it forgotten since: a task with
    /// no known record there has none.
    history_complete: Vec<bool>,
    /// Tasks forgotten to stay within bounds, ever: a history read during which this moved
    /// cannot claim its partition complete.
    dropped: u64,
    full_limit: usize,
    placed_limit: usize,
}

impl Default for Cache {
    fn default() -> Self {
        Self::with_limits(FULL_BYTES, PLACED_BYTES)
    }
}

impl Cache {
    /// A cache that keeps up to `full_bytes` of results in full and `placed_bytes` more of
    /// positions.
    pub(super) fn with_limits(full_bytes: usize, placed_bytes: usize) -> Self {
        Cache {
            full: IdMap::default(),
            full_order: VecDeque::new(),
            full_bytes: 0,
            placed: IdMap::default(),
            placed_order: VecDeque::new(),
            next_seq: 0,
            waiters: IdMap::default(),
            waiter_count: 0,
            complete_since: i64::MAX,
            history_complete: Vec::new(),
            dropped: 0,
            full_limit: full_bytes,
            placed_limit: placed_bytes,
        }
    }

    /// From now on the cache is complete for results the log took at or after `since`.
    pub(super) fn complete_from(&mut self, since: i64) {
        self.complete_since = since;
    }

    /// What is known of `id`, whose records the log took at or after `earliest` (log time;
    /// `None` when the task's age is unknown) in `partition`.
    pub(super) fn lookup(&self, id: &Uuid, earliest: Option<i64>, partition: i32) -> Known {
        if let Some(full) = self.full.get(id) {
            return Known::Result(full.payload.clone());
        }
        if let Some(placed) = self.placed.get(id) {
            return Known::At(placed.at);
        }
        Known::Unknown {
            complete: self.history_complete(partition)
                || earliest.is_some_and(|t| t >= self.complete_since),
        }
    }

    /// Hands `id`'s terminal result to `waiter` now when known in full; otherwise keeps the
    /// waiter and says what is known.
    pub(super) fn wait(
        &mut self,
        id: Uuid,
        earliest: Option<i64>,
        partition: i32,
        waiter: oneshot::Sender<Bytes>,
    ) -> Known {
        if let Some(full) = self.full.get(&id).filter(|full| full.terminal) {
            let _ = waiter.send(full.payload.clone());
            return Known::Result(full.payload.clone());
        }
        self.waiters.entry(id).or_default().push(waiter);
        self.waiter_count += 1;
        self.lookup(&id, earliest, partition)
    }

    /// Drops the waiters of `id` whose receivers are gone (their wait gave up).
    pub(super) fn unwait(&mut self, id: &Uuid) {
        let Some(waiters) = self.waiters.get_mut(id) else {
            return;
        };
        let before = waiters.len();
        waiters.retain(|waiter| !waiter.is_closed());
        self.waiter_count -= before - waiters.len();
        if waiters.is_empty() {
            self.waiters.remove(id);
        }
    }

    /// Records the latest record of a task and hands it to its waiters when terminal. A
    /// record older than the one already known (history read after the tail saw a newer one)
    /// changes nothing.
    pub(super) fn record(&mut self, seen: Seen) {
        if self.knows_newer(&seen) {
            return;
        }
        let id = seen.task_id;
        self.deliver(&seen);
        let cost = seen.payload.len() + FULL_OVERHEAD;
        let seq = match self.full.get(&id) {
            Some(old) => old.seq,
            None => {
                self.unplace(&id);
                let seq = self.seq();
                self.full_order.push_back((id, seq));
                seq
            }
        };
        let entry = Full {
            terminal: seen.state.is_terminal(),
            payload: seen.payload,
            at: seen.at,
            timestamp_ms: seen.timestamp_ms,
            seq,
        };
        if let Some(old) = self.full.insert(id, entry) {
            self.full_bytes -= old.payload.len() + FULL_OVERHEAD;
        }
        self.full_bytes += cost;
        while self.full_bytes > self.full_limit || self.full_order.len() > 2 * self.full.len() + 64
        {
            let Some((old, seq)) = self.full_order.pop_front() else {
                break;
            };
            if self.full.get(&old).is_some_and(|f| f.seq == seq) {
                if let Some(evicted) = self.full.remove(&old) {
                    self.full_bytes -= evicted.payload.len() + FULL_OVERHEAD;
                    self.place(old, evicted.at, evicted.timestamp_ms);
                }
            }
        }
    }

    /// Records where a task's record sits, read from history: by position only (history
    /// must not push recent results out of the full tier), handed to waiters when terminal.
    pub(super) fn record_position(&mut self, seen: &Seen) {
        if self.knows_newer(seen) || self.full.contains_key(&seen.task_id) {
            return;
        }
        self.deliver(seen);
        self.unplace(&seen.task_id);
        self.place(seen.task_id, seen.at, seen.timestamp_ms);
    }

    /// Hands a record read again from the topic to its waiters when it is still the latest
    /// known.
    pub(super) fn fetched(&mut self, seen: &Seen) {
        let latest = self.placed.get(&seen.task_id).map(|p| p.at);
        if latest == Some(seen.at) {
            self.deliver(seen);
        }
    }

    /// Forgets a task (a tombstone: `forget` or the coordinator's expiry sweep) unless what is
    /// known of it came after the tombstone at `at`.
    pub(super) fn forget(&mut self, id: &Uuid, at: Option<Position>) {
        let known = self
            .full
            .get(id)
            .map(|f| f.at)
            .or_else(|| self.placed.get(id).map(|p| p.at));
        let newer = matches!((known, at), (Some(k), Some(t)) if k.partition == t.partition && k.offset > t.offset);
        if newer {
            return;
        }
        if let Some(old) = self.full.remove(id) {
            self.full_bytes -= old.payload.len() + FULL_OVERHEAD;
        }
        self.unplace(id);
    }

    /// True while `partition`'s whole history is known (see [`history_read`](Self::history_read)).
    pub(super) fn history_complete(&self, partition: i32) -> bool {
        usize::try_from(partition)
            .ok()
            .and_then(|p| self.history_complete.get(p))
            .copied()
            .unwrap_or(false)
    }

    /// How many tasks were forgotten to stay within bounds so far.
    pub(super) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The whole history of `partition` (of `partitions`) has been read, and nothing was
    /// forgotten since [`dropped`](Self::dropped) said `dropped_before`: until something of it
    /// is forgotten, a task unknown there has no record.
    pub(super) fn history_read(&mut self, partition: i32, partitions: i32, dropped_before: u64) {
        if self.dropped != dropped_before {
            return;
        }
        let (Ok(p), Ok(n)) = (usize::try_from(partition), usize::try_from(partitions)) else {
            return;
        };
        if self.history_complete.len() < n {
            self.history_complete.resize(n, false);
        }
        if let Some(flag) = self.history_complete.get_mut(p) {
            *flag = true;
        }
    }

    /// What the cache holds now.
    pub(super) fn stats(&self) -> CacheStats {
        CacheStats {
            full: self.full.len(),
            full_bytes: self.full_bytes,
            placed: self.placed.len(),
            placed_bytes: self.placed_order.len() * PLACED_COST,
            waiters: self.waiter_count,
        }
    }

    fn knows_newer(&self, seen: &Seen) -> bool {
        let known = self
            .full
            .get(&seen.task_id)
            .map(|f| f.at)
            .or_else(|| self.placed.get(&seen.task_id).map(|p| p.at));
        known.is_some_and(|k| k.partition == seen.at.partition && k.offset > seen.at.offset)
    }

    fn deliver(&mut self, seen: &Seen) {
        if !seen.state.is_terminal() {
            return;
        }
        for waiter in self.waiters.remove(&seen.task_id).unwrap_or_default() {
            self.waiter_count -= 1;
            let _ = waiter.send(seen.payload.clone());
        }
    }

    /// Removes a task's position (its slot in the order queue goes when it reaches the front).
    fn unplace(&mut self, id: &Uuid) {
        self.placed.remove(id);
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn place(&mut self, id: Uuid, at: Position, timestamp_ms: i64) {
        let seq = self.seq();
        self.placed.insert(
            id,
            Placed {
                at,
                timestamp_ms,
                seq,
            },
        );
        self.placed_order.push_back((id, seq));
        while self.placed_order.len() * PLACED_COST > self.placed_limit {
            let Some((old, seq)) = self.placed_order.pop_front() else {
                break;
            };
            if self.placed.get(&old).is_none_or(|p| p.seq != seq) {
                continue; // a stale slot
            }
            if let Some(dropped) = self.placed.remove(&old) {
                self.dropped += 1;
                self.complete_since = self.complete_since.max(dropped.timestamp_ms + 1);
                if let Some(flag) = usize::try_from(dropped.at.partition)
                    .ok()
                    .and_then(|p| self.history_complete.get_mut(p))
                {
                    *flag = false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(id: Uuid, state: TaskState, offset: i64, size: usize) -> Seen {
        Seen {
            task_id: id,
            state,
            payload: Bytes::from(vec![b'x'; size]),
            at: at(offset),
            timestamp_ms: 100 + offset,
        }
    }

    fn at(offset: i64) -> Position {
        Position {
            partition: 0,
            offset,
        }
    }

    #[test]
    fn both_tiers_stay_within_their_bytes_then_completeness_moves_on() {
        // Room for two 1,000-byte results in full and three positions.
        let mut cache = Cache::with_limits(2 * (1000 + FULL_OVERHEAD), 3 * PLACED_COST);
        cache.complete_from(0);
        let ids: Vec<Uuid> = (0..6).map(|_| Uuid::now_v7()).collect();
        for (i, id) in ids.iter().enumerate() {
            cache.record(seen(*id, TaskState::Success, i as i64, 1000));
            let stats = cache.stats();
            assert!(stats.full_bytes <= 2 * (1000 + FULL_OVERHEAD), "{stats:?}");
            assert!(stats.placed_bytes <= 3 * PLACED_COST, "{stats:?}");
        }
        // 4 and 5 in full, 1 to 3 by position, 0 forgotten (the log took it at 100).
        assert!(matches!(
            cache.lookup(&ids[5], Some(50), 0),
            Known::Result(_)
        ));
        assert!(matches!(
            cache.lookup(&ids[4], Some(50), 0),
            Known::Result(_)
        ));
        for (i, id) in ids.iter().enumerate().take(4).skip(1) {
            assert!(matches!(cache.lookup(id, Some(50), 0), Known::At(p) if p == at(i as i64)));
        }
        assert!(matches!(
            cache.lookup(&ids[0], Some(100), 0),
            Known::Unknown { complete: false }
        ));
        assert!(matches!(
            cache.lookup(&Uuid::now_v7(), Some(101), 0),
            Known::Unknown { complete: true }
        ));
        // One big result is bounded by bytes too: it pushes both others out of the full tier.
        cache.record(seen(Uuid::now_v7(), TaskState::Success, 9, 2000));
        assert_eq!(cache.stats().full, 1);
    }

    #[test]
    fn a_wait_that_gives_up_leaves_no_waiter_behind() {
        let mut cache = Cache::default();
        cache.complete_from(0);
        for _ in 0..100 {
            let id = Uuid::now_v7();
            let (tx, mut rx) = oneshot::channel();
            cache.wait(id, Some(10), 0, tx);
            rx.close();
            cache.unwait(&id);
        }
        assert_eq!(cache.stats().waiters, 0);
        assert!(cache.waiters.is_empty());
        // A waiter still listening stays.
        let id = Uuid::now_v7();
        let (tx, _rx) = oneshot::channel();
        let (gone, mut gone_rx) = oneshot::channel();
        cache.wait(id, Some(10), 0, tx);
        cache.wait(id, Some(10), 0, gone);
        gone_rx.close();
        cache.unwait(&id);
        assert_eq!(cache.stats().waiters, 1);
    }

    #[test]
    fn a_waiter_gets_a_fetched_record_only_if_it_is_still_the_latest() {
        let mut cache = Cache::with_limits(FULL_OVERHEAD + 10, PLACED_BYTES);
        let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
        cache.record(seen(first, TaskState::Success, 0, 10));
        cache.record(seen(second, TaskState::Success, 1, 10));
        let (tx, mut rx) = oneshot::channel();
        assert!(matches!(cache.wait(first, Some(1), 0, tx), Known::At(p) if p == at(0)));
        assert_eq!(cache.stats().waiters, 1);
        // A stale read (the position moved on) is not handed over...
        cache.fetched(&seen(first, TaskState::Failure, 7, 10));
        assert!(rx.try_recv().is_err());
        // ...the record at the known position is.
        let latest = seen(first, TaskState::Success, 0, 10);
        cache.fetched(&latest);
        assert_eq!(rx.try_recv().ok(), Some(latest.payload));
        assert_eq!(cache.stats().waiters, 0);
    }

    #[test]
    fn history_never_overrides_a_newer_record_and_a_read_partition_is_complete() {
        let mut cache = Cache::default();
        let id = Uuid::now_v7();
        cache.record(seen(id, TaskState::Success, 50, 10));
        cache.record_position(&seen(id, TaskState::Started, 3, 20));
        cache.record(seen(id, TaskState::Started, 4, 20));
        assert!(matches!(cache.lookup(&id, None, 0), Known::Result(p) if p.len() == 10));
        cache.forget(&id, Some(at(2)));
        assert!(
            matches!(cache.lookup(&id, None, 0), Known::Result(_)),
            "an older tombstone"
        );
        // Unknown-age tasks are complete once their partition's history was read.
        let other = Uuid::now_v7();
        assert!(matches!(
            cache.lookup(&other, None, 1),
            Known::Unknown { complete: false }
        ));
        cache.history_read(1, 2, cache.dropped());
        assert!(matches!(
            cache.lookup(&other, None, 1),
            Known::Unknown { complete: true }
        ));
        assert!(matches!(
            cache.lookup(&other, None, 0),
            Known::Unknown { complete: false }
        ));
    }

    #[test]
    fn a_terminal_record_wakes_every_waiter_and_a_tombstone_forgets() {
        let mut cache = Cache::default();
        cache.complete_from(0);
        let id = Uuid::now_v7();
        let (tx1, mut rx1) = oneshot::channel();
        let (tx2, mut rx2) = oneshot::channel();
        cache.wait(id, Some(10), 0, tx1);
        cache.wait(id, Some(10), 0, tx2);
        cache.record(seen(id, TaskState::Started, 0, 10));
        assert!(rx1.try_recv().is_err());
        cache.record(seen(id, TaskState::Success, 1, 10));
        assert!(rx1.try_recv().is_ok() && rx2.try_recv().is_ok());
        assert_eq!(cache.stats().waiters, 0);
        // A waiter that comes later gets the terminal record at once.
        let (tx3, mut rx3) = oneshot::channel();
        assert!(matches!(cache.wait(id, Some(10), 0, tx3), Known::Result(_)));
        assert!(rx3.try_recv().is_ok());
        cache.forget(&id, None);
        assert!(matches!(
            cache.lookup(&id, Some(10), 0),
            Known::Unknown { complete: true }
        ));
    }
}

//! What a results reader knows: recent results in full (their encoded records, decoded
//! only when asked for), older ones by where they sit on the topic, and who is waiting for
//! which task.
//!
//! Full results are bounded (a few hundred bytes each); past that bound a result keeps only
//! its position (about 40 bytes), so a late `get` reads one record instead of scanning its
//! partition. Past the second bound the reader forgets the task and moves `complete_since`
//! on: a `get` for a task sent before then scans its partition from the task's send time.

use std::collections::VecDeque;

use bytes::Bytes;
use celeriac_schemas::TaskState;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::IdMap;

/// Results kept in full for `get` calls that come after the result.
const FULL_LIMIT: usize = 200_000;
/// Results kept by position once evicted from the full cache.
const POSITION_LIMIT: usize = 2_000_000;

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
    /// When the log took it (ms); at or after the result's `date_done`.
    pub(super) timestamp_ms: i64,
}

/// A result kept in full.
struct Full {
    terminal: bool,
    payload: Bytes,
    at: Position,
    timestamp_ms: i64,
}

/// A result kept by position.
struct Placed {
    at: Position,
    timestamp_ms: i64,
}

/// The reader's cache and waiters, behind one lock.
pub(super) struct Cache {
    full: IdMap<Full>,
    full_order: VecDeque<Uuid>,
    placed: IdMap<Placed>,
    placed_order: VecDeque<Uuid>,
    waiters: IdMap<Vec<oneshot::Sender<Bytes>>>,
    /// Every result recorded at or after this time (ms) is known (in full or by position)
    /// or was handed to its waiters.
    complete_since: i64,
    full_limit: usize,
    position_limit: usize,
}

impl Default for Cache {
    fn default() -> Self {
        Self::with_limits(FULL_LIMIT, POSITION_LIMIT)
    }
}

impl Cache {
    /// A cache that keeps `full` results in full and `positions` more by position.
    pub(super) fn with_limits(full: usize, positions: usize) -> Self {
        Cache {
            full: IdMap::default(),
            full_order: VecDeque::new(),
            placed: IdMap::default(),
            placed_order: VecDeque::new(),
            waiters: IdMap::default(),
            complete_since: i64::MIN,
            full_limit: full,
            position_limit: positions,
        }
    }

    /// From now on the cache is complete for results recorded at or after `since`.
    pub(super) fn complete_from(&mut self, since: i64) {
        self.complete_since = since;
    }

    /// What is known of `id`, sent at `sent_at` (ms; scans start `margin_ms` before it).
    pub(super) fn lookup(&self, id: &Uuid, sent_at: i64, margin_ms: i64) -> Known {
        if let Some(full) = self.full.get(id) {
            return Known::Result(full.payload.clone());
        }
        if let Some(placed) = self.placed.get(id) {
            return Known::At(placed.at);
        }
        Known::Unknown {
            complete: sent_at.saturating_sub(margin_ms) >= self.complete_since,
        }
    }

    /// Hands `id`'s terminal result to `waiter` now when known in full; otherwise keeps the
    /// waiter and says what is known.
    pub(super) fn wait(
        &mut self,
        id: Uuid,
        sent_at: i64,
        margin_ms: i64,
        waiter: oneshot::Sender<Bytes>,
    ) -> Known {
        if let Some(full) = self.full.get(&id).filter(|full| full.terminal) {
            let _ = waiter.send(full.payload.clone());
            return Known::Result(full.payload.clone());
        }
        self.waiters.entry(id).or_default().push(waiter);
        self.lookup(&id, sent_at, margin_ms)
    }

    /// Records the latest record of a task and hands it to its waiters when terminal.
    pub(super) fn record(&mut self, seen: Seen) {
        let id = seen.task_id;
        self.deliver(&seen);
        let entry = Full {
            terminal: seen.state.is_terminal(),
            payload: seen.payload,
            at: seen.at,
            timestamp_ms: seen.timestamp_ms,
        };
        if self.full.insert(id, entry).is_none() {
            self.placed.remove(&id);
            self.full_order.push_back(id);
        }
        while self.full_order.len() > self.full_limit {
            let Some(old) = self.full_order.pop_front() else {
                break;
            };
            if let Some(evicted) = self.full.remove(&old) {
                self.place(old, evicted);
            }
        }
    }

    /// Hands a record read again from the topic to its waiters when it is still the latest
    /// known.
    pub(super) fn fetched(&mut self, seen: &Seen) {
        let latest = self.placed.get(&seen.task_id).map(|p| p.at);
        if latest == Some(seen.at) {
            self.deliver(seen);
        }
    }

    /// Forgets a task (a tombstone: `forget` or the coordinator's expiry sweep).
    pub(super) fn forget(&mut self, id: &Uuid) {
        self.full.remove(id);
        self.placed.remove(id);
    }

    /// Tasks with waiters and no terminal result yet.
    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        self.waiters.len()
    }

    fn deliver(&mut self, seen: &Seen) {
        if !seen.state.is_terminal() {
            return;
        }
        for waiter in self.waiters.remove(&seen.task_id).unwrap_or_default() {
            let _ = waiter.send(seen.payload.clone());
        }
    }

    fn place(&mut self, id: Uuid, full: Full) {
        let placed = Placed {
            at: full.at,
            timestamp_ms: full.timestamp_ms,
        };
        self.placed.insert(id, placed);
        self.placed_order.push_back(id);
        while self.placed_order.len() > self.position_limit {
            let Some(old) = self.placed_order.pop_front() else {
                break;
            };
            if let Some(dropped) = self.placed.remove(&old) {
                self.complete_since = self.complete_since.max(dropped.timestamp_ms + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(id: Uuid, state: TaskState, offset: i64) -> Seen {
        Seen {
            task_id: id,
            state,
            payload: Bytes::from(format!("{id} {state:?}")),
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
    fn evicted_results_keep_their_position_then_move_completeness_on() {
        let mut cache = Cache::with_limits(2, 2);
        cache.complete_from(0);
        let ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
        for (i, id) in ids.iter().enumerate() {
            cache.record(seen(*id, TaskState::Success, i as i64));
        }
        // 3 and 4 in full, 1 and 2 by position, 0 forgotten (logged at 100).
        assert!(matches!(cache.lookup(&ids[4], 50, 0), Known::Result(_)));
        assert!(matches!(cache.lookup(&ids[3], 50, 0), Known::Result(_)));
        assert!(matches!(cache.lookup(&ids[2], 50, 0), Known::At(p) if p == at(2)));
        assert!(matches!(cache.lookup(&ids[1], 50, 0), Known::At(p) if p == at(1)));
        assert!(matches!(
            cache.lookup(&ids[0], 100, 0),
            Known::Unknown { complete: false }
        ));
        assert!(matches!(
            cache.lookup(&Uuid::now_v7(), 101, 0),
            Known::Unknown { complete: true }
        ));
    }

    #[test]
    fn a_waiter_gets_a_fetched_record_only_if_it_is_still_the_latest() {
        let mut cache = Cache::with_limits(1, 10);
        let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
        cache.record(seen(first, TaskState::Success, 0));
        cache.record(seen(second, TaskState::Success, 1));
        let (tx, mut rx) = oneshot::channel();
        assert!(matches!(cache.wait(first, 1, 0, tx), Known::At(p) if p == at(0)));
        assert_eq!(cache.waiting(), 1);
        // A stale read (the position moved on) is not handed over...
        cache.fetched(&seen(first, TaskState::Failure, 7));
        assert!(rx.try_recv().is_err());
        // ...the record at the known position is.
        let latest = seen(first, TaskState::Success, 0);
        cache.fetched(&latest);
        assert_eq!(rx.try_recv().ok(), Some(latest.payload));
        assert_eq!(cache.waiting(), 0);
    }

    #[test]
    fn a_terminal_record_wakes_every_waiter_and_a_tombstone_forgets() {
        let mut cache = Cache::default();
        cache.complete_from(0);
        let id = Uuid::now_v7();
        let (tx1, mut rx1) = oneshot::channel();
        let (tx2, mut rx2) = oneshot::channel();
        cache.wait(id, 10, 0, tx1);
        cache.wait(id, 10, 0, tx2);
        cache.record(seen(id, TaskState::Started, 0));
        assert!(rx1.try_recv().is_err());
        cache.record(seen(id, TaskState::Success, 1));
        assert!(rx1.try_recv().is_ok() && rx2.try_recv().is_ok());
        // A waiter that comes later gets the terminal record at once.
        let (tx3, mut rx3) = oneshot::channel();
        assert!(matches!(cache.wait(id, 10, 0, tx3), Known::Result(_)));
        assert!(rx3.try_recv().is_ok());
        cache.forget(&id);
        assert!(matches!(
            cache.lookup(&id, 10, 0),
            Known::Unknown { complete: true }
        ));
    }
}

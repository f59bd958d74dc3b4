//! The coordinator's state as tables of bytes, the [`StateAccess`] trait the deterministic
//! core reads and writes through, and an in-memory implementation for tests.
//!
//! Tables (RocksDB column families in the store, maps in [`MemoryState`]):
//!
//! | table | key | value |
//! |---|---|---|
//! | `specs` | workflow id (16 bytes) | the `WorkflowSpec` record as it was read from the log |
//! | `steps` | workflow id · step index (u32 BE) | status (1 byte) · filled slots (u32 BE) |
//! | `slots` | workflow id · step index · slot (u32 BE) | a parent's result, until the step is ready |
//! | `results` | task id | the latest `TaskResult` record |
//! | `expiry` | expires at (u64 BE ms) · task id | empty: the sweep's index |
//! | `timers` | partition (u32 BE) · due (u64 BE ms) · task id | the armed `TaskMessage` record |
//! | `timer_ids` | task id | partition (u32 BE) · due (u64 BE) |
//! | `offsets` | topic · `0x00` · partition (u32 BE) | next offset to apply (i64 BE) |
//!
//! Big-endian integers make keys sort numerically, so a partition's next due timer is the
//! first key of its range and a workflow's steps are one contiguous range.

use std::collections::BTreeMap;
use std::ops::Bound;

use uuid::Uuid;

use super::error::{Error, Result};

/// One table of the coordinator's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// Workflow specs by workflow id.
    Specs,
    /// Per-step status and filled-slot count.
    Steps,
    /// Filled input slots of steps not yet ready.
    Slots,
    /// Task results by task id.
    Results,
    /// Result expiry index.
    Expiry,
    /// Timer index by partition and due time.
    Timers,
    /// Where each armed task's timer is.
    TimerIds,
    /// Input offsets applied, per topic partition.
    Offsets,
}

impl Table {
    /// Every table, in a fixed order (the digest's).
    pub const ALL: [Table; 8] = [
        Table::Specs,
        Table::Steps,
        Table::Slots,
        Table::Results,
        Table::Expiry,
        Table::Timers,
        Table::TimerIds,
        Table::Offsets,
    ];

    /// The table's name (its column family).
    pub fn name(self) -> &'static str {
        match self {
            Table::Specs => "specs",
            Table::Steps => "steps",
            Table::Slots => "slots",
            Table::Results => "results",
            Table::Expiry => "expiry",
            Table::Timers => "timers",
            Table::TimerIds => "timer_ids",
            Table::Offsets => "offsets",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Reads and writes of the coordinator's tables. The core never does I/O of its own: it
/// sees the state only through this trait, so a test can drive it with [`MemoryState`] and
/// the runner with a RocksDB write batch whose reads see its own pending writes.
pub trait StateAccess {
    /// The value under `key`, if any.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Sets `key` to `value`.
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]);

    /// Removes `key` (nothing happens when it is absent).
    fn delete(&mut self, table: Table, key: &[u8]);

    /// Up to `limit` entries with `from <= key < to`, in key order.
    fn scan(
        &self,
        table: Table,
        from: &[u8],
        to: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
}

/// The whole state in memory: what tests drive the core with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryState {
    tables: [BTreeMap<Vec<u8>, Vec<u8>>; 8],
}

impl MemoryState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every entry of one table, in key order.
    pub fn entries(&self, table: Table) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.tables[table.index()]
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// How many entries a table holds.
    pub fn len(&self, table: Table) -> usize {
        self.tables[table.index()].len()
    }

    /// True when no table holds anything.
    pub fn is_empty(&self) -> bool {
        self.tables.iter().all(BTreeMap::is_empty)
    }
}

impl StateAccess for MemoryState {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.tables[table.index()].get(key).cloned())
    }

    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) {
        self.tables[table.index()].insert(key.to_vec(), value.to_vec());
    }

    fn delete(&mut self, table: Table, key: &[u8]) {
        self.tables[table.index()].remove(key);
    }

    fn scan(
        &self,
        table: Table,
        from: &[u8],
        to: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if from >= to {
            return Ok(Vec::new());
        }
        let range = (Bound::Included(from), Bound::Excluded(to));
        Ok(self.tables[table.index()]
            .range::<[u8], _>(range)
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

/// Where a workflow step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepStatus {
    /// Waiting for input slots (or, for an error callback, for its step to fail).
    Waiting,
    /// Published to its queue (or parked on the timers topic until its eta).
    Published,
    /// Succeeded (a COLLECT step succeeds without a worker).
    Succeeded,
    /// Failed on its own.
    Failed,
    /// Never ran: a step it depends on failed.
    ParentFailed,
    /// Revoked.
    Revoked,
}

impl StepStatus {
    fn to_byte(self) -> u8 {
        match self {
            StepStatus::Waiting => 0,
            StepStatus::Published => 1,
            StepStatus::Succeeded => 2,
            StepStatus::Failed => 3,
            StepStatus::ParentFailed => 4,
            StepStatus::Revoked => 5,
        }
    }

    fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            0 => StepStatus::Waiting,
            1 => StepStatus::Published,
            2 => StepStatus::Succeeded,
            3 => StepStatus::Failed,
            4 => StepStatus::ParentFailed,
            5 => StepStatus::Revoked,
            _ => return None,
        })
    }

    /// True once the step will not change again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            StepStatus::Succeeded
                | StepStatus::Failed
                | StepStatus::ParentFailed
                | StepStatus::Revoked
        )
    }
}

/// A step's stored state: its status and how many input slots are filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StepRecord {
    pub(crate) status: StepStatus,
    pub(crate) filled: u32,
}

impl Default for StepRecord {
    fn default() -> Self {
        StepRecord {
            status: StepStatus::Waiting,
            filled: 0,
        }
    }
}

impl StepRecord {
    pub(crate) fn encode(self) -> [u8; 5] {
        let mut out = [0; 5];
        out[0] = self.status.to_byte();
        out[1..].copy_from_slice(&self.filled.to_be_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self> {
        let corrupt = || {
            Error::corrupt(
                "steps",
                format!("expected 5 bytes (status, filled), saw {bytes:02x?}"),
            )
        };
        let (&status, filled) = bytes.split_first().ok_or_else(corrupt)?;
        let status = StepStatus::from_byte(status).ok_or_else(corrupt)?;
        let filled = u32::from_be_bytes(filled.try_into().map_err(|_| corrupt())?);
        Ok(StepRecord { status, filled })
    }
}

/// Key builders for every table.
pub(crate) mod keys {
    use uuid::Uuid;

    /// `specs` key.
    pub(crate) fn spec(workflow: &Uuid) -> [u8; 16] {
        *workflow.as_bytes()
    }

    /// `steps` key.
    pub(crate) fn step(workflow: &Uuid, index: u32) -> [u8; 20] {
        let mut key = [0; 20];
        key[..16].copy_from_slice(workflow.as_bytes());
        key[16..].copy_from_slice(&index.to_be_bytes());
        key
    }

    /// `slots` key.
    pub(crate) fn slot(workflow: &Uuid, index: u32, slot: u32) -> [u8; 24] {
        let mut key = [0; 24];
        key[..20].copy_from_slice(&step(workflow, index));
        key[20..].copy_from_slice(&slot.to_be_bytes());
        key
    }

    /// `results` and `timer_ids` key.
    pub(crate) fn task(task: &Uuid) -> [u8; 16] {
        *task.as_bytes()
    }

    /// `expiry` key.
    pub(crate) fn expiry(expires_at: i64, task: &Uuid) -> [u8; 24] {
        let mut key = [0; 24];
        key[..8].copy_from_slice(&(expires_at.max(0) as u64).to_be_bytes());
        key[8..].copy_from_slice(task.as_bytes());
        key
    }

    /// `timers` key.
    pub(crate) fn timer(partition: u32, due: i64, task: &Uuid) -> [u8; 28] {
        let mut key = [0; 28];
        key[..4].copy_from_slice(&partition.to_be_bytes());
        key[4..12].copy_from_slice(&(due.max(0) as u64).to_be_bytes());
        key[12..].copy_from_slice(task.as_bytes());
        key
    }

    /// The first `timers` key of `partition` due at or after `due`.
    pub(crate) fn timer_bound(partition: u32, due: i64) -> [u8; 12] {
        let mut key = [0; 12];
        key[..4].copy_from_slice(&partition.to_be_bytes());
        key[4..].copy_from_slice(&(due.max(0) as u64).to_be_bytes());
        key
    }

    /// `offsets` key.
    pub(crate) fn offset(topic: &str, partition: i32) -> Vec<u8> {
        let mut key = Vec::with_capacity(topic.len() + 5);
        key.extend_from_slice(topic.as_bytes());
        key.push(0);
        key.extend_from_slice(&(partition as u32).to_be_bytes());
        key
    }

    /// The topic and partition of an `offsets` key.
    pub(crate) fn parse_offset(key: &[u8]) -> Option<(String, i32)> {
        let split = key.len().checked_sub(5)?;
        let (topic, rest) = key.split_at(split);
        if rest[0] != 0 {
            return None;
        }
        let partition = u32::from_be_bytes(rest[1..].try_into().ok()?) as i32;
        Some((String::from_utf8(topic.to_vec()).ok()?, partition))
    }
}

/// Reads a 16-byte id at `at`.
pub(crate) fn uuid_at(bytes: &[u8], at: usize) -> Option<Uuid> {
    bytes
        .get(at..at + 16)
        .and_then(|b| Uuid::from_slice(b).ok())
}

/// Reads a big-endian u32 at `at`.
pub(crate) fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
}

/// Reads a big-endian u64 at `at`.
pub(crate) fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
}

/// The applied offset of a topic partition in `state`, if one was recorded.
pub(crate) fn applied_offset<S: StateAccess + ?Sized>(
    state: &S,
    topic: &str,
    partition: i32,
) -> Result<Option<i64>> {
    let value = state.get(Table::Offsets, &keys::offset(topic, partition))?;
    value
        .map(|v| {
            v.as_slice()
                .try_into()
                .map(i64::from_be_bytes)
                .map_err(|_| {
                    Error::corrupt("offsets", format!("expected 8 bytes, saw {}", v.len()))
                })
        })
        .transpose()
}

/// Records that everything below `next` of a topic partition is applied.
pub(crate) fn set_applied_offset<S: StateAccess + ?Sized>(
    state: &mut S,
    topic: &str,
    partition: i32,
    next: i64,
) {
    state.put(
        Table::Offsets,
        &keys::offset(topic, partition),
        &next.to_be_bytes(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_records_round_trip_and_refuse_garbage() {
        let record = StepRecord {
            status: StepStatus::ParentFailed,
            filled: 70_000,
        };
        assert_eq!(StepRecord::decode(&record.encode()).ok(), Some(record));
        assert!(StepRecord::decode(&[9, 0, 0, 0, 0]).is_err());
        assert!(StepRecord::decode(&[1, 0]).is_err());
    }

    #[test]
    fn timer_keys_sort_by_partition_then_due() {
        let id = Uuid::from_u128(7);
        assert!(keys::timer(0, 500, &id) < keys::timer(0, 1000, &id));
        assert!(keys::timer(0, u32::MAX as i64 + 5, &id) < keys::timer(1, 0, &id));
        assert!(keys::timer_bound(0, 1000).as_slice() <= keys::timer(0, 1000, &id).as_slice());
        assert!(keys::timer(0, 999, &id).as_slice() < keys::timer_bound(0, 1000).as_slice());
    }

    #[test]
    fn offset_keys_parse_back() {
        let key = keys::offset("celeriac.events", 3);
        assert_eq!(
            keys::parse_offset(&key),
            Some(("celeriac.events".to_owned(), 3))
        );
    }

    #[test]
    fn memory_scan_is_bounded_and_ordered() {
        let mut state = MemoryState::new();
        for i in 0u8..10 {
            state.put(Table::Timers, &[i], &[i]);
        }
        state.delete(Table::Timers, &[3]);
        let got = state.scan(Table::Timers, &[2], &[7], 3).expect("scan");
        assert_eq!(
            got.iter().map(|(k, _)| k[0]).collect::<Vec<_>>(),
            vec![2, 4, 5]
        );
        assert!(state
            .scan(Table::Timers, &[7], &[2], 3)
            .expect("scan")
            .is_empty());
    }
}

//! The coordinator's RocksDB store: one column family per [`Table`], a write batch whose
//! reads see its own pending writes ([`Batch`]), read views for the API, and a digest.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use celeriac_schemas::{Record as _, StepKind, TaskMessage, TaskResult, WorkflowSpec};
use celeriac_topics::TopicPartition;
use rocksdb::{
    BlockBasedOptions, ColumnFamily, ColumnFamilyDescriptor, Options, ReadOptions, WriteBatch, DB,
};
use uuid::Uuid;

use super::error::{Error, Result};
use super::state::{keys, u32_at, u64_at, StateAccess, StepRecord, StepStatus, Table};

/// The on-disk format this code writes; a store of another format is refused.
const FORMAT: &[u8] = b"celeriac-coordinator-1";
const FORMAT_KEY: &[u8] = b"format";

/// A handle on a coordinator's state store. Cheap to clone; clones share one RocksDB.
///
/// The running coordinator writes it; [`Coordinator::store`](super::Coordinator::store)
/// hands out a shared handle for readers in the same process (the HTTP API), and
/// [`open_read_only`](Self::open_read_only) opens a snapshot from another process.
#[derive(Clone)]
pub struct CoordinatorStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: DB,
    path: PathBuf,
}

impl std::fmt::Debug for CoordinatorStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoordinatorStore")
            .field("path", &self.inner.path)
            .finish()
    }
}

/// The latest recorded state of a task in any state (`None` when unknown or expired).
pub fn task_result<S: StateAccess + ?Sized>(
    state: &S,
    task_id: &Uuid,
) -> Result<Option<TaskResult>> {
    let Some(bytes) = state.get(Table::Results, &keys::task(task_id))? else {
        return Ok(None);
    };
    TaskResult::decode(&bytes)
        .map(Some)
        .map_err(|e| Error::corrupt("results", e.to_string()))
}

/// A workflow as the store knows it: its spec and where each step is.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowView {
    /// The submitted spec.
    pub spec: WorkflowSpec,
    /// Every step, by index.
    pub steps: Vec<StepView>,
}

impl WorkflowView {
    /// Reads a workflow's view from any state (the store, a pending batch, a [`MemoryState`](super::MemoryState)).
    pub fn read<S: StateAccess + ?Sized>(state: &S, id: &Uuid) -> Result<Option<WorkflowView>> {
        let Some(bytes) = state.get(Table::Specs, &keys::spec(id))? else {
            return Ok(None);
        };
        let spec =
            WorkflowSpec::decode(&bytes).map_err(|e| Error::corrupt("specs", e.to_string()))?;
        let from = keys::step(id, 0);
        let to = keys::step(id, spec.steps.len() as u32);
        let mut records = vec![StepRecord::default(); spec.steps.len()];
        for (key, value) in state.scan(Table::Steps, &from, &to, spec.steps.len())? {
            if let Some(at) = u32_at(&key, 16).and_then(|i| records.get_mut(i as usize)) {
                *at = StepRecord::decode(&value)?;
            }
        }
        let mut steps = Vec::with_capacity(spec.steps.len());
        for ((index, step), record) in spec.steps.iter().enumerate().zip(records) {
            let result = match state.get(Table::Results, &keys::task(&step.task_id))? {
                Some(bytes) => Some(
                    TaskResult::decode(&bytes)
                        .map_err(|e| Error::corrupt("results", e.to_string()))?,
                ),
                None => None,
            };
            steps.push(StepView {
                index,
                step_id: step.step_id.clone(),
                task_id: step.task_id,
                task: step.task.clone(),
                kind: step.kind,
                errback: step.errback,
                status: record.status,
                filled_slots: record.filled,
                input_slots: step.input_slots.max(0) as u32,
                result,
            });
        }
        Ok(Some(WorkflowView { spec, steps }))
    }

    /// The step whose result is the workflow's.
    pub fn output(&self) -> Option<&StepView> {
        usize::try_from(self.spec.output)
            .ok()
            .and_then(|i| self.steps.get(i))
    }
}

/// One step of a [`WorkflowView`].
#[derive(Debug, Clone, PartialEq)]
pub struct StepView {
    /// Index in the spec.
    pub index: usize,
    /// The step id (`"0.1.2"`).
    pub step_id: String,
    /// The step's task id.
    pub task_id: Uuid,
    /// The task name (empty for COLLECT).
    pub task: String,
    /// What the step does.
    pub kind: StepKind,
    /// True for an error callback.
    pub errback: bool,
    /// Where the step is.
    pub status: StepStatus,
    /// Input slots filled so far.
    pub filled_slots: u32,
    /// Input slots the step awaits in all.
    pub input_slots: u32,
    /// The step's latest result, if one was recorded (and not yet expired).
    pub result: Option<TaskResult>,
}

/// How much a store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounts {
    /// Workflows.
    pub workflows: u64,
    /// Results.
    pub results: u64,
    /// Armed timers.
    pub timers: u64,
}

fn store_error(path: &Path, error: impl std::fmt::Display) -> Error {
    Error::Store {
        path: path.to_owned(),
        detail: error.to_string(),
    }
}

fn options() -> Options {
    let mut options = Options::default();
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    options.set_max_background_jobs(2);
    options.set_compression_type(rocksdb::DBCompressionType::Lz4);
    options
}

fn descriptors() -> Vec<ColumnFamilyDescriptor> {
    Table::ALL
        .iter()
        .map(|t| {
            let mut cf = Options::default();
            cf.set_compression_type(rocksdb::DBCompressionType::Lz4);
            cf.set_write_buffer_size(16 << 20);
            // Most lookups of a live coordinator and of a replay are for keys not stored yet
            // (a task's first event, a new workflow): bloom filters answer those without
            // reading blocks, in the memtable and in the tables.
            let mut tables = BlockBasedOptions::default();
            tables.set_bloom_filter(10.0, false);
            tables.set_cache_index_and_filter_blocks(true);
            tables.set_pin_l0_filter_and_index_blocks_in_cache(true);
            cf.set_block_based_table_factory(&tables);
            cf.set_memtable_prefix_bloom_ratio(0.1);
            cf.set_memtable_whole_key_filtering(true);
            ColumnFamilyDescriptor::new(t.name(), cf)
        })
        .collect()
}

impl CoordinatorStore {
    /// Opens the store under `dir` for reading and writing, creating it when missing.
    /// RocksDB allows one such handle per directory at a time.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let path = dir.as_ref().to_owned();
        std::fs::create_dir_all(&path).map_err(|e| store_error(&path, e))?;
        let db = DB::open_cf_descriptors(&options(), &path, descriptors())
            .map_err(|e| store_error(&path, e))?;
        match db.get(FORMAT_KEY).map_err(|e| store_error(&path, e))? {
            None => db
                .put(FORMAT_KEY, FORMAT)
                .map_err(|e| store_error(&path, e))?,
            Some(format) if format == FORMAT => {}
            Some(format) => {
                let detail = format!(
                    "format {:?}, expected {:?}",
                    String::from_utf8_lossy(&format),
                    String::from_utf8_lossy(FORMAT)
                );
                return Err(store_error(&path, detail));
            }
        }
        Ok(Self {
            inner: Arc::new(Inner { db, path }),
        })
    }

    /// Opens a read-only snapshot of the store under `dir` (it does not see later writes),
    /// for example from a process other than the coordinator's.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Self> {
        let path = dir.as_ref().to_owned();
        let db = DB::open_cf_descriptors_read_only(&options(), &path, descriptors(), false)
            .map_err(|e| store_error(&path, e))?;
        Ok(Self {
            inner: Arc::new(Inner { db, path }),
        })
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn cf(&self, table: Table) -> Result<&ColumnFamily> {
        self.inner.db.cf_handle(table.name()).ok_or_else(|| {
            store_error(
                &self.inner.path,
                format!("column family {} is missing", table.name()),
            )
        })
    }

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner
            .db
            .get_cf(self.cf(table)?, key)
            .map_err(|e| store_error(&self.inner.path, e))
    }

    /// Entries of a table with `from <= key < to`, at most `limit`.
    fn range(
        &self,
        table: Table,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut read = ReadOptions::default();
        if let Some(to) = to {
            read.set_iterate_upper_bound(to.to_vec());
        }
        let mut it = self.inner.db.raw_iterator_cf_opt(self.cf(table)?, read);
        it.seek(from);
        let mut out = Vec::new();
        while out.len() < limit {
            let (Some(key), Some(value)) = (it.key(), it.value()) else {
                break;
            };
            out.push((key.to_vec(), value.to_vec()));
            it.next();
        }
        it.status().map_err(|e| store_error(&self.inner.path, e))?;
        Ok(out)
    }

    /// The latest recorded state of a task (`None` when unknown or expired).
    pub fn task_result(&self, task_id: &Uuid) -> Result<Option<TaskResult>> {
        task_result(&ReadView(self), task_id)
    }

    /// A workflow's spec and the state of each of its steps.
    pub fn workflow(&self, id: &Uuid) -> Result<Option<WorkflowView>> {
        WorkflowView::read(&ReadView(self), id)
    }

    /// The next offset to apply of one input partition, if any was applied.
    pub fn applied_offset(&self, tp: &TopicPartition) -> Result<Option<i64>> {
        super::state::applied_offset(&ReadView(self), &tp.topic, tp.partition)
    }

    /// Every input partition's next offset to apply.
    pub fn applied_offsets(&self) -> Result<BTreeMap<TopicPartition, i64>> {
        let mut out = BTreeMap::new();
        for (key, value) in self.range(Table::Offsets, &[], None, usize::MAX)? {
            let (topic, partition) =
                keys::parse_offset(&key).ok_or_else(|| Error::corrupt("offsets", "bad key"))?;
            let next = value
                .as_slice()
                .try_into()
                .map(i64::from_be_bytes)
                .map_err(|_| Error::corrupt("offsets", "bad value"))?;
            out.insert(TopicPartition::new(topic, partition), next);
        }
        Ok(out)
    }

    /// When the earliest armed timer of a timers partition is due.
    pub fn next_due(&self, partition: i32) -> Result<Option<i64>> {
        let p = partition as u32;
        let from = keys::timer_bound(p, 0);
        let first = match p.checked_add(1) {
            Some(next) => self.range(Table::Timers, &from, Some(&keys::timer_bound(next, 0)), 1)?,
            None => self.range(Table::Timers, &from, None, 1)?,
        };
        Ok(first
            .first()
            .and_then(|(key, _)| u64_at(key, 4))
            .map(|due| due as i64))
    }

    /// The armed timers (countdowns, ETAs, retries waiting), earliest due first across all
    /// partitions this store holds, at most `limit`. A value that does not decode is
    /// [`Error::Corrupt`](super::Error).
    pub fn timers(&self, limit: usize) -> Result<Vec<TaskMessage>> {
        let mut out = Vec::new();
        for (_, bytes) in self.range(Table::Timers, &[], None, usize::MAX)? {
            let message =
                TaskMessage::decode(&bytes).map_err(|e| Error::corrupt("timers", e.to_string()))?;
            out.push(message);
        }
        out.sort_by_key(|m| (m.eta.unwrap_or(0), m.id));
        out.truncate(limit);
        Ok(out)
    }

    /// How many workflows, results and armed timers the store holds.
    pub fn counts(&self) -> Result<StoreCounts> {
        let count = |table| -> Result<u64> {
            let mut it = self.inner.db.raw_iterator_cf(self.cf(table)?);
            it.seek_to_first();
            let mut n = 0;
            while it.valid() {
                n += 1;
                it.next();
            }
            it.status().map_err(|e| store_error(&self.inner.path, e))?;
            Ok(n)
        };
        Ok(StoreCounts {
            workflows: count(Table::Specs)?,
            results: count(Table::Results)?,
            timers: count(Table::Timers)?,
        })
    }

    /// A stable hash (128-bit FNV-1a, hex) of every table's contents, applied offsets
    /// included: a store rebuilt by replay has the digest of the live store that applied the
    /// same records. Result sweeps are driven by the clock, so compare before results expire.
    pub fn digest(&self) -> Result<String> {
        let mut hash = Fnv128::new();
        for table in Table::ALL {
            hash.field(table.name().as_bytes());
            let mut it = self.inner.db.raw_iterator_cf(self.cf(table)?);
            it.seek_to_first();
            while let (Some(key), Some(value)) = (it.key(), it.value()) {
                hash.field(key);
                hash.field(value);
                it.next();
            }
            it.status().map_err(|e| store_error(&self.inner.path, e))?;
        }
        Ok(format!("{:032x}", hash.0))
    }

    /// A write batch over this store: reads see its pending writes; nothing reaches the
    /// store until [`Batch::write`].
    pub(crate) fn batch(&self) -> Batch {
        Batch {
            store: self.clone(),
            overlay: Default::default(),
        }
    }
}

/// 128-bit FNV-1a over length-prefixed fields.
struct Fnv128(u128);

impl Fnv128 {
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013B;

    fn new() -> Self {
        Fnv128(0x6c62_272e_07bb_0142_62b8_2175_6295_c58d)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u128::from(b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    fn field(&mut self, bytes: &[u8]) {
        self.bytes(&(bytes.len() as u64).to_be_bytes());
        self.bytes(bytes);
    }
}

/// Reads straight from the store (for helpers written against [`StateAccess`]).
struct ReadView<'a>(&'a CoordinatorStore);

impl StateAccess for ReadView<'_> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.0.get(table, key)
    }

    fn put(&mut self, _: Table, _: &[u8], _: &[u8]) {}

    fn delete(&mut self, _: Table, _: &[u8]) {}

    fn scan(
        &self,
        table: Table,
        from: &[u8],
        to: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.0.range(table, from, Some(to), limit)
    }
}

/// Pending writes over a store; reads see them first.
pub(crate) struct Batch {
    store: CoordinatorStore,
    overlay: [BTreeMap<Vec<u8>, Option<Vec<u8>>>; 8],
}

impl Batch {
    /// Writes every pending change in one RocksDB write batch (atomic; WAL, no fsync).
    pub(crate) fn write(self) -> Result<()> {
        let mut batch = WriteBatch::default();
        for table in Table::ALL {
            let cf = self.store.cf(table)?;
            for (key, value) in &self.overlay[table.index()] {
                match value {
                    Some(value) => batch.put_cf(cf, key, value),
                    None => batch.delete_cf(cf, key),
                }
            }
        }
        let inner = &self.store.inner;
        inner
            .db
            .write(batch)
            .map_err(|e| store_error(&inner.path, e))
    }
}

impl StateAccess for Batch {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.overlay[table.index()].get(key) {
            Some(pending) => Ok(pending.clone()),
            None => self.store.get(table, key),
        }
    }

    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) {
        self.overlay[table.index()].insert(key.to_vec(), Some(value.to_vec()));
    }

    fn delete(&mut self, table: Table, key: &[u8]) {
        self.overlay[table.index()].insert(key.to_vec(), None);
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
        let mut pending = self.overlay[table.index()]
            .range::<[u8], _>((Bound::Included(from), Bound::Excluded(to)))
            .peekable();
        let mut read = ReadOptions::default();
        read.set_iterate_upper_bound(to.to_vec());
        let mut it = self
            .store
            .inner
            .db
            .raw_iterator_cf_opt(self.store.cf(table)?, read);
        it.seek(from);
        let mut out = Vec::new();
        while out.len() < limit {
            let stored = it.key().zip(it.value());
            let next = pending.peek().map(|(k, v)| (k.as_slice(), v));
            match (stored, next) {
                (None, None) => break,
                (Some((key, value)), None) => {
                    out.push((key.to_vec(), value.to_vec()));
                    it.next();
                }
                (Some((key, value)), Some((pending_key, _))) if key < pending_key => {
                    out.push((key.to_vec(), value.to_vec()));
                    it.next();
                }
                (stored, Some((pending_key, value))) => {
                    if stored.is_some_and(|(key, _)| key == pending_key) {
                        it.next(); // the pending write shadows the stored one
                    }
                    if let Some(value) = value {
                        out.push((pending_key.to_vec(), value.clone()));
                    }
                    pending.next();
                }
            }
        }
        it.status()
            .map_err(|e| store_error(&self.store.inner.path, e))?;
        Ok(out)
    }
}

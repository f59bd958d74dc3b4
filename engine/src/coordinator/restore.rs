//! Applying a range of one input partition to the store, state only: how a newly owned
//! partition is restored before work resumes, and how `replay` rebuilds a whole store.

use celeriac_topics::{Log, TopicPartition};

use super::core::{Core, Input, Source};
use super::error::{Error, Result};
use super::state::set_applied_offset;
use super::store::CoordinatorStore;

/// Where a range application got to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RangeProgress {
    /// Next offset to apply.
    pub(crate) next: i64,
    /// Where the range ends.
    pub(crate) end: i64,
    /// Records applied so far.
    pub(crate) applied: u64,
}

/// A range of one input partition.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Range<'a> {
    /// Which coordinator topic it is.
    pub(crate) source: Source,
    /// The partition.
    pub(crate) tp: &'a TopicPartition,
    /// The first offset to apply.
    pub(crate) from: i64,
    /// The offset to stop at (exclusive); `None`: the partition's end as of now.
    pub(crate) end: Option<i64>,
}

/// Applies a range of records to the store with actions discarded, writing a batch every
/// `batch_records` records with the applied offset inside. Returns where it ended: the
/// next offset to apply, which is recorded in the store even when nothing was read.
pub(crate) async fn apply_range(
    log: &dyn Log,
    store: &CoordinatorStore,
    core: &mut Core,
    range: Range<'_>,
    batch_records: usize,
    progress: &mut (dyn FnMut(&TopicPartition, RangeProgress) + Send),
) -> Result<RangeProgress> {
    let Range {
        source,
        tp,
        from,
        end,
    } = range;
    let mut reader = log
        .read_partition(tp, from)
        .await
        .map_err(|e| Error::log(format!("reading {tp} from offset {from}"), e))?;
    let end = end
        .map_or(reader.end(), |end| end.min(reader.end()))
        .max(from);
    let mut state = RangeProgress {
        next: from,
        end,
        applied: 0,
    };
    let mut batch = store.batch();
    let mut pending = 0usize;
    'read: while state.next < end {
        let records = reader
            .next_batch()
            .await
            .map_err(|e| Error::log(format!("reading {tp}"), e))?;
        let Some(records) = records else { break };
        for record in records {
            if record.offset >= end {
                break 'read;
            }
            if record.offset < state.next {
                continue;
            }
            core.restore(&mut batch, Input::from_record(source, &record))?;
            state.next = record.offset + 1;
            state.applied += 1;
            pending += 1;
        }
        if pending >= batch_records {
            set_applied_offset(&mut batch, &tp.topic, tp.partition, state.next);
            std::mem::replace(&mut batch, store.batch()).write()?;
            pending = 0;
            progress(tp, state);
        }
    }
    // Everything below `end` is read (offsets of transaction markers hold no record).
    state.next = end;
    set_applied_offset(&mut batch, &tp.topic, tp.partition, state.next);
    batch.write()?;
    progress(tp, state);
    Ok(state)
}

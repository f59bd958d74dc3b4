//! The newest records of each partition, kept in memory.
//!
//! In a busy process most reads are of records that were just written: a worker reads the
//! tasks a producer sent a moment ago, the coordinator the events the worker sent. The tail
//! answers those reads from memory, handing out the written `Bytes` without copying them;
//! older offsets, and everything after a restart until new records arrive, come from
//! RocksDB. Records enter the tail after their write batch is durable and before the
//! partition's high watermark moves past them, so a reader bounded by the watermark never
//! sees a record the store does not hold.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::group::lock;
use crate::record::Record;

/// At most this many records per partition.
const MAX_RECORDS: usize = 2048;
/// At most this many payload and key bytes per partition.
const MAX_BYTES: usize = 512 << 10;

/// One partition's newest records, at contiguous offsets.
#[derive(Debug, Default)]
pub(super) struct Tail {
    state: Mutex<TailState>,
}

#[derive(Debug, Default)]
struct TailState {
    records: VecDeque<Record>,
    bytes: usize,
}

fn size(record: &Record) -> usize {
    record.payload.len() + record.key.as_ref().map_or(0, |k| k.len())
}

impl Tail {
    /// Appends records written at the offsets following the newest one held (the append
    /// lock orders callers); forgets the oldest beyond the bounds.
    pub(super) fn extend(&self, records: impl IntoIterator<Item = Record>) {
        let mut state = lock(&self.state);
        for record in records {
            if let Some(last) = state.records.back() {
                if record.offset != last.offset + 1 {
                    // Not contiguous (cannot happen under the append lock): start afresh.
                    state.records.clear();
                    state.bytes = 0;
                }
            }
            state.bytes += size(&record);
            state.records.push_back(record);
        }
        while state.records.len() > MAX_RECORDS || state.bytes > MAX_BYTES {
            match state.records.pop_front() {
                Some(old) => state.bytes -= size(&old),
                None => break,
            }
        }
    }

    /// Up to `max` records from `from` (inclusive) to `end` (exclusive); `None` when the
    /// tail does not hold `from` (the caller reads the store).
    pub(super) fn read(&self, from: i64, end: i64, max: usize) -> Option<Vec<Record>> {
        let state = lock(&self.state);
        let first = state.records.front()?.offset;
        if from < first {
            return None;
        }
        let skip = usize::try_from(from - first).ok()?;
        let wanted = usize::try_from(end.saturating_sub(from))
            .unwrap_or(0)
            .min(max);
        Some(
            state
                .records
                .iter()
                .skip(skip)
                .take(wanted)
                .cloned()
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn record(offset: i64, bytes: usize) -> Record {
        Record {
            topic: "t".into(),
            partition: 0,
            offset,
            key: None,
            payload: Bytes::from(vec![0; bytes]),
            timestamp_ms: 0,
        }
    }

    fn offsets(records: &[Record]) -> Vec<i64> {
        records.iter().map(|r| r.offset).collect()
    }

    #[test]
    fn serves_what_it_holds_and_defers_the_rest_to_the_store() {
        let tail = Tail::default();
        assert!(tail.read(0, 10, 10).is_none(), "empty: read the store");
        tail.extend((5..10).map(|o| record(o, 1)));
        assert!(
            tail.read(4, 10, 10).is_none(),
            "offset 4 is older than the tail"
        );
        assert_eq!(
            offsets(&tail.read(5, 10, 10).unwrap_or_default()),
            [5, 6, 7, 8, 9]
        );
        assert_eq!(offsets(&tail.read(6, 8, 10).unwrap_or_default()), [6, 7]);
        assert_eq!(offsets(&tail.read(6, 10, 2).unwrap_or_default()), [6, 7]);
        assert_eq!(
            tail.read(10, 12, 10).map(|r| r.len()),
            Some(0),
            "at the end: nothing yet"
        );
    }

    #[test]
    fn forgets_the_oldest_past_its_bounds() {
        let tail = Tail::default();
        tail.extend((0..(MAX_RECORDS as i64 + 10)).map(|o| record(o, 1)));
        assert!(tail.read(9, 20, 1).is_none());
        assert_eq!(offsets(&tail.read(10, 11, 1).unwrap_or_default()), [10]);
        tail.extend([record(MAX_RECORDS as i64 + 10, MAX_BYTES)]);
        assert_eq!(
            offsets(
                &tail
                    .read(MAX_RECORDS as i64 + 10, i64::MAX, 5)
                    .unwrap_or_default()
            ),
            [MAX_RECORDS as i64 + 10],
            "one record past the byte bound leaves only itself"
        );
    }
}

//! The embedded log's on-disk layout in RocksDB.
//!
//! Three column families:
//! - `records`: `topic id (u32 BE) · partition (u32 BE) · offset (u64 BE)` →
//!   `timestamp ms (i64 LE) · key length (u32 LE, u32::MAX for none) · key · payload`.
//!   Big-endian keys make a partition one contiguous, offset-ordered range.
//! - `topics`: topic name → `id (u32 LE) · partitions (u32 LE) · configs as "k=v\n" lines`.
//! - `offsets`: `group \0 topic \0 partition (u32 BE)` → next offset to read (i64 LE).

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, Direction, IteratorMode, Options, ReadOptions,
    WriteBatch, DB,
};

use crate::error::{Error, Result};
use crate::record::{Record, TopicName};

pub(super) const RECORDS: &str = "records";
pub(super) const TOPICS: &str = "topics";
pub(super) const OFFSETS: &str = "offsets";

/// A topic as stored.
#[derive(Debug, Clone)]
pub(super) struct StoredTopic {
    pub(super) id: u32,
    pub(super) partitions: i32,
    pub(super) configs: BTreeMap<String, String>,
}

/// Opens (creating if needed) the store under `path`.
pub(super) fn open_db(path: &Path) -> Result<DB> {
    let mut options = Options::default();
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    options.set_max_background_jobs(2);
    let mut records = Options::default();
    records.set_write_buffer_size(64 << 20);
    records.set_compression_type(rocksdb::DBCompressionType::Lz4);
    let cfs = vec![
        ColumnFamilyDescriptor::new(RECORDS, records),
        ColumnFamilyDescriptor::new(TOPICS, Options::default()),
        ColumnFamilyDescriptor::new(OFFSETS, Options::default()),
    ];
    DB::open_cf_descriptors(&options, path, cfs).map_err(|e| storage(path, e))
}

/// Maps a RocksDB error to ours, naming the store.
pub(super) fn storage(path: &Path, error: impl std::fmt::Display) -> Error {
    Error::Storage {
        path: path.display().to_string(),
        detail: error.to_string(),
    }
}

/// A column family that `open_db` always creates.
pub(super) fn cf<'a>(db: &'a DB, name: &str) -> Result<&'a ColumnFamily> {
    db.cf_handle(name).ok_or_else(|| Error::Storage {
        path: db.path().display().to_string(),
        detail: format!("column family {name} is missing"),
    })
}

/// The key of a record.
pub(super) fn record_key(topic: u32, partition: i32, offset: i64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..4].copy_from_slice(&topic.to_be_bytes());
    key[4..8].copy_from_slice(&(partition as u32).to_be_bytes());
    key[8..].copy_from_slice(&(offset as u64).to_be_bytes());
    key
}

/// The value of a record.
#[cfg(test)]
pub(super) fn encode_record(timestamp_ms: i64, key: Option<&[u8]>, payload: &[u8]) -> Vec<u8> {
    let mut value = Vec::new();
    encode_record_into(&mut value, timestamp_ms, key, payload);
    value
}

/// Appends a stored record (timestamp, key, payload) to `value`.
pub(super) fn encode_record_into(
    value: &mut Vec<u8>,
    timestamp_ms: i64,
    key: Option<&[u8]>,
    payload: &[u8],
) {
    let key_len = key.map_or(0, <[u8]>::len);
    value.reserve(12 + key_len + payload.len());
    value.extend_from_slice(&timestamp_ms.to_le_bytes());
    match key {
        Some(key) => {
            value.extend_from_slice(&(key.len() as u32).to_le_bytes());
            value.extend_from_slice(key);
        }
        None => value.extend_from_slice(&u32::MAX.to_le_bytes()),
    }
    value.extend_from_slice(payload);
}

/// Decodes a stored record; `None` when the bytes are not one we wrote.
pub(super) fn decode_record(
    topic: &TopicName,
    partition: i32,
    offset: i64,
    value: &[u8],
) -> Option<Record> {
    let timestamp_ms = record_timestamp(value)?;
    let key_len = u32::from_le_bytes(value.get(8..12)?.try_into().ok()?);
    let (key, rest) = if key_len == u32::MAX {
        (None, value.get(12..)?)
    } else {
        let end = 12usize.checked_add(key_len as usize)?;
        (
            Some(Bytes::copy_from_slice(value.get(12..end)?)),
            value.get(end..)?,
        )
    };
    Some(Record {
        topic: topic.clone(),
        partition,
        offset,
        key,
        payload: Bytes::copy_from_slice(rest),
        timestamp_ms,
    })
}

/// The timestamp of a stored record without copying it.
pub(super) fn record_timestamp(value: &[u8]) -> Option<i64> {
    Some(i64::from_le_bytes(value.get(..8)?.try_into().ok()?))
}

/// The offset in a record key.
pub(super) fn offset_of_key(key: &[u8]) -> Option<i64> {
    Some(u64::from_be_bytes(key.get(8..16)?.try_into().ok()?) as i64)
}

pub(super) fn encode_topic(topic: &StoredTopic) -> Vec<u8> {
    let mut value = Vec::new();
    value.extend_from_slice(&topic.id.to_le_bytes());
    value.extend_from_slice(&(topic.partitions as u32).to_le_bytes());
    for (k, v) in &topic.configs {
        value.extend_from_slice(format!("{k}={v}\n").as_bytes());
    }
    value
}

pub(super) fn decode_topic(value: &[u8]) -> Option<StoredTopic> {
    let id = u32::from_le_bytes(value.get(..4)?.try_into().ok()?);
    let partitions = u32::from_le_bytes(value.get(4..8)?.try_into().ok()?) as i32;
    let text = std::str::from_utf8(value.get(8..)?).ok()?;
    let configs = text
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Some(StoredTopic {
        id,
        partitions,
        configs,
    })
}

/// The key of a committed offset.
pub(super) fn offset_key(group: &str, topic: &str, partition: i32) -> Vec<u8> {
    let mut key = Vec::with_capacity(group.len() + topic.len() + 6);
    key.extend_from_slice(group.as_bytes());
    key.push(0);
    key.extend_from_slice(topic.as_bytes());
    key.push(0);
    key.extend_from_slice(&(partition as u32).to_be_bytes());
    key
}

/// Loads every topic.
pub(super) fn load_topics(db: &DB) -> Result<Vec<(String, StoredTopic)>> {
    let mut topics = Vec::new();
    for item in db.iterator_cf(cf(db, TOPICS)?, IteratorMode::Start) {
        let (name, value) = item.map_err(|e| storage(db.path(), e))?;
        let name = String::from_utf8_lossy(&name).into_owned();
        let topic = decode_topic(&value)
            .ok_or_else(|| storage(db.path(), format!("topic {name:?} is corrupt")))?;
        topics.push((name, topic));
    }
    Ok(topics)
}

fn bounded(topic: u32, partition: i32) -> ReadOptions {
    let mut options = ReadOptions::default();
    options.set_iterate_lower_bound(record_key(topic, partition, 0).to_vec());
    options.set_iterate_upper_bound(record_key(topic, partition, i64::MAX).to_vec());
    options
}

/// The first and one-past-last offsets stored for a partition, and the last timestamp.
pub(super) fn partition_bounds(db: &DB, topic: u32, partition: i32) -> Result<(i64, i64, i64)> {
    let records = cf(db, RECORDS)?;
    let lower = record_key(topic, partition, 0);
    let upper = record_key(topic, partition, i64::MAX);
    let mut forward = db.iterator_cf_opt(
        records,
        bounded(topic, partition),
        IteratorMode::From(&lower, Direction::Forward),
    );
    let Some(first) = forward
        .next()
        .transpose()
        .map_err(|e| storage(db.path(), e))?
    else {
        return Ok((0, 0, 0));
    };
    let mut reverse = db.iterator_cf_opt(
        records,
        bounded(topic, partition),
        IteratorMode::From(&upper, Direction::Reverse),
    );
    let last = reverse
        .next()
        .transpose()
        .map_err(|e| storage(db.path(), e))?;
    let low = offset_of_key(&first.0).unwrap_or(0);
    let (high, last_ts) = match last {
        Some((key, value)) => (
            offset_of_key(&key).map_or(low, |o| o + 1),
            record_timestamp(&value).unwrap_or(0),
        ),
        None => (low, 0),
    };
    Ok((low, high, last_ts))
}

/// Reads up to `max` records of a partition from `from` (inclusive) to `end` (exclusive).
pub(super) fn read_range(
    db: &DB,
    topic_id: u32,
    topic: &TopicName,
    partition: i32,
    from: i64,
    end: i64,
    max: usize,
) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    if from >= end || max == 0 {
        return Ok(out);
    }
    let lower = record_key(topic_id, partition, from);
    let mut options = ReadOptions::default();
    options.set_iterate_upper_bound(record_key(topic_id, partition, end).to_vec());
    for item in db.iterator_cf_opt(
        cf(db, RECORDS)?,
        options,
        IteratorMode::From(&lower, Direction::Forward),
    ) {
        let (key, value) = item.map_err(|e| storage(db.path(), e))?;
        let record =
            offset_of_key(&key).and_then(|offset| decode_record(topic, partition, offset, &value));
        out.push(record.ok_or_else(|| {
            storage(
                db.path(),
                format!("a record of {topic}[{partition}] is corrupt"),
            )
        })?);
        if out.len() >= max {
            break;
        }
    }
    Ok(out)
}

/// The timestamp of the record at `offset`, if stored.
pub(super) fn timestamp_at(
    db: &DB,
    topic: u32,
    partition: i32,
    offset: i64,
) -> Result<Option<i64>> {
    let value = db
        .get_pinned_cf(cf(db, RECORDS)?, record_key(topic, partition, offset))
        .map_err(|e| storage(db.path(), e))?;
    Ok(value.and_then(|v| record_timestamp(&v)))
}

/// Adds the deletion of every record of a topic to `batch`.
pub(super) fn delete_topic_records(db: &DB, batch: &mut WriteBatch, topic: u32) -> Result<()> {
    let from = record_key(topic, 0, 0);
    let to = record_key(topic + 1, 0, 0);
    batch.delete_range_cf(cf(db, RECORDS)?, from, to);
    Ok(())
}

/// Deletes every group's committed offsets in `topic` (as Kafka does when a topic is
/// deleted: a topic created again under the name is read from the start).
pub(super) fn delete_topic_offsets(db: &DB, batch: &mut WriteBatch, topic: &str) -> Result<()> {
    let offsets = cf(db, OFFSETS)?;
    for item in db.iterator_cf(offsets, IteratorMode::Start) {
        let (key, _) = item.map_err(|e| storage(db.path(), e))?;
        if offset_key_topic(&key) == Some(topic.as_bytes()) {
            batch.delete_cf(offsets, &key);
        }
    }
    Ok(())
}

/// The topic part of an offset key.
fn offset_key_topic(key: &[u8]) -> Option<&[u8]> {
    let after_group = key.iter().position(|b| *b == 0)? + 1;
    let rest = key.get(after_group..)?;
    let end = rest.len().checked_sub(5)?; // `\0` and the partition's four bytes
    (rest.get(end) == Some(&0)).then(|| &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_keys_name_their_topic() {
        for partition in [0, 1, 256, i32::MAX] {
            let key = offset_key("group", "topic.x", partition);
            assert_eq!(offset_key_topic(&key), Some(&b"topic.x"[..]));
        }
        assert_eq!(offset_key_topic(b"no separator"), None);
        assert_eq!(offset_key_topic(b"g\0t"), None);
    }

    #[test]
    fn records_round_trip_with_and_without_key() {
        let value = encode_record(42, Some(b"k"), b"payload");
        let record = decode_record(&"t".into(), 3, 7, &value).expect("decodes");
        assert_eq!(record.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(&record.payload[..], b"payload");
        assert_eq!(
            (record.timestamp_ms, record.offset, record.partition),
            (42, 7, 3)
        );
        let keyless =
            decode_record(&"t".into(), 0, 0, &encode_record(1, None, b"")).expect("decodes");
        assert_eq!(keyless.key, None);
        assert!(keyless.payload.is_empty());
    }

    #[test]
    fn corrupt_values_are_refused_not_panicked_on() {
        assert!(decode_record(&"t".into(), 0, 0, b"short").is_none());
        let mut value = encode_record(1, Some(b"key"), b"x");
        value[8] = 0xfe; // a key length far past the end
        assert!(decode_record(&"t".into(), 0, 0, &value).is_none());
    }

    #[test]
    fn record_keys_sort_by_partition_then_offset() {
        assert!(record_key(1, 0, 255) < record_key(1, 0, 256));
        assert!(record_key(1, 0, i64::MAX - 1) < record_key(1, 1, 0));
        assert!(record_key(1, 9, 0) < record_key(2, 0, 0));
    }
}

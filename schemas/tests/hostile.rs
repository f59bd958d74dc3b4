//! Hostile input: random and mutated bytes never panic the decoder and always give a typed
//! error (or, by chance, a valid record); crafted attacks get the error that names them.
//! Allocation bounds are measured in `tests/allocation.rs`.

#[macro_use]
mod common;

use celeriac_schemas::*;
use common::{apache_encode_version, Sample};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde::Deserialize;

/// Appends an Avro `long`.
fn long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z > 0x7f {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn header<T: Record>() -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&T::current().fingerprint().to_le_bytes());
    out
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(prop::sample::Index),
    SetByte(prop::sample::Index, u8),
    InsertLong(prop::sample::Index, i64),
    Delete(prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let huge = prop_oneof![
        Just(i64::MAX),
        Just(i64::MIN),
        Just(i64::MAX - 1),
        Just(-1i64),
        Just(1i64 << 40),
        any::<i64>()
    ];
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        (any::<prop::sample::Index>(), huge).prop_map(|(i, n)| Mutation::InsertLong(i, n)),
        any::<prop::sample::Index>().prop_map(Mutation::Delete),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    match m {
        Mutation::Truncate(i) => bytes.truncate(i.index(bytes.len())),
        Mutation::SetByte(i, b) => {
            let i = i.index(bytes.len());
            bytes[i] = *b;
        }
        Mutation::InsertLong(i, n) => {
            let i = i.index(bytes.len());
            let mut encoded = Vec::new();
            long(&mut encoded, *n);
            bytes.splice(i..i, encoded);
        }
        Mutation::Delete(i) => {
            bytes.remove(i.index(bytes.len()));
        }
    }
}

/// Decoding never panics; a truncated record is always an error.
fn mutate_and_decode<T: Sample>(encode: fn(&T) -> Vec<u8>) {
    let mut runner = TestRunner::new(Config {
        cases: 512,
        ..Config::default()
    });
    let strategy = (T::strategy(), prop::collection::vec(mutation(), 1..4));
    let result = runner.run(&strategy, |(record, mutations)| {
        let mut bytes = encode(&record);
        let original_len = bytes.len();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        let decoded = T::decode(&bytes);
        if bytes.len() < original_len && bytes[..] == encode(&record)[..bytes.len()] {
            prop_assert!(decoded.is_err(), "a truncated record decoded: {decoded:?}");
        }
        if let Err(e) = decoded {
            prop_assert!(!e.to_string().is_empty());
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{}: {e}", T::NAME);
    }
}

#[test]
fn mutated_records_never_panic() {
    for_each_record!(T => { mutate_and_decode::<T>(|r| r.encode().expect("encodes")); });
}

#[test]
fn mutated_old_version_records_never_panic_the_resolving_path() {
    mutate_and_decode::<TaskMessage>(|r| apache_encode_version(r, &TaskMessage::versions()[0]));
}

#[test]
fn random_bytes_never_panic() {
    let mut runner = TestRunner::new(Config {
        cases: 1024,
        ..Config::default()
    });
    let result = runner.run(
        &(prop::collection::vec(any::<u8>(), 0..600), 0..3usize),
        |(tail, prefix)| {
            for_each_record!(T => {
                let mut bytes = match prefix {
                    0 => Vec::new(),
                    1 => header::<T>(),
                    _ => {
                        let mut h = MAGIC.to_vec();
                        h.extend_from_slice(&T::versions()[0].fingerprint().to_le_bytes());
                        h
                    }
                };
                bytes.extend_from_slice(&tail);
                let _ = T::decode(&bytes);
            });
            Ok(())
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

fn minimal_task() -> Vec<u8> {
    TaskMessage::cases()[0].1.encode().expect("encodes")
}

/// Byte offset of `parent_id`'s union index in the minimal TaskMessage vector.
const PARENT_ID: usize = 116;

#[test]
fn a_string_length_near_i64_max_is_a_truncation() {
    for n in [i64::MAX, i64::MAX - 1, 1 << 62, u32::MAX as i64] {
        let mut bytes = header::<TaskMessage>();
        long(&mut bytes, n);
        bytes.extend_from_slice(b"0192");
        match TaskMessage::decode(&bytes) {
            Err(Error::Truncated { expected, seen, .. }) => {
                assert_eq!(expected, n as u64);
                assert_eq!(seen, 4);
            }
            other => panic!("length {n}: {other:?}"),
        }
    }
    let mut bytes = header::<TaskMessage>();
    long(&mut bytes, -3);
    assert!(matches!(
        TaskMessage::decode(&bytes),
        Err(Error::Malformed { .. })
    ));
}

#[test]
fn a_bad_union_index_is_malformed() {
    let mut bytes = minimal_task();
    assert_eq!(bytes[PARENT_ID], 0, "parent_id is null in the sample");
    for bad in [4u8, 1, 0x7e] {
        bytes[PARENT_ID] = bad;
        let err = TaskMessage::decode(&bytes).expect_err("bad union index");
        let msg = err.to_string();
        assert!(
            matches!(err, Error::Malformed { offset, .. } if offset == PARENT_ID),
            "{msg}"
        );
        assert!(msg.contains("union branch 0 (null) or 1"), "{msg}");
    }
}

#[test]
fn bad_utf8_is_malformed() {
    let mut bytes = minimal_task();
    bytes[48] = 0xff; // first byte of the task name
    let msg = TaskMessage::decode(&bytes)
        .expect_err("bad UTF-8")
        .to_string();
    assert!(msg.contains("expected a UTF-8 string"), "{msg}");
}

#[test]
fn a_bad_enum_symbol_is_malformed() {
    let mut bytes = ControlReply::cases()[0].1.encode().expect("encodes");
    let mut cmd = header::<ControlCommand>();
    cmd.extend_from_slice(&bytes[HEADER_LEN..HEADER_LEN + 37]); // the id
    long(&mut cmd, 6); // ControlKind has 6 symbols
    let msg = ControlCommand::decode(&cmd)
        .expect_err("bad symbol")
        .to_string();
    assert!(msg.contains("below 6") && msg.contains("index 6"), "{msg}");
    bytes.truncate(HEADER_LEN);
    assert!(matches!(
        ControlReply::decode(&bytes),
        Err(Error::Truncated { .. })
    ));
}

#[test]
fn huge_and_overflowing_array_counts_are_refused() {
    for count in [i64::MAX, i64::MIN, -(1 << 40), 1 << 40] {
        let mut cmd = header::<ControlCommand>();
        let reply = ControlReply::cases()[0].1.encode().expect("encodes");
        cmd.extend_from_slice(&reply[HEADER_LEN..HEADER_LEN + 37]);
        long(&mut cmd, 0); // REVOKE
        long(&mut cmd, count); // task_ids block
        long(&mut cmd, 10); // block size, when the count is negative
        let err = ControlCommand::decode(&cmd).expect_err("huge count");
        assert!(
            matches!(err, Error::Malformed { .. } | Error::Truncated { .. }),
            "{count}: {err}"
        );
    }
}

#[test]
fn the_record_size_cap_is_checked_first() {
    let big = vec![0u8; DEFAULT_MAX_RECORD_BYTES + 1];
    match TaskMessage::decode(&big) {
        Err(Error::OverSize { max, seen, .. }) => {
            assert_eq!((max, seen), (DEFAULT_MAX_RECORD_BYTES, big.len()))
        }
        other => panic!("{other:?}"),
    }
    let small = Codec::new(Limits::default().with_max_record_bytes(64));
    let task = TaskMessage::cases()[1].1.clone();
    assert!(matches!(small.encode(&task), Err(Error::OverSize { .. })));
    assert!(matches!(
        small.decode::<TaskMessage>(&task.encode().expect("encodes")),
        Err(Error::OverSize { .. })
    ));
}

#[test]
fn a_header_of_another_record_names_it() {
    let reply = ControlReply::cases()[0].1.encode().expect("encodes");
    let msg = TaskMessage::decode(&reply)
        .expect_err("wrong record")
        .to_string();
    assert!(
        msg.contains("which is celeriac.v1.ControlReply v1"),
        "{msg}"
    );
    let mut unknown = reply.clone();
    unknown[2..10].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    let msg = ControlReply::decode(&unknown)
        .expect_err("unknown")
        .to_string();
    assert!(msg.contains("which no released schema has"), "{msg}");
}

#[test]
fn trailing_bytes_are_malformed() {
    for mut bytes in [
        minimal_task(),
        apache_encode_version(&TaskMessage::cases()[0].1, &TaskMessage::versions()[0]),
    ] {
        bytes.push(0);
        let msg = TaskMessage::decode(&bytes)
            .expect_err("trailing")
            .to_string();
        assert!(msg.contains("1 trailing byte(s)"), "{msg}");
    }
}

/// A recursive payload type: nesting is bounded by `Limits::max_depth`, not by the stack.
#[derive(Debug, Deserialize, serde::Serialize)]
struct Tree(Vec<Tree>);

#[test]
fn deep_nesting_is_refused_before_the_stack_runs_out() {
    // Each level: an array block of one item, the nested value; never closed.
    let deep = vec![0x02u8; 100_000];
    let err = ContentType::Avro
        .decode::<Tree>(&deep)
        .expect_err("too deep");
    assert!(err.to_string().contains("nesting at most 64 deep"), "{err}");
    let mut json = "[".repeat(100_000);
    json.push_str(&"]".repeat(100_000));
    assert!(ContentType::Json
        .decode::<serde_json::Value>(json.as_bytes())
        .is_err());
    let mut msgpack = vec![0x91u8; 100_000]; // fixarray of one, nested
    msgpack.push(0x90);
    assert!(ContentType::MsgPack.decode::<Tree>(&msgpack).is_err());
    // A reasonable tree is fine.
    let ok = ContentType::Avro
        .encode(&Tree(vec![Tree(vec![]), Tree(vec![Tree(vec![])])]))
        .expect("encodes");
    ContentType::Avro.decode::<Tree>(&ok).expect("decodes");
}

#[test]
fn nested_empty_arrays_are_bounded_by_the_item_cap() {
    // array<array<bytes>>: a block claiming 2^40 inner arrays, each an empty array (one 0 byte).
    let mut bytes = Vec::new();
    long(&mut bytes, 1 << 40);
    bytes.extend(std::iter::repeat_n(0u8, 1000));
    let err = ContentType::Avro
        .decode::<Vec<Vec<Vec<u8>>>>(&bytes)
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("at most 1048576 array or map items"),
        "{err}"
    );
    // Within the cap, the input simply ends.
    let mut bytes = Vec::new();
    long(&mut bytes, 5000);
    bytes.extend(std::iter::repeat_n(0u8, 1000));
    let err = ContentType::Avro
        .decode::<Vec<Vec<Vec<u8>>>>(&bytes)
        .expect_err("truncated");
    assert!(err.to_string().contains("truncated"), "{err}");
}

//! Golden vectors: the exact bytes of fixed records, for every released version of every record,
//! kept in `schemas/testdata/` as `<Record>.v<N>.<case>.bin` with the record as JSON beside it.
//!
//! Today's version's vectors are what this codec writes; an older version's were written by
//! apache-avro with that version's schema when it was released, and are never rewritten: today's
//! reader must decode them. `CELERIAC_BLESS=1 cargo test -p celeriac-schemas --test golden`
//! writes missing vectors and rewrites today's.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use celeriac_schemas::*;
use common::{apache_encode_version, testdata, Sample};

fn blessing() -> bool {
    std::env::var_os("CELERIAC_BLESS").is_some_and(|v| v == "1")
}

/// Every vector's file stem, e.g. `TaskMessage.v1.full`, with its expected record and version.
fn vectors<T: Sample>() -> Vec<(String, u32, T)> {
    let mut out = Vec::new();
    for version in T::versions() {
        for (case, record) in T::cases() {
            let stem = format!("{}.v{}.{case}", T::SHORT, version.version());
            out.push((
                stem,
                version.version(),
                record.written_by_version(version.version()),
            ));
        }
    }
    out
}

/// The bytes a writer of `version` produces for `record`.
fn written_by<T: Sample>(record: &T, version: u32) -> Vec<u8> {
    if version == T::current().version() {
        record.encode().expect("encodes")
    } else {
        apache_encode_version(record, &T::versions()[version as usize - 1])
    }
}

fn check_vectors<T: Sample>(dir: &Path, stems: &mut BTreeSet<String>) {
    for (stem, version, expected) in vectors::<T>() {
        let bin = dir.join(format!("{stem}.bin"));
        let json = dir.join(format!("{stem}.json"));
        let is_current = version == T::current().version();
        if blessing() && (is_current || !bin.exists()) {
            fs::write(&bin, written_by(&expected, version)).expect("write vector");
            let text = serde_json::to_string_pretty(&expected).expect("json");
            fs::write(&json, text + "\n").expect("write vector json");
        }
        let bytes = fs::read(&bin).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run CELERIAC_BLESS=1 cargo test -p celeriac-schemas --test golden",
                bin.display()
            )
        });
        if is_current {
            assert_eq!(
                bytes,
                expected.encode().expect("encodes"),
                "{stem}: the codec no longer writes the golden bytes"
            );
        }
        assert_eq!(
            fingerprint(&bytes).expect("header"),
            T::versions()[version as usize - 1].fingerprint(),
            "{stem}: header fingerprint"
        );
        let decoded = T::decode(&bytes).unwrap_or_else(|e| panic!("{stem}: {e}"));
        assert_eq!(decoded, expected, "{stem}: today's reader");
        let json_text = fs::read_to_string(&json).expect("vector json");
        let from_json: T = serde_json::from_str(&json_text).expect("vector json parses");
        assert_eq!(from_json, expected, "{stem}.json");
        stems.insert(stem);
    }
}

#[test]
fn golden_vectors_are_written_exactly_and_every_release_decodes_with_todays_reader() {
    let dir = testdata();
    fs::create_dir_all(&dir).expect("testdata dir");
    let mut stems = BTreeSet::new();
    for_each_record!(T => { check_vectors::<T>(&dir, &mut stems); });

    // No stray vectors: every file belongs to a known record, version and case.
    for entry in fs::read_dir(&dir).expect("testdata") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if let Some(stem) = name
            .strip_suffix(".bin")
            .or_else(|| name.strip_suffix(".json"))
        {
            assert!(
                stems.contains(stem),
                "testdata/{name} is not a known vector"
            );
        }
    }
}

#[test]
fn a_task_message_golden_vector_reads_as_documented() {
    // The layout by hand, so a reader in another language can check its own decoder: header,
    // then fields in schema order.
    let bytes = fs::read(testdata().join("TaskMessage.v2.minimal.bin")).expect("vector");
    assert_eq!(bytes[..2], [0xC3, 0x01]);
    assert_eq!(
        bytes[2..10],
        TaskMessage::current().fingerprint().to_le_bytes()
    );
    assert_eq!(bytes[10], 72); // id: a 36-character string, zig-zag length 72
    assert_eq!(&bytes[11..47], b"01920000-0000-7000-8000-000000000001");
    assert_eq!(bytes[47], 16); // task: 8 characters
    assert_eq!(&bytes[48..56], b"proj.add");
    assert_eq!(bytes[56], 10); // args: 5 bytes
    assert_eq!(&bytes[57..62], b"[2,3]");
}

//! Schema evolution, both directions, on the one record with two releases: `TaskMessage` v2
//! added `args_repr` (`["null", "string"]`, default null).
//!
//! - old writer → new reader: v1 bytes decode with today's types, `args_repr` at its default;
//! - new writer → old reader: today's bytes decode with the v1 schema (a consumer that has not
//!   upgraded), which skips the new field.

#[macro_use]
mod common;

use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::types::Value;
use celeriac_schemas::*;
use common::{apache_encode_version, apache_value, Sample};
use proptest::test_runner::{Config, TestCaseError, TestRunner};

fn v1() -> &'static SchemaVersion {
    &TaskMessage::versions()[0]
}

fn v2() -> &'static SchemaVersion {
    &TaskMessage::versions()[1]
}

#[test]
fn v2_adds_one_defaulted_field_and_both_directions_are_compatible() {
    assert_eq!(TaskMessage::current().version(), 2);
    SchemaCompatibility::can_read(v1().schema(), v2().schema()).expect("old writer, new reader");
    SchemaCompatibility::can_read(v2().schema(), v1().schema()).expect("new writer, old reader");
    let json: serde_json::Value = serde_json::from_str(v2().json()).expect("json");
    let added = &json["fields"]
        .as_array()
        .expect("fields")
        .last()
        .expect("a field")["name"];
    assert_eq!(added, "args_repr");
    assert_ne!(v1().fingerprint(), v2().fingerprint());
}

/// Decodes today's bytes the way a consumer still on v1 would: apache-avro, writer v2, reader v1.
fn read_as_v1(bytes: &[u8]) -> Value {
    assert_eq!(fingerprint(bytes).expect("header"), v2().fingerprint());
    let mut body = &bytes[HEADER_LEN..];
    let value = apache_avro::from_avro_datum(v2().schema(), &mut body, Some(v1().schema()))
        .expect("a v1 reader decodes v2 bytes");
    assert!(body.is_empty());
    value
}

fn both_directions(record: &TaskMessage) -> Result<(), TestCaseError> {
    // Old writer → new reader.
    let old = apache_encode_version(record, v1());
    let decoded = TaskMessage::decode(&old).map_err(|e| TestCaseError::fail(e.to_string()))?;
    proptest::prop_assert_eq!(decoded, record.clone().written_by_version(1));

    // New writer → old reader.
    let new = record
        .encode()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let seen_by_v1 = read_as_v1(&new);
    let Value::Record(fields) = &seen_by_v1 else {
        return Err(TestCaseError::fail("not a record"));
    };
    proptest::prop_assert!(fields.iter().all(|(name, _)| name != "args_repr"));
    let expected = apache_value(&record.clone().written_by_version(1), v1().schema())
        .map_err(TestCaseError::fail)?;
    let Value::Record(expected_fields) = expected else {
        return Err(TestCaseError::fail("not a record"));
    };
    proptest::prop_assert_eq!(fields.len(), expected_fields.len());
    for ((name, got), (_, want)) in fields.iter().zip(&expected_fields) {
        proptest::prop_assert_eq!(got, want, "field {}", name);
    }
    Ok(())
}

#[test]
fn every_task_message_goes_both_ways() {
    for (case, record) in TaskMessage::cases() {
        both_directions(&record).unwrap_or_else(|e| panic!("{case}: {e}"));
    }
    let mut runner = TestRunner::new(Config {
        cases: 256,
        ..Config::default()
    });
    if let Err(e) = runner.run(&TaskMessage::strategy(), |record| both_directions(&record)) {
        panic!("{e}");
    }
}

#[test]
fn every_release_of_every_record_decodes_with_todays_reader() {
    for_each_record!(T => {
        for version in T::versions() {
            for (case, record) in T::cases() {
                let bytes = apache_encode_version(&record, version);
                let decoded = T::decode(&bytes).unwrap_or_else(|e| panic!("{} v{} {case}: {e}", T::NAME, version.version()));
                assert_eq!(decoded, record.written_by_version(version.version()), "{} v{} {case}", T::NAME, version.version());
            }
        }
    });
}

#[test]
fn a_v1_body_that_does_not_resolve_says_so() {
    // Valid bytes for v1's layout can still carry a value today's reader refuses, for example an
    // id that is not a UUID: the error names both versions.
    let mut record = TaskMessage::cases()[0].1.clone();
    record.args_repr = None;
    let mut bytes = apache_encode_version(&record, v1());
    let id_text = HEADER_LEN + 1;
    bytes[id_text] = b'z';
    let err = TaskMessage::decode(&bytes).expect_err("not a uuid");
    assert!(
        matches!(
            err,
            Error::Malformed { version: 1, .. }
                | Error::Resolution {
                    writer_version: 1,
                    ..
                }
        ),
        "{err}"
    );
}

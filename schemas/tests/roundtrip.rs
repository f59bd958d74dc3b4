//! Property tests: every record round-trips through the codec, and the fast codec's bytes are
//! apache-avro's bytes (the authority) for every record type.

#[macro_use]
mod common;

use apache_avro::types::Value;
use celeriac_schemas::*;
use common::{apache_decode, apache_encode, apache_value, Sample};
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// True when `value` holds a map of two or more entries: apache-avro writes map entries in
/// its `HashMap`'s order, so for those only the decoded values can be compared.
fn has_multi_entry_map(value: &Value) -> bool {
    match value {
        Value::Map(m) => m.len() > 1 || m.values().any(has_multi_entry_map),
        Value::Record(fields) => fields.iter().any(|(_, v)| has_multi_entry_map(v)),
        Value::Array(items) => items.iter().any(has_multi_entry_map),
        Value::Union(_, v) => has_multi_entry_map(v),
        _ => false,
    }
}

fn check<T: Sample>(record: &T) -> Result<(), TestCaseError> {
    let ours = record
        .encode()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back = T::decode(&ours).map_err(|e| TestCaseError::fail(format!("{e}\n{record:?}")))?;
    proptest::prop_assert_eq!(&back, record);

    // encode_into appends the same bytes after whatever the buffer holds.
    let mut batch = b"prefix".to_vec();
    record
        .encode_into(&mut batch)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    proptest::prop_assert_eq!(&batch[6..], &ours[..]);

    // apache-avro agrees, both ways.
    let theirs = apache_encode(record);
    proptest::prop_assert_eq!(&apache_decode::<T>(&ours), record);
    let from_theirs = T::decode(&theirs).map_err(|e| TestCaseError::fail(e.to_string()))?;
    proptest::prop_assert_eq!(&from_theirs, record);
    let value = apache_value(record, T::current().schema()).map_err(TestCaseError::fail)?;
    if !has_multi_entry_map(&value) {
        // Bodies are identical; headers differ only by apache-avro's fingerprint (AVRO-4004),
        // checked in the test below.
        proptest::prop_assert_eq!(
            &ours[HEADER_LEN..],
            &theirs[HEADER_LEN..],
            "bytes differ from apache-avro's for {:?}",
            record
        );
    } else {
        proptest::prop_assert_eq!(ours.len(), theirs.len());
    }
    Ok(())
}

fn run<T: Sample>() {
    let mut runner = TestRunner::new(Config {
        cases: 256,
        ..Config::default()
    });
    if let Err(e) = runner.run(&T::strategy(), |record| check(&record)) {
        panic!("{}: {e}", T::NAME);
    }
    for (case, record) in T::cases() {
        if let Err(e) = check(&record) {
            panic!("{} {case}: {e}", T::NAME);
        }
    }
}

#[test]
fn task_message() {
    run::<TaskMessage>();
}

#[test]
fn workflow_spec() {
    run::<WorkflowSpec>();
}

#[test]
fn task_event() {
    run::<TaskEvent>();
}

#[test]
fn task_result() {
    run::<TaskResult>();
}

#[test]
fn control_command() {
    run::<ControlCommand>();
}

#[test]
fn control_reply() {
    run::<ControlReply>();
}

#[test]
fn worker_heartbeat() {
    run::<WorkerHeartbeat>();
}

#[test]
fn dead_letter() {
    run::<DeadLetter>();
}

#[test]
fn beat_fire() {
    run::<BeatFire>();
}

#[test]
fn the_header_carries_the_spec_fingerprint_and_apache_avros_alias_is_read() {
    for_each_record!(T => {
        for (_, record) in T::cases() {
            let ours = record.encode().expect("encodes");
            let theirs = apache_encode(&record);
            assert_eq!(ours[..2], theirs[..2], "{}", T::NAME);
            assert_eq!(fingerprint(&ours).expect("header"), T::current().fingerprint());
            let alias = fingerprint(&theirs).expect("header");
            assert!(T::current().has_fingerprint(alias));
            assert_eq!(T::decode(&theirs).expect("alias decodes"), record);
        }
    });
}

/// `TaskResult::head` reads the same task id and state a whole decode does.
#[test]
fn task_result_head() {
    let mut runner = TestRunner::new(Config {
        cases: 256,
        ..Config::default()
    });
    let check = |result: TaskResult| {
        let bytes = result
            .encode()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let head = TaskResult::head(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        proptest::prop_assert_eq!((head.task_id, head.state), (result.task_id, result.state));
        // A cut inside the head is an error, never a panic.
        let cut = &bytes[..bytes.len().min(HEADER_LEN + 20)];
        proptest::prop_assert!(TaskResult::head(cut).is_err());
        Ok(())
    };
    if let Err(e) = runner.run(&TaskResult::strategy(), check) {
        panic!("{e}");
    }
}

//! Shared by the integration tests: fixed sample records, proptest strategies for every record
//! type, and apache-avro's generic encoder and decoder as the reference.
#![allow(dead_code)]

mod samples;
mod samples_more;

pub(crate) use samples::Sample;

use std::path::PathBuf;

use apache_avro::types::Value;
use apache_avro::Schema;
use celeriac_schemas::{Record, HEADER_LEN};

/// `schemas/testdata/`.
pub(crate) fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// `schemas/avro/`.
pub(crate) fn avro_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("avro")
}

/// Runs `$body` once for every record type, with `$t` bound to it.
#[macro_export]
macro_rules! for_each_record {
    ($t:ident => $body:block) => {{
        {
            type $t = celeriac_schemas::TaskMessage;
            $body
        }
        {
            type $t = celeriac_schemas::WorkflowSpec;
            $body
        }
        {
            type $t = celeriac_schemas::TaskEvent;
            $body
        }
        {
            type $t = celeriac_schemas::TaskResult;
            $body
        }
        {
            type $t = celeriac_schemas::ControlCommand;
            $body
        }
        {
            type $t = celeriac_schemas::ControlReply;
            $body
        }
        {
            type $t = celeriac_schemas::WorkerHeartbeat;
            $body
        }
        {
            type $t = celeriac_schemas::DeadLetter;
            $body
        }
        {
            type $t = celeriac_schemas::BeatFire;
            $body
        }
    }};
}

/// apache-avro's generic path: the value as `schema` holds it, or why it cannot.
pub(crate) fn apache_value<R: Record>(record: &R, schema: &Schema) -> Result<Value, String> {
    // Our types carry `Uuid`s, which serde writes as text only in human-readable mode.
    apache_avro::util::set_serde_human_readable(true);
    let value = apache_avro::to_value(record).map_err(|e| e.to_string())?;
    value.resolve(schema).map_err(|e| e.to_string())
}

/// apache-avro's single-object encoding of `record` under `schema`.
pub(crate) fn apache_encode_with<R: Record>(record: &R, schema: &Schema) -> Vec<u8> {
    let value = apache_value(record, schema).expect("apache-avro accepts the record");
    let mut writer = apache_avro::GenericSingleObjectWriter::new_with_capacity(schema, 1024)
        .expect("a single-object writer");
    let mut out = Vec::new();
    writer
        .write_value(value, &mut out)
        .expect("apache-avro encodes the record");
    out
}

/// A single-object encoding of `record` under an older released `version`: the spec's header
/// and apache-avro's body.
pub(crate) fn apache_encode_version<R: Record>(
    record: &R,
    version: &celeriac_schemas::SchemaVersion,
) -> Vec<u8> {
    let value = apache_value(record, version.schema()).expect("apache-avro accepts the record");
    let mut out = celeriac_schemas::MAGIC.to_vec();
    out.extend_from_slice(&version.fingerprint().to_le_bytes());
    out.extend(apache_avro::to_avro_datum(version.schema(), value).expect("apache-avro encodes"));
    out
}

/// apache-avro's single-object encoding of `record` under today's schema.
pub(crate) fn apache_encode<R: Record>(record: &R) -> Vec<u8> {
    apache_encode_with(record, R::current().schema())
}

/// apache-avro's generic decode of a body written with today's schema.
pub(crate) fn apache_decode<R: Record>(bytes: &[u8]) -> R {
    let mut body = &bytes[HEADER_LEN..];
    let value = apache_avro::from_avro_datum(R::current().schema(), &mut body, None)
        .expect("apache-avro decodes the body");
    assert!(body.is_empty(), "apache-avro left {} bytes", body.len());
    apache_avro::from_value(&value).expect("apache-avro maps the value to the Rust type")
}

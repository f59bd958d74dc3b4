//! Every released schema version, embedded from `schemas/avro/history/`, looked up by name or
//! by fingerprint. The last version of each record is today's reader and writer schema.

use std::sync::OnceLock;

use apache_avro::rabin::Rabin;
use apache_avro::Schema;

use crate::limits::DEFAULT_MAX_RECORD_BYTES;

/// One released version of one record's schema.
#[derive(Debug)]
pub struct SchemaVersion {
    name: &'static str,
    version: u32,
    json: &'static str,
    schema: Schema,
    fingerprint: u64,
}

impl SchemaVersion {
    /// The record's full name, for example `celeriac.v1.TaskMessage`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The release number, from 1.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The `.avsc` text as released.
    pub fn json(&self) -> &'static str {
        self.json
    }

    /// The parsed schema (apache-avro, the authority for resolution and compatibility).
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The CRC-64-AVRO fingerprint of the schema's Parsing Canonical Form.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
}

macro_rules! history {
    ($($name:literal => [$($version:literal),+]),+ $(,)?) => {
        &[$(($name, &[$(($version, include_str!(concat!("../avro/history/", $name, ".v", $version, ".avsc")))),+])),+]
    };
}

/// Each record's short name and its released versions, oldest first.
type Released = &'static [(&'static str, &'static [(u32, &'static str)])];

const RELEASED: Released = history! {
    "TaskMessage" => [1, 2],
    "WorkflowSpec" => [1],
    "TaskEvent" => [1],
    "TaskResult" => [1],
    "ControlCommand" => [1],
    "ControlReply" => [1],
    "WorkerHeartbeat" => [1],
    "DeadLetter" => [1],
};

const NAMESPACE: &str = "celeriac.v1";

struct Registry {
    /// One entry per record: its full name and its versions, oldest first.
    families: Vec<(&'static str, Vec<SchemaVersion>)>,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        configure_apache_avro();
        let families = RELEASED
            .iter()
            .map(|(short, versions)| {
                let name = full_name(short);
                let versions = versions
                    .iter()
                    .map(|&(version, json)| {
                        // The files are compiled in and parsed by the test suite: this cannot fail
                        // on any input a caller passes.
                        let schema = Schema::parse_str(json).unwrap_or_else(|e| {
                            panic!("embedded schema {name} v{version} is invalid: {e}")
                        });
                        let fingerprint = fingerprint_of(&schema);
                        SchemaVersion {
                            name,
                            version,
                            json,
                            schema,
                            fingerprint,
                        }
                    })
                    .collect();
                (name, versions)
            })
            .collect();
        Registry { families }
    })
}

fn full_name(short: &str) -> &'static str {
    // Leaked once per record type, at first use.
    Box::leak(format!("{NAMESPACE}.{short}").into_boxed_str())
}

/// The CRC-64-AVRO fingerprint of a schema, as the single-object header carries it.
pub(crate) fn fingerprint_of(schema: &Schema) -> u64 {
    let bytes = schema.fingerprint::<Rabin>().bytes;
    let mut le = [0; 8];
    le.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(le)
}

/// apache-avro's process-wide decode cap. It is set once, before the first decode; our own
/// guard (see `resolve`) checks every length against the input first, so it is a second line.
/// apache-avro 0.21 has no recursion limit to set: the guard enforces `Limits::max_depth`.
fn configure_apache_avro() {
    apache_avro::util::max_allocation_bytes(DEFAULT_MAX_RECORD_BYTES);
}

/// The released versions of the record called `name` (full name), oldest first.
pub(crate) fn versions(name: &str) -> &'static [SchemaVersion] {
    registry()
        .families
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_slice())
        .unwrap_or_else(|| panic!("{name} has no released schema: add it to RELEASED"))
}

/// Finds the released schema version with this fingerprint, whatever record it belongs to.
pub fn lookup(fingerprint: u64) -> Option<&'static SchemaVersion> {
    released().find(|v| v.fingerprint == fingerprint)
}

/// Every released schema version of every record.
pub fn released() -> impl Iterator<Item = &'static SchemaVersion> {
    registry().families.iter().flat_map(|(_, v)| v.iter())
}

//! Every released schema version, embedded from `schemas/avro/history/`, looked up by name or
//! by fingerprint. The last version of each record is today's reader and writer schema.

use std::sync::OnceLock;

use apache_avro::rabin::Rabin;
use apache_avro::Schema;

use crate::canonical;

use crate::limits::DEFAULT_MAX_RECORD_BYTES;

/// One released version of one record's schema.
#[derive(Debug)]
pub struct SchemaVersion {
    name: &'static str,
    version: u32,
    json: &'static str,
    schema: Schema,
    canonical_form: String,
    fingerprint: u64,
    apache_fingerprint: u64,
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

    /// The schema's Parsing Canonical Form, as the Avro specification defines it.
    pub fn canonical_form(&self) -> &str {
        &self.canonical_form
    }

    /// The CRC-64-AVRO fingerprint of the Parsing Canonical Form: what the single-object header
    /// carries (little-endian) and what Java's `SchemaNormalization.parsingFingerprint64` and
    /// fastavro compute.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// True when a header's fingerprint names this version: the spec's fingerprint, or the one
    /// apache-avro 0.21 computes for schemas with logical types (AVRO-4004), which Rust
    /// producers using apache-avro's single-object writer put in their headers. We read
    /// both and write only the spec's.
    pub fn has_fingerprint(&self, fingerprint: u64) -> bool {
        fingerprint == self.fingerprint || fingerprint == self.apache_fingerprint
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
    "WorkerHeartbeat" => [1, 2, 3],
    "DeadLetter" => [1],
    "BeatFire" => [1],
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
                        let parsed: serde_json::Value =
                            serde_json::from_str(json).unwrap_or_else(|e| {
                                panic!("embedded schema {name} v{version} is not JSON: {e}")
                            });
                        let canonical_form = canonical::canonical_form(&parsed);
                        SchemaVersion {
                            name,
                            version,
                            json,
                            fingerprint: canonical::crc64_avro(canonical_form.as_bytes()),
                            apache_fingerprint: apache_fingerprint(&schema),
                            canonical_form,
                            schema,
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

/// apache-avro's fingerprint of a schema (see [`SchemaVersion::has_fingerprint`]).
fn apache_fingerprint(schema: &Schema) -> u64 {
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
    released().find(|v| v.has_fingerprint(fingerprint))
}

/// Every released schema version of every record.
pub fn released() -> impl Iterator<Item = &'static SchemaVersion> {
    registry().families.iter().flat_map(|(_, v)| v.iter())
}

//! The `.avsc` files as a contract: documented, namespaced, typed ids and times, every release
//! kept, every pair of releases compatible both ways, and Rust types that follow the files.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::fs;

use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::types::Value;
use apache_avro::Schema;
use celeriac_schemas::{lookup, released, Record, SchemaVersion};
use common::{avro_dir, Sample};
use serde_json::Value as Json;

fn read_json(path: &std::path::Path) -> Json {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `.avsc` under `avro/` and `avro/history/`.
fn all_files() -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for dir in [avro_dir(), avro_dir().join("history")] {
        for entry in fs::read_dir(&dir).expect("avro dir") {
            let path = entry.expect("dir entry").path();
            if path.extension().is_some_and(|e| e == "avsc") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Calls `f` on every named record schema inside `schema` (JSON form), with its path.
fn each_record(schema: &Json, path: &str, f: &mut dyn FnMut(&serde_json::Map<String, Json>, &str)) {
    match schema {
        Json::Object(o) => {
            if o.get("type") == Some(&Json::from("record")) {
                f(o, path);
            }
            for (k, v) in o {
                each_record(v, &format!("{path}.{k}"), f);
            }
        }
        Json::Array(items) => items.iter().for_each(|v| each_record(v, path, f)),
        _ => {}
    }
}

#[test]
fn every_record_and_field_has_a_doc_and_the_namespace_is_celeriac_v1() {
    for path in all_files() {
        let schema = read_json(&path);
        assert_eq!(schema["namespace"], "celeriac.v1", "{}", path.display());
        each_record(&schema, &path.display().to_string(), &mut |record, at| {
            assert!(
                record.get("doc").is_some_and(Json::is_string),
                "{at}: record without doc"
            );
            for field in record["fields"].as_array().expect("fields") {
                let doc = field.get("doc").and_then(Json::as_str).unwrap_or("");
                assert!(!doc.is_empty(), "{at}: field {} has no doc", field["name"]);
            }
        });
    }
}

/// The logical type of a field's type, looking through `["null", T]`.
fn logical_type(ty: &Json) -> Option<&str> {
    match ty {
        Json::Array(branches) => branches.iter().find_map(logical_type),
        Json::Object(o) if o.get("type") == Some(&Json::from("array")) => logical_type(&o["items"]),
        Json::Object(o) => o.get("logicalType").and_then(Json::as_str),
        _ => None,
    }
}

#[test]
fn ids_are_uuids_and_times_are_timestamp_millis() {
    // `step_id` is a canvas position ("0.1.2"), not an id.
    let not_ids = ["step_id"];
    let times = [
        "eta",
        "expires",
        "timestamp",
        "date_done",
        "next_eta",
        "published_at",
        "created_at",
    ];
    for path in all_files() {
        each_record(
            &read_json(&path),
            &path.display().to_string(),
            &mut |record, at| {
                for field in record["fields"].as_array().expect("fields") {
                    let name = field["name"].as_str().expect("name");
                    let logical = logical_type(&field["type"]);
                    if (name == "id" || name.ends_with("_id") || name.ends_with("_ids"))
                        && !not_ids.contains(&name)
                    {
                        assert_eq!(logical, Some("uuid"), "{at}: {name}");
                    }
                    if times.contains(&name) || name.ends_with("_at") {
                        assert_eq!(logical, Some("timestamp-millis"), "{at}: {name}");
                    }
                }
            },
        );
    }
}

#[test]
fn each_current_file_is_its_latest_release_and_every_release_is_registered() {
    let mut registered = BTreeSet::new();
    for_each_record!(T => {
        let short = T::NAME.trim_start_matches("celeriac.v1.");
        let current = read_json(&avro_dir().join(format!("{short}.avsc")));
        let latest = T::current();
        assert_eq!(current, serde_json::from_str::<Json>(latest.json()).expect("json"), "{short}.avsc differs from its latest release: release it as v{}", latest.version() + 1);
        for (i, v) in T::versions().iter().enumerate() {
            assert_eq!(v.version() as usize, i + 1, "{short}: versions are 1, 2, ...");
            assert_eq!(v.name(), T::NAME);
            registered.insert(format!("{short}.v{}.avsc", v.version()));
        }
    });
    let on_disk: BTreeSet<String> = fs::read_dir(avro_dir().join("history"))
        .expect("history dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        on_disk, registered,
        "every file in avro/history/ is a registered release"
    );
    assert_eq!(released().count(), registered.len());
}

#[test]
fn fingerprints_are_unique_and_found_by_lookup() {
    let mut seen = BTreeSet::new();
    for v in released() {
        assert!(
            seen.insert(v.fingerprint()),
            "{} v{} shares a fingerprint",
            v.name(),
            v.version()
        );
        let found = lookup(v.fingerprint()).expect("lookup finds it");
        assert_eq!((found.name(), found.version()), (v.name(), v.version()));
        // apache-avro's own canonical form is the spec's wherever no logical type is involved
        // (AVRO-4004 otherwise); its fingerprint is read as an alias.
        let reparsed = Schema::parse_str(v.json()).expect("parses");
        if !v.json().contains("logicalType") {
            assert_eq!(v.canonical_form(), reparsed.canonical_form());
        }
        let apache = reparsed.fingerprint::<apache_avro::rabin::Rabin>().bytes;
        let apache = u64::from_le_bytes(apache[..8].try_into().expect("8 bytes"));
        assert!(v.has_fingerprint(apache));
        assert_eq!(
            lookup(apache).map(SchemaVersion::version),
            Some(v.version())
        );
    }
    assert!(lookup(0).is_none());
}

#[test]
fn fingerprints_are_the_ones_other_implementations_compute() {
    // fastavro 1.13: fingerprint(to_parsing_canonical_form(parse_schema(ControlReply.avsc)),
    // "CRC-64-AVRO") == "43256923b72aa8dc" (the little-endian bytes). The cross-language test
    // checks every schema the same way.
    let reply = celeriac_schemas::ControlReply::current();
    assert_eq!(
        reply.fingerprint().to_le_bytes(),
        [0x43, 0x25, 0x69, 0x23, 0xb7, 0x2a, 0xa8, 0xdc]
    );
    assert_eq!(
        reply.canonical_form(),
        r#"{"name":"celeriac.v1.ControlReply","type":"record","fields":[{"name":"command_id","type":"string"},{"name":"hostname","type":"string"},{"name":"body","type":"string"},{"name":"timestamp","type":"long"}]}"#
    );
}

/// The CI check: apache-avro's compatibility check on every pair of releases of a record, both
/// ways (old writer, new reader and new writer, old reader).
#[test]
fn every_pair_of_releases_is_compatible_both_ways() {
    let mut pairs = 0;
    for_each_record!(T => {
        let versions: &[SchemaVersion] = T::versions();
        for writer in versions {
            for reader in versions {
                if let Err(e) = SchemaCompatibility::can_read(writer.schema(), reader.schema()) {
                    panic!("{} v{} (writer) → v{} (reader) is incompatible: {e}", T::NAME, writer.version(), reader.version());
                }
                pairs += 1;
            }
        }
    });
    assert!(pairs >= 10, "checked {pairs} pairs");
}

/// Field names of the Rust type, in declaration order, as apache-avro's serde sees them.
fn rust_field_names(value: &Value) -> Vec<String> {
    match value {
        Value::Record(fields) => fields.iter().map(|(name, _)| name.clone()).collect(),
        other => panic!("not a record: {other:?}"),
    }
}

#[test]
fn rust_types_have_the_schema_fields_in_order() {
    for_each_record!(T => {
        let (_, sample) = &T::cases()[0];
        common::apache_value(sample, T::current().schema()).expect("apache-avro accepts the type");
        apache_avro::util::set_serde_human_readable(true);
        let raw = apache_avro::to_value(sample).expect("to_value");
        let Schema::Record(record) = T::current().schema() else { panic!("{} is a record", T::NAME) };
        let schema_names: Vec<String> = record.fields.iter().map(|f| f.name.clone()).collect();
        assert_eq!(rust_field_names(&raw), schema_names, "{}", T::NAME);
    });
}

#[test]
fn a_type_that_drifts_from_its_schema_is_caught() {
    // The check above relies on apache-avro refusing values that do not fit: prove it does.
    #[derive(serde::Serialize)]
    struct Wrong {
        command_id: String,
        hostname: i32,
    }
    let schema = celeriac_schemas::ControlReply::current().schema();
    apache_avro::util::set_serde_human_readable(true);
    let value = apache_avro::to_value(Wrong {
        command_id: "x".into(),
        hostname: 1,
    })
    .expect("to_value");
    assert!(value.resolve(schema).is_err());
}

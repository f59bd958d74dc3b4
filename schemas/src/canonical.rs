//! The Parsing Canonical Form of a schema and its CRC-64-AVRO fingerprint, exactly as the Avro
//! specification defines them (and as Java's `SchemaNormalization` and Python's fastavro compute
//! them).
//!
//! apache-avro 0.21 strips a `logicalType` but then leaves `{"type":"string"}` where the spec
//! (rule [PRIMITIVE]) wants `"string"` (AVRO-4004), so its fingerprint of any schema with a
//! logical type differs from every other implementation's. Our schemas use `uuid` and
//! `timestamp-millis` throughout, so the header must be computed here.

use std::collections::HashSet;

use serde_json::Value as Json;

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// The Parsing Canonical Form of the schema given as JSON.
pub(crate) fn canonical_form(schema: &Json) -> String {
    let mut out = String::new();
    write(schema, None, &mut HashSet::new(), &mut out);
    out
}

/// CRC-64-AVRO (the Rabin fingerprint the spec defines) of `bytes`.
pub(crate) fn crc64_avro(bytes: &[u8]) -> u64 {
    const EMPTY: u64 = 0xc15d_213a_a4d7_a795;
    static TABLE: std::sync::OnceLock<[u64; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table = [0u64; 256];
        for (i, entry) in table.iter_mut().enumerate() {
            let mut fp = i as u64;
            for _ in 0..8 {
                fp = (fp >> 1) ^ (EMPTY & (fp & 1).wrapping_neg());
            }
            *entry = fp;
        }
        table
    });
    bytes.iter().fold(EMPTY, |fp, &b| {
        (fp >> 8) ^ table[((fp ^ u64::from(b)) & 0xff) as usize]
    })
}

fn quoted(s: &str, out: &mut String) {
    out.push_str(&Json::from(s).to_string());
}

/// A name made full with the enclosing namespace ([FULLNAMES]).
fn full_name(name: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if !name.contains('.') && !ns.is_empty() => format!("{ns}.{name}"),
        _ => name.to_owned(),
    }
}

/// The namespace part of a full name.
fn namespace_of(full: &str) -> Option<&str> {
    full.rfind('.').map(|i| &full[..i])
}

fn write(schema: &Json, ns: Option<&str>, defined: &mut HashSet<String>, out: &mut String) {
    match schema {
        Json::String(name) if PRIMITIVES.contains(&name.as_str()) => quoted(name, out),
        Json::String(name) => quoted(&full_name(name, ns), out),
        Json::Array(branches) => {
            out.push('[');
            for (i, branch) in branches.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(branch, ns, defined, out);
            }
            out.push(']');
        }
        Json::Object(o) => match o.get("type") {
            // [PRIMITIVE], also for a primitive annotated with a logical type.
            Some(Json::String(t)) if PRIMITIVES.contains(&t.as_str()) => quoted(t, out),
            Some(Json::String(t))
                if matches!(t.as_str(), "record" | "error" | "enum" | "fixed") =>
            {
                let name = o.get("name").and_then(Json::as_str).unwrap_or_default();
                let own_ns = o.get("namespace").and_then(Json::as_str).or(ns);
                let full = full_name(name, own_ns);
                if !defined.insert(full.clone()) {
                    return quoted(&full, out);
                }
                out.push_str("{\"name\":");
                quoted(&full, out);
                out.push_str(",\"type\":");
                quoted(t, out);
                match t.as_str() {
                    "enum" => {
                        out.push_str(",\"symbols\":");
                        out.push_str(&o.get("symbols").cloned().unwrap_or(Json::Null).to_string());
                    }
                    "fixed" => {
                        let size = o.get("size").and_then(Json::as_u64).unwrap_or(0);
                        out.push_str(&format!(",\"size\":{size}"));
                    }
                    _ => {
                        out.push_str(",\"fields\":[");
                        let fields = o
                            .get("fields")
                            .and_then(Json::as_array)
                            .map(Vec::as_slice)
                            .unwrap_or(&[]);
                        for (i, field) in fields.iter().enumerate() {
                            if i > 0 {
                                out.push(',');
                            }
                            out.push_str("{\"name\":");
                            quoted(
                                field.get("name").and_then(Json::as_str).unwrap_or_default(),
                                out,
                            );
                            out.push_str(",\"type\":");
                            write(&field["type"], namespace_of(&full), defined, out);
                            out.push('}');
                        }
                        out.push(']');
                    }
                }
                out.push('}');
            }
            Some(Json::String(t)) if t == "array" => {
                out.push_str("{\"type\":\"array\",\"items\":");
                write(&o["items"], ns, defined, out);
                out.push('}');
            }
            Some(Json::String(t)) if t == "map" => {
                out.push_str("{\"type\":\"map\",\"values\":");
                write(&o["values"], ns, defined, out);
                out.push('}');
            }
            Some(other) => write(other, ns, defined, out),
            None => out.push_str("null"),
        },
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_types_reduce_to_their_primitive() {
        let schema: Json = serde_json::from_str(
            r#"{"type":"record","name":"R","namespace":"a.b","doc":"x","fields":[
                {"name":"id","type":{"type":"string","logicalType":"uuid"},"doc":"d"},
                {"name":"at","type":["null",{"type":"long","logicalType":"timestamp-millis"}],"default":null},
                {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
                {"name":"e2","type":"E"},
                {"name":"m","type":{"type":"map","values":{"type":"array","items":"int"}}}]}"#,
        )
        .expect("json");
        assert_eq!(
            canonical_form(&schema),
            r#"{"name":"a.b.R","type":"record","fields":[{"name":"id","type":"string"},{"name":"at","type":["null","long"]},{"name":"e","type":{"name":"a.b.E","type":"enum","symbols":["A","B"]}},{"name":"e2","type":"a.b.E"},{"name":"m","type":{"type":"map","values":{"type":"array","items":"int"}}}]}"#
        );
    }

    #[test]
    fn crc64_avro_matches_the_spec_examples() {
        // Fingerprints from the Avro specification's test suite (lang/java/.../schema-tests.txt).
        assert_eq!(crc64_avro(br#""null""#), 0x63dd_24e7_cc25_8f8a);
        assert_eq!(crc64_avro(br#""int""#), 0x7275_d51a_3f39_5c8f);
    }
}

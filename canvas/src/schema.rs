//! JSON Schemas of task arguments, traced from their Rust types: what the HTTP API's
//! OpenAPI document says each task accepts.
//!
//! A type's `Deserialize` implementation is run against a tracer (serde-reflection) that
//! records what it asks for; that format becomes a JSON Schema (2020-12, as OpenAPI 3.1
//! uses) of exactly the JSON `serde_json` would accept for it. A type the tracer cannot
//! follow (`serde_json::Value`, `deserialize_any`, recursion deeper than a few levels) has no
//! schema: `None`.

use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};
use serde_reflection::{
    ContainerFormat, Format, FormatHolder, Named, Registry, Tracer, TracerConfig, VariantFormat,
};

/// How deep a schema nests before the type is taken to be recursive.
const MAX_DEPTH: usize = 12;

/// The JSON Schema of the JSON form of `T`, when it can be traced.
pub fn schema_of<T: DeserializeOwned>() -> Option<Value> {
    let mut tracer = Tracer::new(TracerConfig::default());
    let (mut format, _) = tracer.trace_simple_type::<T>().ok()?;
    format.normalize().ok()?;
    let registry = tracer.registry().ok()?;
    to_schema(&format, &registry, 0)
}

fn integer(min: i128, max: i128) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": max})
}

fn to_schema(format: &Format, registry: &Registry, depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    let next = |f: &Format| to_schema(f, registry, depth + 1);
    Some(match format {
        Format::Variable(_) => return None,
        Format::TypeName(name) => container(registry.get(name)?, registry, depth + 1)?,
        Format::Unit => json!({"type": "null"}),
        Format::Bool => json!({"type": "boolean"}),
        Format::I8 => integer(i8::MIN.into(), i8::MAX.into()),
        Format::I16 => integer(i16::MIN.into(), i16::MAX.into()),
        Format::I32 => integer(i32::MIN.into(), i32::MAX.into()),
        // serde_json reads 64 bits at most, wider types included.
        Format::I64 | Format::I128 => integer(i64::MIN.into(), i64::MAX.into()),
        Format::U8 => integer(0, u8::MAX.into()),
        Format::U16 => integer(0, u16::MAX.into()),
        Format::U32 => integer(0, u32::MAX.into()),
        Format::U64 | Format::U128 => integer(0, u64::MAX.into()),
        Format::F32 => json!({"type": "number", "minimum": f32::MIN, "maximum": f32::MAX}),
        Format::F64 => json!({"type": "number"}),
        Format::Char => json!({"type": "string", "minLength": 1, "maxLength": 1}),
        Format::Str => json!({"type": "string"}),
        Format::Bytes => json!({"type": "array", "items": integer(0, 255)}),
        Format::Option(inner) => json!({"anyOf": [{"type": "null"}, next(inner)?]}),
        Format::Seq(inner) => json!({"type": "array", "items": next(inner)?}),
        Format::Map { key, value } => {
            if **key != Format::Str {
                return None;
            }
            json!({"type": "object", "additionalProperties": next(value)?})
        }
        Format::Tuple(items) => tuple(items, registry, depth)?,
        Format::TupleArray { content, size } => {
            json!({"type": "array", "items": next(content)?, "minItems": size, "maxItems": size})
        }
    })
}

fn tuple(items: &[Format], registry: &Registry, depth: usize) -> Option<Value> {
    let items = items
        .iter()
        .map(|f| to_schema(f, registry, depth + 1))
        .collect::<Option<Vec<_>>>()?;
    let n = items.len();
    Some(
        json!({"type": "array", "prefixItems": items, "items": false, "minItems": n, "maxItems": n}),
    )
}

fn fields(fields: &[Named<Format>], registry: &Registry, depth: usize) -> Option<Value> {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in fields {
        properties.insert(
            field.name.clone(),
            to_schema(&field.value, registry, depth + 1)?,
        );
        // serde fills a missing Option field with None.
        if !matches!(field.value, Format::Option(_)) {
            required.push(field.name.clone());
        }
    }
    Some(json!({"type": "object", "properties": properties, "required": required}))
}

fn container(format: &ContainerFormat, registry: &Registry, depth: usize) -> Option<Value> {
    match format {
        ContainerFormat::UnitStruct => Some(json!({"type": "null"})),
        ContainerFormat::NewTypeStruct(inner) => to_schema(inner, registry, depth),
        ContainerFormat::TupleStruct(items) => tuple(items, registry, depth),
        ContainerFormat::Struct(named) => fields(named, registry, depth),
        ContainerFormat::Enum(variants) => {
            let mut alternatives = Vec::new();
            for variant in variants.values() {
                let body = match &variant.value {
                    VariantFormat::Variable(_) => return None,
                    VariantFormat::Unit => {
                        alternatives.push(json!({"const": variant.name}));
                        continue;
                    }
                    VariantFormat::NewType(inner) => to_schema(inner, registry, depth + 1)?,
                    VariantFormat::Tuple(items) => tuple(items, registry, depth)?,
                    VariantFormat::Struct(named) => fields(named, registry, depth)?,
                };
                alternatives.push(json!({
                    "type": "object", "properties": {variant.name.clone(): body},
                    "required": [variant.name], "additionalProperties": false,
                }));
            }
            Some(json!({"oneOf": alternatives}))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_sequences_and_structs_trace_to_what_serde_json_accepts() {
        assert_eq!(
            schema_of::<u8>(),
            Some(json!({"type": "integer", "minimum": 0, "maximum": 255}))
        );
        assert_eq!(
            schema_of::<Vec<String>>(),
            Some(json!({"type": "array", "items": {"type": "string"}}))
        );
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Order {
            id: u32,
            note: Option<String>,
        }
        let order = schema_of::<Order>().expect("traced");
        assert_eq!(order["required"], json!(["id"]));
        assert_eq!(
            order["properties"]["note"]["anyOf"][0],
            json!({"type": "null"})
        );
        assert_eq!(schema_of::<Value>(), None, "any JSON has no traced schema");
    }
}

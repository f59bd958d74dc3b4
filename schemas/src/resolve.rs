//! The slow, authoritative path for bodies written with another released schema version:
//! apache-avro decodes with the writer's schema and resolves to today's.
//!
//! apache-avro trusts lengths read from the input up to a process-wide cap and has no
//! recursion limit, so a guard walks the body against the writer schema first: every length
//! must fit the bytes that remain, every union and enum index must exist, strings must be
//! UTF-8, nesting and item counts stay within [`Limits`]. Only bytes that pass reach apache-avro.

use apache_avro::schema::{Name, NamesRef, Namespace, ResolvedSchema};
use apache_avro::Schema;
use serde::de::DeserializeOwned;

use crate::binary::{Cursor, Fault};
use crate::{Error, Limits, Result, SchemaVersion};

/// Decodes `body`, written with `writer`, as today's `reader` version of the record.
pub(crate) fn decode<R: DeserializeOwned>(
    writer: &SchemaVersion,
    reader: &SchemaVersion,
    body: &[u8],
    limits: &Limits,
    base: usize,
) -> Result<R> {
    let record = writer.name();
    let malformed = |f: Fault| f.into_record_error(record, writer.version(), base);
    check(writer.schema(), body, limits).map_err(malformed)?;

    let mut rest = body;
    let value = apache_avro::from_avro_datum(writer.schema(), &mut rest, None).map_err(|e| {
        malformed(Fault::malformed(
            0,
            "a body apache-avro can decode",
            e.to_string(),
        ))
    })?;
    let resolution = |reason: String| Error::Resolution {
        record,
        writer_version: writer.version(),
        reader_version: reader.version(),
        reason,
    };
    let value = value
        .resolve(reader.schema())
        .map_err(|e| resolution(e.to_string()))?;
    apache_avro::from_value(&value).map_err(|e| resolution(e.to_string()))
}

/// Checks that `body` is exactly one well-formed value of `schema`, within `limits`.
pub(crate) fn check(schema: &Schema, body: &[u8], limits: &Limits) -> Result<(), Fault> {
    let resolved = ResolvedSchema::try_from(schema)
        .map_err(|e| Fault::malformed(0, "a schema whose names resolve", e.to_string()))?;
    let mut walk = Walk {
        cur: Cursor::new(body),
        names: resolved.get_names(),
        items_left: limits.max_items as u64,
        limits,
    };
    walk.value(schema, &schema.namespace(), 0)?;
    match walk.cur.remaining() {
        0 => Ok(()),
        n => Err(Fault::malformed(
            walk.cur.pos(),
            "the end of the value",
            format!("{n} trailing byte(s)"),
        )),
    }
}

struct Walk<'a, 's> {
    cur: Cursor<'a>,
    names: &'a NamesRef<'s>,
    items_left: u64,
    limits: &'a Limits,
}

impl Walk<'_, '_> {
    fn value(&mut self, schema: &Schema, ns: &Namespace, depth: usize) -> Result<(), Fault> {
        if depth > self.limits.max_depth {
            return Err(Fault::malformed(
                self.cur.pos(),
                format!("nesting at most {} deep", self.limits.max_depth),
                "deeper nesting",
            ));
        }
        let at = self.cur.pos();
        match schema {
            Schema::Null => {}
            Schema::Boolean => {
                self.cur.boolean()?;
            }
            Schema::Int | Schema::Date | Schema::TimeMillis => {
                self.cur.int()?;
            }
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => {
                self.cur.long()?;
            }
            Schema::Float => {
                self.cur.take(4, "a float")?;
            }
            Schema::Double => {
                self.cur.take(8, "a double")?;
            }
            Schema::Bytes | Schema::BigDecimal => {
                self.cur.bytes()?;
            }
            Schema::String => {
                self.cur.str()?;
            }
            Schema::Uuid => {
                let bytes = self.cur.bytes()?;
                let ok = bytes.len() == 16
                    || std::str::from_utf8(bytes).is_ok_and(|s| uuid::Uuid::parse_str(s).is_ok());
                if !ok {
                    return Err(Fault::malformed(
                        at,
                        "a UUID string",
                        format!("{} bytes that are not one", bytes.len()),
                    ));
                }
            }
            Schema::Fixed(fixed) => {
                self.cur.take(fixed.size, "a fixed")?;
            }
            Schema::Duration => {
                self.cur.take(12, "a duration")?;
            }
            Schema::Decimal(decimal) => self.value(&decimal.inner, ns, depth + 1)?,
            Schema::Enum(e) => {
                let index = self.cur.int()?;
                if usize::try_from(index).map_or(true, |i| i >= e.symbols.len()) {
                    return Err(Fault::malformed(
                        at,
                        format!(
                            "a symbol of enum {} (index below {})",
                            e.name,
                            e.symbols.len()
                        ),
                        format!("index {index}"),
                    ));
                }
            }
            Schema::Union(union) => {
                let variants = union.variants();
                let index = self.cur.long()?;
                let branch = usize::try_from(index).ok().and_then(|i| variants.get(i));
                let Some(branch) = branch else {
                    return Err(Fault::malformed(
                        at,
                        format!("a union branch below {}", variants.len()),
                        format!("branch {index}"),
                    ));
                };
                self.value(branch, ns, depth + 1)?;
            }
            Schema::Array(array) => self.blocks(|w| w.value(&array.items, ns, depth + 1))?,
            Schema::Map(map) => self.blocks(|w| {
                w.cur.str()?;
                w.value(&map.types, ns, depth + 1)
            })?,
            Schema::Record(record) => {
                let inner = record.name.fully_qualified_name(ns).namespace;
                for field in &record.fields {
                    self.value(&field.schema, &inner, depth + 1)?;
                }
            }
            Schema::Ref { name } => {
                let full: Name = name.fully_qualified_name(ns);
                let Some(target) = self.names.get(&full) else {
                    return Err(Fault::malformed(
                        at,
                        "a schema whose names resolve",
                        format!("no type named {full}"),
                    ));
                };
                self.value(target, &full.namespace, depth + 1)?;
            }
        }
        Ok(())
    }

    fn blocks(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<(), Fault>,
    ) -> Result<(), Fault> {
        loop {
            let at = self.cur.pos();
            let count = self.cur.block()?;
            if count == 0 {
                return Ok(());
            }
            if count > self.items_left {
                return Err(Fault::malformed(
                    at,
                    format!(
                        "at most {} array or map items in one value",
                        self.limits.max_items
                    ),
                    format!("a block of {count} more"),
                ));
            }
            self.items_left -= count;
            for _ in 0..count {
                item(self)?;
            }
        }
    }
}

//! Decoding: a serde `Deserializer` over an input slice, bounded by [`Limits`].

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::Deserialize;

use super::{Cursor, Fault};
use crate::{uuid_field, Limits};

/// Decodes one `T` that must span the whole of `input`.
#[inline]
pub(crate) fn from_slice<'de, T: Deserialize<'de>>(
    input: &'de [u8],
    limits: &Limits,
) -> Result<T, Fault> {
    let (value, remaining, pos) = decode(input, limits)?;
    match remaining {
        0 => Ok(value),
        n => Err(Fault::malformed(
            pos,
            "the end of the value",
            format!("{n} trailing byte(s)"),
        )),
    }
}

/// Decodes a `T` whose fields are the first fields of the value `input` holds; the rest is
/// not read.
#[inline]
pub(crate) fn prefix_from_slice<'de, T: Deserialize<'de>>(
    input: &'de [u8],
    limits: &Limits,
) -> Result<T, Fault> {
    decode(input, limits).map(|(value, _, _)| value)
}

/// Decodes one `T` from the start of `input`: the value, the bytes left, the position.
#[inline]
fn decode<'de, T: Deserialize<'de>>(
    input: &'de [u8],
    limits: &Limits,
) -> Result<(T, usize, usize), Fault> {
    let mut de = De {
        cur: Cursor::new(input),
        depth_left: limits.max_depth,
        max_depth: limits.max_depth,
        items_left: limits.max_items as u64,
        max_items: limits.max_items,
    };
    let value = T::deserialize(&mut de).map_err(|f| f.at(de.cur.pos()))?;
    Ok((value, de.cur.remaining(), de.cur.pos()))
}

struct De<'de> {
    cur: Cursor<'de>,
    depth_left: usize,
    max_depth: usize,
    items_left: u64,
    max_items: usize,
}

impl<'de> De<'de> {
    /// Runs `f` one nesting level deeper, refusing to go past `max_depth`.
    fn nested<R>(&mut self, f: impl FnOnce(&mut Self) -> Result<R, Fault>) -> Result<R, Fault> {
        if self.depth_left == 0 {
            return Err(Fault::malformed(
                self.cur.pos(),
                format!("nesting at most {} deep", self.max_depth),
                "deeper nesting",
            ));
        }
        self.depth_left -= 1;
        let result = f(self);
        self.depth_left += 1;
        result
    }

    /// Reads a block header and charges its items against `max_items`.
    fn block(&mut self) -> Result<u64, Fault> {
        let at = self.cur.pos();
        let count = self.cur.block()?;
        if count > self.items_left {
            return Err(Fault::malformed(
                at,
                format!("at most {} array or map items in one value", self.max_items),
                format!("a block of {count} more"),
            ));
        }
        self.items_left -= count;
        Ok(count)
    }

    /// Reads a `uuid` field (see [`uuid_field`]): the canonical hyphenated text goes to the
    /// visitor as its 128 bits; anything else as a string, for `uuid`'s parser and its error.
    fn uuid<V: Visitor<'de>>(&mut self, v: V) -> Result<V::Value, Fault> {
        let start = self.cur.pos();
        let n = self.cur.len("a string")?;
        if let Some(bits) = uuid_field::parse_hyphenated(self.cur.take(n, "a string")?) {
            return v.visit_u128(bits);
        }
        self.cur.rewind(start);
        v.visit_borrowed_str(self.cur.str()?)
    }

    fn narrow<T: TryFrom<i64>>(&mut self, what: &'static str, long: bool) -> Result<T, Fault> {
        let at = self.cur.pos();
        let n = if long {
            self.cur.long()?
        } else {
            self.cur.int()?.into()
        };
        T::try_from(n).map_err(|_| Fault::malformed(at, what, format!("{n}")))
    }
}

impl<'de> de::Deserializer<'de> for &mut De<'de> {
    type Error = Fault;

    fn is_human_readable(&self) -> bool {
        true
    }

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Fault> {
        Err(Fault::malformed(
            self.cur.pos(),
            "a type-directed read (Avro binary is not self-describing)",
            "a request for any value (serde untagged, flatten or a dynamic value type)",
        ))
    }
    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Fault> {
        v.visit_bool(self.cur.boolean()?)
    }
    fn deserialize_i8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Fault> {
        v.visit_i8(self.narrow("an int in i8 range", false)?)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Fault> {
        v.visit_i16(self.narrow("an int in i16 range", false)?)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Fault> {
        v.visit_i32(self.cur.int()?)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Fault> {
        v.visit_i64(self.cur.long()?)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Fault> {
        v.visit_u8(self.narrow("an int in u8 range", false)?)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Fault> {
        v.visit_u16(self.narrow("an int in u16 range", false)?)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Fault> {
        v.visit_u32(self.narrow("a long in u32 range", true)?)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Fault> {
        v.visit_u64(self.narrow("a non-negative long", true)?)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Fault> {
        let b = self.cur.take(4, "a float")?;
        v.visit_f32(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Fault> {
        let mut a = [0; 8];
        a.copy_from_slice(self.cur.take(8, "a double")?);
        v.visit_f64(f64::from_le_bytes(a))
    }
    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Fault> {
        let at = self.cur.pos();
        let s = self.cur.str()?;
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => v.visit_char(c),
            _ => Err(Fault::malformed(
                at,
                "a string of one character",
                format!("{} characters", s.chars().count()),
            )),
        }
    }
    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Fault> {
        v.visit_borrowed_str(self.cur.str()?)
    }
    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Fault> {
        self.deserialize_str(v)
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Fault> {
        v.visit_borrowed_bytes(self.cur.bytes()?)
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Fault> {
        self.deserialize_bytes(v)
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Fault> {
        const BRANCHES: &str = "union branch 0 (null) or 1 of [null, T]";
        let at = self.cur.pos();
        match self.cur.index(BRANCHES)? {
            0 => v.visit_none(),
            1 => self.nested(|de| v.visit_some(de)),
            n => Err(Fault::malformed(at, BRANCHES, format!("branch {n}"))),
        }
    }
    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Fault> {
        v.visit_unit()
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, Fault> {
        v.visit_unit()
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, Fault> {
        if name == uuid_field::MARKER {
            return self.uuid(v);
        }
        v.visit_newtype_struct(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Fault> {
        self.nested(|de| {
            let blocks = Blocks::start(de)?;
            v.visit_seq(blocks)
        })
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, Fault> {
        self.nested(|de| v.visit_seq(Fields { de, left: len }))
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        v: V,
    ) -> Result<V::Value, Fault> {
        self.deserialize_tuple(len, v)
    }
    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Fault> {
        self.nested(|de| {
            let blocks = Blocks::start(de)?;
            v.visit_map(blocks)
        })
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Fault> {
        self.deserialize_tuple(fields.len(), v)
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Fault> {
        let at = self.cur.pos();
        let index = self.cur.index("an enum symbol or union branch index")?;
        if index as usize >= variants.len() {
            return Err(Fault::malformed(
                at,
                format!("an enum symbol or union branch below {}", variants.len()),
                format!("index {index}"),
            ));
        }
        self.nested(|de| v.visit_enum(Variant { de, index }))
    }
    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Fault> {
        self.deserialize_any(v)
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Fault> {
        self.deserialize_any(v)
    }
}

/// A record's fields (or a tuple's elements): exactly `left` values, no framing.
struct Fields<'a, 'de> {
    de: &'a mut De<'de>,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for Fields<'_, 'de> {
    type Error = Fault;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Fault> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.de).map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// An array's or map's items, in blocks of counted items ended by a zero count.
struct Blocks<'a, 'de> {
    de: &'a mut De<'de>,
    left: u64,
    done: bool,
}

impl<'a, 'de> Blocks<'a, 'de> {
    fn start(de: &'a mut De<'de>) -> Result<Self, Fault> {
        let left = de.block()?;
        Ok(Blocks {
            de,
            left,
            done: left == 0,
        })
    }

    /// Moves to the next item; false at the end of the collection.
    fn advance(&mut self) -> Result<bool, Fault> {
        if self.done {
            return Ok(false);
        }
        if self.left == 0 {
            self.left = self.de.block()?;
            if self.left == 0 {
                self.done = true;
                return Ok(false);
            }
        }
        self.left -= 1;
        Ok(true)
    }

    fn hint(&self) -> Option<usize> {
        // Never trust a count read from the input for an allocation: bound it by what remains.
        Some(self.left.min(self.de.cur.remaining() as u64) as usize)
    }
}

impl<'de> de::SeqAccess<'de> for Blocks<'_, 'de> {
    type Error = Fault;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Fault> {
        if !self.advance()? {
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        self.hint()
    }
}

impl<'de> de::MapAccess<'de> for Blocks<'_, 'de> {
    type Error = Fault;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Fault> {
        if !self.advance()? {
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Fault> {
        seed.deserialize(&mut *self.de)
    }
    fn size_hint(&self) -> Option<usize> {
        self.hint()
    }
}

/// An enum symbol or a union branch, already read as `index`.
struct Variant<'a, 'de> {
    de: &'a mut De<'de>,
    index: u32,
}

impl<'a, 'de> de::EnumAccess<'de> for Variant<'a, 'de> {
    type Error = Fault;
    type Variant = Self;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Fault> {
        let index: de::value::U32Deserializer<Fault> = self.index.into_deserializer();
        Ok((seed.deserialize(index)?, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_, 'de> {
    type Error = Fault;
    fn unit_variant(self) -> Result<(), Fault> {
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Fault> {
        seed.deserialize(&mut *self.de)
    }
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, Fault> {
        v.visit_seq(Fields {
            de: self.de,
            left: len,
        })
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Fault> {
        v.visit_seq(Fields {
            de: self.de,
            left: fields.len(),
        })
    }
}

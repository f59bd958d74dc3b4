//! Encoding: a serde `Serializer` that appends Avro binary to a `Vec<u8>`.

use serde::ser::{self, Serialize};

use super::{put_long, Fault};

/// Appends the Avro binary encoding of `value` to `out`. On error `out` may hold a partial value.
pub(crate) fn write<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), Fault> {
    value.serialize(&mut Ser { out })
}

struct Ser<'a> {
    out: &'a mut Vec<u8>,
}

impl Ser<'_> {
    fn put_bytes(&mut self, bytes: &[u8]) {
        put_long(self.out, bytes.len() as i64);
        self.out.extend_from_slice(bytes);
    }

    /// Starts an array or map of `len` items (unknown: counted, prefixed at the end).
    fn collection(&mut self, len: Option<usize>) -> Collection<'_> {
        match len {
            Some(n) => {
                if n > 0 {
                    put_long(self.out, n as i64);
                }
                Collection {
                    ser: Ser { out: self.out },
                    declared: Some(n),
                    start: 0,
                    count: 0,
                }
            }
            None => {
                let start = self.out.len();
                Collection {
                    ser: Ser { out: self.out },
                    declared: None,
                    start,
                    count: 0,
                }
            }
        }
    }
}

fn unrepresentable(what: &str) -> Fault {
    Fault::unplaced("a value Avro can encode", what)
}

impl<'b> ser::Serializer for &'b mut Ser<'_> {
    type Ok = ();
    type Error = Fault;
    type SerializeSeq = Collection<'b>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Collection<'b>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn is_human_readable(&self) -> bool {
        // Uuid (and friends) then write their text form, which is what Avro's `uuid` logical
        // type over `string` holds.
        true
    }

    fn serialize_bool(self, v: bool) -> Result<(), Fault> {
        self.out.push(u8::from(v));
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Fault> {
        put_long(self.out, v.into());
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Fault> {
        put_long(self.out, v.into());
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Fault> {
        put_long(self.out, v.into());
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Fault> {
        put_long(self.out, v);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Fault> {
        put_long(self.out, v.into());
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Fault> {
        put_long(self.out, v.into());
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Fault> {
        put_long(self.out, v.into());
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Fault> {
        let v = i64::try_from(v).map_err(|_| unrepresentable(&format!("u64 {v}, past a long")))?;
        put_long(self.out, v);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Fault> {
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Fault> {
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Fault> {
        self.put_bytes(v.encode_utf8(&mut [0; 4]).as_bytes());
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Fault> {
        self.put_bytes(v.as_bytes());
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Fault> {
        self.put_bytes(v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Fault> {
        self.out.push(0); // union branch 0: null
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Fault> {
        self.out.push(2); // union branch 1, zig-zag encoded
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Fault> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Fault> {
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
    ) -> Result<(), Fault> {
        put_long(self.out, index.into());
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Fault> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), Fault> {
        put_long(self.out, index.into());
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, Fault> {
        Ok(self.collection(len))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, Fault> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, Fault> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Fault> {
        put_long(self.out, index.into());
        Ok(self)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, Fault> {
        Ok(self.collection(len))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Fault> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Fault> {
        put_long(self.out, index.into());
        Ok(self)
    }
}

/// An array or map being written: one block of `declared` items, or, when the length was not
/// known up front, items written first and the count inserted before them at the end.
pub(crate) struct Collection<'b> {
    ser: Ser<'b>,
    declared: Option<usize>,
    start: usize,
    count: usize,
}

impl Collection<'_> {
    fn finish(self) -> Result<(), Fault> {
        match self.declared {
            Some(n) if n != self.count => Err(unrepresentable(&format!(
                "a collection that declared {n} items and yielded {}",
                self.count
            ))),
            Some(_) => {
                self.ser.out.push(0);
                Ok(())
            }
            None => {
                if self.count > 0 {
                    let mut prefix = Vec::with_capacity(10);
                    put_long(&mut prefix, self.count as i64);
                    self.ser.out.splice(self.start..self.start, prefix);
                }
                self.ser.out.push(0);
                Ok(())
            }
        }
    }
}

impl ser::SerializeSeq for Collection<'_> {
    type Ok = ();
    type Error = Fault;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Fault> {
        self.count += 1;
        value.serialize(&mut self.ser)
    }
    fn end(self) -> Result<(), Fault> {
        self.finish()
    }
}

impl ser::SerializeMap for Collection<'_> {
    type Ok = ();
    type Error = Fault;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Fault> {
        self.count += 1;
        key.serialize(&mut self.ser)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Fault> {
        value.serialize(&mut self.ser)
    }
    fn end(self) -> Result<(), Fault> {
        self.finish()
    }
}

macro_rules! fields_in_order {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for &mut Ser<'_> {
            type Ok = ();
            type Error = Fault;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Fault> {
                value.serialize(&mut **self)
            }
            fn end(self) -> Result<(), Fault> {
                Ok(())
            }
        }
    )*};
}

fields_in_order!(
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

macro_rules! named_fields_in_order {
    ($($trait:ident),*) => {$(
        impl ser::$trait for &mut Ser<'_> {
            type Ok = ();
            type Error = Fault;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, value: &T) -> Result<(), Fault> {
                value.serialize(&mut **self)
            }
            fn skip_field(&mut self, key: &'static str) -> Result<(), Fault> {
                Err(unrepresentable(&format!(
                    "field {key} skipped (skip_serializing_if): an Avro record has every field"
                )))
            }
            fn end(self) -> Result<(), Fault> {
                Ok(())
            }
        }
    )*};
}

named_fields_in_order!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
mod tests {
    use serde::ser::{SerializeSeq, Serializer};

    use super::*;

    /// A sequence that does not say its length up front.
    struct Unsized(Vec<i32>);

    impl Serialize for Unsized {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(None)?;
            for n in &self.0 {
                seq.serialize_element(n)?;
            }
            seq.end()
        }
    }

    #[test]
    fn unknown_lengths_are_counted_and_prefixed() {
        let mut out = vec![0xAA];
        write(&Unsized(vec![1, -1, 64]), &mut out).expect("encodes");
        assert_eq!(out, [0xAA, 6, 2, 1, 0x80, 1, 0]);
        let mut empty = Vec::new();
        write(&Unsized(vec![]), &mut empty).expect("encodes");
        assert_eq!(empty, [0]);
        let back: Vec<i32> =
            super::super::from_slice(&out[1..], &crate::Limits::DEFAULT).expect("decodes");
        assert_eq!(back, [1, -1, 64]);
    }
}

//! The hot path: a serde codec for the Avro binary encoding, driven by the Rust type's shape.
//!
//! Avro's binary encoding carries no field names or tags, so a value's bytes follow from its
//! type alone once the mapping is fixed: a struct or tuple is a record (fields in order), an
//! `Option<T>` is the union `["null", T]`, a `Vec<T>` an array, a map with string keys a map,
//! `serde_bytes` data is `bytes`, a unit enum variant an enum symbol (by declaration order)
//! and a data-carrying variant a union branch. `i8`..`i32`, `u8`, `u16` are `int`; `i64`,
//! `u32`, `u64` are `long`. That is the mapping apache-avro's serde support and its derived
//! schemas use; the tests prove the bytes identical to apache-avro's for every record type.
//!
//! A `uuid` field (a string in Avro) is read without the general string path when the record
//! type routes it through `uuid_field` (every record type does).
//!
//! Decoding reads only from the input slice: every length is checked against the bytes that
//! remain before anything is allocated, collections are charged against
//! [`Limits::max_items`](crate::Limits) and nesting against `max_depth`.

mod de;
mod ser;

use std::fmt;

pub(crate) use de::{from_slice, prefix_from_slice};
pub(crate) use ser::write;

/// Why the binary codec stopped; the callers add which record or payload it was. Boxed, so
/// the `Result`s threaded through every serde call stay one word wide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault(Box<Kind>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The input ended early.
    Truncated {
        what: &'static str,
        offset: usize,
        expected: u64,
        seen: usize,
    },
    /// The bytes do not fit the schema (or the Rust type).
    Malformed {
        offset: Option<usize>,
        expected: String,
        seen: String,
    },
}

impl Fault {
    pub(crate) fn truncated(what: &'static str, offset: usize, expected: u64, seen: usize) -> Self {
        Fault(Box::new(Kind::Truncated {
            what,
            offset,
            expected,
            seen,
        }))
    }

    pub(crate) fn malformed(
        offset: usize,
        expected: impl Into<String>,
        seen: impl Into<String>,
    ) -> Self {
        Fault(Box::new(Kind::Malformed {
            offset: Some(offset),
            expected: expected.into(),
            seen: seen.into(),
        }))
    }

    /// A fault where the position is not known yet (raised inside a serde visitor).
    pub(crate) fn unplaced(expected: impl Into<String>, seen: impl Into<String>) -> Self {
        Fault(Box::new(Kind::Malformed {
            offset: None,
            expected: expected.into(),
            seen: seen.into(),
        }))
    }

    #[cfg(test)]
    pub(crate) fn kind(&self) -> &Kind {
        &self.0
    }

    /// Fills in the offset of a fault raised where the position was unknown (a serde visitor).
    pub(crate) fn at(mut self, pos: usize) -> Self {
        if let Kind::Malformed {
            offset: offset @ None,
            ..
        } = &mut *self.0
        {
            *offset = Some(pos);
        }
        self
    }

    /// The fault as this crate's error about a record body that starts `base` bytes into the record.
    pub(crate) fn into_record_error(
        self,
        record: &'static str,
        version: u32,
        base: usize,
    ) -> crate::Error {
        match *self.0 {
            Kind::Truncated {
                what,
                offset,
                expected,
                seen,
            } => crate::Error::Truncated {
                what,
                offset: base + offset,
                expected,
                seen,
            },
            Kind::Malformed {
                offset,
                expected,
                seen,
            } => crate::Error::Malformed {
                record,
                version,
                offset: base + offset.unwrap_or(0),
                expected,
                seen,
            },
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            Kind::Truncated {
                what,
                offset,
                expected,
                seen,
            } => write!(
                f,
                "truncated input: expected {expected} more byte(s) for {what} at byte {offset}, saw {seen}"
            ),
            Kind::Malformed {
                offset,
                expected,
                seen,
            } => {
                write!(f, "expected {expected}, saw {seen}")?;
                if let Some(offset) = offset {
                    write!(f, " (at byte {offset})")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Fault {}

impl serde::de::Error for Fault {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Fault::unplaced("a value of the Rust type", msg.to_string())
    }
}

impl serde::ser::Error for Fault {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Fault::unplaced("a value Avro can encode", msg.to_string())
    }
}

/// Appends `n` as an Avro `long`: zig-zag, then little-endian base-128 varint.
#[inline]
pub(crate) fn put_long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z > 0x7f {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// The fault for a string that starts at `at` and is not UTF-8.
#[cold]
#[inline(never)]
fn bad_utf8(at: usize, e: std::str::Utf8Error) -> Fault {
    Fault::malformed(
        at + e.valid_up_to(),
        "a UTF-8 string",
        format!("invalid UTF-8 after {} valid byte(s)", e.valid_up_to()),
    )
}

/// A read position in an input slice; every read is bounds-checked.
#[derive(Debug)]
pub(crate) struct Cursor<'de> {
    input: &'de [u8],
    pos: usize,
}

impl<'de> Cursor<'de> {
    pub(crate) fn new(input: &'de [u8]) -> Self {
        Cursor { input, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Moves back to `pos`, a position this cursor has already been at.
    pub(crate) fn rewind(&mut self, pos: usize) {
        debug_assert!(pos <= self.pos);
        self.pos = pos;
    }

    pub(crate) fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    fn truncated(&self, what: &'static str, expected: u64) -> Fault {
        Fault::truncated(what, self.pos, expected, self.remaining())
    }

    /// Takes the next `n` bytes without copying them.
    #[inline]
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'de [u8], Fault> {
        match self.input.get(self.pos..).and_then(|rest| rest.get(..n)) {
            Some(bytes) => {
                self.pos += n;
                Ok(bytes)
            }
            None => Err(self.truncated(what, n as u64)),
        }
    }

    #[inline]
    pub(crate) fn byte(&mut self, what: &'static str) -> Result<u8, Fault> {
        let b = *self
            .input
            .get(self.pos)
            .ok_or_else(|| self.truncated(what, 1))?;
        self.pos += 1;
        Ok(b)
    }

    #[inline]
    pub(crate) fn boolean(&mut self) -> Result<bool, Fault> {
        let at = self.pos;
        match self.byte("a boolean")? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(Fault::malformed(
                at,
                "a boolean (byte 00 or 01)",
                format!("byte {b:02X}"),
            )),
        }
    }

    /// Reads an Avro `long`; more than ten varint bytes, or bits past 64, are malformed.
    #[inline]
    pub(crate) fn long(&mut self) -> Result<i64, Fault> {
        // Fast path: most lengths, indexes and small ints fit one byte.
        if let Some(&b) = self.input.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(i64::from(b >> 1) ^ -i64::from(b & 1));
            }
        }
        self.long_multi_byte()
    }

    /// [`long`](Self::long) past its one-byte fast path (kept out of line so the fast path
    /// inlines into every caller).
    #[inline(never)]
    fn long_multi_byte(&mut self) -> Result<i64, Fault> {
        let at = self.pos;
        let mut z: u64 = 0;
        for i in 0..10 {
            let b = self.byte("a variable-length integer")?;
            if i == 9 && b > 1 {
                return Err(Fault::malformed(
                    at,
                    "a variable-length integer of at most 64 bits",
                    "one that overflows 64 bits",
                ));
            }
            z |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok((z >> 1) as i64 ^ -((z & 1) as i64));
            }
        }
        Err(Fault::malformed(
            at,
            "a variable-length integer of at most 10 bytes",
            "more than 10 bytes with the continuation bit set",
        ))
    }

    /// Reads an Avro `int`: a `long` that must fit 32 bits.
    #[inline]
    pub(crate) fn int(&mut self) -> Result<i32, Fault> {
        let at = self.pos;
        let n = self.long()?;
        i32::try_from(n).map_err(|_| Fault::malformed(at, "an int (32 bits)", format!("{n}")))
    }

    /// Reads a non-negative index (union branch or enum symbol).
    #[inline]
    pub(crate) fn index(&mut self, what: &'static str) -> Result<u32, Fault> {
        let at = self.pos;
        let n = self.long()?;
        u32::try_from(n).map_err(|_| Fault::malformed(at, what, format!("index {n}")))
    }

    /// Reads a length prefix and checks that that many bytes remain.
    #[inline]
    pub(crate) fn len(&mut self, what: &'static str) -> Result<usize, Fault> {
        let at = self.pos;
        let n = self.long()?;
        match usize::try_from(n) {
            Ok(len) if len <= self.remaining() => Ok(len),
            _ => Err(self.bad_len(at, n, what)),
        }
    }

    /// The fault for a length prefix `n`, read at `at`, that is negative or runs past the end.
    #[cold]
    #[inline(never)]
    fn bad_len(&self, at: usize, n: i64, what: &'static str) -> Fault {
        if n < 0 {
            Fault::malformed(
                at,
                format!("a non-negative length of {what}"),
                format!("{n}"),
            )
        } else {
            self.truncated(what, n as u64)
        }
    }

    /// Reads a length-prefixed byte string.
    #[inline]
    pub(crate) fn bytes(&mut self) -> Result<&'de [u8], Fault> {
        let n = self.len("bytes")?;
        self.take(n, "bytes")
    }

    /// Reads a length-prefixed UTF-8 string.
    #[inline]
    pub(crate) fn str(&mut self) -> Result<&'de str, Fault> {
        let n = self.len("a string")?;
        let at = self.pos;
        let bytes = self.take(n, "a string")?;
        std::str::from_utf8(bytes).map_err(|e| bad_utf8(at, e))
    }

    /// Reads an array or map block header: the item count (0 ends the collection). A negative
    /// count is followed by the block's byte size, which is read and checked but not trusted.
    pub(crate) fn block(&mut self) -> Result<u64, Fault> {
        let at = self.pos;
        let n = self.long()?;
        if n >= 0 {
            return Ok(n as u64);
        }
        let size = self.long()?;
        if size < 0 {
            return Err(Fault::malformed(
                at,
                "a non-negative block size",
                format!("{size}"),
            ));
        }
        Ok(n.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longs_round_trip_at_the_edges() {
        for n in [
            0,
            1,
            -1,
            63,
            -64,
            64,
            i32::MAX as i64,
            i32::MIN as i64,
            i64::MAX,
            i64::MIN,
        ] {
            let mut out = Vec::new();
            put_long(&mut out, n);
            let mut c = Cursor::new(&out);
            assert_eq!(c.long(), Ok(n));
            assert_eq!(c.remaining(), 0);
        }
    }

    #[test]
    fn overlong_varints_are_malformed() {
        let eleven = [0xff; 11];
        assert!(matches!(
            Cursor::new(&eleven).long(),
            Err(f) if matches!(f.kind(), Kind::Malformed { .. })
        ));
        let overflow = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(matches!(
            Cursor::new(&overflow).long(),
            Err(f) if matches!(f.kind(), Kind::Malformed { .. })
        ));
    }

    #[test]
    fn lengths_past_the_end_are_truncations() {
        let mut out = Vec::new();
        put_long(&mut out, i64::MAX);
        assert!(matches!(
            Cursor::new(&out).len("bytes"),
            Err(f) if matches!(f.kind(), Kind::Truncated { .. })
        ));
    }
}

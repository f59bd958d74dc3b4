//! Decoding of `uuid` fields without the general string path.
//!
//! A record's `Uuid` fields deserialize through [`deserialize`] (or [`deserialize_option`]),
//! which asks for a newtype struct named [`MARKER`]. The binary decoder recognises the name and,
//! when the text is in the canonical hyphenated form every Avro library writes, hands over the
//! UUID's 128 bits directly: no UTF-8 validation pass and no general parser. Any other text goes
//! to `uuid`'s parser with `uuid`'s error message, and every other deserializer (apache-avro's
//! `from_value`, serde_json) sees an ordinary newtype and reads the field with `uuid`'s own serde
//! support, so accepted forms and errors are unchanged. Serialization is untouched.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use uuid::Uuid;

/// The newtype-struct name by which a `uuid` field announces itself to the binary decoder.
pub(crate) const MARKER: &str = "$celeriac::uuid";

/// `#[serde(deserialize_with)]` for a `Uuid` field.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
    d.deserialize_newtype_struct(MARKER, UuidVisitor)
}

/// `#[serde(deserialize_with)]` for an `Option<Uuid>` field (pair it with `default`, so a
/// self-describing format may leave the field out as before).
pub(crate) fn deserialize_option<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Uuid>, D::Error> {
    Option::<Field>::deserialize(d).map(|field| field.map(|Field(id)| id))
}

/// A `Uuid` read through [`deserialize`], so `Option<Field>` gets serde's option handling.
struct Field(Uuid);

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize(d).map(Field)
    }
}

struct UuidVisitor;

impl<'de> Visitor<'de> for UuidVisitor {
    type Value = Uuid;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a UUID")
    }

    /// Every deserializer but ours: `uuid`'s own serde support.
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Uuid, D::Error> {
        Uuid::deserialize(d)
    }

    /// Ours, for the canonical form: the bits, already parsed.
    fn visit_u128<E: de::Error>(self, bits: u128) -> Result<Uuid, E> {
        Ok(Uuid::from_u128(bits))
    }

    /// Ours, for any other text: `uuid`'s parser and its error, as `Uuid`'s serde support has.
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Uuid, E> {
        Uuid::try_parse(text).map_err(|e| E::custom(format_args!("UUID parsing failed: {e}")))
    }
}

/// Parses the canonical hyphenated form (`8-4-4-4-12` hex digits, either case); `None` for
/// anything else, which the caller hands to `uuid`'s general parser.
#[inline]
pub(crate) fn parse_hyphenated(text: &[u8]) -> Option<u128> {
    let text: &[u8; 36] = text.try_into().ok()?;
    if text[8] != b'-' || text[13] != b'-' || text[18] != b'-' || text[23] != b'-' {
        return None;
    }
    let mut digits = [0; 32];
    digits[0..8].copy_from_slice(&text[0..8]);
    digits[8..12].copy_from_slice(&text[9..13]);
    digits[12..16].copy_from_slice(&text[14..18]);
    digits[16..20].copy_from_slice(&text[19..23]);
    digits[20..32].copy_from_slice(&text[24..36]);
    let mut bits = 0;
    for chunk in digits.chunks_exact(8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        bits = bits << 32 | u128::from(hex8(u64::from_le_bytes(word))?);
    }
    Some(bits)
}

/// The value of eight ASCII hex digits (either case) packed in `x`, the first (most
/// significant) digit in the lowest byte; `None` if any byte is not a hex digit. Eight bytes at
/// once (SWAR): each step works on every byte of the word.
#[inline(always)]
fn hex8(x: u64) -> Option<u32> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    if x & HIGH != 0 {
        return None;
    }
    // With every byte below 0x80, the high bit of each byte of `(w | HIGH) - k * ONES` says
    // "this byte of `w` is at least k" (for k <= 0x80 no byte borrows from its neighbour).
    let at_least = |w: u64, k: u8| ((w | HIGH) - ONES * u64::from(k)) & HIGH;
    let digit = at_least(x, b'0') & !at_least(x, b'9' + 1);
    // Setting bit 5 folds 'A'..='F' onto 'a'..='f'; nothing else lands there.
    let folded = x | (ONES * 0x20);
    let letter = at_least(folded, b'a') & !at_least(folded, b'f' + 1);
    if digit | letter != HIGH {
        return None;
    }
    // '0'..='9' end in their value; 'a'..='f' and 'A'..='F' in their value minus 9.
    let nibbles = (x & (ONES * 0x0F)) + (letter >> 7) * 9;
    // Pack: byte pairs into bytes, then into the low four bytes, first digit highest.
    let pairs = ((nibbles << 4) | (nibbles >> 8)) & 0x00FF_00FF_00FF_00FF;
    let quads = (pairs | pairs >> 8) & 0x0000_FFFF_0000_FFFF;
    let packed = (quads | quads >> 16) as u32;
    Some(packed.swap_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binary::{self, Kind};
    use crate::Limits;

    /// A record with both kinds of `uuid` field, as the record types declare them.
    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Ids {
        #[serde(deserialize_with = "deserialize")]
        id: Uuid,
        #[serde(default, deserialize_with = "deserialize_option")]
        parent: Option<Uuid>,
    }

    /// The Avro body of `Ids` with `id` written as `text` and `parent` as `Some(parent)`.
    fn body(text: &[u8], parent: Option<&str>) -> Vec<u8> {
        let mut out = Vec::new();
        binary::put_long(&mut out, text.len() as i64);
        out.extend_from_slice(text);
        match parent {
            None => out.push(0),
            Some(p) => {
                out.push(2);
                binary::put_long(&mut out, p.len() as i64);
                out.extend_from_slice(p.as_bytes());
            }
        }
        out
    }

    #[test]
    fn the_binary_decoder_reads_every_form_uuid_reads_and_refuses_the_rest_with_its_error() {
        let id = Uuid::from_u128(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8);
        let decode = |bytes: &[u8]| binary::from_slice::<Ids>(bytes, &Limits::DEFAULT);
        let text = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        for (form, parent) in [
            (text.to_string(), None),
            (text.to_uppercase(), Some(text)),
            ("67e5504410b1426f9247bb680e5fe0c8".to_string(), Some(text)),
            (format!("{{{text}}}"), None),
            (format!("urn:uuid:{text}"), None),
        ] {
            let want = Ids {
                id,
                parent: parent.map(|_| id),
            };
            assert_eq!(decode(&body(form.as_bytes(), parent)), Ok(want), "{form}");
        }
        let fault =
            decode(&body(b"67e55044-10b1-426f-9247-bb680e5fe0cX", None)).expect_err("not a uuid");
        assert!(
            matches!(fault.kind(), Kind::Malformed { offset: Some(_), seen, .. } if seen.contains("UUID parsing failed")),
            "{fault}"
        );
        let fault = decode(&body(b"67e55044-10b1-426f-9247-bb680e5fe0\xff\xfe", None))
            .expect_err("not UTF-8");
        assert!(
            matches!(fault.kind(), Kind::Malformed { expected, .. } if expected == "a UTF-8 string"),
            "{fault}"
        );
        let fault = decode(&body(text.as_bytes(), Some("nope"))).expect_err("bad parent");
        assert!(fault.to_string().contains("UUID parsing failed"), "{fault}");
    }

    #[test]
    fn other_deserializers_see_uuids_as_before() {
        let json = r#"{"id":"67e55044-10b1-426f-9247-bb680e5fe0c8"}"#;
        let ids: Ids = serde_json::from_str(json).expect("uuid's serde support");
        assert_eq!(ids.id.as_u128(), 0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8);
        assert_eq!(ids.parent, None);
    }

    #[test]
    fn the_canonical_form_parses_as_uuid_parses_it() {
        for text in [
            "00000000-0000-0000-0000-000000000000",
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
            "0192ABCD-ef01-7000-8000-0123456789aB",
            "67e55044-10b1-426f-9247-bb680e5fe0c8",
        ] {
            let expected = Uuid::parse_str(text).expect("a valid uuid").as_u128();
            assert_eq!(parse_hyphenated(text.as_bytes()), Some(expected), "{text}");
        }
    }

    #[test]
    fn every_byte_at_every_position_is_judged_as_uuid_judges_it() {
        let valid = *b"0192abcd-EF01-7000-8000-0123456789aB";
        for at in 0..valid.len() {
            for byte in 0..=u8::MAX {
                let mut text = valid;
                text[at] = byte;
                let theirs = std::str::from_utf8(&text)
                    .ok()
                    .and_then(|s| Uuid::try_parse(s).ok())
                    .map(|id| id.as_u128());
                let ours = parse_hyphenated(&text);
                // Ours accepts only the canonical form; uuid accepts no other 36-byte form.
                assert_eq!(ours, theirs, "byte {byte:#04X} at {at}");
            }
        }
    }

    #[test]
    fn anything_else_is_left_to_the_general_parser() {
        for text in [
            "",
            "67e5504410b1426f9247bb680e5fe0c8",
            "{67e55044-10b1-426f-9247-bb680e5fe0c8}",
            "67e55044-10b1-426f-9247-bb680e5fe0c",
            "67e55044-10b1-426f-9247-bb680e5fe0c8a",
            "67e55044_10b1-426f-9247-bb680e5fe0c8",
            "67e55044-10b1-426f-9247-bb680e5fe0cg",
            "67e55044-10b1-426f-9247-bb680e5fe0c\u{e9}",
            "67e55044-10b1-426f-9247-bb680e5f\u{1F600}",
        ] {
            assert_eq!(parse_hyphenated(text.as_bytes()), None, "{text:?}");
        }
    }
}

//! Avro single-object encoding: `C3 01`, the writer schema's CRC-64-AVRO fingerprint
//! (little-endian), then the body — the framing Java's `BinaryMessageEncoder` writes.

use crate::{Error, Result};

/// The two marker bytes every single-object encoded record starts with.
pub const MAGIC: [u8; 2] = [0xC3, 0x01];

/// Length of the single-object header: the marker and the 8-byte fingerprint.
pub const HEADER_LEN: usize = 10;

/// Reads the writer schema's fingerprint from a single-object encoded record's header.
///
/// Use it to learn what a record is before choosing a type to decode it as, together with
/// [`lookup`](crate::lookup).
pub fn fingerprint(bytes: &[u8]) -> Result<u64> {
    split(bytes).map(|(fingerprint, _)| fingerprint)
}

/// Splits a record into its writer fingerprint and its body.
pub(crate) fn split(bytes: &[u8]) -> Result<(u64, &[u8])> {
    let marker_seen = &bytes[..bytes.len().min(2)];
    if marker_seen != &MAGIC[..marker_seen.len()] {
        return Err(Error::BadMagic {
            seen: marker_seen.to_vec(),
        });
    }
    match bytes.split_first_chunk::<HEADER_LEN>() {
        Some((header, body)) => {
            let mut fp = [0; 8];
            fp.copy_from_slice(&header[2..]);
            Ok((u64::from_le_bytes(fp), body))
        }
        None => Err(Error::Truncated {
            what: "the single-object header (C3 01 and an 8-byte fingerprint)",
            offset: 0,
            expected: HEADER_LEN as u64,
            seen: bytes.len(),
        }),
    }
}

/// Appends the header for a body written with the schema of `fingerprint`.
pub(crate) fn put_header(out: &mut Vec<u8>, fingerprint: u64) {
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&fingerprint.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let mut out = Vec::new();
        put_header(&mut out, 0x0102_0304_0506_0708);
        out.push(0xAA);
        assert_eq!(out[..4], [0xC3, 0x01, 0x08, 0x07]);
        let (fp, body) = split(&out).expect("a whole header");
        assert_eq!(fp, 0x0102_0304_0506_0708);
        assert_eq!(body, [0xAA]);
    }

    #[test]
    fn short_or_foreign_input_is_a_typed_error() {
        assert!(matches!(split(&[]), Err(Error::Truncated { seen: 0, .. })));
        assert!(matches!(
            split(&[0xC3]),
            Err(Error::Truncated { seen: 1, .. })
        ));
        assert!(matches!(
            split(&[0xC3, 0x01, 0]),
            Err(Error::Truncated { seen: 3, .. })
        ));
        assert!(matches!(split(b"{\"id\""), Err(Error::BadMagic { .. })));
        assert!(matches!(
            split(&[0xC3, 0x02, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(Error::BadMagic { .. })
        ));
    }
}

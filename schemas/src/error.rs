//! The crate's one error type. Every message says what was expected and what was seen.
//!
//! No error here is transient: the same bytes fail the same way every time, so retrying never
//! helps. A consumer that cannot decode a record should dead-letter it (`DeadLetterKind::Undecodable`
//! with the error's message as the reason) and move on.

use std::fmt;

/// What went wrong while encoding or decoding a record or a payload.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ended before a complete value.
    #[error(
        "truncated input: expected {expected} more byte(s) for {what} at byte {offset}, saw {seen}"
    )]
    Truncated {
        /// What was being read, for example "the single-object header" or "a string".
        what: &'static str,
        /// Byte offset of the read that failed.
        offset: usize,
        /// Bytes the read needed.
        expected: u64,
        /// Bytes that were left.
        seen: usize,
    },

    /// The input does not start with the Avro single-object marker `C3 01`.
    #[error("bad magic: expected the Avro single-object marker C3 01, saw {}", Hex(.seen))]
    BadMagic {
        /// The first (up to two) bytes of the input.
        seen: Vec<u8>,
    },

    /// The schema fingerprint in the header is not a released version of the expected record.
    #[error(
        "unknown fingerprint: expected one of the released versions of {record} ({}), \
         saw {seen:016x}{}",
        list_fingerprints(.expected),
        match .belongs_to { Some(other) => format!(", which is {other}"), None => String::from(", which no released schema has") }
    )]
    UnknownFingerprint {
        /// The record the caller asked for, for example `celeriac.v1.TaskMessage`.
        record: &'static str,
        /// The fingerprints of its released versions.
        expected: Vec<u64>,
        /// The fingerprint found in the header.
        seen: u64,
        /// Which other released schema has that fingerprint, when one does (`"celeriac.v1.TaskEvent v1"`).
        belongs_to: Option<String>,
    },

    /// The body does not follow the writer's schema (bad length, union index, enum index, UTF-8, ...).
    #[error(
        "malformed {record} v{version} body at byte {offset}: expected {expected}, saw {seen}"
    )]
    Malformed {
        /// The record being decoded.
        record: &'static str,
        /// The writer's schema version the body claims to follow.
        version: u32,
        /// Byte offset in the body where decoding failed.
        offset: usize,
        /// What the schema called for at that point.
        expected: String,
        /// What the bytes held instead.
        seen: String,
    },

    /// A body written with an older (or newer) schema could not be read with today's schema.
    #[error("cannot resolve {record} v{writer_version} (writer) to v{reader_version} (reader): expected a value today's schema accepts, saw {reason}")]
    Resolution {
        /// The record being decoded.
        record: &'static str,
        /// The version the bytes were written with.
        writer_version: u32,
        /// Today's version.
        reader_version: u32,
        /// apache-avro's account of the mismatch.
        reason: String,
    },

    /// A record or payload is larger than the configured cap.
    #[error("over-size {what}: expected at most {max} bytes, saw {seen}")]
    OverSize {
        /// What was too large, for example "celeriac.v1.TaskMessage record".
        what: String,
        /// The cap ([`crate::Limits::max_record_bytes`]).
        max: usize,
        /// The actual size.
        seen: usize,
    },

    /// A value could not be encoded (it has a shape Avro cannot express, or a payload codec refused it).
    #[error("cannot encode {what}: expected {expected}, saw {seen}")]
    Encode {
        /// What was being encoded.
        what: String,
        /// What the encoding needed.
        expected: String,
        /// What the value held instead.
        seen: String,
    },

    /// A task's arguments or result could not be decoded as its content type says.
    #[error("cannot decode {content_type} payload into {target}: {reason}")]
    PayloadDecode {
        /// The payload's content type.
        content_type: &'static str,
        /// The Rust type asked for.
        target: &'static str,
        /// The codec's message ("expected …, saw …" / "invalid type: …, expected …").
        reason: String,
    },

    /// A content type we will not decode, with the reason.
    #[error("refused content type {content_type}: {why}")]
    RefusedContentType {
        /// The content type as given.
        content_type: String,
        /// Why it is refused and what to use instead.
        why: &'static str,
    },

    /// A content type we do not know.
    #[error(
        "unknown content type: expected application/avro, application/json or \
         application/x-msgpack, saw {seen:?}"
    )]
    UnknownContentType {
        /// The content type as given.
        seen: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Formats bytes as spaced upper-case hex, `C3 01`.
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("no bytes");
        }
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

fn list_fingerprints(fps: &[u64]) -> String {
    let list: Vec<String> = fps.iter().map(|fp| format!("{fp:016x}")).collect();
    list.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_expected_and_seen() {
        let e = Error::BadMagic {
            seen: vec![0x7b, 0x22],
        };
        assert_eq!(
            e.to_string(),
            "bad magic: expected the Avro single-object marker C3 01, saw 7B 22"
        );
        let e = Error::UnknownFingerprint {
            record: "celeriac.v1.TaskMessage",
            expected: vec![1, 2],
            seen: 3,
            belongs_to: Some("celeriac.v1.TaskEvent v1".into()),
        };
        assert_eq!(
            e.to_string(),
            "unknown fingerprint: expected one of the released versions of celeriac.v1.TaskMessage \
             (0000000000000001, 0000000000000002), saw 0000000000000003, which is celeriac.v1.TaskEvent v1"
        );
    }
}

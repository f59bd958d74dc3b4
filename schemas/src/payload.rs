//! Task arguments and results: `bytes` plus a content type, encoded and decoded here.
//!
//! - `application/avro`: the Avro binary encoding of the value under its Rust type's derived
//!   schema (`apache_avro::AvroSchema`), without a header; the tests prove the bytes identical
//!   to apache-avro's. Tuples are records with fields in order.
//! - `application/json`: JSON, what any producer can write (Celery's default).
//! - `application/x-msgpack`: MessagePack (`application/msgpack` is accepted as an alias).
//! - `application/x-python-serialize` (pickle) is refused: loading a pickle runs code of the
//!   sender's choosing.
//!
//! ```
//! use celeriac_schemas::payload::{self, ContentType};
//!
//! let json = payload::encode(ContentType::Json, &(2, 3))?;
//! assert_eq!(json, b"[2,3]");
//! let back: (i64, i64) = ContentType::parse("application/json; charset=utf-8")?.decode(&json)?;
//! assert_eq!(back, (2, 3));
//! assert!(ContentType::parse("application/x-python-serialize").is_err());
//! # Ok::<(), celeriac_schemas::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{binary, Error, Limits, Result};

/// How a payload's bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// `application/avro`: Avro binary under the Rust type's derived schema.
    Avro,
    /// `application/json`.
    Json,
    /// `application/x-msgpack`.
    MsgPack,
}

const PICKLE_WHY: &str = "pickle (Python's serializer) executes code chosen by the sender when it \
                          is loaded, so Celeriac never decodes it; send application/json, \
                          application/x-msgpack or application/avro instead";

impl ContentType {
    /// Every content type we encode and decode.
    pub const ALL: [ContentType; 3] = [ContentType::Avro, ContentType::Json, ContentType::MsgPack];

    /// The MIME name written into records, for example `application/json`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ContentType::Avro => "application/avro",
            ContentType::Json => "application/json",
            ContentType::MsgPack => "application/x-msgpack",
        }
    }

    /// Parses a MIME name, ignoring case and parameters (`; charset=utf-8`).
    ///
    /// Pickle is refused with [`Error::RefusedContentType`]; anything else unknown is
    /// [`Error::UnknownContentType`].
    pub fn parse(content_type: &str) -> Result<Self> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/avro" | "avro/binary" => Ok(ContentType::Avro),
            "application/json" => Ok(ContentType::Json),
            "application/x-msgpack" | "application/msgpack" | "application/vnd.msgpack" => {
                Ok(ContentType::MsgPack)
            }
            "application/x-python-serialize"
            | "application/python-pickle"
            | "application/x-pickle" => Err(Error::RefusedContentType {
                content_type: content_type.to_owned(),
                why: PICKLE_WHY,
            }),
            _ => Err(Error::UnknownContentType {
                seen: content_type.to_owned(),
            }),
        }
    }

    /// Encodes `value` in this content type.
    pub fn encode<T: Serialize + ?Sized>(self, value: &T) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.encode_into(value, &mut out)?;
        Ok(out)
    }

    /// Appends the encoding of `value` to `out`; on error `out` is left as it was.
    pub fn encode_into<T: Serialize + ?Sized>(self, value: &T, out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        let written = match self {
            ContentType::Avro => binary::write(value, out).map_err(|f| f.to_string()),
            ContentType::Json => serde_json::to_writer(&mut *out, value).map_err(|e| e.to_string()),
            ContentType::MsgPack => {
                rmp_serde::encode::write_named(&mut *out, value).map_err(|e| e.to_string())
            }
        };
        written.map_err(|reason| {
            out.truncate(start);
            Error::Encode {
                what: format!("{} payload of {}", self, std::any::type_name::<T>()),
                expected: "a value the content type can hold".into(),
                seen: reason,
            }
        })
    }

    /// Decodes a `T` with the default [`Limits`].
    pub fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T> {
        self.decode_with(bytes, &Limits::DEFAULT)
    }

    /// Decodes a `T`, refusing input over `limits.max_record_bytes` or nested past `max_depth`.
    pub fn decode_with<T: DeserializeOwned>(self, bytes: &[u8], limits: &Limits) -> Result<T> {
        if bytes.len() > limits.max_record_bytes {
            return Err(Error::OverSize {
                what: format!("{self} payload"),
                max: limits.max_record_bytes,
                seen: bytes.len(),
            });
        }
        let decoded = match self {
            ContentType::Avro => binary::from_slice(bytes, limits).map_err(|f| f.to_string()),
            ContentType::Json => {
                let mut de = serde_json::Deserializer::from_slice(bytes);
                T::deserialize(&mut de)
                    .and_then(|v| de.end().map(|()| v))
                    .map_err(|e| e.to_string())
            }
            ContentType::MsgPack => {
                let mut de = rmp_serde::Deserializer::from_read_ref(bytes);
                de.set_max_depth(limits.max_depth);
                T::deserialize(&mut de).map_err(|e| e.to_string())
            }
        };
        decoded.map_err(|reason| Error::PayloadDecode {
            content_type: self.as_str(),
            target: std::any::type_name::<T>(),
            reason,
        })
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ContentType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        ContentType::parse(s)
    }
}

/// Encodes `value` as `content_type` says.
pub fn encode<T: Serialize + ?Sized>(content_type: ContentType, value: &T) -> Result<Vec<u8>> {
    content_type.encode(value)
}

/// Decodes a `T` from `bytes` as `content_type` says, with the default [`Limits`].
pub fn decode<T: DeserializeOwned>(content_type: ContentType, bytes: &[u8]) -> Result<T> {
    content_type.decode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pickle_is_refused_with_the_reason() {
        let err = ContentType::parse("application/x-python-serialize").expect_err("pickle refused");
        let msg = err.to_string();
        assert!(msg.contains("executes code"), "{msg}");
        assert!(msg.contains("application/json"), "{msg}");
    }

    #[test]
    fn names_round_trip() {
        for ct in ContentType::ALL {
            assert_eq!(ContentType::parse(ct.as_str()).expect("known"), ct);
        }
        assert!(matches!(
            ContentType::parse("text/plain"),
            Err(Error::UnknownContentType { .. })
        ));
    }
}

//! The [`Record`] trait every record type implements, and the [`Codec`] that carries the limits.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::wire::{self, HEADER_LEN};
use crate::{binary, registry, resolve, Error, Limits, Result, SchemaVersion};

/// A Celeriac record: one `.avsc` file under `schemas/avro/`, released versions under
/// `schemas/avro/history/`, written in Avro single-object encoding.
///
/// ```
/// use celeriac_schemas::{ControlReply, Record};
///
/// let reply = ControlReply {
///     command_id: uuid::Uuid::nil(),
///     hostname: "worker1@host".into(),
///     body: r#"{"ok":"pong"}"#.into(),
///     timestamp: 1_700_000_000_000,
/// };
/// let bytes = reply.encode()?;
/// assert_eq!(bytes[..2], [0xC3, 0x01]);
/// assert_eq!(ControlReply::decode(&bytes)?, reply);
/// # Ok::<(), celeriac_schemas::Error>(())
/// ```
pub trait Record: Serialize + DeserializeOwned + sealed::Sealed {
    /// The record's full Avro name, for example `celeriac.v1.TaskMessage`.
    const NAME: &'static str;

    /// Every released version of the schema, oldest first; the last is today's.
    fn versions() -> &'static [SchemaVersion];

    /// Today's schema: the one [`encode`](Record::encode) writes and [`decode`](Record::decode)
    /// resolves older and newer released versions to.
    fn current() -> &'static SchemaVersion {
        let versions = Self::versions();
        &versions[versions.len() - 1]
    }

    /// Encodes with the default [`Limits`].
    fn encode(&self) -> Result<Vec<u8>> {
        Codec::DEFAULT.encode(self)
    }

    /// Appends the encoding to `out` (for batching several records into one buffer).
    fn encode_into(&self, out: &mut Vec<u8>) -> Result<()> {
        Codec::DEFAULT.encode_into(self, out)
    }

    /// Decodes with the default [`Limits`].
    #[inline]
    fn decode(bytes: &[u8]) -> Result<Self> {
        Codec::DEFAULT.decode(bytes)
    }
}

pub(crate) mod sealed {
    /// Only this crate's record types are records: each needs a released schema.
    pub trait Sealed {}
}

/// Implements [`Record`] for a type whose schema is released under `avro/history/`.
macro_rules! record {
    ($($ty:ty => $name:literal),+ $(,)?) => {$(
        impl $crate::record::sealed::Sealed for $ty {}
        impl $crate::Record for $ty {
            const NAME: &'static str = $name;
            fn versions() -> &'static [$crate::SchemaVersion] {
                static VERSIONS: ::std::sync::OnceLock<&'static [$crate::SchemaVersion]> =
                    ::std::sync::OnceLock::new();
                VERSIONS.get_or_init(|| $crate::registry::versions($name))
            }
        }
    )+};
}
pub(crate) use record;

/// Encodes and decodes records under a set of [`Limits`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Codec {
    limits: Limits,
}

/// The largest scratch buffer [`Codec::encode`] keeps between calls (per thread).
const SCRATCH_KEEP: usize = 64 << 10;

impl Codec {
    /// A codec with [`Limits::DEFAULT`].
    pub const DEFAULT: Codec = Codec::new(Limits::DEFAULT);

    /// A codec with these limits.
    pub const fn new(limits: Limits) -> Self {
        Codec { limits }
    }

    /// The limits this codec applies.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Encodes `record` with today's schema, in single-object encoding.
    ///
    /// The bytes are written into a per-thread scratch buffer and returned in an allocation
    /// of their exact size: encoded records are often kept (in a log's tail, a results
    /// cache), and a generous buffer would be kept with them.
    pub fn encode<R: Record>(&self, record: &R) -> Result<Vec<u8>> {
        thread_local! {
            static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => {
                scratch.clear();
                self.encode_into(record, &mut scratch)?;
                if scratch.capacity() > SCRATCH_KEEP {
                    // A large record takes the buffer it grew (no copy); it is not kept.
                    return Ok(std::mem::take(&mut *scratch));
                }
                Ok(scratch.to_vec())
            }
            // Re-entered (encoding inside encoding cannot happen today): a buffer of its own.
            Err(_) => {
                let mut out = Vec::new();
                self.encode_into(record, &mut out)?;
                Ok(out)
            }
        })
    }

    /// Appends the encoding of `record` to `out`; on error `out` is left as it was.
    pub fn encode_into<R: Record>(&self, record: &R, out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        wire::put_header(out, R::current().fingerprint());
        let written = binary::write(record, out);
        let size = out.len() - start;
        if let Err(fault) = written {
            out.truncate(start);
            return Err(Error::Encode {
                what: format!("{} record", R::NAME),
                expected: "a value its schema can hold".into(),
                seen: fault.to_string(),
            });
        }
        if size > self.limits.max_record_bytes {
            out.truncate(start);
            return Err(Error::OverSize {
                what: format!("{} record", R::NAME),
                max: self.limits.max_record_bytes,
                seen: size,
            });
        }
        Ok(())
    }

    /// Decodes the first fields of a record written with today's version of `R`'s schema into
    /// `H` (whose fields are those first fields, in order), reading no further; `None` for a
    /// record written with another version, which must be decoded whole.
    pub(crate) fn decode_prefix<'a, R: Record, H: Deserialize<'a>>(
        &self,
        bytes: &'a [u8],
    ) -> Result<Option<H>> {
        self.check_size::<R>(bytes)?;
        let (fingerprint, body) = wire::split(bytes)?;
        let current = R::current();
        if !current.has_fingerprint(fingerprint) {
            return Ok(None);
        }
        binary::prefix_from_slice(body, &self.limits)
            .map(Some)
            .map_err(|f| f.into_record_error(R::NAME, current.version(), HEADER_LEN))
    }

    fn check_size<R: Record>(&self, bytes: &[u8]) -> Result<()> {
        if bytes.len() > self.limits.max_record_bytes {
            return Err(Error::OverSize {
                what: format!("{} record", R::NAME),
                max: self.limits.max_record_bytes,
                seen: bytes.len(),
            });
        }
        Ok(())
    }

    /// Decodes a record written with any released version of `R`'s schema.
    ///
    /// Today's version takes the fast path; an older (or newer) released version is resolved to
    /// today's by apache-avro, filling defaults for fields the writer did not have.
    #[inline]
    pub fn decode<R: Record>(&self, bytes: &[u8]) -> Result<R> {
        self.check_size::<R>(bytes)?;
        let (fingerprint, body) = wire::split(bytes)?;
        let current = R::current();
        if current.has_fingerprint(fingerprint) {
            return binary::from_slice(body, &self.limits)
                .map_err(|f| f.into_record_error(R::NAME, current.version(), HEADER_LEN));
        }
        match R::versions()
            .iter()
            .find(|v| v.fingerprint() == fingerprint)
        {
            Some(writer) => resolve::decode(writer, current, body, &self.limits, HEADER_LEN),
            None => Err(Error::UnknownFingerprint {
                record: R::NAME,
                expected: R::versions()
                    .iter()
                    .map(SchemaVersion::fingerprint)
                    .collect(),
                seen: fingerprint,
                belongs_to: registry::lookup(fingerprint)
                    .map(|v| format!("{} v{}", v.name(), v.version())),
            }),
        }
    }
}

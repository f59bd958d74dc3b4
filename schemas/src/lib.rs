//! The Avro contract of Celeriac: record types, their schemas, the codec and evolution rules.
//!
//! Every record on a Celeriac topic is one of the types below, written in Avro single-object
//! encoding (`C3 01`, the schema's CRC-64-AVRO fingerprint little-endian, the body) with the
//! schema in `schemas/avro/<Record>.avsc`. Those files are the contract with producers and
//! consumers in other languages; every released version is kept in `schemas/avro/history/`,
//! and a record written with any of them decodes with today's types.
//!
//! - [`Record`]: `encode`, `encode_into`, `decode` for every record type; [`Codec`] does the
//!   same under explicit [`Limits`].
//! - [`payload`]: task arguments and results as bytes with a [`ContentType`].
//! - [`fingerprint`], [`lookup`], [`released`]: which schema a record was written with.
//! - [`Error`]: everything that can go wrong, each saying what was expected and what was seen.
//!
//! Times are `i64` milliseconds since the Unix epoch (Avro `timestamp-millis`); ids are
//! [`Uuid`](uuid::Uuid)s (Avro `uuid` over `string`). Maps are `BTreeMap`s so a record's bytes
//! are deterministic (`WorkflowSpec`'s `StepOptions::headers` predates this and is a `HashMap`).
//!
//! # How it is built
//!
//! apache-avro is the authority: it parses the schemas, checks compatibility, and resolves a
//! body written with an older (or newer) released version to today's. Today's version takes a
//! fast path: a serde codec driven by the Rust type's shape, whose bytes the tests prove
//! identical to apache-avro's for every record type. The header fingerprint is computed here
//! from the spec's Parsing Canonical Form, because apache-avro 0.21 gets it wrong for schemas
//! with logical types (AVRO-4004); apache-avro's value is still accepted on read.
//!
//! # Evolving a schema
//!
//! 1. Change `schemas/avro/<Record>.avsc`: only add fields, each with a `default` (and a `doc`
//!    that says which version added it); never rename, retype or remove one.
//! 2. Copy it to `schemas/avro/history/<Record>.v<N+1>.avsc` and add `N+1` to the record's
//!    list in `registry.rs`; released files never change again.
//! 3. Add the field to the Rust type, in the same position.
//! 4. `CELERIAC_BLESS=1 cargo test -p celeriac-schemas --test golden` writes the new version's
//!    golden vectors; the suite then checks every pair of versions for compatibility both ways,
//!    every old vector against today's reader, and fastavro against all of them.

mod beat;
mod binary;
mod canonical;
mod control;
mod dead;
mod error;
mod event;
mod limits;
pub mod payload;
mod record;
mod registry;
mod resolve;
mod result;
mod task;
mod uuid_field;
mod wire;
mod worker;
mod workflow;

pub use beat::{BeatFire, BeatFireKind};
pub use control::{ControlCommand, ControlKind, ControlReply};
pub use dead::{DeadLetter, DeadLetterKind};
pub use error::{Error, Result};
pub use event::{TaskError, TaskEvent, TaskEventKind};
pub use limits::{Limits, DEFAULT_MAX_RECORD_BYTES};
pub use payload::ContentType;
pub use record::{Codec, Record};
pub use registry::{lookup, released, SchemaVersion};
pub use result::{ResultHead, TaskResult, TaskState};
pub use task::{clock_offset_ms, now_millis, RetryPolicy, TaskMessage, CLOCK_OFFSET_VAR};
pub use wire::{fingerprint, HEADER_LEN, MAGIC};
pub use worker::WorkerHeartbeat;
pub use workflow::{InputMode, StepKind, StepOptions, WorkflowEdge, WorkflowSpec, WorkflowStep};

record::record! {
    TaskMessage => "celeriac.v1.TaskMessage",
    WorkflowSpec => "celeriac.v1.WorkflowSpec",
    TaskEvent => "celeriac.v1.TaskEvent",
    TaskResult => "celeriac.v1.TaskResult",
    ControlCommand => "celeriac.v1.ControlCommand",
    ControlReply => "celeriac.v1.ControlReply",
    WorkerHeartbeat => "celeriac.v1.WorkerHeartbeat",
    DeadLetter => "celeriac.v1.DeadLetter",
    BeatFire => "celeriac.v1.BeatFire",
}

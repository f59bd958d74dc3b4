//! `DeadLetter`: a record that could not be processed (`schemas/avro/DeadLetter.avsc`).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A record that could not be processed, with the reason, on `celeriac.dead`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The record's value exactly as it was read.
    #[serde(with = "apache_avro::serde_avro_bytes")]
    pub original: Vec<u8>,
    /// The topic it was read from.
    pub source_topic: String,
    /// The partition it was read from.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
    /// The record's key as it was read, if it had one.
    #[serde(with = "apache_avro::serde_avro_bytes_opt")]
    pub key: Option<Vec<u8>>,
    /// Why it is here, for a person.
    pub reason: String,
    /// Why it is here, for a program.
    pub kind: DeadLetterKind,
    /// The task id, when the record could be read far enough to know it.
    #[serde(default, deserialize_with = "crate::uuid_field::deserialize_option")]
    pub task_id: Option<Uuid>,
    /// When it was dead-lettered (milliseconds since the Unix epoch).
    pub dead_at: i64,
}

/// Why a record was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeadLetterKind {
    /// The bytes are not a record we can read.
    Undecodable,
    /// No worker registers the task name.
    UnknownTask,
    /// The task failed with no retries left.
    RetriesExhausted,
    /// The task refused the message (for example its arguments did not decode).
    Rejected,
}

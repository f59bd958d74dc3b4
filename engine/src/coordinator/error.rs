//! The coordinator's one error type: each case says what failed and where.

use std::path::PathBuf;

/// `Result` with the coordinator's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in the coordinator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The state store (RocksDB) failed.
    #[error("coordinator store at {path}: {detail}")]
    Store {
        /// The store's directory.
        path: PathBuf,
        /// What RocksDB said.
        detail: String,
    },
    /// A value in the store is not one the coordinator wrote.
    #[error("coordinator store: corrupt {table} entry: {detail}")]
    Corrupt {
        /// The table (column family).
        table: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A log operation failed.
    #[error("{context}: {source}")]
    Log {
        /// What the coordinator was doing.
        context: String,
        /// The log's error.
        #[source]
        source: celeriac_topics::Error,
    },
    /// The co-partitioned topics disagree on their partition counts.
    #[error(
        "topics {workflows:?} ({workflow_partitions} partitions), {timers:?} ({timer_partitions}) and \
         {events:?} ({event_partitions}) must have the same partition count: recreate them with \
         `celeriac topics create`"
    )]
    PartitionMismatch {
        /// The workflows topic.
        workflows: String,
        /// Its partition count.
        workflow_partitions: i32,
        /// The timers topic.
        timers: String,
        /// Its partition count.
        timer_partitions: i32,
        /// The events topic.
        events: String,
        /// Its partition count.
        event_partitions: i32,
    },
    /// A record could not be encoded (a bug or an oversized value).
    #[error("encoding {what}: {source}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The codec's error.
        #[source]
        source: celeriac_schemas::Error,
    },
    /// `replay` was pointed at a directory that already holds something.
    #[error("replay target {path} is not empty: replay rebuilds into a fresh directory")]
    NotFresh {
        /// The directory.
        path: PathBuf,
    },
    /// The loop stayed in one phase past its bound: an await that would never end. The
    /// coordinator stops so that its supervisor starts a fresh one.
    #[error("the coordinator stalled: {phase} for {after:?} (it starts again)")]
    Stalled {
        /// What the loop was doing.
        phase: &'static str,
        /// How long it had been doing it.
        after: std::time::Duration,
    },
    /// A setting the coordinator cannot run with.
    #[error("invalid coordinator setting {what}: {detail}")]
    Config {
        /// The setting.
        what: &'static str,
        /// Why.
        detail: String,
    },
}

impl Error {
    /// Wraps a log error with what the coordinator was doing.
    pub(crate) fn log(context: impl Into<String>, source: celeriac_topics::Error) -> Self {
        Error::Log {
            context: context.into(),
            source,
        }
    }

    /// A corrupt store entry.
    pub(crate) fn corrupt(table: &'static str, detail: impl Into<String>) -> Self {
        Error::Corrupt {
            table,
            detail: detail.into(),
        }
    }
}

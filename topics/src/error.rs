//! The one error type of the log, and what a caller can do about each case.

use std::time::Duration;

use crate::record::{OutRecord, TopicPartition};

/// `Result` with the log's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How a failed transaction operation must be handled (librdkafka's classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnErrorClass {
    /// Try the same call again.
    Retriable,
    /// Abort the transaction, rewind the consumer to the last committed offsets, go again.
    Abortable,
    /// The producer is unusable (fatal, or fenced by a newer instance): build a new one.
    Fatal,
}

/// What went wrong in the log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No broker answered within the configured wait.
    #[error("no Kafka broker answered at {brokers} within {waited:?}: {detail}")]
    BrokerUnreachable {
        /// The bootstrap servers tried.
        brokers: String,
        /// How long we waited.
        waited: Duration,
        /// The last error seen.
        detail: String,
    },
    /// The brokers answered but refused us: wrong credentials, or a certificate not trusted
    /// (either way). Trying again will not help until the configuration changes.
    #[error("the Kafka brokers at {brokers} refused the connection: {detail} (check security.protocol, sasl.*, ssl.* in [kafka])")]
    Refused {
        /// The bootstrap servers tried.
        brokers: String,
        /// What librdkafka reported.
        detail: String,
    },
    /// An operation did not complete in time.
    #[error("{operation} did not complete within {after:?}")]
    Timeout {
        /// What was attempted.
        operation: String,
        /// The bound that passed.
        after: Duration,
    },
    /// The topic does not exist.
    #[error("unknown topic {0:?}: create it first (`celeriac topics create`)")]
    UnknownTopic(String),
    /// The partition does not exist.
    #[error("unknown partition {0}")]
    UnknownPartition(TopicPartition),
    /// A topic exists with another partition count than required.
    #[error("topic {topic:?} has {found} partitions, expected {expected}")]
    PartitionMismatch {
        /// The topic.
        topic: String,
        /// The count asked for.
        expected: i32,
        /// The count it has.
        found: i32,
    },
    /// The producer's local queue is full; the record is handed back to try again later.
    #[error("the producer queue is full; retry after deliveries complete")]
    QueueFull(Box<OutRecord>),
    /// A transaction operation failed; `class` says how to recover.
    #[error("transaction {operation} failed ({class:?}): {detail}")]
    Transaction {
        /// begin, send, send_offsets, commit or abort.
        operation: &'static str,
        /// How to recover.
        class: TxnErrorClass,
        /// The backend's message.
        detail: String,
    },
    /// An argument or configuration the backend refuses.
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// What was invalid.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// The Kafka client reported an error.
    #[error("kafka {operation}: {source}")]
    Kafka {
        /// What was attempted.
        operation: &'static str,
        /// The client's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// The embedded log's storage failed.
    #[error("embedded log storage at {path}: {detail}")]
    Storage {
        /// The store's directory.
        path: String,
        /// What RocksDB said.
        detail: String,
    },
    /// The client or consumer was closed.
    #[error("the {0} is closed")]
    Closed(&'static str),
}

impl Error {
    /// True when the same call may succeed if tried again later.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::BrokerUnreachable { .. } | Error::Timeout { .. } | Error::QueueFull(_) => true,
            Error::Transaction { class, .. } => *class == TxnErrorClass::Retriable,
            Error::Kafka { source, .. } => source
                .rdkafka_error_code()
                .is_some_and(crate::kafka::is_retriable_code),
            _ => false,
        }
    }

    /// For a transaction failure, how to recover; `None` for other errors.
    pub fn txn_class(&self) -> Option<TxnErrorClass> {
        match self {
            Error::Transaction { class, .. } => Some(*class),
            _ => None,
        }
    }
}

//! The Kafka backend (placeholder until the rdkafka implementation lands).

use rdkafka::types::RDKafkaErrorCode;

/// The Kafka backend.
#[derive(Debug)]
pub struct KafkaLog;

/// True for broker error codes that a later retry may get past.
pub(crate) fn is_retriable_code(_code: RDKafkaErrorCode) -> bool {
    false
}

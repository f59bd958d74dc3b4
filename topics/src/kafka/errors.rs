//! How librdkafka's errors map onto the log's [`Error`].

use rdkafka::error::{KafkaError, RDKafkaError};
use rdkafka::types::RDKafkaErrorCode as Code;

use crate::error::{Error, TxnErrorClass};

/// True for error codes that a later retry may get past: the broker's retriable errors (those
/// the Java client marks `RetriableException`) and librdkafka's local transport and timeout
/// errors.
pub(crate) fn is_retriable_code(code: Code) -> bool {
    matches!(
        code,
        Code::BrokerTransportFailure
            | Code::Resolve
            | Code::MessageTimedOut
            | Code::AllBrokersDown
            | Code::OperationTimedOut
            | Code::QueueFull
            | Code::WaitingForCoordinator
            | Code::TimedOutQueue
            | Code::Retry
            | Code::UnknownTopicOrPartition
            | Code::LeaderNotAvailable
            | Code::NotLeaderForPartition
            | Code::RequestTimedOut
            | Code::BrokerNotAvailable
            | Code::ReplicaNotAvailable
            | Code::NetworkException
            | Code::CoordinatorLoadInProgress
            | Code::CoordinatorNotAvailable
            | Code::NotCoordinator
            | Code::NotEnoughReplicas
            | Code::NotEnoughReplicasAfterAppend
            | Code::RebalanceInProgress
            | Code::ConcurrentTransactions
            | Code::KafkaStorageError
            | Code::FetchSessionIdNotFound
            | Code::InvalidFetchSessionEpoch
            | Code::FencedLeaderEpoch
            | Code::UnknownLeaderEpoch
            | Code::OffsetNotAvailable
            | Code::PreferredLeaderNotAvailable
            | Code::EligibleLeadersNotAvailable
            | Code::UnstableOffsetCommit
            | Code::ThrottlingQuotaExceeded
    )
}

/// Errors librdkafka reports on a consumer and then recovers from by itself (a broker went
/// away, a coordinator moved): logged, not handed to the caller of `poll`.
pub(crate) fn is_transient_consumer_error(code: Code) -> bool {
    matches!(
        code,
        Code::BrokerTransportFailure
            | Code::AllBrokersDown
            | Code::Resolve
            | Code::OperationTimedOut
            | Code::TimedOutQueue
            | Code::NetworkException
            | Code::RequestTimedOut
            | Code::NotCoordinator
            | Code::CoordinatorNotAvailable
            | Code::CoordinatorLoadInProgress
            | Code::LeaderNotAvailable
            | Code::NotLeaderForPartition
            | Code::PartitionEOF
    )
}

/// Codes that mean this producer instance is finished: fenced by a newer one with the same
/// transactional id, or in librdkafka's fatal state.
fn is_fencing(code: Code) -> bool {
    matches!(
        code,
        Code::Fatal
            | Code::Fenced
            | Code::ProducerFenced
            | Code::InvalidProducerEpoch
            | Code::TransactionalIdAuthorizationFailed
    )
}

/// Classifies a failed transaction call the way librdkafka's transactions guide does: fatal
/// (or fenced) → rebuild the producer; requires abort → abort and rewind; retriable → call
/// again; anything else is treated as fatal.
pub(crate) fn classify(error: &RDKafkaError) -> TxnErrorClass {
    if error.is_fatal() || is_fencing(error.code()) {
        TxnErrorClass::Fatal
    } else if error.txn_requires_abort() {
        TxnErrorClass::Abortable
    } else if error.is_retriable() {
        TxnErrorClass::Retriable
    } else {
        TxnErrorClass::Fatal
    }
}

/// A transaction call's error in our terms.
pub(crate) fn transaction(operation: &'static str, error: KafkaError) -> Error {
    let class = match &error {
        KafkaError::Transaction(inner) => classify(inner),
        other => match other.rdkafka_error_code() {
            Some(code) if is_fencing(code) => TxnErrorClass::Fatal,
            Some(code) if is_retriable_code(code) => TxnErrorClass::Retriable,
            _ => TxnErrorClass::Abortable,
        },
    };
    Error::Transaction {
        operation,
        class,
        detail: error.to_string(),
    }
}

/// A record that failed inside a transaction: the transaction cannot commit, so it must be
/// aborted — unless the producer itself is finished.
pub(crate) fn transactional_delivery(error: KafkaError) -> Error {
    let class = match error.rdkafka_error_code() {
        Some(code) if is_fencing(code) => TxnErrorClass::Fatal,
        _ => TxnErrorClass::Abortable,
    };
    Error::Transaction {
        operation: "send",
        class,
        detail: error.to_string(),
    }
}

/// A plain client error, tagged with what was attempted.
pub(crate) fn kafka(operation: &'static str) -> impl FnOnce(KafkaError) -> Error {
    move |source| Error::Kafka { operation, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_and_leadership_errors_are_retriable() {
        for code in [
            Code::BrokerTransportFailure,
            Code::NotLeaderForPartition,
            Code::NotCoordinator,
        ] {
            assert!(is_retriable_code(code), "{code:?}");
        }
        for code in [
            Code::InvalidConfig,
            Code::TopicAuthorizationFailed,
            Code::MessageSizeTooLarge,
        ] {
            assert!(!is_retriable_code(code), "{code:?}");
        }
    }

    #[test]
    fn fencing_is_fatal_and_other_send_failures_abort() {
        let fenced = transactional_delivery(KafkaError::MessageProduction(Code::ProducerFenced));
        assert_eq!(fenced.txn_class(), Some(TxnErrorClass::Fatal));
        let timed_out =
            transactional_delivery(KafkaError::MessageProduction(Code::MessageTimedOut));
        assert_eq!(timed_out.txn_class(), Some(TxnErrorClass::Abortable));
        let coordinator = transaction(
            "commit",
            KafkaError::MessageProduction(Code::NotCoordinator),
        );
        assert_eq!(coordinator.txn_class(), Some(TxnErrorClass::Retriable));
    }
}

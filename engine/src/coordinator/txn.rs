//! The transaction rules of the coordinator, as decisions apart from the calls they steer.
//!
//! librdkafka's recipe: a *retriable* error means "call the same method again" (for
//! `commit_transaction` above all: the commit may already have succeeded, so aborting and
//! applying the batch again could publish its successors twice); an *abortable* one means
//! "abort, rewind the inputs, apply the batch again"; a *fatal* one (a newer producer fenced
//! this one) means this process's view is stale: stop and rejoin, never rebuild the producer in
//! place (a woken zombie that did so would fence the live owner in turn).
//!
//! Transactional ids are per partition (`<prefix>.coordinator.p<N>`): a member publishes with
//! the id of the lowest partition it owns and, on each assignment, opens (and drops) a producer
//! with the id of every other partition it owns. Opening an id fences whoever used it last and
//! aborts that producer's open transaction at once — so a member killed mid-transaction holds
//! back read-committed readers only until its partitions are reassigned, not for the
//! transaction timeout.

use std::time::Duration;

use celeriac_topics::{Error as LogError, TxnErrorClass};

/// Which transaction call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// `begin_transaction`.
    Begin,
    /// Producing one of the batch's records.
    Send,
    /// `send_offsets_to_transaction`.
    SendOffsets,
    /// `commit_transaction`.
    Commit,
}

/// What to do after a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Call the same method again (after a short pause).
    Retry,
    /// Abort the transaction, drop the state batch, rewind the inputs and apply them again.
    Abort,
    /// Stop this coordinator run (its supervisor starts a new one that rejoins the group):
    /// the producer is fenced or unusable, or a commit's outcome could not be learned.
    Restart,
}

/// How long a retriable error is retried before giving up on the call.
pub(crate) const RETRY_FOR: Duration = Duration::from_secs(60);

/// The pause between two tries of a retriable call.
pub(crate) const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// What to do after `error` from `step`, `tried_for` after the first try of that call.
pub(crate) fn after_failure(step: Step, error: &LogError, tried_for: Duration) -> Next {
    match (error.txn_class(), step) {
        (Some(TxnErrorClass::Fatal), _) => Next::Restart,
        (Some(TxnErrorClass::Retriable), _) if tried_for < RETRY_FOR => Next::Retry,
        // The commit may have gone through: never abort it. A new run restores from the log.
        (Some(TxnErrorClass::Retriable), Step::Commit) => Next::Restart,
        (Some(TxnErrorClass::Retriable), _) => Next::Abort,
        (Some(TxnErrorClass::Abortable), _) => Next::Abort,
        // Not a transaction error: from the commit, its outcome is unknown.
        (None, Step::Commit) => Next::Restart,
        // A record refused locally (queue full for too long, a closed producer): nothing was
        // committed, so abort and apply again.
        (None, _) => Next::Abort,
    }
}

/// The transactional id of `partition` for the app under `prefix`.
pub(crate) fn transactional_id(prefix: &str, partition: i32) -> String {
    format!("{prefix}.coordinator.p{partition}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(class: TxnErrorClass) -> LogError {
        LogError::Transaction {
            operation: "commit",
            class,
            detail: "test".into(),
        }
    }

    #[test]
    fn a_retriable_commit_is_retried_and_never_aborted() {
        let error = txn(TxnErrorClass::Retriable);
        assert_eq!(
            after_failure(Step::Commit, &error, Duration::ZERO),
            Next::Retry
        );
        assert_eq!(
            after_failure(Step::Commit, &error, RETRY_FOR),
            Next::Restart,
            "a commit whose outcome stays unknown restarts, it is not aborted"
        );
        let timeout = LogError::Timeout {
            operation: "commit".into(),
            after: Duration::from_secs(30),
        };
        assert_eq!(
            after_failure(Step::Commit, &timeout, Duration::ZERO),
            Next::Restart
        );
    }

    #[test]
    fn abortable_errors_abort_and_fatal_ones_restart() {
        for step in [Step::Begin, Step::Send, Step::SendOffsets, Step::Commit] {
            assert_eq!(
                after_failure(step, &txn(TxnErrorClass::Abortable), Duration::ZERO),
                Next::Abort
            );
            assert_eq!(
                after_failure(step, &txn(TxnErrorClass::Fatal), Duration::ZERO),
                Next::Restart,
                "a fenced producer is never rebuilt in place"
            );
        }
    }

    #[test]
    fn other_calls_retry_then_abort() {
        let error = txn(TxnErrorClass::Retriable);
        assert_eq!(
            after_failure(Step::SendOffsets, &error, Duration::ZERO),
            Next::Retry
        );
        assert_eq!(
            after_failure(Step::SendOffsets, &error, RETRY_FOR),
            Next::Abort
        );
        assert_eq!(
            after_failure(Step::Send, &LogError::Closed("producer"), Duration::ZERO),
            Next::Abort
        );
    }

    #[test]
    fn ids_are_per_partition() {
        assert_eq!(transactional_id("celeriac", 3), "celeriac.coordinator.p3");
        assert_ne!(transactional_id("a", 1), transactional_id("b", 1));
    }
}

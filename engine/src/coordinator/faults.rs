//! Test hooks that make the log misbehave in ways a real cluster does rarely: a commit that
//! went through but reports a retriable error (its response was lost), and one that went
//! through and never returns (a client wedged).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use celeriac_topics::{
    CommitOffset, Delivery, Error, GroupMetadata, OutRecord, Result, TransactionalProducer,
    TxnErrorClass,
};

/// `producer` with its commits misbehaving: the first `lying` successful ones report a
/// retriable error instead (one lie per transaction), and while `hanging` (shared by every
/// run of a supervised coordinator) counts down from above zero, a commit goes through and
/// then never returns. Without either fault, `producer` itself.
pub(super) fn faulty_commits(
    producer: Box<dyn TransactionalProducer>,
    lying: u64,
    hanging: &Arc<AtomicU64>,
) -> Box<dyn TransactionalProducer> {
    if lying == 0 && hanging.load(Ordering::Acquire) == 0 {
        return producer;
    }
    Box::new(FaultyCommits {
        inner: producer,
        lies_left: AtomicU64::new(lying),
        lied: AtomicBool::new(false),
        hangs_left: Arc::clone(hanging),
    })
}

/// Passes every call through; only `commit` misbehaves.
struct FaultyCommits {
    inner: Box<dyn TransactionalProducer>,
    lies_left: AtomicU64,
    lied: AtomicBool,
    hangs_left: Arc<AtomicU64>,
}

/// Takes one from `left` if it is above zero.
fn take_one(left: &AtomicU64) -> bool {
    left.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .is_ok()
}

#[async_trait]
impl TransactionalProducer for FaultyCommits {
    async fn begin(&self) -> Result<()> {
        self.lied.store(false, Ordering::Release);
        self.inner.begin().await
    }

    fn send(&self, record: OutRecord) -> Result<Delivery> {
        self.inner.send(record)
    }

    async fn send_offsets(&self, offsets: &[CommitOffset], group: &GroupMetadata) -> Result<()> {
        self.inner.send_offsets(offsets, group).await
    }

    async fn commit(&self) -> Result<()> {
        self.inner.commit().await?;
        if take_one(&self.hangs_left) {
            std::future::pending::<()>().await;
        }
        if !self.lied.swap(true, Ordering::AcqRel) && take_one(&self.lies_left) {
            return Err(Error::Transaction {
                operation: "commit",
                class: TxnErrorClass::Retriable,
                detail: "injected: the commit went through but its response was lost".into(),
            });
        }
        Ok(())
    }

    async fn abort(&self) -> Result<()> {
        self.inner.abort().await
    }
}

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

/// `producer`, whose first `n` successful commits report a retriable error instead.
pub(super) fn lying_commits(
    producer: Box<dyn TransactionalProducer>,
    n: u64,
) -> Box<dyn TransactionalProducer> {
    if n == 0 {
        return producer;
    }
    Box::new(LyingCommits {
        inner: producer,
        left: AtomicU64::new(n),
        lied: AtomicBool::new(false),
    })
}

/// Lies about one commit per transaction: the retried call then learns the truth.
struct LyingCommits {
    inner: Box<dyn TransactionalProducer>,
    left: AtomicU64,
    lied: AtomicBool,
}

#[async_trait]
impl TransactionalProducer for LyingCommits {
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
        let lie = !self.lied.swap(true, Ordering::AcqRel)
            && self
                .left
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok();
        if lie {
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

/// `producer`, whose commits go through and then never return while `left` (shared by every
/// run of a supervised coordinator) counts down from above zero.
pub(super) fn hanging_commits(
    producer: Box<dyn TransactionalProducer>,
    left: &Arc<AtomicU64>,
) -> Box<dyn TransactionalProducer> {
    if left.load(Ordering::Acquire) == 0 {
        return producer;
    }
    Box::new(HangingCommits {
        inner: producer,
        left: Arc::clone(left),
    })
}

/// Commits, then waits forever, `left` times.
struct HangingCommits {
    inner: Box<dyn TransactionalProducer>,
    left: Arc<AtomicU64>,
}

#[async_trait]
impl TransactionalProducer for HangingCommits {
    async fn begin(&self) -> Result<()> {
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
        let hang = self
            .left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        if hang {
            std::future::pending::<()>().await;
        }
        Ok(())
    }

    async fn abort(&self) -> Result<()> {
        self.inner.abort().await
    }
}

//! Transactions of the embedded log: records and consumer offsets buffered, then written in
//! one RocksDB write batch at commit — all visible together, or none on abort.
//!
//! Fencing works as on Kafka: a newer producer with the same transactional id bumps the id's
//! epoch, and the older one's next call fails as fatal; offsets sent for a partition the
//! sending member no longer owns (the group rebalanced) make the commit fail as abortable.

use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::oneshot;

use super::group::lock;
use super::EmbeddedLog;
use crate::error::{Error, Result, TxnErrorClass};
use crate::log::{Delivery, GroupMetadata, GroupMetadataInner, TransactionalProducer};
use crate::record::{CommitOffset, OutRecord, Position};

struct OpenTransaction {
    records: Vec<(OutRecord, oneshot::Sender<Result<Position>>)>,
    offsets: Vec<(String, u64, u64, CommitOffset)>,
}

/// A transactional producer of the embedded log.
pub(super) struct EmbeddedTransactionalProducer {
    log: EmbeddedLog,
    id: String,
    epoch: u64,
    open: Mutex<Option<OpenTransaction>>,
    /// The last transaction call was a commit that went through: calling commit again
    /// answers success, as librdkafka's resumed commit does after a lost response.
    committed: Mutex<bool>,
}

fn txn_error(operation: &'static str, class: TxnErrorClass, detail: impl Into<String>) -> Error {
    Error::Transaction {
        operation,
        class,
        detail: detail.into(),
    }
}

impl EmbeddedTransactionalProducer {
    /// A producer for `id`, fencing any older producer with the same id.
    pub(super) fn new(log: EmbeddedLog, id: &str) -> Self {
        let epoch = {
            let mut epochs = lock(&log.inner.txn_epochs);
            let epoch = epochs.entry(id.to_owned()).or_insert(0);
            *epoch += 1;
            *epoch
        };
        Self {
            log,
            id: id.to_owned(),
            epoch,
            open: Mutex::new(None),
            committed: Mutex::new(false),
        }
    }

    fn check_epoch(&self, operation: &'static str) -> Result<()> {
        let current = lock(&self.log.inner.txn_epochs).get(&self.id).copied();
        if current == Some(self.epoch) {
            Ok(())
        } else {
            Err(txn_error(
                operation,
                TxnErrorClass::Fatal,
                format!("producer {:?} was fenced by a newer instance", self.id),
            ))
        }
    }

    fn with_open<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&mut OpenTransaction) -> T,
    ) -> Result<T> {
        self.check_epoch(operation)?;
        let mut open = lock(&self.open);
        let txn = open.as_mut().ok_or_else(|| {
            txn_error(
                operation,
                TxnErrorClass::Abortable,
                "no transaction is open: call begin first",
            )
        })?;
        Ok(f(txn))
    }

    /// Offsets whose sending member no longer owns their partition at the sent generation.
    fn stale_offsets(&self, offsets: &[(String, u64, u64, CommitOffset)]) -> Option<String> {
        offsets
            .iter()
            .find(|(group, member, generation, offset)| {
                !self
                    .log
                    .inner
                    .groups
                    .owns(group, *member, *generation, &offset.tp)
            })
            .map(|(group, _, _, offset)| {
                format!(
                    "{} is no longer owned by this member of group {group:?}",
                    offset.tp
                )
            })
    }
}

#[async_trait]
impl TransactionalProducer for EmbeddedTransactionalProducer {
    async fn begin(&self) -> Result<()> {
        self.check_epoch("begin")?;
        let mut open = lock(&self.open);
        if open.is_some() {
            return Err(txn_error(
                "begin",
                TxnErrorClass::Abortable,
                "a transaction is already open",
            ));
        }
        *open = Some(OpenTransaction {
            records: Vec::new(),
            offsets: Vec::new(),
        });
        *lock(&self.committed) = false;
        Ok(())
    }

    fn send(&self, record: OutRecord) -> Result<Delivery> {
        let (tx, rx) = oneshot::channel();
        self.with_open("send", |txn| txn.records.push((record, tx)))?;
        Ok(Delivery::new(async move {
            rx.await.unwrap_or_else(|_| {
                Err(txn_error(
                    "send",
                    TxnErrorClass::Abortable,
                    "the transaction was aborted",
                ))
            })
        }))
    }

    async fn send_offsets(&self, offsets: &[CommitOffset], group: &GroupMetadata) -> Result<()> {
        let GroupMetadataInner::Embedded {
            group,
            member,
            generation,
        } = &group.0
        else {
            return Err(txn_error(
                "send_offsets",
                TxnErrorClass::Fatal,
                "group metadata from another backend",
            ));
        };
        self.with_open("send_offsets", |txn| {
            txn.offsets.extend(
                offsets
                    .iter()
                    .map(|o| (group.clone(), *member, *generation, o.clone())),
            );
        })
    }

    async fn commit(&self) -> Result<()> {
        self.check_epoch("commit")?;
        let Some(txn) = lock(&self.open).take() else {
            if *lock(&self.committed) {
                return Ok(()); // a commit called again after it went through
            }
            return Err(txn_error(
                "commit",
                TxnErrorClass::Abortable,
                "no transaction is open",
            ));
        };
        let (records, senders): (Vec<_>, Vec<_>) = txn.records.into_iter().unzip();
        let txn_offsets = txn.offsets;
        let offsets: Vec<(String, CommitOffset)> = txn_offsets
            .iter()
            .map(|(g, _, _, o)| (g.clone(), o.clone()))
            .collect();
        let offsets_meta = &txn_offsets;
        let check = || {
            self.check_epoch("commit")?;
            match self.stale_offsets(offsets_meta) {
                Some(stale) => Err(txn_error("commit", TxnErrorClass::Abortable, stale)),
                None => Ok(()),
            }
        };
        match self.log.inner.append_if(records, &offsets, check) {
            Ok(positions) => {
                for (sender, position) in senders.into_iter().zip(positions) {
                    let _ = sender.send(Ok(position));
                }
                *lock(&self.committed) = true;
                Ok(())
            }
            Err(error @ Error::Transaction { .. }) => Err(error),
            Err(error) => Err(txn_error(
                "commit",
                TxnErrorClass::Abortable,
                error.to_string(),
            )),
        }
    }

    async fn abort(&self) -> Result<()> {
        lock(&self.open).take(); // dropping the senders fails every pending delivery
        *lock(&self.committed) = false;
        Ok(())
    }
}

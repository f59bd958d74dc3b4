//! Outcomes on their way to the log: one reporter per queue waits until each attempt's
//! records are durable and then tells the queue loop, which may commit past the message.
//!
//! A finished attempt hands its deliveries here and ends at once, so a task's future is not
//! woken a second time by the log; the reporter waits for deliveries in the order they were
//! queued, which is the order the log completes them, so most are ready when it looks. An
//! outcome the log refused is produced again by a task of its own until it is durable or the
//! worker shuts down.

use std::sync::Arc;

use celeriac_topics::{Delivery, TopicPartition};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

use super::execute::{report_again, Job, Outcome};
use super::WorkerShared;
use crate::Result;

/// The records of one outcome as queued on the log (one, or two for a retry or a dead
/// letter).
pub(crate) struct Deliveries {
    first: Delivery,
    second: Option<Delivery>,
}

impl Deliveries {
    /// One record.
    pub(crate) fn one(first: Delivery) -> Self {
        Deliveries {
            first,
            second: None,
        }
    }

    /// Two records.
    pub(crate) fn two(first: Delivery, second: Delivery) -> Self {
        Deliveries {
            first,
            second: Some(second),
        }
    }

    /// Resolves when every record is durable, or with the first failure.
    pub(crate) async fn durable(self) -> Result<()> {
        self.first.await?;
        if let Some(second) = self.second {
            second.await?;
        }
        Ok(())
    }
}

/// An attempt's outcome whose records are queued (or could not be).
pub(crate) struct Pending {
    pub(crate) deliveries: Result<Deliveries>,
    pub(crate) job: Job,
    pub(crate) outcome: Outcome,
}

/// Where attempts of one queue hand their outcomes.
#[derive(Clone)]
pub(crate) struct Reports {
    pending: UnboundedSender<Pending>,
}

impl Reports {
    /// Hands one outcome to the reporter. If the reporter is gone (the queue loop ended), the
    /// message stays uncommitted and runs again.
    pub(crate) fn pending(&self, pending: Pending) {
        let _ = self.pending.send(pending);
    }
}

/// Starts the reporter of one queue; it sends `(partition, offset)` to `done` for each
/// message whose outcome is durable, and ends when every [`Reports`] is dropped.
pub(crate) fn spawn_reporter(
    shared: Arc<WorkerShared>,
    done: UnboundedSender<(TopicPartition, i64)>,
) -> Reports {
    let (pending, queued) = mpsc::unbounded_channel();
    tokio::spawn(reporter(shared, queued, done));
    Reports { pending }
}

async fn reporter(
    shared: Arc<WorkerShared>,
    mut queued: UnboundedReceiver<Pending>,
    done: UnboundedSender<(TopicPartition, i64)>,
) {
    while let Some(pending) = queued.recv().await {
        let durable = match pending.deliveries {
            Ok(deliveries) => deliveries.durable().await,
            Err(error) => Err(error),
        };
        let Pending { job, outcome, .. } = pending;
        match durable {
            Ok(()) => {
                let _ = done.send((job.record.topic_partition(), job.record.offset));
            }
            Err(error) => {
                tracing::warn!(%error, task_id = %job.message.id, "recording the outcome failed; retrying");
                let (shared, done) = (shared.clone(), done.clone());
                tokio::spawn(async move {
                    if report_again(&shared, &job, &outcome).await {
                        let _ = done.send((job.record.topic_partition(), job.record.offset));
                    }
                });
            }
        }
    }
}

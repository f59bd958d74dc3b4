//! Outcomes on their way to the log: one reporter per queue waits until each settled
//! message's records are durable and then tells the queue loop, which may commit past the
//! message.
//!
//! What a message becomes — an attempt's outcome, or a dead letter, revocation or forward the
//! queue loop decided on — is built once as [`OutcomeRecords`] and sent as built: a record the
//! log refused is sent again, the same bytes, every half second until it is durable, so a
//! resent event never disagrees with a record of the same outcome that is durable already,
//! and one that was durable is never sent twice. A dead letter is durable before its FAILED
//! event is sent: a failure anyone can see has its dead letter written.
//!
//! The sender sends the first records, hands the deliveries here and moves on, so a task's
//! future is not woken a second time by the log; the reporter waits on all outstanding
//! deliveries at once and is woken about once per write the log makes (the embedded log
//! completes a whole group of sends together). At shutdown an outcome still refused is given
//! up: its message stays uncommitted and runs again.

use std::sync::Arc;
use std::time::Duration;

use celeriac_topics::{Delivery, Log, OutRecord, TopicPartition};
use futures::stream::{FuturesUnordered, StreamExt as _};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use uuid::Uuid;

use super::events::OutcomeRecords;
use super::WorkerShared;
use crate::{Error, Result};

/// How long a refused record waits before it is sent again.
const RETRY_EVERY: Duration = Duration::from_millis(500);

/// Where a message was read: what the queue loop finishes once its records are durable.
pub(crate) type Position = (TopicPartition, i64);

/// A record sent, kept so that a refusal sends the same bytes again.
struct Sent {
    record: OutRecord,
    delivery: Result<Delivery>,
}

impl Sent {
    fn send(log: &dyn Log, record: OutRecord) -> Self {
        let delivery = log.send(record.clone()).map_err(Error::from);
        Sent { record, delivery }
    }
}

/// Records the log refused, to send again, and the first refusal.
struct Refused {
    records: Vec<OutRecord>,
    error: Error,
}

/// Waits for every delivery of `sent`; the records the log refused, if any.
async fn settle(sent: Vec<Sent>) -> std::result::Result<(), Refused> {
    let mut refused = Vec::new();
    let mut first_error = None;
    for Sent { record, delivery } in sent {
        let durable = match delivery {
            Ok(delivery) => delivery.await.map(drop).map_err(Error::from),
            Err(error) => Err(error),
        };
        if let Err(error) = durable {
            refused.push(record);
            first_error.get_or_insert(error);
        }
    }
    match first_error {
        None => Ok(()),
        Some(error) => Err(Refused {
            records: refused,
            error,
        }),
    }
}

/// A settled message whose first records are sent.
pub(crate) struct Pending {
    position: Position,
    /// For logs: the task, when the message is one.
    task_id: Option<Uuid>,
    sent: Vec<Sent>,
    /// Sent once everything in `sent` is durable.
    then: Option<OutRecord>,
}

impl Pending {
    /// Sends the records that go first (the rest wait in the reporter for those to be durable).
    pub(crate) fn send(
        log: &dyn Log,
        position: Position,
        task_id: Option<Uuid>,
        records: OutcomeRecords,
    ) -> Self {
        let (first, then) = records.into_stages();
        let sent = first.into_iter().map(|r| Sent::send(log, r)).collect();
        Pending {
            position,
            task_id,
            sent,
            then,
        }
    }
}

/// The handle attempts of one queue hand their outcomes to.
#[derive(Clone)]
pub(crate) struct Reporter {
    pending: UnboundedSender<Pending>,
}

impl Reporter {
    /// Hands one outcome over. The reporter runs until every handle is dropped, so this
    /// fails only if it panicked; the message then stays uncommitted and runs again.
    pub(crate) fn hand_in(&self, pending: Pending) {
        let _ = self.pending.send(pending);
    }
}

/// Starts the reporter of one queue: it sends a message's position to `done` once its records
/// are durable, and ends when every [`Reporter`] handle is dropped and nothing is outstanding.
pub(crate) fn spawn_reporter(
    shared: Arc<WorkerShared>,
    done: UnboundedSender<Position>,
) -> Reporter {
    let (pending, queued) = mpsc::unbounded_channel();
    tokio::spawn(report(shared, queued, done));
    Reporter { pending }
}

async fn report(
    shared: Arc<WorkerShared>,
    mut queued: UnboundedReceiver<Pending>,
    done: UnboundedSender<Position>,
) {
    let mut settling = FuturesUnordered::new();
    let mut open = true;
    loop {
        tokio::select! {
            next = queued.recv(), if open => match next {
                Some(pending) => settling.push(record(&shared, pending, &done)),
                None => open = false,
            },
            Some(recorded) = settling.next() => {
                if let Some(position) = recorded {
                    let _ = done.send(position);
                }
            }
            else => break,
        }
    }
}

/// Sees one message's records durable, in their stages; its position once they are, `None`
/// when a refused record was given up on.
async fn record(
    shared: &WorkerShared,
    pending: Pending,
    done: &UnboundedSender<Position>,
) -> Option<Position> {
    let Pending {
        position,
        task_id,
        mut sent,
        mut then,
    } = pending;
    let log = shared.app.inner.log.as_ref();
    loop {
        if let Err(refused) = settle(sent).await {
            Box::pin(send_again(shared, &position, task_id, refused, done)).await?;
        }
        match then.take() {
            Some(record) => sent = vec![Sent::send(log, record)],
            None => return Some(position),
        }
    }
}

/// Sends refused records again, the same bytes, until they are durable; `None` when it gives
/// up, at shutdown or once the queue loop is gone (the message then runs again).
async fn send_again(
    shared: &WorkerShared,
    position: &Position,
    task_id: Option<Uuid>,
    refused: Refused,
    done: &UnboundedSender<Position>,
) -> Option<()> {
    let (tp, offset) = position;
    let Refused {
        mut records,
        mut error,
    } = refused;
    loop {
        tracing::warn!(%error, ?task_id, %tp, offset, "recording the outcome failed; retrying");
        let stopping = tokio::select! {
            () = tokio::time::sleep(RETRY_EVERY) => false,
            () = shared.cancel.cancelled() => true,
        };
        if stopping || done.is_closed() {
            tracing::warn!(?task_id, %tp, offset, "outcome not recorded before shutdown; the message will run again");
            return None;
        }
        let log = shared.app.inner.log.as_ref();
        let sent = records.into_iter().map(|r| Sent::send(log, r)).collect();
        match settle(sent).await {
            Ok(()) => return Some(()),
            Err(still) => (records, error) = (still.records, still.error),
        }
    }
}

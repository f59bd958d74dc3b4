//! Outcomes on their way to the log: one reporter per queue waits until each attempt's
//! records are durable and then tells the queue loop, which may commit past the message.
//!
//! A finished attempt sends its records, hands the deliveries here and ends, so a task's
//! future is not woken a second time by the log; the reporter waits on all outstanding
//! deliveries at once and is woken about once per write the log makes (the embedded log
//! completes a whole group of sends together). A record the log refused is sent again, on
//! its own, every half second until it is durable; one that was durable is never sent twice.
//! At shutdown an outcome still refused is given up: its message stays uncommitted and runs
//! again.

use std::sync::Arc;
use std::time::Duration;

use celeriac_topics::{Delivery, Log, OutRecord, TopicPartition};
use futures::stream::{FuturesUnordered, StreamExt as _};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

use super::execute::{outcome_records, Job, Outcome};
use super::WorkerShared;
use crate::{Error, Result};

/// How long a refused record waits before it is sent again.
const RETRY_EVERY: Duration = Duration::from_millis(500);

/// The records one outcome becomes: one, or two (a retry and its event; a failure and its
/// dead letter), by position.
pub(crate) type OutcomeRecords = [Option<OutRecord>; 2];

/// Which of an outcome's records are not durable yet, by position.
type Unsettled = [bool; 2];

/// The deliveries of an outcome's records, by position (`None`: no record there).
pub(crate) struct Deliveries([Option<Result<Delivery>>; 2]);

impl Deliveries {
    /// Sends each record.
    pub(crate) fn send(log: &dyn Log, records: OutcomeRecords) -> Self {
        Deliveries(records.map(|record| record.map(|r| log.send(r).map_err(Error::from))))
    }

    /// Waits for every delivery; on failure, which records are not durable and the first
    /// error.
    async fn settle(self) -> std::result::Result<(), (Unsettled, Error)> {
        let mut unsettled = [false; 2];
        let mut first_error = None;
        for (position, delivery) in self.0.into_iter().enumerate() {
            let durable = match delivery {
                None => continue,
                Some(Ok(delivery)) => delivery.await.map(drop).map_err(Error::from),
                Some(Err(error)) => Err(error),
            };
            if let Err(error) = durable {
                unsettled[position] = true;
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), |error| Err((unsettled, error)))
    }
}

/// An attempt's outcome whose records were sent (or could not be made).
pub(crate) struct Pending {
    pub(crate) deliveries: Result<Deliveries>,
    pub(crate) job: Job,
    pub(crate) outcome: Outcome,
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

/// Starts the reporter of one queue: it sends `(partition, offset)` to `done` for each
/// message whose outcome is durable, and ends when every [`Reporter`] handle is dropped.
pub(crate) fn spawn_reporter(
    shared: Arc<WorkerShared>,
    done: UnboundedSender<(TopicPartition, i64)>,
) -> Reporter {
    let (pending, queued) = mpsc::unbounded_channel();
    tokio::spawn(report(shared, queued, done));
    Reporter { pending }
}

async fn report(
    shared: Arc<WorkerShared>,
    mut queued: UnboundedReceiver<Pending>,
    done: UnboundedSender<(TopicPartition, i64)>,
) {
    let mut settling = FuturesUnordered::new();
    let mut open = true;
    loop {
        tokio::select! {
            next = queued.recv(), if open => match next {
                Some(pending) => settling.push(settle(pending)),
                None => open = false,
            },
            Some((job, outcome, settled)) = settling.next() => match settled {
                Ok(()) => {
                    let _ = done.send(position(&job));
                }
                Err((unsettled, error)) => {
                    let retry = Retry { job, outcome, unsettled, error };
                    tokio::spawn(send_again(shared.clone(), retry, done.clone()));
                }
            },
            else => break,
        }
    }
}

/// Waits for one outcome's deliveries.
async fn settle(pending: Pending) -> (Job, Outcome, std::result::Result<(), (Unsettled, Error)>) {
    let settled = match pending.deliveries {
        Ok(deliveries) => deliveries.settle().await,
        Err(error) => Err(([true, true], error)),
    };
    (pending.job, pending.outcome, settled)
}

/// Where a message was read: what the queue loop finishes.
fn position(job: &Job) -> (TopicPartition, i64) {
    (job.record.topic_partition(), job.record.offset)
}

/// An outcome the log refused: which of its records, and why.
struct Retry {
    job: Job,
    outcome: Outcome,
    unsettled: Unsettled,
    error: Error,
}

/// Sends an outcome's unsettled records again until they are durable, then tells `done`;
/// gives up at shutdown (the message then runs again).
async fn send_again(
    shared: Arc<WorkerShared>,
    retry: Retry,
    done: UnboundedSender<(TopicPartition, i64)>,
) {
    let Retry {
        job,
        outcome,
        mut unsettled,
        mut error,
    } = retry;
    loop {
        tracing::warn!(%error, task_id = %job.message.id, "recording the outcome failed; retrying");
        let stopping = tokio::select! {
            () = tokio::time::sleep(RETRY_EVERY) => false,
            () = shared.cancel.cancelled() => true,
        };
        if stopping || done.is_closed() {
            tracing::warn!(task_id = %job.message.id, "outcome not recorded before shutdown; the task will run again");
            return;
        }
        let records = match outcome_records(&shared, &job, &outcome) {
            Ok(records) => records,
            Err(refused) => {
                error = refused;
                continue;
            }
        };
        let [first, second] = records;
        let records = [
            first.filter(|_| unsettled[0]),
            second.filter(|_| unsettled[1]),
        ];
        match Deliveries::send(shared.app.inner.log.as_ref(), records)
            .settle()
            .await
        {
            Ok(()) => {
                let _ = done.send(position(&job));
                return;
            }
            Err((still, refused)) => {
                unsettled = still;
                error = refused;
            }
        }
    }
}

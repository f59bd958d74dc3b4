//! Workers: consume task queues, run task functions, report every outcome, ack late.
//!
//! A worker joins the consumer group of each queue it serves. A semaphore bounds how many
//! tasks run at once (`concurrency`); `prefetch` bounds how many messages are taken but not
//! finished (the consumer pauses its partitions at the bound). A message's offset is
//! committed only below the lowest message still in flight, and only after the outcome event
//! is durable — so a killed worker's tasks run again elsewhere and none is lost.

mod control;
mod events;
mod execute;
pub(crate) mod inflight;
mod queue;
pub(crate) mod rate_limit;
mod report;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::app::App;
use crate::startup::patiently;
use crate::{lock, Result};

pub(crate) use control::Revocations;
use rate_limit::TokenBucket;

/// Configures and starts a worker: `app.worker().queues(["default"]).concurrency(8).spawn()`.
#[derive(Debug, Clone)]
#[must_use = "a worker does nothing until spawned or run"]
pub struct WorkerBuilder {
    app: App,
    queues: Vec<String>,
    concurrency: usize,
    prefetch: Option<usize>,
    grace: Duration,
    heartbeat: Duration,
    send_events: bool,
    coordinator: bool,
    restart_policy: crate::coordinator::RestartPolicy,
    clock_offset_ms: i64,
}

/// What one running task looks like to `inspect active`.
#[derive(Debug, Clone)]
pub struct ActiveTask {
    /// The task id.
    pub id: Uuid,
    /// The task name.
    pub task: String,
    /// When it started, in milliseconds since the Unix epoch.
    pub started_at: i64,
}

/// State shared by a worker's loops and running tasks.
pub(crate) struct WorkerShared {
    pub(crate) app: App,
    pub(crate) semaphore: Semaphore,
    pub(crate) cancel: CancellationToken,
    pub(crate) revocations: Revocations,
    pub(crate) rate_limits: Mutex<HashMap<String, TokenBucket>>,
    /// Set once a control command has set a rate limit (and never cleared): from then on
    /// every task looks for a limit before it starts.
    pub(crate) rate_limit_commanded: AtomicBool,
    pub(crate) active: Mutex<crate::IdMap<(execute::Running, futures::future::AbortHandle)>>,
    pub(crate) processed: AtomicI64,
    pub(crate) send_events: bool,
    pub(crate) queues: Vec<String>,
    /// Messages taken but not started (waiting for a slot or a rate-limit token).
    pub(crate) reserved: Mutex<crate::IdMap<execute::Reserved>>,
    /// The app's host name, shared by every attempt's context.
    pub(crate) hostname: Arc<str>,
    pub(crate) concurrency: usize,
    pub(crate) prefetch: usize,
    pub(crate) started: std::time::Instant,
    /// The store of the coordinator running in this worker, if any: `inspect scheduled`
    /// answers from its timers.
    pub(crate) coordinator_store: OnceLock<crate::coordinator::CoordinatorStore>,
    /// How the coordinator running in this worker is doing, if there is one.
    pub(crate) coordinator_state: OnceLock<Arc<Mutex<crate::coordinator::CoordinatorState>>>,
    /// Added to the system clock wherever the worker decides by time (a test hook).
    pub(crate) clock_offset_ms: i64,
}

/// A running worker; [`shutdown`](Self::shutdown) drains it gracefully.
#[derive(Debug)]
pub struct WorkerHandle {
    cancel: CancellationToken,
    join: JoinHandle<Result<()>>,
    grace: Duration,
}

/// How long a stopping worker may take, past its grace period, for its last commits and for
/// leaving its groups: a cluster that does not answer must not hold a shutdown forever.
pub const LEAVE_WITHIN: Duration = Duration::from_secs(15);

impl WorkerHandle {
    /// Stops fetching, lets running tasks finish within the grace period, commits, and
    /// waits for the worker to exit — at most the grace period and [`LEAVE_WITHIN`]. Past
    /// that it returns [`Error::ShutdownTimedOut`](crate::Error::ShutdownTimedOut) and leaves
    /// the rest behind: what was not committed runs again, and whoever takes the
    /// coordinator's partitions over fences its open transaction.
    pub async fn shutdown(mut self) -> Result<()> {
        self.cancel.cancel();
        let bound = self.grace + LEAVE_WITHIN;
        match tokio::time::timeout(bound, self.finished()).await {
            Ok(result) => result,
            Err(_) => Err(crate::Error::ShutdownTimedOut { after: bound }),
        }
    }

    /// Waits until the worker stops by itself — a SHUTDOWN command, or a coordinator that
    /// could not stay up ([`Error::CoordinatorFailed`](crate::Error::CoordinatorFailed)) —
    /// without asking it to. Call it once.
    pub async fn finished(&mut self) -> Result<()> {
        (&mut self.join)
            .await
            .unwrap_or_else(|e| Err(crate::Error::Config(format!("the worker task failed: {e}"))))
    }

    /// A token that stops the worker when cancelled.
    pub fn cancellation(&self) -> CancellationToken {
        self.cancel.clone()
    }
}

#[cfg(test)]
mod shutdown_tests {
    use super::*;

    fn handle(
        worker: impl std::future::Future<Output = Result<()>> + Send + 'static,
    ) -> WorkerHandle {
        WorkerHandle {
            cancel: CancellationToken::new(),
            join: tokio::spawn(worker),
            grace: Duration::from_secs(30),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_shutdown_the_cluster_never_answers_ends_after_grace_and_leave_bound() {
        let started = tokio::time::Instant::now();
        let outcome = handle(std::future::pending()).shutdown().await;
        let after = Duration::from_secs(45);
        assert!(
            matches!(outcome, Err(crate::Error::ShutdownTimedOut { after: a }) if a == after),
            "{outcome:?}"
        );
        assert_eq!(started.elapsed(), after);
    }

    #[tokio::test(start_paused = true)]
    async fn a_worker_that_stops_in_time_reports_its_own_outcome() {
        let outcome = handle(async { Err(crate::Error::Shutdown("worker")) })
            .shutdown()
            .await;
        assert!(
            matches!(outcome, Err(crate::Error::Shutdown("worker"))),
            "{outcome:?}"
        );
    }
}

/// What a worker uses when neither code nor `[worker]` says otherwise.
pub(crate) mod defaults {
    use std::time::Duration;

    /// Tasks running at once.
    pub(crate) const CONCURRENCY: usize = 8;
    /// Prefetch is this many messages per concurrency slot.
    pub(crate) const PREFETCH_PER_SLOT: usize = 4;
    /// How long shutdown waits for running tasks.
    pub(crate) const GRACE: Duration = Duration::from_secs(30);
}

impl App {
    /// Configures a worker of this app's tasks, starting from the app's `[worker]` settings
    /// (otherwise: the default queue, concurrency 8, prefetch 4 × concurrency, grace 30 s).
    pub fn worker(&self) -> WorkerBuilder {
        let config = &self.inner.worker_defaults;
        WorkerBuilder {
            app: self.clone(),
            queues: config
                .queues
                .clone()
                .unwrap_or_else(|| vec![self.inner.default_queue.clone()]),
            concurrency: config.concurrency.unwrap_or(defaults::CONCURRENCY).max(1),
            prefetch: config.prefetch.map(|n| n.max(1)),
            grace: config.grace.unwrap_or(defaults::GRACE),
            heartbeat: Duration::from_secs(2),
            send_events: config.events.unwrap_or(false),
            coordinator: true,
            restart_policy: crate::coordinator::RestartPolicy::default(),
            clock_offset_ms: 0,
        }
    }
}

impl WorkerBuilder {
    /// Serves these queues.
    pub fn queues<Q: Into<String>>(mut self, queues: impl IntoIterator<Item = Q>) -> Self {
        self.queues = queues.into_iter().map(Into::into).collect();
        self
    }

    /// Runs at most `n` tasks at once.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Takes at most `n` messages that are not finished (default 4 × concurrency).
    pub fn prefetch(mut self, n: usize) -> Self {
        self.prefetch = Some(n.max(1));
        self
    }

    /// How long shutdown waits for running tasks (default 30 s).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Also runs a coordinator member in this process (on by default): it records results,
    /// fires countdowns and runs workflows for the partitions the group gives it.
    pub fn coordinator(mut self, on: bool) -> Self {
        self.coordinator = on;
        self
    }

    /// How the coordinator member is restarted when it stops on an error, and when the worker
    /// gives up and stops with the cause (default: backoff from 0.5 s to 10 s, giving up after
    /// 8 failures in a row).
    pub fn coordinator_restarts(mut self, policy: crate::coordinator::RestartPolicy) -> Self {
        self.restart_policy = policy;
        self
    }

    /// Sends a RECEIVED event for every task taken (off by default; Celery's `-E`).
    pub fn send_events(mut self, on: bool) -> Self {
        self.send_events = on;
        self
    }

    /// Test hook: the worker reads its clock `offset_ms` milliseconds off the system clock
    /// (negative: behind) wherever it decides by time — expiry, ETAs, a retry's ETA — as a
    /// worker on a skewed host would, while the coordinator in the same process keeps the
    /// system clock.
    #[doc(hidden)]
    pub fn clock_offset_ms(mut self, offset_ms: i64) -> Self {
        self.clock_offset_ms = offset_ms;
        self
    }

    /// The queues this worker will serve.
    pub fn served_queues(&self) -> &[String] {
        &self.queues
    }

    /// How many tasks it will run at once.
    pub fn slots(&self) -> usize {
        self.concurrency
    }

    /// How long its shutdown will wait for running tasks.
    pub fn grace_period(&self) -> Duration {
        self.grace
    }

    /// Starts the worker on the current tokio runtime.
    pub fn spawn(self) -> WorkerHandle {
        let cancel = CancellationToken::new();
        let grace = self.grace;
        let join = tokio::spawn(self.run(cancel.clone()));
        WorkerHandle {
            cancel,
            join,
            grace,
        }
    }

    /// Runs the worker until `cancel` is cancelled (or a SHUTDOWN command arrives).
    pub async fn run(self, cancel: CancellationToken) -> Result<()> {
        for queue in &self.queues {
            patiently("creating the queue's topic", START_RETRY_FOR, || {
                self.app.ensure_queue(queue)
            })
            .await?;
        }
        let revocations = patiently("reading the revocations", START_RETRY_FOR, || {
            Revocations::load(&self.app)
        })
        .await?;
        let prefetch = self
            .prefetch
            .unwrap_or(self.concurrency * defaults::PREFETCH_PER_SLOT);
        let shared = Arc::new(WorkerShared {
            app: self.app.clone(),
            semaphore: Semaphore::new(self.concurrency),
            cancel: cancel.clone(),
            revocations,
            rate_limits: Mutex::new(HashMap::new()),
            rate_limit_commanded: AtomicBool::new(false),
            active: Mutex::default(),
            processed: AtomicI64::new(0),
            send_events: self.send_events,
            queues: self.queues.clone(),
            reserved: Mutex::default(),
            hostname: self.app.hostname().into(),
            concurrency: self.concurrency,
            prefetch,
            started: std::time::Instant::now(),
            coordinator_store: OnceLock::new(),
            coordinator_state: OnceLock::new(),
            clock_offset_ms: self.clock_offset_ms,
        });
        let mut loops = Vec::new();
        for queue in &self.queues {
            loops.push(tokio::spawn(queue::run(
                shared.clone(),
                queue.clone(),
                prefetch,
                self.grace,
            )));
        }
        let coordinator_failure = Arc::new(Mutex::new(None));
        let mut coordinator = if self.coordinator {
            let failure = Arc::clone(&coordinator_failure);
            let stop = cancel.clone();
            let handle = self.start_coordinator(move |error| {
                *lock(&failure) = Some(error.to_string());
                stop.cancel();
            })?;
            let _ = shared.coordinator_store.set(handle.store().clone());
            let _ = shared.coordinator_state.set(handle.state_cell());
            Some(handle)
        } else {
            None
        };
        if self.send_events {
            // Durable before the worker can answer a ping: a client that counts workers by
            // heartbeats never counts fewer than answer.
            match events::heartbeat(&shared, self.heartbeat) {
                Ok(delivery) => {
                    if let Err(error) = delivery.await {
                        tracing::warn!(%error, "first heartbeat not delivered");
                    }
                }
                Err(error) => tracing::warn!(%error, "first heartbeat not sent"),
            }
        }
        let control = tokio::spawn(control::listen(shared.clone()));
        let heartbeat = tokio::spawn(events::heartbeats(shared.clone(), self.heartbeat));
        let mut result = Ok(());
        for handle in loops {
            match handle.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => result = Err(error),
                Err(error) => {
                    result = Err(crate::Error::Config(format!(
                        "a queue loop failed: {error}"
                    )))
                }
            }
        }
        cancel.cancel();
        control.abort();
        heartbeat.abort();
        if let Some(coordinator) = coordinator.take() {
            tracing::info!("every queue drained; stopping the coordinator");
            match coordinator.shutdown().await {
                Ok(()) => tracing::info!("coordinator stopped"),
                Err(error) => tracing::warn!(%error, "the coordinator stopped with an error"),
            }
        }
        if let Some(cause) = lock(&coordinator_failure).take() {
            return Err(crate::Error::CoordinatorFailed(cause));
        }
        result
    }

    /// A coordinator member on this app's log, kept up by a supervisor, with its store under
    /// the state directory (another in this process holds the usual one: this one rebuilds
    /// from the log). `on_give_up` runs when it cannot stay up.
    fn start_coordinator(
        &self,
        on_give_up: impl FnOnce(&crate::coordinator::Error) + Send + 'static,
    ) -> Result<crate::coordinator::SupervisedCoordinator> {
        let app = &self.app;
        let base = app.state_dir().join("coordinator");
        let store = match crate::coordinator::CoordinatorStore::open(&base) {
            Ok(store) => store,
            Err(_) => crate::coordinator::CoordinatorStore::open(
                app.state_dir()
                    .join(format!("coordinator-{}", Uuid::now_v7())),
            )
            .map_err(|e| crate::Error::Storage {
                path: base.display().to_string(),
                detail: e.to_string(),
            })?,
        };
        let builder = crate::coordinator::Coordinator::builder(app.inner.log.clone())
            .names(app.inner.names.clone())
            .hostname(app.hostname().to_owned())
            .result_expiry(Some(app.inner.result_expires));
        Ok(crate::coordinator::supervise(
            builder,
            store,
            self.restart_policy,
            CancellationToken::new(),
            on_give_up,
        ))
    }
}

/// How long a worker keeps trying a start-up step that fails on a passing fault (a broker
/// restarting, a leader moving) before it gives up.
const START_RETRY_FOR: Duration = Duration::from_secs(60);

impl WorkerShared {
    /// Tasks running now.
    pub(crate) fn active(&self) -> Vec<ActiveTask> {
        lock(&self.active)
            .values()
            .map(|(running, _)| ActiveTask {
                id: running.message.id,
                task: running.message.task.clone(),
                started_at: running.started_at,
            })
            .collect()
    }

    /// The coordinator's state in one line (`"none"` for a worker without one).
    pub(crate) fn coordinator_label(&self) -> String {
        self.coordinator_state
            .get()
            .map_or_else(|| "none".to_owned(), |state| lock(state).label())
    }

    /// The worker's clock, in milliseconds since the Unix epoch: what its decisions by time
    /// (expiry, ETAs) read.
    pub(crate) fn now(&self) -> i64 {
        celeriac_schemas::now_millis().saturating_add(self.clock_offset_ms)
    }

    pub(crate) fn count_processed(&self) {
        self.processed.fetch_add(1, Ordering::Relaxed);
    }
}

//! A coordinator process: its builder, its handle, and what it checks before it starts
//! (the loop itself is in `cycle.rs`).

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use celeriac_topics::{ConsumerConfig, Log};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::core::{Core, CoreConfig, CoreStats};
use super::cycle::Runner;
use super::error::{Error, Result};
use super::store::CoordinatorStore;
use super::watchdog::{stalled, Progress};
use crate::TopicNames;

/// Builds a [`Coordinator`].
#[derive(Clone)]
pub struct CoordinatorBuilder {
    log: Arc<dyn Log>,
    names: TopicNames,
    state_dir: Option<PathBuf>,
    store: Option<CoordinatorStore>,
    hostname: String,
    result_expiry: Option<Duration>,
    tick_interval: Duration,
    max_batch: usize,
    sweep_interval: Option<Duration>,
    commit_interval: Option<Duration>,
    crash_after_commits: Option<u64>,
    abort_transactions: u64,
    lying_commits: u64,
    hanging_commits: Arc<AtomicU64>,
    stall_after: Duration,
}

impl std::fmt::Debug for CoordinatorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoordinatorBuilder")
            .field("backend", &self.log.backend())
            .field("names", &self.names)
            .field("state_dir", &self.state_dir)
            .field("hostname", &self.hostname)
            .finish_non_exhaustive()
    }
}

impl CoordinatorBuilder {
    /// The app's topic names (default: prefix `celeriac`).
    pub fn names(mut self, names: TopicNames) -> Self {
        self.names = names;
        self
    }

    /// Where the state store lives (required unless [`store`](Self::store) is given).
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// Uses an already open store instead of opening [`state_dir`](Self::state_dir).
    pub fn store(mut self, store: CoordinatorStore) -> Self {
        self.store = Some(store);
        self
    }

    /// This host's name, for the transactional id and the `origin` of published tasks.
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = hostname.into();
        self
    }

    /// How long results are kept (default one day; `None` keeps them). Replays must use the
    /// same value to rebuild the same store.
    pub fn result_expiry(mut self, expiry: Option<Duration>) -> Self {
        self.result_expiry = expiry;
        self
    }

    /// The longest wait between two checks for due timers (default 25 ms).
    pub fn tick_interval(mut self, interval: Duration) -> Self {
        self.tick_interval = interval;
        self
    }

    /// The most records applied in one transaction (default 5,000).
    pub fn max_batch(mut self, records: usize) -> Self {
        self.max_batch = records.max(1);
        self
    }

    /// How often expired results are swept (default: a quarter of the result expiry, between
    /// 100 ms and one minute). A sweep deletes them from the store and publishes a tombstone
    /// for each on `results`, so every reader sees them as forgotten.
    pub fn sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep_interval = Some(interval);
        self
    }

    /// The shortest time from one transaction to the next (default: 10 ms on Kafka; on the
    /// embedded log 1 ms, and only after a transaction of at least 64 records, so a lone
    /// chain step never waits). Records that arrive meanwhile join the next transaction.
    ///
    /// A Kafka transaction costs the broker several requests and a marker per partition
    /// whatever its size; committing back to back under a steady trickle of events (one per
    /// ~1 ms) spent enough broker CPU to push the submit → start p99 of `celeriac bench tasks`
    /// from ~10 ms to 50–140 ms on two cores. Each chain step waits up to this long more.
    pub fn commit_interval(mut self, interval: Duration) -> Self {
        self.commit_interval = Some(interval);
        self
    }

    /// Test hook: stop with an error right after the `n`-th committed transaction, before
    /// its state batch is written — the window a crash leaves the store behind the log.
    #[doc(hidden)]
    pub fn crash_after_commits(mut self, n: u64) -> Self {
        self.crash_after_commits = Some(n);
        self
    }

    /// Test hook: make the first `n` transactions fail as abortable at commit, so their
    /// batches are dropped and applied again.
    #[doc(hidden)]
    pub fn abort_transactions(mut self, n: u64) -> Self {
        self.abort_transactions = n;
        self
    }

    /// Test hook: the first `n` commits go through but report a retriable error, as a commit
    /// whose response was lost does; the coordinator must retry them, never abort.
    #[doc(hidden)]
    pub fn lying_commits(mut self, n: u64) -> Self {
        self.lying_commits = n;
        self
    }

    /// Test hook: the next `n` commits (counted across every coordinator built from clones of
    /// this builder, as a supervisor builds them) go through and then never return, as a
    /// wedged client's would; the watchdog must notice.
    #[doc(hidden)]
    pub fn hanging_commits(mut self, n: u64) -> Self {
        self.hanging_commits = Arc::new(AtomicU64::new(n));
        self
    }

    /// How long one phase of the loop may last before the coordinator stops as stalled
    /// (default 110 s, past the longest a phase of bounded calls can take).
    #[doc(hidden)]
    pub fn stall_after(mut self, bound: Duration) -> Self {
        self.stall_after = bound;
        self
    }

    /// Opens the store and returns the coordinator, ready to [`run`](Coordinator::run).
    pub fn build(self) -> Result<Coordinator> {
        let store = match (self.store, &self.state_dir) {
            (Some(store), _) => store,
            (None, Some(dir)) => CoordinatorStore::open(dir)?,
            (None, None) => {
                return Err(Error::Config {
                    what: "state_dir",
                    detail: "a coordinator needs a state directory".into(),
                })
            }
        };
        let commit_pacing = match (self.commit_interval, self.log.backend()) {
            (Some(interval), _) => CommitPacing::always(interval),
            (None, "kafka") => CommitPacing::always(Duration::from_millis(10)),
            (None, _) => CommitPacing {
                interval: Duration::from_millis(1),
                busy_records: 64,
            },
        };
        let mut config = CoreConfig::new(self.names.clone(), self.hostname.clone());
        config.result_expiry = self.result_expiry;
        Ok(Coordinator {
            log: self.log,
            names: self.names,
            hostname: self.hostname,
            store,
            core: Core::new(config),
            tick_interval: self.tick_interval,
            max_batch: self.max_batch,
            sweep_interval: self
                .sweep_interval
                .unwrap_or_else(|| default_sweep_interval(self.result_expiry)),
            commit_pacing,
            crash_after_commits: self.crash_after_commits,
            abort_transactions: self.abort_transactions,
            lying_commits: self.lying_commits,
            hanging_commits: self.hanging_commits,
            stall_after: self.stall_after,
        })
    }
}

/// A quarter of the result expiry, between 100 ms and one minute (one minute when results
/// never expire): an expired result lingers at most that long.
fn default_sweep_interval(expiry: Option<Duration>) -> Duration {
    let most = Duration::from_secs(60);
    expiry.map_or(most, |expiry| {
        (expiry / 4).clamp(Duration::from_millis(100), most)
    })
}

/// How long a coordinator waits between transactions (see
/// [`CoordinatorBuilder::commit_interval`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct CommitPacing {
    /// The shortest time from one transaction to the next...
    pub(super) interval: Duration,
    /// ...after a transaction that applied at least this many records.
    pub(super) busy_records: usize,
}

impl CommitPacing {
    fn always(interval: Duration) -> Self {
        CommitPacing {
            interval,
            busy_records: 0,
        }
    }

    /// The wait before the next transaction, `since_last` after the last one began, which
    /// applied `last_records` records.
    pub(super) fn wait(&self, since_last: Duration, last_records: usize) -> Duration {
        if last_records < self.busy_records {
            return Duration::ZERO;
        }
        self.interval.saturating_sub(since_last)
    }
}

/// A coordinator process: owns some partitions of `workflows`, `timers` and `events`.
pub struct Coordinator {
    pub(super) log: Arc<dyn Log>,
    pub(super) names: TopicNames,
    pub(super) hostname: String,
    pub(super) store: CoordinatorStore,
    pub(super) core: Core,
    pub(super) tick_interval: Duration,
    pub(super) max_batch: usize,
    pub(super) sweep_interval: Duration,
    pub(super) commit_pacing: CommitPacing,
    pub(super) crash_after_commits: Option<u64>,
    pub(super) abort_transactions: u64,
    pub(super) lying_commits: u64,
    pub(super) hanging_commits: Arc<AtomicU64>,
    stall_after: Duration,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator")
            .field("store", &self.store)
            .field("hostname", &self.hostname)
            .finish_non_exhaustive()
    }
}

/// A running coordinator (see [`Coordinator::spawn`]).
#[derive(Debug)]
pub struct CoordinatorHandle {
    cancel: CancellationToken,
    join: JoinHandle<Result<CoreStats>>,
    store: CoordinatorStore,
}

impl CoordinatorHandle {
    /// The coordinator's store, for reading.
    pub fn store(&self) -> &CoordinatorStore {
        &self.store
    }

    /// True once the coordinator stopped (on its own: an error).
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }

    /// Stops after the batch in progress, leaves the group and returns what the core saw.
    pub async fn shutdown(self) -> Result<CoreStats> {
        self.cancel.cancel();
        self.join.await.map_err(|e| Error::Config {
            what: "coordinator task",
            detail: e.to_string(),
        })?
    }

    /// Stops at once, wherever it is — as a killed process would (for tests).
    pub async fn abort(self) {
        self.join.abort();
        let _ = self.join.await;
    }
}

impl Coordinator {
    /// A builder over `log`.
    pub fn builder(log: Arc<dyn Log>) -> CoordinatorBuilder {
        CoordinatorBuilder {
            log,
            names: TopicNames::default(),
            state_dir: None,
            store: None,
            hostname: crate::host::host_name(),
            result_expiry: Some(Duration::from_secs(24 * 3600)),
            tick_interval: Duration::from_millis(25),
            max_batch: 5_000,
            sweep_interval: None,
            commit_interval: None,
            crash_after_commits: None,
            abort_transactions: 0,
            lying_commits: 0,
            hanging_commits: Arc::new(AtomicU64::new(0)),
            stall_after: super::watchdog::STALL_AFTER,
        }
    }

    /// A shared handle on the store (readers see the coordinator's writes).
    pub fn store(&self) -> CoordinatorStore {
        self.store.clone()
    }

    /// Runs on a tokio task until [`CoordinatorHandle::shutdown`].
    pub fn spawn(self) -> CoordinatorHandle {
        let cancel = CancellationToken::new();
        let store = self.store.clone();
        let join = tokio::spawn(self.run(cancel.clone()));
        CoordinatorHandle {
            cancel,
            join,
            store,
        }
    }

    /// Runs until `cancel` fires (then leaves the group) or an error that retrying cannot fix.
    pub async fn run(self, cancel: CancellationToken) -> Result<CoreStats> {
        let partitions = self.check_topics().await?;
        let topics = [
            self.names.workflows(),
            self.names.timers(),
            self.names.events(),
        ];
        let config = ConsumerConfig::new(self.names.coordinator_group(), &topics)
            .client_id(format!("{}-coordinator", self.hostname))
            .kafka_property("partition.assignment.strategy", "range")
            .kafka_property("isolation.level", "read_committed");
        let consumer = self
            .log
            .consumer(config)
            .await
            .map_err(|e| Error::log("joining the coordinator group", e))?;
        tracing::info!(partitions, "coordinator started");
        let progress = Progress::new("starting");
        let stall_after = self.stall_after;
        let mut run = Runner::new(self, topics, consumer, progress.clone());
        let outcome = tokio::select! {
            outcome = run.run(&cancel) => outcome,
            (phase, after) = stalled(&progress, stall_after) => {
                tracing::error!(phase, ?after, "the coordinator loop stalled; stopping it so that it starts again");
                Err(Error::Stalled { phase, after })
            }
        };
        if let Err(error) = run.consumer.close().await {
            tracing::warn!(%error, "leaving the coordinator group");
        }
        outcome.map(|()| run.c.core.stats())
    }

    /// Checks that the co-partitioned topics agree and the output topics exist; returns the
    /// partition count.
    async fn check_topics(&self) -> Result<i32> {
        let describe = |topic: celeriac_topics::TopicName| async move {
            self.log
                .describe_topic(&topic)
                .await
                .map_err(|e| Error::log(format!("describing topic {topic:?}"), e))
        };
        let (w, t, e) = (
            describe(self.names.workflows()).await?,
            describe(self.names.timers()).await?,
            describe(self.names.events()).await?,
        );
        if w.partitions != t.partitions || w.partitions != e.partitions {
            return Err(Error::PartitionMismatch {
                workflows: w.name,
                workflow_partitions: w.partitions,
                timers: t.name,
                timer_partitions: t.partitions,
                events: e.name,
                event_partitions: e.partitions,
            });
        }
        describe(self.names.results()).await?;
        describe(self.names.dead()).await?;
        Ok(w.partitions)
    }
}

//! Keeping a coordinator member up: restart it with backoff when it stops on an error, give up
//! (with the cause) when it cannot stay up, and say at every moment how it is doing.
//!
//! A coordinator stops on errors it cannot get past alone — a broker call that timed out during
//! a rebalance, a producer fenced by a newer member, a topic deleted under it. Each restart
//! rejoins the group and restores its partitions from the store and the log, so nothing is lost
//! or done twice; what must not happen is a worker that runs on without one, its results and
//! workflows silently stopped.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::error::{Error, Result};
use super::runner::CoordinatorBuilder;
use super::store::CoordinatorStore;

/// How a supervised coordinator is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoordinatorState {
    /// Starting (or starting again after a restart's backoff).
    Starting,
    /// Running since this many milliseconds after the Unix epoch.
    Running {
        /// When the current run began.
        since_ms: i64,
        /// Restarts so far.
        restarts: u32,
    },
    /// Stopped on an error; starting again after a backoff.
    Restarting {
        /// Failures in a row.
        failures: u32,
        /// The error it stopped on.
        error: String,
    },
    /// Gave up: it could not stay up.
    Failed {
        /// The last error.
        error: String,
    },
    /// Stopped because its worker stopped.
    Stopped,
}

impl CoordinatorState {
    /// One short line for heartbeats and `inspect stats`: `running`, `restarting (2): …`,
    /// `failed: …`, `starting`, `stopped`.
    pub fn label(&self) -> String {
        match self {
            CoordinatorState::Starting => "starting".to_owned(),
            CoordinatorState::Running { restarts: 0, .. } => "running".to_owned(),
            CoordinatorState::Running { restarts, .. } => {
                format!("running (restarted {restarts} times)")
            }
            CoordinatorState::Restarting { failures, error } => {
                format!("restarting ({failures} failures in a row): {error}")
            }
            CoordinatorState::Failed { error } => format!("failed: {error}"),
            CoordinatorState::Stopped => "stopped".to_owned(),
        }
    }

    /// True while it runs.
    pub fn is_running(&self) -> bool {
        matches!(self, CoordinatorState::Running { .. })
    }
}

/// When to restart and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// The wait before the first restart; it doubles with each failure in a row.
    pub first_backoff: Duration,
    /// The longest wait between restarts.
    pub max_backoff: Duration,
    /// Failures in a row after which it gives up.
    pub give_up_after: u32,
    /// A run this long resets the count of failures in a row.
    pub healthy_after: Duration,
}

impl Default for RestartPolicy {
    /// 0.5 s doubling to 10 s; gives up after 8 failures in a row (about a minute); a minute of
    /// running counts as healthy again.
    fn default() -> Self {
        RestartPolicy {
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            give_up_after: 8,
            healthy_after: Duration::from_secs(60),
        }
    }
}

impl RestartPolicy {
    /// The wait after `failures` failures in a row.
    pub fn backoff(&self, failures: u32) -> Duration {
        let doubled = self
            .first_backoff
            .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(20)));
        doubled.min(self.max_backoff)
    }
}

/// A coordinator kept up by [`supervise`].
#[derive(Debug)]
pub struct SupervisedCoordinator {
    state: Arc<Mutex<CoordinatorState>>,
    store: CoordinatorStore,
    cancel: CancellationToken,
    join: JoinHandle<Result<()>>,
}

impl SupervisedCoordinator {
    /// How it is doing now.
    pub fn state(&self) -> CoordinatorState {
        crate::lock(&self.state).clone()
    }

    /// A shared view of its state, for heartbeats.
    pub fn state_cell(&self) -> Arc<Mutex<CoordinatorState>> {
        Arc::clone(&self.state)
    }

    /// Its store, for reading.
    pub fn store(&self) -> &CoordinatorStore {
        &self.store
    }

    /// True once it stopped for good (gave up, or was shut down).
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }

    /// Waits until it stops for good: `Err` with the cause when it gave up.
    pub async fn finished(&mut self) -> Result<()> {
        (&mut self.join).await.map_err(|e| Error::Config {
            what: "coordinator task",
            detail: e.to_string(),
        })?
    }

    /// Stops it (after the batch in progress) and waits.
    pub async fn shutdown(mut self) -> Result<()> {
        self.cancel.cancel();
        self.finished().await
    }
}

/// Runs coordinators built from `builder` (which must carry its store) until `cancel`,
/// restarting each one that stops on an error, per `policy`. When it gives up, `on_give_up`
/// is called with the cause (a worker stops itself there) and the handle's
/// [`finished`](SupervisedCoordinator::finished) returns the error.
pub fn supervise(
    builder: CoordinatorBuilder,
    store: CoordinatorStore,
    policy: RestartPolicy,
    cancel: CancellationToken,
    on_give_up: impl FnOnce(&Error) + Send + 'static,
) -> SupervisedCoordinator {
    let state = Arc::new(Mutex::new(CoordinatorState::Starting));
    let cell = Arc::clone(&state);
    let token = cancel.clone();
    let builder = builder.store(store.clone());
    let join = tokio::spawn(async move {
        let outcome = keep_up(builder, policy, &token, &cell).await;
        let last = match &outcome {
            Ok(()) => CoordinatorState::Stopped,
            Err(error) => {
                on_give_up(error);
                CoordinatorState::Failed {
                    error: error.to_string(),
                }
            }
        };
        *crate::lock(&cell) = last;
        outcome
    });
    SupervisedCoordinator {
        state,
        store,
        cancel,
        join,
    }
}

async fn keep_up(
    builder: CoordinatorBuilder,
    policy: RestartPolicy,
    cancel: &CancellationToken,
    state: &Mutex<CoordinatorState>,
) -> Result<()> {
    let mut failures = 0u32;
    let mut restarts = 0u32;
    loop {
        let started = Instant::now();
        let run = async {
            let coordinator = builder.clone().build()?;
            *crate::lock(state) = CoordinatorState::Running {
                since_ms: celeriac_schemas::now_millis(),
                restarts,
            };
            coordinator.run(cancel.clone()).await
        };
        let error = match run.await {
            Ok(_) => return Ok(()),
            Err(_) if cancel.is_cancelled() => return Ok(()),
            Err(error) => error,
        };
        if started.elapsed() >= policy.healthy_after {
            failures = 0;
        }
        failures += 1;
        if failures >= policy.give_up_after {
            tracing::error!(%error, failures, "the coordinator cannot stay up; giving up");
            return Err(error);
        }
        let wait = policy.backoff(failures);
        tracing::warn!(%error, failures, ?wait, "the coordinator stopped; restarting it");
        *crate::lock(state) = CoordinatorState::Restarting {
            failures,
            error: error.to_string(),
        };
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            () = tokio::time::sleep(wait) => {}
        }
        restarts += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_bound() {
        let policy = RestartPolicy::default();
        let waits: Vec<u64> = (1..=7)
            .map(|n| policy.backoff(n).as_millis() as u64)
            .collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
        assert_eq!(policy.backoff(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn labels_say_what_happened() {
        let restarting = CoordinatorState::Restarting {
            failures: 2,
            error: "reading committed offsets: timed out".into(),
        };
        assert!(restarting.label().contains("timed out"));
        assert!(!restarting.is_running());
        let running = CoordinatorState::Running {
            since_ms: 1,
            restarts: 3,
        };
        assert_eq!(running.label(), "running (restarted 3 times)");
        assert!(running.is_running());
    }
}

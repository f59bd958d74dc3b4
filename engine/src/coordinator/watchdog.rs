//! Noticing a coordinator loop that stopped moving.
//!
//! Every call the loop makes to the log is bounded (30 s a call, a minute of retries), so a
//! phase that lasts much longer means an await that will never end — a bug, or a client
//! wedged by the network. Its heartbeats go on from librdkafka's own thread, so nobody else
//! would notice until `max.poll.interval.ms` takes it out of its group, and even then the
//! process would keep a coordinator that does nothing. The loop says which phase it is in
//! ([`Progress::enter`]); [`stalled`] resolves once one phase has lasted past a bound, and the
//! coordinator then stops with [`Error::Stalled`](super::Error::Stalled), naming the phase,
//! for its supervisor to start a new one. Dropping the loop mid-transaction is what a crash
//! does, which the coordinator already recovers from: the open transaction is aborted when
//! its transactional id is opened again, and the store is caught up from the log.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// How long one phase of the loop may last: past the longest a bounded phase can (a minute
/// of retries of a call bounded at 30 s), and below `max.poll.interval.ms` (120 s), so a
/// stuck member rejoins before its group evicts it.
pub(crate) const STALL_AFTER: Duration = Duration::from_secs(110);

/// Where the loop is and since when; cheap to clone and to update.
#[derive(Debug, Clone)]
pub(crate) struct Progress(Arc<Mutex<(&'static str, Instant)>>);

impl Progress {
    /// Starts in `phase`, now.
    pub(crate) fn new(phase: &'static str) -> Self {
        Progress(Arc::new(Mutex::new((phase, Instant::now()))))
    }

    /// The loop entered `phase` (a short description: "committing a transaction").
    pub(crate) fn enter(&self, phase: &'static str) {
        *crate::lock(&self.0) = (phase, Instant::now());
    }

    /// The loop moved on within its phase (a restore applied another batch).
    pub(crate) fn touch(&self) {
        crate::lock(&self.0).1 = Instant::now();
    }

    /// The phase, and how long it has lasted.
    pub(crate) fn current(&self) -> (&'static str, Duration) {
        let (phase, since) = *crate::lock(&self.0);
        (phase, since.elapsed())
    }
}

/// Resolves with the phase and its length once one phase has lasted longer than `bound`.
pub(crate) async fn stalled(progress: &Progress, bound: Duration) -> (&'static str, Duration) {
    let every = (bound / 10).clamp(Duration::from_millis(10), Duration::from_secs(5));
    loop {
        tokio::time::sleep(every).await;
        let (phase, lasted) = progress.current();
        if lasted > bound {
            return (phase, lasted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_phase_that_moves_on_is_never_stalled() {
        let progress = Progress::new("polling");
        let watched = progress.clone();
        let moving = async move {
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_secs(5)).await;
                watched.enter("committing a transaction");
                tokio::time::sleep(Duration::from_secs(5)).await;
                watched.touch();
            }
        };
        tokio::select! {
            () = moving => {}
            stalled = stalled(&progress, Duration::from_secs(8)) => {
                panic!("stalled although it moved every 5 s: {stalled:?}")
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_phase_past_its_bound_is_named() {
        let progress = Progress::new("polling");
        progress.enter("committing a transaction");
        let started = tokio::time::Instant::now();
        let (phase, lasted) = stalled(&progress, Duration::from_secs(8)).await;
        assert_eq!(phase, "committing a transaction");
        assert!(lasted > Duration::from_secs(8));
        assert!(started.elapsed() < Duration::from_secs(10), "noticed late");
    }
}

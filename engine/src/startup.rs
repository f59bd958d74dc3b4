//! Start-up steps that ride out a passing fault: a process starting while a broker restarts
//! or a partition's leader moves keeps trying for a bounded time instead of exiting.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// How long to wait between two tries of a start-up step.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Runs `step`, trying again for up to `patience` while it fails with an error a retry can
/// cure (a timeout, a broker or leader not available); any other error, or the last one once
/// `patience` is spent, is returned.
pub(crate) async fn patiently<T, F, Fut>(what: &str, patience: Duration, step: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    pausing(RETRY_PAUSE, what, patience, step).await
}

async fn pausing<T, F, Fut>(
    pause: Duration,
    what: &str,
    patience: Duration,
    mut step: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let first = Instant::now();
    loop {
        match step().await {
            Ok(value) => return Ok(value),
            Err(error) if is_passing(&error) && first.elapsed() + pause < patience => {
                tracing::warn!(%error, "{what} failed; trying again");
                tokio::time::sleep(pause).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// True for errors of the log a later try may not meet.
fn is_passing(error: &Error) -> bool {
    matches!(error, Error::Log(error) if error.is_retriable())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    const PAUSE: Duration = Duration::from_millis(50);

    fn timeout() -> Error {
        Error::Log(celeriac_topics::Error::Timeout {
            operation: "creating topics".into(),
            after: Duration::from_secs(1),
        })
    }

    #[tokio::test]
    async fn a_passing_fault_is_tried_again_until_it_clears() {
        let tries = AtomicU32::new(0);
        let value = pausing(PAUSE, "a step", Duration::from_secs(10), || async {
            match tries.fetch_add(1, Ordering::SeqCst) {
                0..=2 => Err(timeout()),
                n => Ok(n),
            }
        })
        .await
        .expect("succeeds on the fourth try");
        assert_eq!(value, 3);
    }

    #[tokio::test]
    async fn patience_runs_out_and_other_errors_are_not_retried() {
        let tries = AtomicU32::new(0);
        let result: Result<()> = pausing(PAUSE, "a step", Duration::from_millis(200), || async {
            tries.fetch_add(1, Ordering::SeqCst);
            Err(timeout())
        })
        .await;
        assert!(matches!(result, Err(Error::Log(_))));
        assert!((3..=5).contains(&tries.load(Ordering::SeqCst)), "{tries:?}");
        tries.store(0, Ordering::SeqCst);
        let result: Result<()> = pausing(PAUSE, "a step", Duration::from_secs(10), || async {
            tries.fetch_add(1, Ordering::SeqCst);
            Err(Error::Config("bad".into()))
        })
        .await;
        assert!(matches!(result, Err(Error::Config(_))));
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }
}

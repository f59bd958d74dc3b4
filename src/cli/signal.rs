//! Shutdown on SIGINT or SIGTERM, with the handlers installed before any work is taken.

use tokio_util::sync::CancellationToken;

/// Installs SIGINT and SIGTERM handlers now and returns a token cancelled when either arrives.
///
/// Installing at once (rather than when a future is first polled) means a signal that
/// arrives while a worker starts still drains it instead of killing the process.
pub(crate) fn shutdown_token() -> std::io::Result<CancellationToken> {
    let token = CancellationToken::new();
    let cancel = token.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
            cancel.cancel();
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        cancel.cancel();
    });
    Ok(token)
}

/// How long a signalled process (a worker past its grace, a beat) may take for its last
/// commits and for leaving its groups before it leaves anyway: what it did not commit runs
/// again, and whoever takes over fences its open transaction. The worker's own bound.
pub(crate) use celeriac_engine::LEAVE_WITHIN;

//! The listener: an accept loop over hyper's HTTP/1 connections with a header-read timeout
//! (a client that dribbles its request head is cut off), a cap on connections served at
//! once (one past it is answered 503 and closed), and a graceful shutdown that lets requests
//! in flight finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ServeOptions;
use crate::{App, Error, Result};

/// How long shutdown waits for open connections before dropping them.
const DRAIN: Duration = Duration::from_secs(5);

/// A running HTTP server; [`shutdown`](Self::shutdown) stops it gracefully.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    cancel: CancellationToken,
    join: JoinHandle<()>,
}

impl Server {
    /// The address it listens on (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A token that stops the server when cancelled.
    pub fn cancellation(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Stops accepting, lets requests in flight finish (up to a few seconds), and waits.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        let _ = self.join.await;
    }

    /// Waits until the server stops (after [`cancellation`](Self::cancellation) fires).
    pub async fn wait(self) {
        let _ = self.join.await;
    }
}

impl App {
    /// Starts `celeriac serve`'s HTTP API and dashboard on the current tokio runtime.
    ///
    /// Refuses to bind a non-loopback address without a token.
    pub async fn serve(&self, options: ServeOptions) -> Result<Server> {
        if !options.bind.ip().is_loopback() && options.token.as_deref().is_none_or(str::is_empty) {
            return Err(Error::Config(format!(
                "serving on {} (not loopback) needs a bearer token: set --token or CELERIAC_TOKEN",
                options.bind
            )));
        }
        let listener = TcpListener::bind(options.bind)
            .await
            .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", options.bind)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Config(format!("cannot read the bound address: {e}")))?;
        let cancel = CancellationToken::new();
        let router = super::router::router(self, &options, cancel.clone()).await?;
        let limits = Limits {
            header_timeout: options.header_timeout,
            max_connections: options.max_connections,
        };
        let join = tokio::spawn(accept_loop(listener, router, limits, cancel.clone()));
        tracing::info!(%addr, "celeriac serve listening");
        Ok(Server { addr, cancel, join })
    }
}

/// What the accept loop bounds.
struct Limits {
    header_timeout: Duration,
    max_connections: usize,
}

/// The whole answer to a connection past the cap.
const TOO_MANY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\nretry-after: 1\r\ncontent-length: 102\r\n\r\n{\"error\":{\"code\":\"too_many_connections\",\"message\":\"the server is at its connection limit; try again\"}}";

async fn accept_loop(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    cancel: CancellationToken,
) {
    let header_timeout = limits.header_timeout;
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = cancel.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracker.spawn(async move {
                let mut stream = stream;
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), stream.write_all(TOO_MANY)).await;
                let _ = stream.shutdown().await;
            });
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        let cancel = cancel.clone();
        tracker.spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_header_size(32 * 1024)
                .max_buf_size(64 * 1024);
            let connection = builder
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                }
                _ = cancel.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(DRAIN, connection).await;
                }
            }
        });
    }
    tracker.close();
    let _ = tokio::time::timeout(DRAIN + Duration::from_secs(1), tracker.wait()).await;
}

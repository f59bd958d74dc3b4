//! `celeriac serve`: the HTTP API, live events, metrics and the dashboard, until SIGINT or
//! SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use celeriac_engine::http::ServeOptions;
use celeriac_engine::App;
use clap::Args;

use super::parse_duration;

/// Options of `celeriac serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on; a non-loopback one needs --token.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// The bearer token every API request must carry.
    #[arg(long, env = "CELERIAC_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The largest request body accepted, in bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    body_limit: usize,
    /// How long a client may take to send its request head.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    header_timeout: Duration,
    /// How long a request may take before it is answered 503.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    request_timeout: Duration,
    /// Accept tasks this binary has not registered (their arguments go unchecked).
    #[arg(long)]
    allow_unregistered: bool,
    /// Also run a worker (and coordinator) on the default queue in this process.
    #[arg(long)]
    worker: bool,
}

pub(crate) async fn run(app: &App, args: &ServeArgs) -> anyhow::Result<()> {
    let signalled = super::signal::shutdown_token()?;
    let worker = args.worker.then(|| app.worker().send_events(true).spawn());
    let server = app
        .serve(ServeOptions {
            bind: args.bind,
            token: args.token.clone(),
            body_limit: args.body_limit,
            header_timeout: args.header_timeout,
            request_timeout: args.request_timeout,
            allow_unregistered: args.allow_unregistered,
        })
        .await?;
    eprintln!(
        "celeriac serve on http://{} (dashboard at /, API under /api, /metrics, /openapi.json){}",
        server.local_addr(),
        if args.worker { " with a worker" } else { "" }
    );
    signalled.cancelled().await;
    eprintln!("shutting down");
    server.shutdown().await;
    if let Some(worker) = worker {
        worker.shutdown().await?;
    }
    Ok(())
}

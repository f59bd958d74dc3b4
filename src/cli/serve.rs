//! `celeriac serve`: the HTTP API, live events, metrics and the dashboard, until SIGINT or
//! SIGTERM. Flags win over the configuration's `[serve]` section.

use std::net::SocketAddr;
use std::time::Duration;

use celeriac_engine::http::ServeOptions;
use celeriac_engine::{App, Config};
use clap::Args;

use super::parse_duration;

/// Options of `celeriac serve`; each unset one comes from `[serve]` or its default.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on (default 127.0.0.1:8080); a non-loopback one needs a token.
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// The bearer token every API request must carry (also `[serve] token-file`).
    #[arg(long, env = "CELERIAC_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The largest request body accepted, in bytes (default 1 MiB).
    #[arg(long)]
    body_limit: Option<usize>,
    /// How long a client may take to send its request head (default 10s).
    #[arg(long, value_parser = parse_duration)]
    header_timeout: Option<Duration>,
    /// How long a request may take before it is answered 503 (default 30s).
    #[arg(long, value_parser = parse_duration)]
    request_timeout: Option<Duration>,
    /// Accept tasks this binary has not registered (their arguments go unchecked).
    #[arg(long)]
    allow_unregistered: bool,
    /// Also run a worker (and coordinator) in this process, with events on.
    #[arg(long)]
    worker: bool,
    /// A host name requests may name besides loopback ones, when no token is set (repeatable;
    /// also `[serve] allowed-hosts`).
    #[arg(long = "allow-host")]
    allow_hosts: Vec<String>,
    /// Connections served at once (default 1024).
    #[arg(long)]
    max_connections: Option<usize>,
    /// Live event streams at once (default 64).
    #[arg(long)]
    max_event_streams: Option<usize>,
}

/// The server's options: flags, else `[serve]`, else the defaults.
fn options(config: &Config, args: &ServeArgs) -> anyhow::Result<ServeOptions> {
    let file = &config.serve;
    let defaults = ServeOptions::default();
    let token = match &args.token {
        Some(token) => Some(token.clone()),
        None => config.serve_token()?,
    };
    Ok(ServeOptions {
        bind: args.bind.or(file.bind).unwrap_or(defaults.bind),
        token: token.filter(|t| !t.is_empty()),
        body_limit: args
            .body_limit
            .or(file.body_limit)
            .unwrap_or(defaults.body_limit),
        header_timeout: args
            .header_timeout
            .or(file.header_timeout)
            .unwrap_or(defaults.header_timeout),
        request_timeout: args
            .request_timeout
            .or(file.request_timeout)
            .unwrap_or(defaults.request_timeout),
        allow_unregistered: args.allow_unregistered || file.allow_unregistered.unwrap_or(false),
        allowed_hosts: if args.allow_hosts.is_empty() {
            file.allowed_hosts.clone().unwrap_or_default()
        } else {
            args.allow_hosts.clone()
        },
        max_connections: args
            .max_connections
            .or(file.max_connections)
            .unwrap_or(defaults.max_connections),
        max_event_streams: args
            .max_event_streams
            .or(file.max_event_streams)
            .unwrap_or(defaults.max_event_streams),
    })
}

pub(crate) async fn run(app: &App, config: &Config, args: &ServeArgs) -> anyhow::Result<()> {
    let signalled = super::signal::shutdown_token()?;
    let with_worker = args.worker || config.serve.worker.unwrap_or(false);
    let worker = with_worker.then(|| app.worker().send_events(true).spawn());
    let server = app.serve(options(config, args)?).await?;
    eprintln!(
        "celeriac serve on http://{} (dashboard at /, API under /api, /metrics, /openapi.json){}",
        server.local_addr(),
        if with_worker { " with a worker" } else { "" }
    );
    signalled.cancelled().await;
    eprintln!("shutting down");
    server.shutdown().await;
    if let Some(worker) = worker {
        worker.shutdown().await?;
    }
    Ok(())
}

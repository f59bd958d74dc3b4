//! `celeriac worker`: serve queues until SIGINT or SIGTERM, then drain gracefully.

use celeriac_engine::App;
use clap::Args;

use super::parse_duration;

/// Options of `celeriac worker`.
#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    /// Queues to serve, comma-separated.
    #[arg(long, short = 'Q', value_delimiter = ',', default_value = "default")]
    queues: Vec<String>,
    /// Tasks running at once.
    #[arg(long, short = 'c', default_value_t = 8)]
    concurrency: usize,
    /// Messages taken but not finished (default: 4 × concurrency).
    #[arg(long)]
    prefetch: Option<usize>,
    /// Send RECEIVED events for every task (Celery's -E).
    #[arg(long, short = 'E')]
    events: bool,
    /// How long shutdown waits for running tasks.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    grace: std::time::Duration,
}

pub(crate) async fn run(app: &App, args: &WorkerArgs) -> anyhow::Result<()> {
    let signalled = super::signal::shutdown_token()?;
    let mut worker = app
        .worker()
        .queues(args.queues.clone())
        .concurrency(args.concurrency)
        .send_events(args.events)
        .grace(args.grace);
    if let Some(prefetch) = args.prefetch {
        worker = worker.prefetch(prefetch);
    }
    let handle = worker.spawn();
    let cancel = handle.cancellation();
    eprintln!(
        "celeriac worker {} serving {} with concurrency {} ({} tasks registered)",
        app.hostname(),
        args.queues.join(","),
        args.concurrency,
        app.task_names().len()
    );
    tokio::select! {
        _ = signalled.cancelled() => eprintln!("shutting down: finishing running tasks (grace {:?})", args.grace),
        _ = cancel.cancelled() => eprintln!("shutting down on a control command"),
    }
    handle.shutdown().await?;
    Ok(())
}

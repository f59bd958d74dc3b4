//! `celeriac worker`: serve queues until SIGINT or SIGTERM, then drain gracefully.
//!
//! Flags win over the configuration's `[worker]` section, which `app.worker()` starts from.

use celeriac_engine::App;
use clap::Args;

use super::parse_duration;

/// Options of `celeriac worker`; each unset one comes from `[worker]` or its default.
#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    /// Queues to serve, comma-separated (default: the default queue).
    #[arg(long, short = 'Q', value_delimiter = ',')]
    queues: Option<Vec<String>>,
    /// Tasks running at once (default 8).
    #[arg(long, short = 'c')]
    concurrency: Option<usize>,
    /// Messages taken but not finished (default: 4 × concurrency).
    #[arg(long)]
    prefetch: Option<usize>,
    /// Send RECEIVED events for every task (Celery's -E).
    #[arg(long, short = 'E')]
    events: bool,
    /// How long shutdown waits for running tasks (default 30s).
    #[arg(long, value_parser = parse_duration)]
    grace: Option<std::time::Duration>,
}

pub(crate) async fn run(app: &App, args: &WorkerArgs) -> anyhow::Result<()> {
    let signalled = super::signal::shutdown_token()?;
    let mut worker = app.worker();
    if let Some(queues) = &args.queues {
        for queue in queues {
            celeriac_engine::validate_queue(queue)?;
        }
        worker = worker.queues(queues.clone());
    }
    if let Some(concurrency) = args.concurrency {
        worker = worker.concurrency(concurrency);
    }
    if let Some(prefetch) = args.prefetch {
        worker = worker.prefetch(prefetch);
    }
    if args.events {
        worker = worker.send_events(true);
    }
    if let Some(grace) = args.grace {
        worker = worker.grace(grace);
    }
    let (queues, concurrency, grace) = (
        worker.served_queues().join(","),
        worker.slots(),
        worker.grace_period(),
    );
    let mut handle = worker.spawn();
    eprintln!(
        "celeriac worker {} serving {queues} with concurrency {concurrency} ({} tasks registered)",
        app.hostname(),
        app.task_names().len()
    );
    // The worker may stop by itself (a shutdown command, a coordinator that cannot stay up,
    // a start-up that failed): the process ends with it, non-zero on an error.
    let signalled_first = tokio::select! {
        _ = signalled.cancelled() => true,
        result = handle.finished() => {
            result?;
            false
        }
    };
    if !signalled_first {
        eprintln!("the worker stopped on a shutdown command");
        return Ok(());
    }
    eprintln!("shutting down: finishing running tasks (grace {grace:?})");
    match handle.shutdown().await {
        // Safe to leave: what is uncommitted runs again, and the coordinator's open
        // transaction is aborted by whoever takes its partitions over.
        Err(error @ celeriac_engine::Error::ShutdownTimedOut { .. }) => eprintln!("{error}"),
        result => result?,
    }
    Ok(())
}

//! The `celeriac` command line — `worker`, `serve`, `submit`, `result`, `inspect`, `control`,
//! `events`, `workflow`, `topics`, `replay`, `beat`, `bench` — usable from a user's own
//! binary with its own tasks:
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     celeriac::cli::main_with(|app| {
//!         app.task("add", |(x, y): (i64, i64)| async move { Ok(x + y) })?;
//!         Ok(())
//!     })
//! }
//! ```

mod beat;
mod bench;
mod control;
mod duration;
mod events;
mod inspect;
mod progress;
mod replay;
mod result;
mod serve;
mod signal;
mod submit;
mod time;
mod topics;
mod worker;
mod workflow;

use std::process::ExitCode;

use celeriac_engine::{App, AppBuilder};
use clap::{Parser, Subcommand};

pub use duration::parse_duration;

/// Celery's model of distributed work on an event log.
#[derive(Debug, Parser)]
#[command(name = "celeriac", version, about)]
pub struct Cli {
    /// Kafka bootstrap servers; unset means the embedded log under --state-dir.
    #[arg(long, env = "CELERIAC_BROKERS", global = true)]
    brokers: Option<String>,
    /// Prefix of every topic and group.
    #[arg(
        long,
        env = "CELERIAC_PREFIX",
        default_value = "celeriac",
        global = true
    )]
    prefix: String,
    /// Where local state lives (the embedded log, the coordinator's store).
    #[arg(
        long,
        env = "CELERIAC_STATE_DIR",
        default_value = ".celeriac",
        global = true
    )]
    state_dir: std::path::PathBuf,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a worker (and a coordinator) serving queues until SIGINT or SIGTERM.
    Worker(worker::WorkerArgs),
    /// Serve the HTTP API, live events, metrics and the dashboard.
    Serve(serve::ServeArgs),
    /// Send a task by name with JSON arguments.
    Submit(submit::SubmitArgs),
    /// Show a task's state and result.
    Result(result::ResultArgs),
    /// Ask workers what they are doing: active, scheduled, reserved, registered, stats, ping.
    Inspect(inspect::InspectArgs),
    /// Send workers a command: revoke, terminate, rate-limit, shutdown.
    Control(control::ControlArgs),
    /// Follow task events and worker heartbeats live, one line each.
    Events(events::EventsArgs),
    /// Show a workflow's steps and their states (text or DOT).
    Workflow(workflow::WorkflowArgs),
    /// Create the app's topics, or describe them with each queue's lag.
    Topics(topics::TopicsArgs),
    /// Rebuild the coordinator's store from the log into a fresh directory.
    Replay(replay::ReplayArgs),
    /// Run the periodic scheduler from celeriac.toml's [beat] section.
    Beat(beat::BeatArgs),
    /// Measure throughput and latency (build with --release).
    Bench(bench::BenchArgs),
}

impl Cli {
    fn app_builder(&self) -> AppBuilder {
        let mut builder = App::builder()
            .prefix(&self.prefix)
            .state_dir(&self.state_dir);
        if let Some(brokers) = self.brokers.as_deref().filter(|b| !b.trim().is_empty()) {
            builder = builder.brokers(brokers);
        }
        builder
    }
}

/// Warnings and errors, but not rdkafka's "Failed to close consumer queue on drop", which it
/// logs at ERROR when a consumer is dropped after Celeriac closed it (left its group) or while
/// the process exits — nothing is lost either way. `CELERIAC_LOG` replaces this filter.
const DEFAULT_LOG: &str = "warn,rdkafka::consumer::base_consumer=off";

/// Parses the command line, builds the app, lets `register` add the binary's tasks, and
/// runs the command. Errors are printed for a person and give exit code 1.
pub fn main_with(register: impl FnOnce(&App) -> celeriac_engine::Result<()>) -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CELERIAC_LOG")
                .unwrap_or_else(|_| DEFAULT_LOG.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, register)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    cli: Cli,
    register: impl FnOnce(&App) -> celeriac_engine::Result<()>,
) -> anyhow::Result<()> {
    if let Command::Bench(args) = &cli.command {
        return bench::run(&cli, args).await;
    }
    let app = cli.app_builder().build().await?;
    register(&app)?;
    match &cli.command {
        Command::Worker(args) => worker::run(&app, args).await,
        Command::Serve(args) => serve::run(&app, args).await,
        Command::Submit(args) => submit::run(&app, args, cli.json).await,
        Command::Result(args) => result::run(&app, args, cli.json).await,
        Command::Topics(args) => topics::run(&app, args, cli.json).await,
        Command::Inspect(args) => inspect::run(&app, args, cli.json).await,
        Command::Control(args) => control::run(&app, args, cli.json).await,
        Command::Events(args) => events::run(&app, args, cli.json).await,
        Command::Workflow(args) => workflow::run(&app, args, cli.json).await,
        Command::Beat(args) => beat::run(&app, args).await,
        Command::Replay(args) => replay::run(&app, args, cli.json).await,
        Command::Bench(_) => Ok(()),
    }
}

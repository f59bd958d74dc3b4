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
mod chaos;
mod config;
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

use celeriac_engine::config::Source;
use celeriac_engine::{App, AppBuilder, Config};
use clap::{Parser, Subcommand};

pub use duration::parse_duration;

/// Celery's model of distributed work on an event log.
#[derive(Debug, Parser)]
#[command(name = "celeriac", version, about)]
pub struct Cli {
    /// The configuration file (default: $CELERIAC_CONFIG, else ./celeriac.toml if present).
    #[arg(long, global = true)]
    config: Option<std::path::PathBuf>,
    /// Kafka bootstrap servers (over CELERIAC_BROKERS and the file); unset means the
    /// embedded log under the state directory.
    #[arg(long, global = true)]
    brokers: Option<String>,
    /// Prefix of every topic and group (default celeriac).
    #[arg(long, global = true)]
    prefix: Option<String>,
    /// Where local state lives: the embedded log, the coordinator's store (default .celeriac).
    #[arg(long, global = true)]
    state_dir: Option<std::path::PathBuf>,
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
    /// Show the effective configuration and where each value came from.
    Config(config::ConfigArgs),
    /// Run the whole system under faults and check its history (a replicated cluster).
    Chaos(chaos::ChaosArgs),
    /// Measure throughput and latency (build with --release).
    Bench(bench::BenchArgs),
}

impl Cli {
    /// The configuration file and `CELERIAC_*` variables, with this command line's global flags
    /// over them.
    fn load_config(&self) -> celeriac_engine::Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(brokers) = &self.brokers {
            config.brokers = Some(brokers.clone()).filter(|b| !b.trim().is_empty());
            config
                .sources_mut()
                .set("brokers", Source::Flag("--brokers".into()));
        }
        if let Some(prefix) = &self.prefix {
            config.prefix = Some(prefix.clone());
            config
                .sources_mut()
                .set("prefix", Source::Flag("--prefix".into()));
        }
        if let Some(dir) = &self.state_dir {
            config.state_dir = Some(dir.clone());
            config
                .sources_mut()
                .set("state-dir", Source::Flag("--state-dir".into()));
        }
        Ok(config)
    }
}

/// How a binary of its own adjusts the [`AppBuilder`] the configuration made, before the app
/// is built: extra routes, a host name, a log shared with something else.
type Configure = Box<dyn FnOnce(AppBuilder, &Config) -> celeriac_engine::Result<AppBuilder>>;

/// Warnings and errors, but not rdkafka's "Failed to close consumer queue on drop", which it
/// logs at ERROR when a consumer is dropped after Celeriac closed it (left its group) or while
/// the process exits — nothing is lost either way. `CELERIAC_LOG` replaces this filter.
const DEFAULT_LOG: &str = "warn,rdkafka::consumer::base_consumer=off";

/// Parses the command line, builds the app from the configuration (`celeriac.toml`,
/// `CELERIAC_*`, flags), lets `register` add the binary's tasks, and runs the command. Errors
/// are printed for a person and give exit code 1.
pub fn main_with(register: impl FnOnce(&App) -> celeriac_engine::Result<()>) -> ExitCode {
    main_with_builder(|builder, _| Ok(builder), register)
}

/// As [`main_with`], and `configure` adjusts the [`AppBuilder`] (made from the same
/// configuration) before the app is built.
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     celeriac::cli::main_with_builder(
///         |builder, _config| Ok(builder.route("reports.*", "reports")),
///         |app| {
///             app.task("reports.daily", |day: String| async move { Ok(day.len()) })?;
///             Ok(())
///         },
///     )
/// }
/// ```
pub fn main_with_builder(
    configure: impl FnOnce(AppBuilder, &Config) -> celeriac_engine::Result<AppBuilder> + 'static,
    register: impl FnOnce(&App) -> celeriac_engine::Result<()>,
) -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CELERIAC_LOG")
                .unwrap_or_else(|_| DEFAULT_LOG.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(cli, Box::new(configure), register));
    // Kafka clients are dropped on the blocking pool, and a consumer leaving a group that no
    // broker answers for can block there for good: the process does not wait for that.
    runtime.shutdown_timeout(EXIT_WITHIN);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// How long the process waits at exit for clients still closing on the blocking pool.
const EXIT_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

async fn run(
    cli: Cli,
    configure: Configure,
    register: impl FnOnce(&App) -> celeriac_engine::Result<()>,
) -> anyhow::Result<()> {
    let config = cli.load_config()?;
    match &cli.command {
        Command::Bench(args) => return bench::run(&cli, &config, args).await,
        Command::Config(args) => return config::run(&config, args, cli.json),
        Command::Chaos(args) => return chaos::run(config.brokers.clone(), args).await,
        _ => {}
    }
    let builder = configure(AppBuilder::from_config(&config)?, &config)?;
    let app = builder.build().await?;
    register(&app)?;
    match &cli.command {
        Command::Worker(args) => worker::run(&app, args).await,
        Command::Serve(args) => serve::run(&app, &config, args).await,
        Command::Submit(args) => submit::run(&app, args, cli.json).await,
        Command::Result(args) => result::run(&app, args, cli.json).await,
        Command::Topics(args) => topics::run(&app, args, cli.json).await,
        Command::Inspect(args) => inspect::run(&app, args, cli.json).await,
        Command::Control(args) => control::run(&app, args, cli.json).await,
        Command::Events(args) => events::run(&app, args, cli.json).await,
        Command::Workflow(args) => workflow::run(&app, args, cli.json).await,
        Command::Beat(args) => beat::run(&app, &config, args).await,
        Command::Replay(args) => replay::run(&app, args, cli.json).await,
        Command::Bench(_) | Command::Config(_) | Command::Chaos(_) => Ok(()),
    }
}

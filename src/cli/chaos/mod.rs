//! `celeriac chaos`: a Jepsen-style run of the whole system under faults.
//!
//! It starts, as separate processes of this binary, several workers (each with its
//! coordinator), two beats and an HTTP front against a (replicated) Kafka cluster; drives a
//! seeded workload at a steady rate — chains, chords, groups, nested canvases, countdowns,
//! retries, a beat entry every second, a little poison — while nemeses chosen by the seed kill,
//! freeze and skew processes and kill or restart brokers; then, once the system is quiet, reads
//! every topic from offset 0 and checks the promises (see `check.rs`). A violation prints the
//! seed, the check and the records that show it; the exit code is non-zero.
//!
//! ```sh
//! scripts/kafka start --brokers 3
//! cargo run --release -- chaos --seeds 1,2 --minutes 10
//! ```

mod check;
mod history;
mod nemesis;
mod procs;
mod run;
mod workload;

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::parse_duration;

/// Options of `celeriac chaos`.
#[derive(Debug, Args, Clone)]
pub(crate) struct ChaosArgs {
    /// The seeds to run, one run each (default: one random seed, printed).
    #[arg(long, value_delimiter = ',')]
    seeds: Vec<u64>,
    /// How long each run drives load (faults keep coming meanwhile).
    #[arg(long, default_value = "3m", value_parser = parse_duration)]
    load: Duration,
    /// Minutes of load per run (overrides --load; for long profiles).
    #[arg(long)]
    minutes: Option<f64>,
    /// Worker processes (each runs a coordinator member).
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Workflows submitted per second.
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    /// Scale of chord sizes (1.0: 20–200 members).
    #[arg(long, default_value_t = 1.0)]
    chord_scale: f64,
    /// Shortest pause between two faults.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    fault_min: Duration,
    /// Longest pause between two faults.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    fault_max: Duration,
    /// How long a frozen (SIGSTOP) worker stays frozen.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    freeze: Duration,
    /// Brokers of the cluster under test (default: `--brokers`, else 127.0.0.1:19092-19094).
    #[arg(long)]
    cluster: Option<String>,
    /// Nodes of the cluster, for broker faults through `scripts/kafka`.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// `KAFKA_PORT` of the cluster's first node (what `scripts/kafka` was started with).
    #[arg(long, default_value_t = 19092)]
    kafka_port: u16,
    /// The `scripts/kafka` that steers the cluster.
    #[arg(long, default_value = "scripts/kafka")]
    kafka_script: PathBuf,
    /// Fail unless every kind of fault ran at least once over the seeds (each run already
    /// drives load past `--load` until every kind has run, up to three times as long).
    #[arg(long)]
    require_every_fault: bool,
    /// Where runs keep their processes' state and logs (default: a temporary directory,
    /// removed after a passing run).
    #[arg(long)]
    dir: Option<PathBuf>,
}

pub(crate) async fn run(brokers: Option<String>, args: &ChaosArgs) -> anyhow::Result<()> {
    let cluster = args
        .cluster
        .clone()
        .or(brokers)
        .unwrap_or_else(|| "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094".into());
    let seeds = if args.seeds.is_empty() {
        vec![fastrand::u64(..)]
    } else {
        args.seeds.clone()
    };
    // A signal ends the run at once: dropping it kills every process it started.
    let stop = super::signal::shutdown_token()?;
    let mut failed = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    for seed in seeds {
        let run = run::Run::new(seed, &cluster, args)?;
        let outcome = tokio::select! {
            outcome = run.execute() => outcome?,
            () = stop.cancelled() => anyhow::bail!(
                "chaos: stopped by a signal during seed {seed}; its processes were killed"
            ),
        };
        outcome.print();
        kinds.extend(outcome.kinds());
        if !outcome.violations.is_empty() {
            failed.push(seed);
        }
    }
    anyhow::ensure!(
        failed.is_empty(),
        "chaos found violations with seeds {failed:?} (run again with --seeds to reproduce)"
    );
    let missing: Vec<&str> = nemesis::Nemesis::ALL
        .iter()
        .filter(|n| !kinds.contains(*n))
        .map(|n| n.name())
        .collect();
    anyhow::ensure!(
        missing.is_empty() || !args.require_every_fault,
        "these faults never ran: {missing:?} (a longer --load, or more seeds)"
    );
    Ok(())
}

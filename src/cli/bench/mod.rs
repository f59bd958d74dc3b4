//! `celeriac bench`: release-build measurements of the engine, each run in fresh topics (and a
//! fresh state directory) on the embedded log or Kafka. `--json` prints one object per run.
//!
//! - `tasks`: no-op tasks end to end (submitted → result recorded), then submit → start
//!   latency at a fixed offered rate.
//! - `chord`: a chord of many members end to end (submit → body result).
//! - `chain`: a long chain end to end (submit → last step's result).
//! - `replay`: events written in bulk, then only their replay into a fresh coordinator store.

mod replay;
mod tasks;
mod workflows;

use std::path::PathBuf;

use celeriac_engine::{App, Config};
use clap::{Args, Subcommand, ValueEnum};
use uuid::Uuid;

use super::Cli;

/// Options of `celeriac bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    what: BenchWhat,
}

#[derive(Debug, Subcommand)]
enum BenchWhat {
    /// No-op tasks end to end, then latency at a fixed rate.
    Tasks(tasks::TaskBench),
    /// A chord of many members end to end (submit → body result).
    Chord(workflows::ChordBench),
    /// A long chain end to end (submit → last result).
    Chain(workflows::ChainBench),
    /// Replay of many events into a fresh coordinator store.
    Replay(replay::ReplayBench),
}

/// Which log a bench runs on.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Backend {
    Embedded,
    Kafka,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Embedded => "embedded",
            Backend::Kafka => "kafka",
        }
    }
}

/// The `--backend` option every bench takes, and raw Kafka properties.
#[derive(Debug, Args)]
struct BackendArg {
    /// Which log to measure.
    #[arg(long, value_enum, default_value = "embedded")]
    backend: Backend,
    /// A librdkafka property for every client (`key=value`, repeatable), e.g. `linger.ms=5`.
    #[arg(long = "kafka-property", value_parser = key_value)]
    kafka_properties: Vec<(String, String)>,
}

fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("{text:?} is not key=value"))
}

pub(crate) async fn run(cli: &Cli, config: &Config, args: &BenchArgs) -> anyhow::Result<()> {
    match &args.what {
        BenchWhat::Tasks(bench) => tasks::run(cli, config, bench).await,
        BenchWhat::Chord(bench) => workflows::run_chord(cli, config, bench).await,
        BenchWhat::Chain(bench) => workflows::run_chain(cli, config, bench).await,
        BenchWhat::Replay(bench) => replay::run(cli, config, bench).await,
    }
}

/// An app on fresh topics (a random prefix) and a fresh state directory, removed on drop.
struct Scratch {
    app: App,
    dir: PathBuf,
}

impl Scratch {
    /// On Kafka: the configured brokers (127.0.0.1:9092 without) and `[kafka]` properties
    /// (a SASL_SSL cluster, say), then `--kafka-property` over them.
    async fn new(config: &Config, arg: &BackendArg) -> anyhow::Result<Scratch> {
        let backend = arg.backend;
        let id = Uuid::now_v7().simple().to_string();
        let dir = std::env::temp_dir().join(format!("celeriac-bench-{id}"));
        let mut builder = App::builder()
            .prefix(format!("bench-{}", &id[id.len() - 12..]))
            .state_dir(&dir);
        if backend == Backend::Kafka {
            builder = builder.brokers(
                config
                    .brokers
                    .clone()
                    .unwrap_or_else(|| "127.0.0.1:9092".into()),
            );
            for (key, value) in config.kafka_properties()? {
                builder = builder.kafka_property(key, value);
            }
            for (key, value) in &arg.kafka_properties {
                builder = builder.kafka_property(key, value);
            }
        }
        let app = builder.build().await?;
        Ok(Scratch { app, dir })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

//! `celeriac bench chord` and `celeriac bench chain`: one workflow end to end, from submit to
//! the output step's result, after a small warm-up workflow has gone through (so the worker
//! and the coordinator own their partitions before the clock starts).

use std::time::{Duration, Instant};

use celeriac_canvas::Canvas;
use celeriac_engine::{App, WorkerHandle};
use clap::Args;
use serde_json::json;

use super::{BackendArg, Scratch};
use celeriac_engine::Config;

use crate::cli::Cli;

/// Options of `celeriac bench chord`.
#[derive(Debug, Args)]
pub(super) struct ChordBench {
    #[command(flatten)]
    backend: BackendArg,
    /// Header members (each `demo.add(i, i)`; the body sums them).
    #[arg(long, default_value_t = 10_000)]
    members: usize,
    /// Worker concurrency.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
}

/// Options of `celeriac bench chain`.
#[derive(Debug, Args)]
pub(super) struct ChainBench {
    #[command(flatten)]
    backend: BackendArg,
    /// Steps (`demo.add(0, 1)`, then `demo.add(previous, 1)` for each further step).
    #[arg(long, default_value_t = 1_000)]
    steps: usize,
    /// Worker concurrency.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
}

/// `demo.add(i, i)` for every member, summed by `bench.sum`: `n (n - 1)`.
fn chord_of(members: usize) -> (Canvas, i64) {
    let header = (0..members).map(|i| Canvas::task("demo.add", vec![json!(i), json!(i)]));
    let n = i64::try_from(members).unwrap_or(i64::MAX);
    (
        Canvas::chord(header, Canvas::partial("bench.sum", vec![])),
        n.saturating_mul(n - 1),
    )
}

/// `0 + 1 + 1 …`, one step at a time: `steps`.
fn chain_of(steps: usize) -> (Canvas, i64) {
    let first = Canvas::task("demo.add", vec![json!(0), json!(1)]);
    let rest = (1..steps).map(|_| Canvas::partial("demo.add", vec![json!(1)]));
    (
        Canvas::chain(std::iter::once(first).chain(rest)),
        i64::try_from(steps).unwrap_or(i64::MAX),
    )
}

async fn start(app: &App, concurrency: usize) -> anyhow::Result<WorkerHandle> {
    app.register_demo_tasks()?;
    app.task("bench.sum", |xs: Vec<i64>| async move {
        Ok(xs.into_iter().sum::<i64>())
    })?;
    Ok(app
        .worker()
        .concurrency(concurrency)
        .prefetch(concurrency * 64)
        .send_events(false)
        .spawn())
}

/// Submits `canvas`, waits for its output and checks it is `expected`; returns the time taken.
async fn time(app: &App, canvas: &Canvas, expected: i64) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let handle = app.submit_canvas(canvas).await?;
    let output = handle.get(Duration::from_secs(600)).await?;
    let elapsed = started.elapsed();
    anyhow::ensure!(
        output == expected,
        "the workflow gave {output}, not {expected}"
    );
    Ok(elapsed)
}

/// Warms up with a small workflow of the same shape, then times the big one.
async fn measure(
    app: &App,
    concurrency: usize,
    warm_up: (Canvas, i64),
    canvas: (Canvas, i64),
) -> anyhow::Result<Duration> {
    let worker = start(app, concurrency).await?;
    let outcome = async {
        time(app, &warm_up.0, warm_up.1).await?;
        time(app, &canvas.0, canvas.1).await
    }
    .await;
    worker.shutdown().await?;
    outcome
}

pub(super) async fn run_chord(
    cli: &Cli,
    config: &Config,
    bench: &ChordBench,
) -> anyhow::Result<()> {
    let backend = bench.backend.backend;
    let scratch = Scratch::new(config, &bench.backend).await?;
    let elapsed = measure(
        &scratch.app,
        bench.concurrency,
        chord_of(10),
        chord_of(bench.members),
    )
    .await?;
    let seconds = elapsed.as_secs_f64();
    let per_sec = bench.members as f64 / seconds.max(1e-9);
    if cli.json {
        println!(
            "{}",
            json!({
                "bench": "chord", "backend": backend.name(), "members": bench.members,
                "seconds": seconds, "members_per_sec": per_sec,
            })
        );
    } else {
        println!(
            "backend {}: chord of {} members, submit → body result: {:.3} s ({per_sec:.0} members/s)",
            backend.name(),
            bench.members,
            seconds
        );
    }
    Ok(())
}

pub(super) async fn run_chain(
    cli: &Cli,
    config: &Config,
    bench: &ChainBench,
) -> anyhow::Result<()> {
    let backend = bench.backend.backend;
    let scratch = Scratch::new(config, &bench.backend).await?;
    let elapsed = measure(
        &scratch.app,
        bench.concurrency,
        chain_of(3),
        chain_of(bench.steps.max(1)),
    )
    .await?;
    let seconds = elapsed.as_secs_f64();
    let per_step_ms = seconds * 1000.0 / bench.steps.max(1) as f64;
    if cli.json {
        println!(
            "{}",
            json!({
                "bench": "chain", "backend": backend.name(), "steps": bench.steps,
                "seconds": seconds, "ms_per_step": per_step_ms,
            })
        );
    } else {
        println!(
            "backend {}: chain of {} steps, submit → last result: {:.3} s ({per_step_ms:.2} ms a step)",
            backend.name(),
            bench.steps,
            seconds
        );
    }
    Ok(())
}

//! `celeriac bench tasks`: end-to-end no-op throughput (submitted → result recorded) and
//! submit → start latency at a fixed offered rate.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use celeriac_engine::{App, SendOptions};
use clap::Args;

use super::{BackendArg, Scratch};
use celeriac_engine::Config;

use crate::cli::Cli;

/// Options of `celeriac bench tasks`.
#[derive(Debug, Args)]
pub(super) struct TaskBench {
    #[command(flatten)]
    backend: BackendArg,
    /// No-op tasks in the throughput run.
    #[arg(long, default_value_t = 100_000)]
    tasks: usize,
    /// Offered rate (tasks/s) of the latency run.
    #[arg(long, default_value_t = 1_000)]
    rate: u32,
    /// Tasks in the latency run.
    #[arg(long, default_value_t = 5_000)]
    latency_tasks: usize,
    /// Worker concurrency.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
}

pub(super) async fn run(cli: &Cli, config: &Config, bench: &TaskBench) -> anyhow::Result<()> {
    let backend = bench.backend.backend;
    let scratch = Scratch::new(config, &bench.backend).await?;
    let report = measure(&scratch.app, bench).await?;
    let backend = backend.name();
    if cli.json {
        println!(
            "{}",
            serde_json::json!({
                "bench": "tasks", "backend": backend, "tasks": bench.tasks,
                "tasks_per_sec": report.tasks_per_sec,
                "latency_rate": bench.rate, "latency_tasks": bench.latency_tasks,
                "latency_p50_ms": report.p50_ms, "latency_p99_ms": report.p99_ms,
            })
        );
    } else {
        println!(
            "backend {backend}: {} no-op tasks end to end: {:.0} tasks/s",
            bench.tasks, report.tasks_per_sec
        );
        println!(
            "submit → start latency at {}/s over {} tasks: p50 {:.2} ms, p99 {:.2} ms",
            bench.rate, bench.latency_tasks, report.p50_ms, report.p99_ms
        );
    }
    Ok(())
}

struct Report {
    tasks_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

async fn measure(app: &App, bench: &TaskBench) -> anyhow::Result<Report> {
    app.register_demo_tasks()?;
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(bench.latency_tasks)));
    let recorded = latencies.clone();
    app.task("bench.latency", move |sent_us: i64| {
        let recorded = recorded.clone();
        async move {
            let latency = now_us() - sent_us;
            recorded
                .lock()
                .map_err(|_| celeriac_engine::TaskError::msg("poisoned"))?
                .push(latency);
            Ok(())
        }
    })?;
    let worker = app
        .worker()
        .concurrency(bench.concurrency)
        .prefetch(bench.concurrency * 64)
        .send_events(false)
        .spawn();

    // Warm-up: one task through the whole path, so the worker has joined its group and the
    // results reader is tailing before the clock starts.
    let warm_up = app
        .send_tasks(
            "demo.noop",
            vec![serde_json::json!([])],
            SendOptions::default(),
        )
        .await?;
    app.wait_for_all(&warm_up, Duration::from_secs(60)).await?;

    // Throughput: everything at once, in batches; wait for every result.
    let started = Instant::now();
    let mut ids = Vec::with_capacity(bench.tasks);
    for chunk in (0..bench.tasks).collect::<Vec<_>>().chunks(5_000) {
        let args = vec![serde_json::json!([]); chunk.len()];
        ids.extend(
            app.send_tasks("demo.noop", args, SendOptions::default())
                .await?,
        );
    }
    app.wait_for_all(&ids, Duration::from_secs(600)).await?;
    let tasks_per_sec = bench.tasks as f64 / started.elapsed().as_secs_f64();

    // Latency: a fixed offered rate; the task measures submit → start.
    let mut ticks =
        tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(bench.rate.max(1))));
    let mut ids = Vec::with_capacity(bench.latency_tasks);
    for _ in 0..bench.latency_tasks {
        ticks.tick().await;
        ids.extend(
            app.send_tasks(
                "bench.latency",
                vec![serde_json::json!([now_us()])],
                SendOptions::default(),
            )
            .await?,
        );
    }
    app.wait_for_all(&ids, Duration::from_secs(120)).await?;
    worker.shutdown().await?;
    let mut latencies = latencies
        .lock()
        .map_err(|_| anyhow::anyhow!("latency samples poisoned"))?
        .clone();
    latencies.sort_unstable();
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    Ok(Report {
        tasks_per_sec,
        p50_ms: pick(0.5),
        p99_ms: pick(0.99),
    })
}

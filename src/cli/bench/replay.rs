//! `celeriac bench replay`: task events (received, started, succeeded for each of many lone
//! tasks) written to the events topic in bulk, then — timed alone — their replay into a fresh
//! coordinator store through the engine's [`replay`].

use std::time::Instant;

use celeriac_engine::coordinator::{replay, ReplayOptions};
use celeriac_engine::App;
use celeriac_schemas::{now_millis, Record as _, TaskEvent, TaskEventKind};
use celeriac_topics::OutRecord;
use clap::Args;
use uuid::Uuid;

use super::{BackendArg, Scratch};
use celeriac_engine::Config;

use crate::cli::Cli;

/// Options of `celeriac bench replay`.
#[derive(Debug, Args)]
pub(super) struct ReplayBench {
    #[command(flatten)]
    backend: BackendArg,
    /// Events to write, then replay (three per task).
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Records applied per write batch of the replay.
    #[arg(long, default_value_t = ReplayOptions::default().batch_records)]
    batch: usize,
}

const KINDS: [TaskEventKind; 3] = [
    TaskEventKind::Received,
    TaskEventKind::Started,
    TaskEventKind::Succeeded,
];

/// Writes `count` events, three per lone task, in batches; returns how many were written.
async fn write_events(app: &App, count: usize) -> anyhow::Result<usize> {
    let topic = app.names().events();
    let hostname = app.hostname().to_owned();
    let mut written = 0;
    let mut batch = Vec::with_capacity(10_002);
    while written < count {
        let task_id = Uuid::now_v7();
        for kind in KINDS.into_iter().take(count - written) {
            let succeeded = kind == TaskEventKind::Succeeded;
            let event = TaskEvent {
                id: Uuid::now_v7(),
                task_id,
                root_id: task_id,
                workflow_step: None,
                task: "demo.noop".into(),
                kind,
                timestamp: now_millis(),
                hostname: hostname.clone(),
                retries: 0,
                result: succeeded.then(|| b"null".to_vec()),
                content_type: succeeded.then(|| "application/json".into()),
                error: None,
                runtime_ms: succeeded.then_some(0),
                next_eta: None,
                queue: "default".into(),
            };
            batch.push(OutRecord::keyed(
                topic.clone(),
                task_id.to_string(),
                event.encode()?,
            ));
            written += 1;
        }
        if batch.len() >= 10_000 || written == count {
            app.log().send_batch(std::mem::take(&mut batch)).await?;
        }
    }
    Ok(written)
}

pub(super) async fn run(cli: &Cli, config: &Config, bench: &ReplayBench) -> anyhow::Result<()> {
    let backend = bench.backend.backend;
    let scratch = Scratch::new(config, &bench.backend).await?;
    let app = &scratch.app;
    let writing = Instant::now();
    let written = write_events(app, bench.events).await?;
    let write_seconds = writing.elapsed().as_secs_f64();
    let options = ReplayOptions {
        batch_records: bench.batch.max(1),
        ..ReplayOptions::default()
    };
    let into = scratch.dir.join("replayed");
    let summary = replay(app.log().as_ref(), app.names(), &into, options, |_| {}).await?;
    let applied: u64 = summary.records.values().sum();
    anyhow::ensure!(
        applied == written as u64,
        "replay applied {applied} records of the {written} written"
    );
    let seconds = summary.elapsed.as_secs_f64();
    let per_sec = applied as f64 / seconds.max(1e-9);
    if cli.json {
        println!(
            "{}",
            serde_json::json!({
                "bench": "replay", "backend": backend.name(), "events": applied,
                "results": summary.results, "seconds": seconds, "events_per_sec": per_sec,
                "write_seconds": write_seconds,
            })
        );
    } else {
        println!(
            "backend {}: replay of {applied} events ({} results) into a fresh store: {seconds:.2} s, {per_sec:.0} events/s (writing them took {write_seconds:.2} s)",
            backend.name(),
            summary.results
        );
    }
    Ok(())
}

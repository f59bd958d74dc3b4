//! `celeriac replay`: rebuild the coordinator's store from the log into a fresh directory,
//! with progress and a summary (the digest compares it with a live store).

use std::io::Write;
use std::path::PathBuf;

use celeriac_engine::coordinator::{replay, ReplayOptions};
use celeriac_engine::App;
use clap::Args;

/// Options of `celeriac replay`.
#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    /// Where to build the store (default: `<state-dir>/coordinator`); it must not exist or
    /// be empty.
    #[arg(long)]
    into: Option<PathBuf>,
}

pub(crate) async fn run(app: &App, args: &ReplayArgs, json: bool) -> anyhow::Result<()> {
    let into = args
        .into
        .clone()
        .unwrap_or_else(|| app.state_dir().join("coordinator"));
    let mut last_print = std::time::Instant::now();
    let progress = |p: &celeriac_engine::coordinator::ReplayProgress| {
        if !json && last_print.elapsed().as_millis() >= 200 {
            last_print = std::time::Instant::now();
            let percent = if p.end > 0 {
                p.offset * 100 / p.end
            } else {
                100
            };
            eprint!(
                "\rreplaying {} [{percent:>3}%] {} records applied   ",
                p.tp, p.records
            );
            let _ = std::io::stderr().flush();
        }
    };
    let summary = replay(
        app.log().as_ref(),
        app.names(),
        &into,
        ReplayOptions::default(),
        progress,
    )
    .await?;
    let total: u64 = summary.records.values().sum();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "state_dir": into, "records": summary.records, "undecodable": summary.undecodable,
                "workflows": summary.workflows, "results": summary.results, "timers": summary.timers,
                "digest": summary.digest, "seconds": summary.elapsed.as_secs_f64(),
                "records_per_sec": total as f64 / summary.elapsed.as_secs_f64().max(1e-9),
            })
        );
    } else {
        eprintln!();
        println!(
            "rebuilt {} from {total} records in {:.2?}",
            into.display(),
            summary.elapsed
        );
        for (topic, count) in &summary.records {
            println!("  {topic}: {count} records");
        }
        println!(
            "  {} workflows, {} results, {} armed timers, {} unusable records; digest {}",
            summary.workflows, summary.results, summary.timers, summary.undecodable, summary.digest
        );
    }
    Ok(())
}

//! `celeriac submit`: send a task by name with JSON arguments, optionally wait for it.

use std::time::Duration;

use celeriac_engine::{App, SendOptions};
use clap::Args;

use super::parse_duration;
use super::result::{print_result, wait_and_print};

/// Options of `celeriac submit`.
#[derive(Debug, Args)]
pub(crate) struct SubmitArgs {
    /// The task name, e.g. demo.add.
    task: String,
    /// Positional arguments as a JSON array, e.g. '[2, 3]'.
    #[arg(long, default_value = "[]")]
    args: String,
    /// Run no sooner than this from now (250ms, 5s, 2m).
    #[arg(long, value_parser = parse_duration)]
    countdown: Option<Duration>,
    /// Revoke instead of running once this has passed.
    #[arg(long, value_parser = parse_duration)]
    expires_in: Option<Duration>,
    /// The queue (default: routed by task name).
    #[arg(long)]
    queue: Option<String>,
    /// Wait for the result and print it.
    #[arg(long)]
    wait: bool,
    /// How long --wait waits.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
}

pub(crate) async fn run(app: &App, args: &SubmitArgs, json: bool) -> anyhow::Result<()> {
    let values: serde_json::Value = serde_json::from_str(&args.args)
        .map_err(|e| anyhow::anyhow!("--args is not JSON ({e}); give a JSON array such as '[2, 3]'"))?;
    let options = SendOptions {
        countdown: args.countdown,
        expires: args.expires_in.map(|after| std::time::SystemTime::now() + after),
        queue: args.queue.clone(),
        ..SendOptions::default()
    };
    let result = app.send_task(&args.task, &values, options).await?;
    if !args.wait {
        if json {
            println!("{}", serde_json::json!({"id": result.id(), "task": args.task, "state": "PENDING"}));
        } else {
            println!("sent {} as {}", args.task, result.id());
        }
        return Ok(());
    }
    let record = wait_and_print(&result, args.timeout, json).await?;
    print_result(&record, json);
    Ok(())
}

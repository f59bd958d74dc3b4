//! `celeriac submit`: send a task by name with JSON arguments, optionally wait for it.

use std::time::Duration;

use celeriac_engine::{App, SendOptions};
use clap::Args;

use super::parse_duration;
use super::result::{print_result, wait_and_print};

/// Options of `celeriac submit`.
#[derive(Debug, Args)]
pub(crate) struct SubmitArgs {
    /// The task name, e.g. demo.add (or --workflow).
    #[arg(required_unless_present = "workflow")]
    task: Option<String>,
    /// Submit a canvas in its JSON form from this file instead of one task.
    #[arg(long, conflicts_with = "task")]
    workflow: Option<std::path::PathBuf>,
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
    if let Some(path) = &args.workflow {
        return submit_workflow(app, path, args, json).await;
    }
    let task = args.task.clone().unwrap_or_default();
    let values: serde_json::Value = serde_json::from_str(&args.args).map_err(|e| {
        anyhow::anyhow!("--args is not JSON ({e}); give a JSON array such as '[2, 3]'")
    })?;
    let options = SendOptions {
        countdown: args.countdown,
        expires: args
            .expires_in
            .map(|after| std::time::SystemTime::now() + after),
        queue: args.queue.clone(),
        ..SendOptions::default()
    };
    let result = app.send_task(&task, &values, options).await?;
    if !args.wait {
        if json {
            println!(
                "{}",
                serde_json::json!({"id": result.id(), "task": task, "state": "PENDING"})
            );
        } else {
            println!("sent {task} as {}", result.id());
        }
        return Ok(());
    }
    let record = wait_and_print(&result, args.timeout, json).await?;
    print_result(&record, json);
    Ok(())
}

/// Checks a JSON canvas against the registered tasks, submits it, and optionally waits.
async fn submit_workflow(
    app: &App,
    path: &std::path::Path,
    args: &SubmitArgs,
    json: bool,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let canvas = celeriac_canvas::Canvas::from_json_str(&text)?;
    let handle = app.submit_canvas(&canvas).await?;
    if !args.wait {
        if json {
            println!(
                "{}",
                serde_json::json!({"workflow": handle.id(), "output_task": handle.output_task_id()})
            );
        } else {
            println!(
                "submitted workflow {} (result: task {})",
                handle.id(),
                handle.output_task_id()
            );
        }
        return Ok(());
    }
    let record = handle.output_result().wait(args.timeout).await?;
    print_result(&record, json);
    Ok(())
}

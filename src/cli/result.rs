//! `celeriac result`: a task's state and value (or error), now or once it finishes.

use std::time::Duration;

use celeriac_engine::{App, AsyncResult};
use celeriac_schemas::{TaskResult, TaskState};
use clap::Args;
use uuid::Uuid;

use super::parse_duration;

/// Options of `celeriac result`.
#[derive(Debug, Args)]
pub(crate) struct ResultArgs {
    /// The task id.
    id: Uuid,
    /// Wait until the task finishes.
    #[arg(long)]
    wait: bool,
    /// How long --wait waits.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
}

pub(crate) async fn run(app: &App, args: &ResultArgs, json: bool) -> anyhow::Result<()> {
    let result = AsyncResult::<serde_json::Value>::from_id(app, args.id);
    if args.wait {
        let record = wait_and_print(&result, args.timeout, json).await?;
        print_result(&record, json);
        return Ok(());
    }
    let state = result.state().await?;
    if state.is_terminal() {
        let record = result.wait(Duration::from_secs(5)).await?;
        print_result(&record, json);
    } else if json {
        println!(
            "{}",
            serde_json::json!({"id": args.id, "state": state.name()})
        );
    } else {
        println!("{} {}", args.id, state.name());
    }
    Ok(())
}

/// Waits for the terminal record; a timeout is an error that says so.
pub(crate) async fn wait_and_print(
    result: &AsyncResult<serde_json::Value>,
    timeout: Duration,
    _json: bool,
) -> anyhow::Result<TaskResult> {
    Ok(result.wait(timeout).await?)
}

/// Prints a terminal record for a person, or as one JSON object.
pub(crate) fn print_result(record: &TaskResult, json: bool) {
    let value = record.result.as_deref().map(|bytes| {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .unwrap_or_else(|_| serde_json::Value::String(format!("<{} bytes>", bytes.len())))
    });
    let error = record
        .error
        .as_ref()
        .map(|e| format!("{}: {}", e.type_name, e.message));
    if json {
        println!(
            "{}",
            serde_json::json!({
                "id": record.task_id, "task": record.task, "state": record.state.name(),
                "result": value, "error": error, "retries": record.retries, "worker": record.hostname,
            })
        );
        return;
    }
    match (record.state, value, error) {
        (TaskState::Success, Some(value), _) => println!("{} SUCCESS {value}", record.task_id),
        (state, _, Some(error)) => println!("{} {} {error}", record.task_id, state.name()),
        (state, _, None) => println!("{} {}", record.task_id, state.name()),
    }
}

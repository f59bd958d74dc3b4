//! `celeriac events`: a live tail of the events topic, one line per event — time, host,
//! state, task name, id, runtime — until interrupted.

use celeriac_engine::inspect::Event;
use celeriac_engine::{App, EventsFrom};
use clap::Args;

use super::time::format_millis;

/// Options of `celeriac events`.
#[derive(Debug, Args)]
pub(crate) struct EventsArgs {
    /// Start with every event still on the topic instead of only new ones.
    #[arg(long)]
    from_beginning: bool,
    /// Leave out worker heartbeats.
    #[arg(long)]
    no_heartbeats: bool,
    /// Stop after this many events (default: run until interrupted).
    #[arg(long)]
    limit: Option<u64>,
}

pub(crate) async fn run(app: &App, args: &EventsArgs, json: bool) -> anyhow::Result<()> {
    let from = if args.from_beginning {
        EventsFrom::Beginning
    } else {
        EventsFrom::Now
    };
    let mut stream = app.events(from).await?;
    if !json {
        eprintln!("following {} (Ctrl-C to stop)", app.names().events());
    }
    let mut shown = 0u64;
    loop {
        if args.limit.is_some_and(|limit| shown >= limit) {
            break;
        }
        let item = tokio::select! {
            item = stream.next() => item,
            _ = tokio::signal::ctrl_c() => break,
        };
        let Some(item) = item else { break };
        match item {
            Ok(Event::Heartbeat(_)) if args.no_heartbeats => continue,
            Ok(event) => {
                if json {
                    println!("{}", event_json(&event));
                } else {
                    println!("{}", event_line(&event));
                }
                shown += 1;
            }
            Err(error) => eprintln!("warning: {error}"),
        }
    }
    stream.close().await?;
    Ok(())
}

/// One readable line: time, host, state, task, id, runtime.
fn event_line(event: &Event) -> String {
    let time = format_millis(event.timestamp());
    match event {
        Event::Task(e) => {
            let state = format!("{:?}", e.kind).to_uppercase();
            let runtime = e
                .runtime_ms
                .map(|ms| format!(" {:.3}s", ms as f64 / 1000.0))
                .unwrap_or_default();
            let error = e
                .error
                .as_ref()
                .map(|err| format!(" {}: {}", err.type_name, err.message))
                .unwrap_or_default();
            format!(
                "{time} {} {state:<9} {} {}{runtime}{error}",
                e.hostname, e.task, e.task_id
            )
        }
        Event::Heartbeat(b) => format!(
            "{time} {} HEARTBEAT active {} processed {}",
            b.hostname, b.active, b.processed
        ),
    }
}

/// One JSON object per event (task results are left out; `celeriac result` shows them).
fn event_json(event: &Event) -> serde_json::Value {
    match event {
        Event::Task(e) => serde_json::json!({
            "type": "task",
            "timestamp": e.timestamp,
            "hostname": e.hostname,
            "state": format!("{:?}", e.kind).to_uppercase(),
            "task": e.task,
            "task_id": e.task_id,
            "root_id": e.root_id,
            "retries": e.retries,
            "queue": e.queue,
            "runtime_ms": e.runtime_ms,
            "error": e.error.as_ref().map(|err| serde_json::json!({"type": err.type_name, "message": err.message})),
        }),
        Event::Heartbeat(b) => serde_json::json!({
            "type": "heartbeat",
            "timestamp": b.timestamp,
            "hostname": b.hostname,
            "pid": b.pid,
            "active": b.active,
            "processed": b.processed,
            "queues": b.queues,
            "concurrency": b.concurrency,
        }),
    }
}

//! `celeriac inspect active|scheduled|reserved|registered|stats|ping`: ask the workers over
//! the control topic and print one block per worker that answered.

use std::time::Duration;

use celeriac_engine::inspect::{
    decode_body, ActiveEntry, Pong, ReservedEntry, ScheduledEntry, WorkerStats,
};
use celeriac_engine::{App, InspectKind};
use celeriac_schemas::ControlReply;
use clap::{Args, ValueEnum};

use super::parse_duration;
use super::progress::Spinner;
use super::time::{format_millis, format_uptime};

/// Options of `celeriac inspect`.
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// What to ask for.
    what: What,
    /// How long to wait for replies (returns earlier once every worker alive per its
    /// heartbeats answered).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    timeout: Duration,
    /// Ask only these workers (host names, comma-separated).
    #[arg(long, short = 'd', value_delimiter = ',')]
    destination: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum What {
    /// Tasks running now.
    Active,
    /// Tasks waiting for their ETA (countdowns, retries).
    Scheduled,
    /// Tasks taken from a queue but not started yet.
    Reserved,
    /// Task names each worker can run.
    Registered,
    /// Counters and settings of each worker.
    Stats,
    /// Which workers answer.
    Ping,
}

pub(crate) async fn run(app: &App, args: &InspectArgs, json: bool) -> anyhow::Result<()> {
    let control = app.control().destination(args.destination.clone());
    let spinner = Spinner::start("waiting for workers' replies");
    let kind = match args.what {
        What::Active => Some(InspectKind::Active),
        What::Scheduled => Some(InspectKind::Scheduled),
        What::Reserved => Some(InspectKind::Reserved),
        What::Registered => Some(InspectKind::Registered),
        What::Stats => Some(InspectKind::Stats),
        What::Ping => None,
    };
    let replies = match kind {
        Some(kind) => control.inspect(kind, args.timeout).await?,
        None => control.ping(args.timeout).await?,
    };
    spinner.finish();
    if json {
        let mut object = serde_json::Map::new();
        for reply in &replies {
            let body = serde_json::from_str(&reply.body)
                .unwrap_or_else(|_| serde_json::Value::String(reply.body.clone()));
            object.insert(reply.hostname.clone(), body);
        }
        println!("{}", serde_json::Value::Object(object));
        return Ok(());
    }
    if replies.is_empty() {
        anyhow::bail!("no worker replied within {:?}", args.timeout);
    }
    for reply in &replies {
        print_reply(args.what, reply)?;
    }
    let n = replies.len();
    println!(
        "\n{n} {} replied",
        if n == 1 { "worker" } else { "workers" }
    );
    Ok(())
}

fn print_reply(what: What, reply: &ControlReply) -> anyhow::Result<()> {
    let host = &reply.hostname;
    match what {
        What::Ping => {
            let pong: Pong = decode_body(reply)?;
            println!("-> {host}: OK {}", pong.ok);
        }
        What::Active => {
            let tasks: Vec<ActiveEntry> = decode_body(reply)?;
            header(host, tasks.len(), "active");
            for t in tasks {
                println!(
                    "  * {} {} started {}",
                    t.task,
                    t.id,
                    format_millis(t.started_at)
                );
            }
        }
        What::Scheduled => {
            let tasks: Vec<ScheduledEntry> = decode_body(reply)?;
            header(host, tasks.len(), "scheduled");
            for t in tasks {
                println!(
                    "  * {} {} eta {} queue {} retries {}",
                    t.task,
                    t.id,
                    format_millis(t.eta),
                    t.queue,
                    t.retries
                );
            }
        }
        What::Reserved => {
            let tasks: Vec<ReservedEntry> = decode_body(reply)?;
            header(host, tasks.len(), "reserved");
            for t in tasks {
                println!(
                    "  * {} {} received {} queue {}",
                    t.task,
                    t.id,
                    format_millis(t.received_at),
                    t.queue
                );
            }
        }
        What::Registered => {
            let names: Vec<String> = decode_body(reply)?;
            header(host, names.len(), "registered");
            for name in names {
                println!("  * {name}");
            }
        }
        What::Stats => {
            let s: WorkerStats = decode_body(reply)?;
            println!("-> {host}:");
            println!("  pid: {}", s.pid);
            println!("  uptime: {}", format_uptime(s.uptime_s));
            println!("  processed: {}", s.processed);
            println!("  active: {}  reserved: {}", s.active, s.reserved);
            println!("  concurrency: {}  prefetch: {}", s.concurrency, s.prefetch);
            println!("  queues: {}", s.queues.join(", "));
            for (task, rate) in &s.rate_limits {
                println!("  rate limit: {task} {rate}");
            }
            println!("  version: {}", s.software_version);
        }
    }
    Ok(())
}

fn header(host: &str, count: usize, what: &str) {
    if count == 0 {
        println!("-> {host}: - empty -");
    } else {
        println!("-> {host}: {count} {what}");
    }
}

//! `celeriac topics create|describe`: create the app's topics; describe each topic's
//! partitions and configs, and each queue's per-partition lag.

use celeriac_engine::{App, QueueStatus};
use clap::{Args, Subcommand};

use super::progress::Spinner;

/// Options of `celeriac topics`.
#[derive(Debug, Args)]
pub(crate) struct TopicsArgs {
    #[command(subcommand)]
    action: TopicsAction,
}

#[derive(Debug, Subcommand)]
enum TopicsAction {
    /// Create the core topics and these queues' topics (existing ones are left alone).
    Create {
        /// Queues whose topics to create, comma-separated.
        #[arg(long, short = 'Q', value_delimiter = ',', default_value = "default")]
        queues: Vec<String>,
    },
    /// Show partition counts and configs of the core topics, and every queue's lag.
    Describe,
}

pub(crate) async fn run(app: &App, args: &TopicsArgs, json: bool) -> anyhow::Result<()> {
    match &args.action {
        TopicsAction::Create { queues } => create(app, queues, json).await,
        TopicsAction::Describe => describe(app, json).await,
    }
}

async fn create(app: &App, queues: &[String], json: bool) -> anyhow::Result<()> {
    let names = app.names();
    let mut specs = names.core_topics();
    specs.extend(queues.iter().map(|q| names.queue_topic(q)));
    let spinner = Spinner::start(format!("creating {} topics", specs.len()));
    app.log().create_topics(&specs).await?;
    spinner.finish();
    if json {
        let list: Vec<_> = specs
            .iter()
            .map(|s| serde_json::json!({"topic": s.name, "partitions": s.partitions}))
            .collect();
        println!("{}", serde_json::Value::Array(list));
    } else {
        for spec in &specs {
            println!("{} ({} partitions)", spec.name, spec.partitions);
        }
    }
    Ok(())
}

async fn describe(app: &App, json: bool) -> anyhow::Result<()> {
    let spinner = Spinner::start("describing topics");
    let brokers = app.log().broker_count().await?;
    let mut topics = Vec::new();
    let mut unreplicated = Vec::new();
    let queues = app.queues().await?;
    let mut specs = app.names().core_topics();
    specs.extend(queues.iter().map(|q| app.names().queue_topic(&q.queue)));
    for spec in specs {
        match app.log().describe_topic(&spec.name).await {
            Ok(topic) => {
                if topic.replication_factor == 1 && brokers >= 3 {
                    unreplicated.push(topic.name.clone());
                }
                topics.push(serde_json::json!({
                    "topic": topic.name,
                    "partitions": topic.partitions,
                    "replication_factor": topic.replication_factor,
                    "min_insync_replicas": topic.configs.get("min.insync.replicas"),
                    "configs": topic.configs,
                }))
            }
            Err(error) => {
                topics.push(serde_json::json!({"topic": spec.name, "error": error.to_string()}))
            }
        }
    }
    spinner.finish();
    for name in &unreplicated {
        eprintln!(
            "warning: {name} has replication factor 1 on a cluster of {brokers} brokers: losing one broker loses its records"
        );
    }
    if json {
        println!(
            "{}",
            serde_json::json!({"brokers": brokers, "topics": topics, "queues": queues, "unreplicated": unreplicated})
        );
        return Ok(());
    }
    println!("{brokers} broker(s)");
    println!(
        "{:<40} {:>10} {:>11} {:>12}  configs",
        "topic", "partitions", "replication", "min.insync"
    );
    for topic in &topics {
        let name = topic["topic"].as_str().unwrap_or_default();
        match topic.get("error") {
            Some(error) => println!("{name:<40} {:>10}  {error}", "-"),
            None => {
                let configs = topic["configs"]
                    .as_object()
                    .map(|c| {
                        c.iter()
                            .filter(|(k, _)| k.as_str() != "min.insync.replicas")
                            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default();
                let min_insync = topic["min_insync_replicas"].as_str().unwrap_or("-");
                println!(
                    "{name:<40} {:>10} {:>11} {min_insync:>12}  {configs}",
                    topic["partitions"].to_string(),
                    topic["replication_factor"].to_string()
                );
            }
        }
    }
    println!();
    print_queues(&queues);
    Ok(())
}

/// Each queue's topic, partitions and lag, one line per partition.
fn print_queues(queues: &[QueueStatus]) {
    if queues.is_empty() {
        println!("no queue topics yet");
        return;
    }
    for queue in queues {
        println!(
            "queue {} ({}, group {}): {} partitions, lag {}",
            queue.queue,
            queue.topic,
            queue.group,
            queue.partitions.len(),
            queue.lag
        );
        println!(
            "  {:>9} {:>12} {:>12} {:>12} {:>8}",
            "partition", "start", "end", "committed", "lag"
        );
        for p in &queue.partitions {
            let committed = p
                .committed
                .map_or_else(|| "-".to_owned(), |c| c.to_string());
            println!(
                "  {:>9} {:>12} {:>12} {:>12} {:>8}",
                p.partition, p.start_offset, p.end_offset, committed, p.lag
            );
        }
    }
}

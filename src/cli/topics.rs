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
    let mut topics = Vec::new();
    for spec in app.names().core_topics() {
        match app.log().describe_topic(&spec.name).await {
            Ok(topic) => topics.push(serde_json::json!({
                "topic": topic.name,
                "partitions": topic.partitions,
                "configs": topic.configs,
            })),
            Err(error) => {
                topics.push(serde_json::json!({"topic": spec.name, "error": error.to_string()}))
            }
        }
    }
    let queues = app.queues().await?;
    spinner.finish();
    if json {
        println!(
            "{}",
            serde_json::json!({"topics": topics, "queues": queues})
        );
        return Ok(());
    }
    println!("{:<40} {:>10}  configs", "topic", "partitions");
    for topic in &topics {
        let name = topic["topic"].as_str().unwrap_or_default();
        match topic.get("error") {
            Some(error) => println!("{name:<40} {:>10}  {error}", "-"),
            None => {
                let configs = topic["configs"]
                    .as_object()
                    .map(|c| {
                        c.iter()
                            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default();
                println!("{name:<40} {:>10}  {configs}", topic["partitions"]);
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

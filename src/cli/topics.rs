//! `celeriac topics`: create the app's topics, or describe them.

use celeriac_engine::App;
use clap::{Args, Subcommand};

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
    /// Show partition counts and configs.
    Describe,
}

pub(crate) async fn run(app: &App, args: &TopicsArgs, json: bool) -> anyhow::Result<()> {
    let names = app.names();
    match &args.action {
        TopicsAction::Create { queues } => {
            let mut specs = names.core_topics();
            specs.extend(queues.iter().map(|q| names.queue_topic(q)));
            app.log().create_topics(&specs).await?;
            for spec in &specs {
                if !json {
                    println!("{} ({} partitions)", spec.name, spec.partitions);
                }
            }
            if json {
                let list: Vec<_> = specs
                    .iter()
                    .map(|s| serde_json::json!({"topic": s.name, "partitions": s.partitions}))
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            }
        }
        TopicsAction::Describe => {
            let mut rows = Vec::new();
            for spec in names.core_topics() {
                match app.log().describe_topic(&spec.name).await {
                    Ok(topic) => rows.push(serde_json::json!({"topic": topic.name, "partitions": topic.partitions, "configs": topic.configs})),
                    Err(error) => rows.push(serde_json::json!({"topic": spec.name, "error": error.to_string()})),
                }
            }
            if json {
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for row in rows {
                    println!("{row}");
                }
            }
        }
    }
    Ok(())
}

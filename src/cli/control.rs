//! `celeriac control revoke|terminate|rate-limit|shutdown`: broadcast a command to the
//! workers over the control topic.

use celeriac_engine::App;
use clap::{Args, Subcommand};
use uuid::Uuid;

/// Options of `celeriac control`.
#[derive(Debug, Args)]
pub(crate) struct ControlArgs {
    #[command(subcommand)]
    action: ControlAction,
}

#[derive(Debug, Subcommand)]
enum ControlAction {
    /// Revoke tasks: workers will not start them (remembered across restarts).
    Revoke {
        /// Task ids.
        #[arg(required = true)]
        ids: Vec<Uuid>,
    },
    /// Revoke tasks and abort those running now.
    Terminate {
        /// Task ids.
        #[arg(required = true)]
        ids: Vec<Uuid>,
    },
    /// Set a task's rate limit per worker: `10/s`, `100/m`, `1000/h`; `0` removes it.
    RateLimit {
        /// The task name.
        task: String,
        /// The rate.
        rate: String,
        /// Only this worker (host name).
        #[arg(long, short = 'd')]
        destination: Option<String>,
    },
    /// Ask workers to drain and stop.
    Shutdown {
        /// Only this worker (host name).
        #[arg(long, short = 'd')]
        destination: Option<String>,
    },
}

pub(crate) async fn run(app: &App, args: &ControlArgs, json: bool) -> anyhow::Result<()> {
    let control = app.control();
    let (done, detail) = match &args.action {
        ControlAction::Revoke { ids } => {
            control.revoke(ids).await?;
            ("revoke", serde_json::json!({"task_ids": ids}))
        }
        ControlAction::Terminate { ids } => {
            control.terminate(ids).await?;
            ("terminate", serde_json::json!({"task_ids": ids}))
        }
        ControlAction::RateLimit {
            task,
            rate,
            destination,
        } => {
            control
                .rate_limit(task, rate, destination.as_deref())
                .await?;
            (
                "rate_limit",
                serde_json::json!({"task": task, "rate": rate, "destination": destination}),
            )
        }
        ControlAction::Shutdown { destination } => {
            control.shutdown(destination.as_deref()).await?;
            ("shutdown", serde_json::json!({"destination": destination}))
        }
    };
    if json {
        println!("{}", serde_json::json!({"sent": done, "command": detail}));
    } else {
        let to = match detail.get("destination").and_then(|d| d.as_str()) {
            Some(host) => format!("to {host}"),
            None => "to all workers".to_owned(),
        };
        println!("{done} sent {to}: {detail}");
    }
    Ok(())
}

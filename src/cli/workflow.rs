//! `celeriac workflow show <id> [--format text|dot]`: a workflow's steps and their states,
//! as text or as a Graphviz DOT graph, read from the log.

use celeriac_canvas::Dag;
use celeriac_engine::App;
use celeriac_schemas::TaskState;
use clap::{Args, Subcommand, ValueEnum};
use uuid::Uuid;

use super::progress::Spinner;

/// Options of `celeriac workflow`.
#[derive(Debug, Args)]
pub(crate) struct WorkflowArgs {
    #[command(subcommand)]
    action: WorkflowAction,
}

#[derive(Debug, Subcommand)]
enum WorkflowAction {
    /// Show a workflow's steps and their states.
    Show {
        /// The workflow id (printed by `celeriac submit --workflow`).
        id: Uuid,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One line per step.
    Text,
    /// A Graphviz DOT graph, steps coloured by state (`| dot -Tsvg`).
    Dot,
}

pub(crate) async fn run(app: &App, args: &WorkflowArgs, json: bool) -> anyhow::Result<()> {
    let WorkflowAction::Show { id, format } = &args.action;
    let spinner = Spinner::start("reading the workflow from the log");
    let status = app.workflow_status(*id).await?;
    spinner.finish();
    let Some(status) = status else {
        anyhow::bail!("no workflow {id} on {}", app.names().workflows());
    };
    if json {
        let dag = Dag::from_spec(status.spec.clone())?;
        let steps: Vec<_> = status
            .steps
            .iter()
            .zip(&status.spec.steps)
            .map(|(state, step)| {
                serde_json::json!({
                    "step_id": state.step_id,
                    "task": state.task,
                    "task_id": state.task_id,
                    "kind": format!("{:?}", step.kind).to_uppercase(),
                    "state": state.state.name(),
                })
            })
            .collect();
        let output = &status.spec.steps[dag.output()];
        println!(
            "{}",
            serde_json::json!({
                "id": id,
                "output_task_id": output.task_id,
                "steps": steps,
                "dot": dot_with_states(&dag, &status.steps),
            })
        );
        return Ok(());
    }
    match format {
        Format::Dot => {
            let dag = Dag::from_spec(status.spec.clone())?;
            print!("{}", dot_with_states(&dag, &status.steps));
        }
        Format::Text => {
            println!("workflow {id} ({} steps)", status.steps.len());
            for step in &status.steps {
                let task = if step.task.is_empty() {
                    "(collect)"
                } else {
                    &step.task
                };
                println!(
                    "  {:<10} {:<8} {task} {}",
                    step.step_id,
                    step.state.name(),
                    step.task_id
                );
            }
        }
    }
    Ok(())
}

/// The DAG's DOT with each node filled by its step's state.
fn dot_with_states(dag: &Dag, steps: &[celeriac_engine::StepState]) -> String {
    let mut dot = dag.to_dot();
    let fills: String = steps
        .iter()
        .enumerate()
        .map(|(index, step)| {
            format!(
                "  n{index} [style=filled, fillcolor=\"{}\", tooltip=\"{}\"];\n",
                fill(step.state),
                step.state.name()
            )
        })
        .collect();
    if let Some(end) = dot.rfind('}') {
        dot.insert_str(end, &fills);
    }
    dot
}

fn fill(state: TaskState) -> &'static str {
    match state {
        TaskState::Pending => "white",
        TaskState::Received | TaskState::Started => "lightblue",
        TaskState::Retry => "khaki",
        TaskState::Success => "palegreen",
        TaskState::Failure => "lightcoral",
        TaskState::Revoked => "lightgrey",
    }
}

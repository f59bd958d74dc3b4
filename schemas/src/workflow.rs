//! `WorkflowSpec`: a compiled canvas as one record (`schemas/avro/WorkflowSpec.avsc`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A whole compiled canvas: the DAG of steps a coordinator runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowSpec {
    /// The workflow id; also the root id of every task the workflow runs.
    #[serde(deserialize_with = "crate::uuid_field::deserialize")]
    pub id: Uuid,
    /// A human name for dashboards and logs.
    pub label: Option<String>,
    /// When the workflow was submitted, in milliseconds since the Unix epoch.
    pub created_at: i64,
    /// The DAG's nodes; an index into this vector is a step's node index.
    pub steps: Vec<WorkflowStep>,
    /// Result edges; each child slot is filled by exactly one edge.
    pub edges: Vec<WorkflowEdge>,
    /// Index of the step whose result is the workflow's result.
    pub output: i32,
}

/// One node of the DAG: a task invocation, or an internal step the coordinator evaluates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowStep {
    /// Deterministic id from the step's position in the canvas, e.g. `"0.1.2"`.
    pub step_id: String,
    /// UUIDv5 of the workflow id and `step_id`.
    #[serde(deserialize_with = "crate::uuid_field::deserialize")]
    pub task_id: Uuid,
    /// What the step does.
    pub kind: StepKind,
    /// The registered task name; empty for [`StepKind::Collect`].
    pub task: String,
    /// The bound arguments, encoded as `content_type` says.
    #[serde(with = "serde_bytes_vec")]
    pub args: Vec<u8>,
    /// Encoding of `args` and of the step's result.
    pub content_type: String,
    /// How many parent results the step awaits; 0 means ready at submit.
    pub input_slots: i32,
    /// How the filled slots become arguments.
    pub input_mode: InputMode,
    /// Execution options of this signature.
    pub options: StepOptions,
    /// True for an error callback: it runs only when a step listing it in `link_error` fails.
    pub errback: bool,
    /// Indexes of error callbacks run once if this step fails.
    pub link_error: Vec<i32>,
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StepKind {
    /// Runs one task.
    Task,
    /// Gathers its input slots into a list without a worker (a group's result).
    Collect,
    /// Applies the task to each element of its argument list in one worker.
    Map,
    /// Applies the task to each element, taken as an argument tuple, in one worker.
    Starmap,
}

/// How the filled input slots of a step become its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InputMode {
    /// Wait for the slots, drop their values (an immutable signature).
    Ignore,
    /// The single slot's value is the first argument (a partial signature in a chain).
    FirstArg,
    /// All slots, in slot order, as a list in the first argument (a chord body).
    ListFirstArg,
}

/// Per-signature execution options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepOptions {
    /// Queue to publish to; `None` routes by task name.
    pub queue: Option<String>,
    /// 0 (lowest) to 9 (highest).
    pub priority: Option<i32>,
    /// Delay after the step becomes ready, in milliseconds.
    pub countdown_ms: Option<i64>,
    /// Not before this time (milliseconds since the Unix epoch).
    pub eta: Option<i64>,
    /// Revoke rather than run after this time (milliseconds since the Unix epoch).
    pub expires: Option<i64>,
    /// Soft time limit in milliseconds.
    pub soft_time_limit_ms: Option<i64>,
    /// Hard time limit in milliseconds.
    pub time_limit_ms: Option<i64>,
    /// Retry budget; `None` uses the task's default.
    pub max_retries: Option<i32>,
    /// Extra headers copied into the task message.
    pub headers: HashMap<String, String>,
}

/// A parent's result filling one input slot of a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WorkflowEdge {
    /// Index of the parent step.
    pub from: i32,
    /// Index of the child step.
    pub to: i32,
    /// Which of the child's input slots the parent's result fills.
    pub slot: i32,
}

/// Serde helper: `Vec<u8>` as Avro `bytes`, not as an array of ints.
mod serde_bytes_vec {
    pub(crate) use apache_avro::serde_avro_bytes::{deserialize, serialize};
}

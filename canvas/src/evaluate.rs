//! The reference evaluator: runs a DAG in memory with tasks as plain functions. It is the
//! oracle the coordinator is tested against, so it follows the same rules with none of the
//! machinery:
//!
//! - a step runs once all its input slots are filled; its arguments are assembled by the
//!   same byte functions the coordinator uses ([`assemble_args`], [`collect_list`]);
//! - a failing step is `Failed`; each of its `link_error` callbacks runs once with the
//!   [`TaskFailure`] as first argument (unless the callback ignores its input);
//! - a step with a failed parent never runs: it is `ParentFailed` with the failure of its
//!   lowest-slot failed parent, and its own error callbacks do not run;
//! - the workflow's output is the output step's value, or the failure that reached it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use celeriac_schemas::{StepKind, WorkflowStep};
use petgraph::algo::toposort;
use serde_json::Value;

use crate::args::map_items;
use crate::assemble::{assemble_args, collect_list, JSON, MSGPACK};
use crate::check::{Arity, TaskRegistry};
use crate::dag::Dag;
use crate::failure::TaskFailure;

/// A task as a plain function of its positional arguments.
pub type TaskFn = Arc<dyn Fn(Vec<Value>) -> Result<Value, String> + Send + Sync>;

/// Tasks by name, for the evaluator. Also a [`TaskRegistry`] that knows names but not arities.
#[derive(Clone, Default)]
pub struct TaskTable {
    tasks: HashMap<String, TaskFn>,
}

impl TaskTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a task (builder form).
    pub fn with(
        mut self,
        name: impl Into<String>,
        task: impl Fn(Vec<Value>) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Self {
        self.insert(name, task);
        self
    }

    /// Adds or replaces a task.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        task: impl Fn(Vec<Value>) -> Result<Value, String> + Send + Sync + 'static,
    ) {
        self.tasks.insert(name.into(), Arc::new(task));
    }

    /// The task registered under `name`.
    pub fn get(&self, name: &str) -> Option<&TaskFn> {
        self.tasks.get(name)
    }
}

impl TaskRegistry for TaskTable {
    fn arity(&self, name: &str) -> Option<Arity> {
        self.tasks.get(name).map(|_| Arity::UNKNOWN)
    }
}

impl fmt::Debug for TaskTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.tasks.keys().collect();
        names.sort();
        f.debug_struct("TaskTable").field("tasks", &names).finish()
    }
}

/// Where a step ended.
#[derive(Debug, Clone, PartialEq)]
pub enum StepState {
    /// Never ran: an error callback whose step did not fail.
    NotRun,
    /// Ran and returned this value.
    Succeeded(Value),
    /// Ran and failed.
    Failed(TaskFailure),
    /// Never ran because a parent failed; holds the failure that reached it.
    ParentFailed(TaskFailure),
}

/// One run of an error callback.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrbackCall {
    /// Index of the error callback step.
    pub errback: usize,
    /// Index of the step whose failure triggered it.
    pub failed_step: usize,
    /// The arguments it ran with.
    pub args: Vec<Value>,
    /// What it returned.
    pub result: Result<Value, String>,
}

/// The outcome of evaluating a DAG.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The workflow's result, or the failure that reached the output step.
    pub output: Result<Value, TaskFailure>,
    /// Each step's final state, by step index.
    pub states: Vec<StepState>,
    /// Error callback runs, in the order they happened.
    pub errback_calls: Vec<ErrbackCall>,
}

/// Runs DAGs in memory over a [`TaskTable`], with failures injectable by step id.
///
/// ```
/// use celeriac_canvas::{chain, Evaluator, TaskRef, TaskTable};
/// use serde_json::json;
/// let add: TaskRef<(i64, i64), i64> = TaskRef::new("add");
/// let dag = chain(add.s((2, 2)), add.partial(8)).compile(uuid::Uuid::nil()).unwrap();
/// let tasks = TaskTable::new().with("add", |args| {
///     Ok(json!(args[0].as_i64().unwrap_or(0) + args[1].as_i64().unwrap_or(0)))
/// });
/// assert_eq!(Evaluator::new(&tasks).run(&dag).output, Ok(json!(12)));
/// let failed = Evaluator::new(&tasks).fail_step("0.0", "boom").run(&dag);
/// assert_eq!(failed.output.unwrap_err().error, "boom");
/// ```
#[derive(Debug, Clone)]
pub struct Evaluator<'t> {
    tasks: &'t TaskTable,
    injected: HashMap<String, String>,
}

impl<'t> Evaluator<'t> {
    /// An evaluator over these tasks.
    pub fn new(tasks: &'t TaskTable) -> Self {
        Evaluator {
            tasks,
            injected: HashMap::new(),
        }
    }

    /// Makes the step with this step id fail with `message` instead of running its task.
    pub fn fail_step(mut self, step_id: impl Into<String>, message: impl Into<String>) -> Self {
        self.injected.insert(step_id.into(), message.into());
        self
    }

    /// Runs every step of the DAG in dependency order.
    pub fn run(&self, dag: &Dag) -> Evaluation {
        let mut run = Run {
            states: vec![StepState::NotRun; dag.len()],
            results: vec![None; dag.len()],
            errback_calls: Vec::new(),
        };
        let order = toposort(dag.graph(), None).unwrap_or_default();
        for node in order {
            let index = node.index();
            if !dag.step(index).errback {
                self.step(dag, index, &mut run);
            }
        }
        let output = match &run.states[dag.output()] {
            StepState::Succeeded(value) => Ok(value.clone()),
            StepState::Failed(failure) | StepState::ParentFailed(failure) => Err(failure.clone()),
            StepState::NotRun => Err(failure_of(dag.step(dag.output()), "never ran".into())),
        };
        Evaluation {
            output,
            states: run.states,
            errback_calls: run.errback_calls,
        }
    }

    fn step(&self, dag: &Dag, index: usize, run: &mut Run) {
        let step = dag.step(index);
        let parents = dag.parents(index);
        let failed_parent = parents.iter().find_map(|&(_, p)| match &run.states[p] {
            StepState::Failed(f) | StepState::ParentFailed(f) => Some(f.clone()),
            _ => None,
        });
        if let Some(failure) = failed_parent {
            run.states[index] = StepState::ParentFailed(failure);
            return;
        }
        let slots: Vec<&[u8]> = parents
            .iter()
            .map(|&(_, p)| run.results[p].as_deref().unwrap_or(b"null"))
            .collect();
        let outcome = self.execute(step, &slots);
        let encoded = outcome.and_then(|v| encode(&step.content_type, &v).map(|bytes| (v, bytes)));
        match encoded {
            Ok((value, bytes)) => {
                run.results[index] = Some(bytes);
                run.states[index] = StepState::Succeeded(value);
            }
            Err(message) => {
                let failure = failure_of(step, message);
                run.states[index] = StepState::Failed(failure.clone());
                self.errbacks(dag, index, &failure, run);
            }
        }
    }

    /// Runs a step's work: an injected failure, a COLLECT, or its task.
    fn execute(&self, step: &WorkflowStep, slots: &[&[u8]]) -> Result<Value, String> {
        if let Some(message) = self.injected.get(&step.step_id) {
            return Err(message.clone());
        }
        if step.kind == StepKind::Collect {
            let list = collect_list(&step.content_type, slots).map_err(|e| e.to_string())?;
            return decode(&step.content_type, &list);
        }
        let args = assemble_args(&step.content_type, &step.args, step.input_mode, slots)
            .map_err(|e| e.to_string())?;
        let Value::Array(args) = decode(&step.content_type, &args)? else {
            return Err("arguments are not a list".into());
        };
        let task = self
            .tasks
            .get(&step.task)
            .ok_or_else(|| format!("unknown task `{}`", step.task))?;
        match step.kind {
            StepKind::Map => each_item(task, args, |item| vec![item]),
            StepKind::Starmap => each_item(task, args, |item| match item {
                Value::Array(args) => args,
                other => vec![other],
            }),
            _ => task(args),
        }
    }

    /// Runs the error callbacks of a failed step, each once, with the failure.
    fn errbacks(&self, dag: &Dag, failed: usize, failure: &TaskFailure, run: &mut Run) {
        for &errback in &dag.step(failed).link_error {
            let errback = errback as usize;
            let step = dag.step(errback);
            let result = failure
                .encode(&step.content_type)
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    let args =
                        assemble_args(&step.content_type, &step.args, step.input_mode, &[bytes]);
                    decode(&step.content_type, &args.map_err(|e| e.to_string())?)
                });
            let args = match &result {
                Ok(Value::Array(args)) => args.clone(),
                _ => Vec::new(),
            };
            let result = result.and_then(|_| self.run_errback(step, args.clone()));
            run.states[errback] = match &result {
                Ok(value) => StepState::Succeeded(value.clone()),
                Err(message) => StepState::Failed(failure_of(step, message.clone())),
            };
            run.errback_calls.push(ErrbackCall {
                errback,
                failed_step: failed,
                args,
                result,
            });
        }
    }

    fn run_errback(&self, step: &WorkflowStep, args: Vec<Value>) -> Result<Value, String> {
        if let Some(message) = self.injected.get(&step.step_id) {
            return Err(message.clone());
        }
        let task = self.tasks.get(&step.task);
        task.ok_or_else(|| format!("unknown task `{}`", step.task))?(args)
    }
}

/// What one evaluation accumulates.
struct Run {
    states: Vec<StepState>,
    results: Vec<Option<Vec<u8>>>,
    errback_calls: Vec<ErrbackCall>,
}

/// A MAP or STARMAP: the task over each item of the single list argument, results in order.
fn each_item(
    task: &TaskFn,
    args: Vec<Value>,
    as_args: fn(Value) -> Vec<Value>,
) -> Result<Value, String> {
    let items = map_items(args)?;
    items
        .into_iter()
        .map(|item| task(as_args(item)))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

fn failure_of(step: &WorkflowStep, error: String) -> TaskFailure {
    TaskFailure {
        task_id: step.task_id,
        step_id: step.step_id.clone(),
        task: step.task.clone(),
        error,
    }
}

fn decode(content_type: &str, bytes: &[u8]) -> Result<Value, String> {
    match content_type {
        MSGPACK => rmp_serde::from_slice(bytes).map_err(|e| e.to_string()),
        JSON => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
        other => Err(format!("unsupported content type `{other}`")),
    }
}

fn encode(content_type: &str, value: &Value) -> Result<Vec<u8>, String> {
    match content_type {
        MSGPACK => rmp_serde::to_vec(value).map_err(|e| e.to_string()),
        JSON => serde_json::to_vec(value).map_err(|e| e.to_string()),
        other => Err(format!("unsupported content type `{other}`")),
    }
}

//! Shared by the coordinator tests: the task functions, what a worker does with a task
//! message (the same rules as the canvas reference evaluator), and record builders.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::HashMap;

use celeriac_canvas::TaskTable;
use celeriac_engine::coordinator::STEP_KIND_HEADER;
use celeriac_schemas::{TaskError, TaskEvent, TaskEventKind, TaskMessage};
use serde_json::{json, Value};
use uuid::Uuid;

/// Sums every number in the arguments, looking inside lists.
pub fn sum(value: &Value) -> i64 {
    match value {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::Array(items) => items.iter().map(sum).sum(),
        _ => 0,
    }
}

/// The test tasks: add, mul, tsum, double, log, eb (error callback), boom (fails).
pub fn tasks() -> TaskTable {
    TaskTable::new()
        .with("add", |args| Ok(json!(sum(&Value::Array(args)))))
        .with("mul", |args| {
            Ok(json!(args.iter().map(sum).product::<i64>()))
        })
        .with("tsum", |args| match args.as_slice() {
            [Value::Array(items)] => Ok(json!(items.iter().map(sum).sum::<i64>())),
            other => Err(format!("tsum takes one list, saw {other:?}")),
        })
        .with("double", |args| Ok(json!(2 * sum(&Value::Array(args)))))
        .with("log", |args| Ok(Value::Array(args)))
        .with("eb", |_| Ok(Value::Null))
        .with("boom", |args| Err(format!("boom {}", Value::Array(args))))
}

/// Runs a task message as a worker would: JSON arguments, MAP/STARMAP per item, failures
/// injected by step id (`step_ids[workflow_step]`), with the evaluator's error messages.
pub fn execute(
    tasks: &TaskTable,
    message: &TaskMessage,
    step_id: Option<&str>,
    injected: &HashMap<String, String>,
) -> Result<Value, String> {
    if let Some(error) = step_id.and_then(|id| injected.get(id)) {
        return Err(error.clone());
    }
    let Value::Array(args) =
        serde_json::from_slice::<Value>(&message.args).map_err(|e| e.to_string())?
    else {
        return Err("arguments are not a list".into());
    };
    let task = tasks
        .get(&message.task)
        .ok_or_else(|| format!("unknown task `{}`", message.task))?;
    let star = match message.headers.get(STEP_KIND_HEADER).map(String::as_str) {
        Some("MAP") => false,
        Some("STARMAP") => true,
        _ => return task(args),
    };
    let items = match <[Value; 1]>::try_from(args) {
        Ok([Value::Array(items)]) => items,
        Ok([other]) => return Err(format!("expected a list of items, saw {other}")),
        Err(args) => {
            return Err(format!(
                "expected one argument (the items), saw {}",
                args.len()
            ))
        }
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::Array(args) if star => task(args),
            other if star => task(vec![other]),
            other => task(vec![other]),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// An event about a task message.
pub fn event(message: &TaskMessage, kind: TaskEventKind, at: i64) -> TaskEvent {
    TaskEvent {
        id: Uuid::new_v4(),
        task_id: message.id,
        root_id: message.root_id,
        workflow_step: message.workflow_step,
        task: message.task.clone(),
        kind,
        timestamp: at,
        hostname: "worker@test".into(),
        retries: message.retries,
        result: None,
        content_type: None,
        error: None,
        runtime_ms: None,
        next_eta: None,
        queue: message.queue.clone(),
    }
}

/// The terminal event of an outcome.
pub fn outcome_event(message: &TaskMessage, outcome: &Result<Value, String>, at: i64) -> TaskEvent {
    match outcome {
        Ok(value) => TaskEvent {
            result: Some(serde_json::to_vec(value).unwrap()),
            content_type: Some("application/json".into()),
            ..event(message, TaskEventKind::Succeeded, at)
        },
        Err(message_text) => TaskEvent {
            error: Some(TaskError {
                type_name: "TaskError".into(),
                message: message_text.clone(),
                traceback: None,
            }),
            ..event(message, TaskEventKind::Failed, at)
        },
    }
}

/// A small deterministic generator (xorshift), so property tests can shuffle by seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

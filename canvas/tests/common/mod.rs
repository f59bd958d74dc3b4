//! Helpers shared by the integration tests: plain task functions and a readable DAG shape.

#![allow(dead_code, unreachable_pub)]

use celeriac_canvas::{Dag, TaskTable};
use serde_json::{json, Value};

/// Sums every number in the arguments, looking inside lists.
pub fn sum(value: &Value) -> i64 {
    match value {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::Array(items) => items.iter().map(sum).sum(),
        _ => 0,
    }
}

/// The test tasks: add, mul, tsum, double, range, log, eb (error callback), boom (fails).
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
        .with("range", |args| {
            let n = args.first().and_then(Value::as_i64).unwrap_or(0);
            Ok(json!((0..n).collect::<Vec<_>>()))
        })
        .with("log", |args| Ok(Value::Array(args)))
        .with("eb", |_| Ok(Value::Null))
        .with("boom", |args| Err(format!("boom {}", Value::Array(args))))
}

/// A DAG as sorted lines: one per step, one per edge, and the output.
///
/// Step: `id Kind task slots/Mode [errback] [on_error=ids]`; edge: `from -> to #slot`.
pub fn shape(dag: &Dag) -> Vec<String> {
    let id = |i: usize| dag.step(i).step_id.clone();
    let mut lines: Vec<String> = dag
        .steps()
        .map(|s| {
            let task = if s.task.is_empty() { "-" } else { &s.task };
            let mut line = format!(
                "{} {:?} {} {}/{:?}",
                s.step_id, s.kind, task, s.input_slots, s.input_mode
            );
            if s.errback {
                line.push_str(" errback");
            }
            if !s.link_error.is_empty() {
                let ids: Vec<String> = s.link_error.iter().map(|&e| id(e as usize)).collect();
                line.push_str(&format!(" on_error={}", ids.join(",")));
            }
            line
        })
        .collect();
    for edge in dag.edge_list() {
        lines.push(format!(
            "{} -> {} #{}",
            id(edge.from as usize),
            id(edge.to as usize),
            edge.slot
        ));
    }
    lines.push(format!("output {}", id(dag.output())));
    lines.sort();
    lines
}

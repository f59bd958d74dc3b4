//! The structural rules of a workflow DAG, checked for any `WorkflowSpec` before it is
//! accepted: size, indexes, unique ids, slots filled exactly once, error callbacks, content
//! types, and acyclicity.

use std::collections::HashSet;

use celeriac_schemas::{InputMode, StepKind, WorkflowStep};
use petgraph::algo::toposort;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use petgraph::Direction;

use crate::assemble::check_args_array;
use crate::dag::{invalid, StepGraph};
use crate::error::{Error, Result};

/// The most steps a workflow may have.
pub const MAX_STEPS: usize = 1_000_000;

/// Checks every rule; the first broken one is the error.
pub(crate) fn validate_graph(graph: &StepGraph, output: NodeIndex) -> Result<()> {
    check_size(graph)?;
    check_output(graph, output)?;
    check_unique_ids(graph)?;
    for index in graph.node_indices() {
        check_step(graph, index)?;
        check_slots(graph, index)?;
    }
    toposort(graph, None).map_err(|cycle| Error::Cycle {
        step_id: graph[cycle.node_id()].step_id.clone(),
    })?;
    Ok(())
}

/// At least one step, at most [`MAX_STEPS`].
fn check_size(graph: &StepGraph) -> Result<()> {
    match graph.node_count() {
        0 => Err(invalid("a workflow needs at least one step".into())),
        n if n > MAX_STEPS => Err(Error::TooManySteps { limit: MAX_STEPS }),
        _ => Ok(()),
    }
}

/// The output is a step that runs at submit or after its parents, not an error callback.
fn check_output(graph: &StepGraph, output: NodeIndex) -> Result<()> {
    let count = graph.node_count();
    if output.index() >= count {
        return Err(invalid(format!(
            "output is {}, expected a step index below {count}",
            output.index()
        )));
    }
    if graph[output].errback {
        return Err(invalid(format!(
            "output step `{}` is an error callback; expected a step that runs",
            graph[output].step_id
        )));
    }
    Ok(())
}

/// Step ids and task ids are unique.
fn check_unique_ids(graph: &StepGraph) -> Result<()> {
    let mut step_ids = HashSet::with_capacity(graph.node_count());
    let mut task_ids = HashSet::with_capacity(graph.node_count());
    for step in graph.node_weights() {
        if !step_ids.insert(step.step_id.as_str()) {
            return Err(invalid(format!("step id `{}` appears twice", step.step_id)));
        }
        if !task_ids.insert(step.task_id) {
            return Err(invalid(format!("task id {} appears twice", step.task_id)));
        }
    }
    Ok(())
}

/// One step's own fields: task name, slots and mode, error callbacks, argument bytes.
fn check_step(graph: &StepGraph, index: NodeIndex) -> Result<()> {
    let step = &graph[index];
    let fail = |what: String| Err(invalid(format!("step `{}`: {what}", step.step_id)));
    if step.kind != StepKind::Collect && step.task.is_empty() {
        return fail(format!(
            "expected a task name for a {:?} step, saw none",
            step.kind
        ));
    }
    if step.input_slots < 0 {
        return fail(format!("input_slots is negative ({})", step.input_slots));
    }
    if step.errback {
        check_errback(step)?;
    } else if step.input_mode == InputMode::FirstArg && step.input_slots != 1 {
        return fail(format!(
            "FIRST_ARG expects exactly 1 input slot, saw {}",
            step.input_slots
        ));
    }
    for &target in &step.link_error {
        let target = usize::try_from(target)
            .ok()
            .filter(|&t| t < graph.node_count());
        match target {
            Some(t) if graph[NodeIndex::new(t)].errback => {}
            _ => {
                return fail(format!(
                    "link_error {target:?} is not an error callback step"
                ))
            }
        }
    }
    check_args_array(&step.content_type, &step.args)
}

/// An error callback runs no earlier than a failure: no slots, a task, no callbacks of its own.
fn check_errback(step: &WorkflowStep) -> Result<()> {
    let problem = if step.kind == StepKind::Collect {
        Some("an error callback must run a task, saw COLLECT".to_string())
    } else if step.input_slots != 0 {
        Some(format!(
            "an error callback has no input slots, saw {}",
            step.input_slots
        ))
    } else if step.input_mode == InputMode::ListFirstArg {
        Some("an error callback's input mode is FIRST_ARG or IGNORE, saw LIST_FIRST_ARG".into())
    } else if !step.link_error.is_empty() {
        Some("an error callback has no link_error of its own".into())
    } else {
        None
    };
    match problem {
        Some(what) => Err(invalid(format!("step `{}`: {what}", step.step_id))),
        None => Ok(()),
    }
}

/// Each input slot of a step is filled by exactly one edge, and none from an error callback.
fn check_slots(graph: &StepGraph, index: NodeIndex) -> Result<()> {
    let step = &graph[index];
    let slots = step.input_slots as usize;
    let mut filled = vec![false; slots];
    for edge in graph.edges_directed(index, Direction::Incoming) {
        let slot = *edge.weight() as usize;
        let parent = &graph[edge.source()];
        let fail = |what: String| Err(invalid(format!("step `{}`: {what}", step.step_id)));
        if parent.errback {
            return fail(format!("fed by error callback `{}`", parent.step_id));
        }
        if parent.content_type != step.content_type {
            return fail(format!(
                "content type {} differs from parent `{}`'s {}",
                step.content_type, parent.step_id, parent.content_type
            ));
        }
        if slot >= slots {
            return fail(format!(
                "slot {slot} filled, but the step has {slots} slot(s)"
            ));
        }
        if std::mem::replace(&mut filled[slot], true) {
            return fail(format!("slot {slot} filled twice"));
        }
    }
    match filled.iter().position(|&f| !f) {
        Some(slot) => Err(invalid(format!(
            "step `{}`: slot {slot} is never filled",
            step.step_id
        ))),
        None => Ok(()),
    }
}

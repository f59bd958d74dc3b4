//! Graphviz DOT rendering of a DAG, for the dashboard and `celeriac workflow show`.
//!
//! Task steps are boxes, map and starmap steps 3-D boxes, COLLECT steps ellipses; the output
//! step has a double border; error callbacks are dashed red boxes reached by dotted red
//! "on error" edges; result edges are labelled with the slot they fill.

use std::fmt::Write as _;

use celeriac_schemas::{StepKind, WorkflowStep};
use petgraph::visit::EdgeRef;

use crate::dag::Dag;

impl Dag {
    /// The DAG in Graphviz DOT.
    ///
    /// ```
    /// use celeriac_canvas::{chain, TaskRef};
    /// let add: TaskRef<(i64, i64), i64> = TaskRef::new("add");
    /// let dot = chain(add.s((1, 2)), add.partial(3)).compile(uuid::Uuid::nil()).unwrap().to_dot();
    /// assert!(dot.contains("n0 -> n1 [label=\"0\"]"));
    /// ```
    pub fn to_dot(&self) -> String {
        let mut dot = String::new();
        let title = self.label.clone().unwrap_or_else(|| self.id.to_string());
        let _ = writeln!(dot, "digraph workflow {{");
        let _ = writeln!(dot, "  label=\"{}\";", escape(&title));
        let _ = writeln!(dot, "  rankdir=LR;");
        let _ = writeln!(dot, "  node [fontname=\"Helvetica\"];");
        for (index, step) in self.steps().enumerate() {
            let output = index == self.output();
            let _ = writeln!(dot, "  n{index} [{}];", node_attributes(step, output));
        }
        for edge in self.graph().edge_references() {
            let (from, to) = (edge.source().index(), edge.target().index());
            let _ = writeln!(dot, "  n{from} -> n{to} [label=\"{}\"];", edge.weight());
        }
        for (index, step) in self.steps().enumerate() {
            for errback in &step.link_error {
                let _ = writeln!(
                    dot,
                    "  n{index} -> n{errback} [style=dotted, color=red, label=\"on error\"];"
                );
            }
        }
        dot.push_str("}\n");
        dot
    }
}

fn node_attributes(step: &WorkflowStep, output: bool) -> String {
    let (shape, what) = match step.kind {
        StepKind::Task => ("box", step.task.clone()),
        StepKind::Map => ("box3d", format!("map {}", step.task)),
        StepKind::Starmap => ("box3d", format!("starmap {}", step.task)),
        StepKind::Collect => ("ellipse", "collect".to_string()),
    };
    let label = escape(&format!("{}\n{what}", step.step_id));
    let mut attributes = format!("label=\"{label}\", shape={shape}");
    if step.errback {
        attributes.push_str(", style=dashed, color=red");
    }
    if output {
        attributes.push_str(", peripheries=2");
    }
    attributes
}

/// Escapes text for a quoted DOT string.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

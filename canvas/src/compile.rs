//! Compiling a canvas to a DAG: one step per task invocation, one COLLECT step wherever a
//! group's list must become one value, error callbacks as `errback` steps.
//!
//! Step ids come from positions in the canvas, so the same canvas always compiles to the same
//! ids (and, for one workflow id, the same task ids). The root is `0`; the i-th step of a
//! chain or member of a group at `p` is `p.i`; a chord at `p` has its header members at
//! `p.0.i` and its body at `p.1`; the k-th link of `p` is `p.lk`; the k-th error callback of
//! step `s` is `s.ek`; the COLLECT step that turns the list of `p` into one value is `p.c`;
//! the i-th chunk of a `chunks` at `p` is `p.i`.
//!
//! How results flow: a step's result fills a slot of each child. A group's result is the
//! list of its members' results; it reaches a partial child as that many slots in member
//! order (`LIST_FIRST_ARG`) — so a group followed by a task in a chain *is* a chord — and it
//! becomes a COLLECT step only where one value is needed: a group nested in a group or chord
//! header, or the workflow's output.

use std::fmt::{Display, Write as _};

use celeriac_schemas::{InputMode, StepKind, StepOptions, WorkflowStep};
use petgraph::graph::NodeIndex;
use serde_json::Value;
use uuid::Uuid;

use crate::assemble::JSON;
use crate::canvas::{merge_options, ArgsMode, Canvas, CanvasKind, ChunksCall, MapCall, TaskCall};
use crate::dag::{Dag, StepGraph};
use crate::error::{Error, Result};
use crate::path::{Path, Segment};
use crate::validate::MAX_STEPS;

/// The deepest nesting of canvases the compiler accepts.
pub const MAX_DEPTH: usize = 256;

impl Canvas {
    /// Compiles the canvas into the DAG of workflow `workflow_id`.
    ///
    /// Refuses a partial signature without a parent, an empty chain, `chunks` with `n = 0`,
    /// an error callback that is not a plain task signature, nesting deeper than
    /// [`MAX_DEPTH`], and more than [`MAX_STEPS`] steps. Task names and argument counts are
    /// checked by [`Canvas::check`], which needs the registered tasks.
    pub fn compile(&self, workflow_id: Uuid) -> Result<Dag> {
        let mut compiler = Compiler::new(workflow_id);
        let produced = compiler.canvas(self, Input::None)?;
        let output = compiler.one(produced)?;
        Ok(Dag::from_compiler(workflow_id, compiler.graph, output))
    }
}

/// What a compiled canvas yields: one step's result, or a group's list of step results.
enum Produced {
    One(NodeIndex),
    Many(Vec<NodeIndex>),
}

impl Produced {
    fn as_input(&self) -> Input<'_> {
        match self {
            Produced::One(node) => Input::One(*node),
            Produced::Many(nodes) => Input::Many(nodes),
        }
    }
}

/// What a canvas receives from its parent: nothing, one result, or a list of results.
#[derive(Clone, Copy)]
enum Input<'p> {
    None,
    One(NodeIndex),
    Many(&'p [NodeIndex]),
}

impl Input<'_> {
    fn slots(self) -> usize {
        match self {
            Input::None => 0,
            Input::One(_) => 1,
            Input::Many(nodes) => nodes.len(),
        }
    }
}

/// What a walk has pushed for one canvas, to pop when leaving it.
struct Scope {
    options: bool,
    errbacks: bool,
}

/// What one `enter` changed.
struct Mark {
    id_length: usize,
    segment: bool,
}

/// The state of one compilation.
struct Compiler<'c> {
    workflow_id: Uuid,
    graph: StepGraph,
    /// The step id of the current position.
    step_id: String,
    /// One mark per `enter`, to undo on `leave`.
    marks: Vec<Mark>,
    path: Path,
    /// Options in force, innermost last (merged already).
    options: Vec<StepOptions>,
    /// Error callbacks in force, one slice per canvas that declared some, innermost last.
    errbacks: Vec<&'c [Canvas]>,
}

impl<'c> Compiler<'c> {
    fn new(workflow_id: Uuid) -> Self {
        Compiler {
            workflow_id,
            graph: StepGraph::new(),
            step_id: "0".to_string(),
            marks: Vec::new(),
            path: Path::default(),
            options: vec![StepOptions::default()],
            errbacks: Vec::new(),
        }
    }

    /// Compiles one canvas with its options, error callbacks and links.
    fn canvas(&mut self, canvas: &'c Canvas, input: Input<'_>) -> Result<Produced> {
        if self.path.depth() > MAX_DEPTH {
            return Err(Error::TooDeep {
                path: self.path.text(),
                limit: MAX_DEPTH,
            });
        }
        let scope = self.push_scope(canvas)?;
        let produced = self.kind(&canvas.kind, input);
        self.pop_scope(scope);
        let produced = produced?;
        for (k, link) in canvas.link.iter().enumerate() {
            self.enter(Some(Segment::Link(k)), format_args!("l{k}"));
            let linked = self.canvas(link, produced.as_input());
            self.leave();
            linked?;
        }
        Ok(produced)
    }

    fn kind(&mut self, kind: &'c CanvasKind, input: Input<'_>) -> Result<Produced> {
        match kind {
            CanvasKind::Task(call) => self.task(call, input).map(Produced::One),
            CanvasKind::Chain(steps) => self.chain(steps, input),
            CanvasKind::Group(members) => self.members(members, input, Segment::Group),
            CanvasKind::Chord { header, body } => self.chord(header, body, input),
            CanvasKind::Map(call) => self.map(call, input, StepKind::Map),
            CanvasKind::Starmap(call) => self.map(call, input, StepKind::Starmap),
            CanvasKind::Chunks(call) => self.chunks(call, input),
        }
    }

    fn task(&mut self, call: &TaskCall, input: Input<'_>) -> Result<NodeIndex> {
        let mode = match (call.mode, input) {
            (ArgsMode::Partial, Input::None) => return Err(self.no_parent(&call.task)),
            (_, Input::None) | (ArgsMode::Immutable, _) => InputMode::Ignore,
            (_, Input::One(_)) => InputMode::FirstArg,
            (_, Input::Many(_)) => InputMode::ListFirstArg,
        };
        let args = encode_args(&call.task, &call.args)?;
        self.step(StepKind::Task, &call.task, args, mode, input)
    }

    fn chain(&mut self, steps: &'c [Canvas], input: Input<'_>) -> Result<Produced> {
        let mut previous: Option<Produced> = None;
        for (i, step) in steps.iter().enumerate() {
            let step_input = previous.as_ref().map_or(input, Produced::as_input);
            self.enter(Some(Segment::Chain(i)), i);
            let produced = self.canvas(step, step_input);
            self.leave();
            previous = Some(produced?);
        }
        previous.ok_or_else(|| Error::EmptyChain {
            path: self.path.text(),
        })
    }

    /// The members of a group or chord header, each one value, in member order.
    fn members(
        &mut self,
        members: &'c [Canvas],
        input: Input<'_>,
        segment: fn(usize) -> Segment,
    ) -> Result<Produced> {
        let mut nodes = Vec::with_capacity(members.len());
        for (i, member) in members.iter().enumerate() {
            self.enter(Some(segment(i)), i);
            let node = self.canvas(member, input).and_then(|p| self.one(p));
            self.leave();
            nodes.push(node?);
        }
        Ok(Produced::Many(nodes))
    }

    fn chord(
        &mut self,
        header: &'c [Canvas],
        body: &'c Canvas,
        input: Input<'_>,
    ) -> Result<Produced> {
        self.enter(None, 0);
        let header = self.members(header, input, Segment::Header);
        self.leave();
        let header = header?;
        self.enter(Some(Segment::Body), 1);
        let body = self.canvas(body, header.as_input());
        self.leave();
        body
    }

    fn map(&mut self, call: &MapCall, input: Input<'_>, kind: StepKind) -> Result<Produced> {
        let (args, mode) = match (&call.items, input) {
            (Some(items), _) => (
                encode_args(&call.task, &[Value::from(items.clone())])?,
                InputMode::Ignore,
            ),
            (None, Input::None) => return Err(self.no_parent(&call.task)),
            (None, Input::One(_)) => (b"[]".to_vec(), InputMode::FirstArg),
            (None, Input::Many(_)) => (b"[]".to_vec(), InputMode::ListFirstArg),
        };
        self.step(kind, &call.task, args, mode, input)
            .map(Produced::One)
    }

    fn chunks(&mut self, call: &ChunksCall, input: Input<'_>) -> Result<Produced> {
        if call.n == 0 {
            return Err(Error::ZeroChunkSize {
                path: self.path.text(),
                task: call.task.clone(),
            });
        }
        let count = call.items.len().div_ceil(call.n);
        if self.graph.node_count() + count > MAX_STEPS {
            return Err(Error::TooManySteps { limit: MAX_STEPS });
        }
        let mut nodes = Vec::with_capacity(count);
        for (i, chunk) in call.items.chunks(call.n).enumerate() {
            let args = encode_args(&call.task, &[Value::from(chunk.to_vec())])?;
            self.enter(None, i);
            let node = self.step(
                StepKind::Starmap,
                &call.task,
                args,
                InputMode::Ignore,
                input,
            );
            self.leave();
            nodes.push(node?);
        }
        Ok(Produced::Many(nodes))
    }

    /// Adds a step at the current position, its input edges and its error callbacks.
    fn step(
        &mut self,
        kind: StepKind,
        task: &str,
        args: Vec<u8>,
        input_mode: InputMode,
        input: Input<'_>,
    ) -> Result<NodeIndex> {
        let options = self.options.last().cloned().unwrap_or_default();
        let step = self.new_step(kind, task, args, input.slots(), input_mode, options)?;
        let node = self.graph.add_node(step);
        self.add_edges(input, node);
        let link_error = self.errback_steps()?;
        self.graph[node].link_error = link_error;
        Ok(node)
    }

    /// Makes one value of what a canvas produced: a list becomes a COLLECT step.
    fn one(&mut self, produced: Produced) -> Result<NodeIndex> {
        let nodes = match produced {
            Produced::One(node) => return Ok(node),
            Produced::Many(nodes) => nodes,
        };
        let input = Input::Many(&nodes);
        self.enter(None, "c");
        let step = self.new_step(
            StepKind::Collect,
            "",
            b"[]".to_vec(),
            nodes.len(),
            InputMode::ListFirstArg,
            StepOptions::default(),
        );
        self.leave();
        let node = self.graph.add_node(step?);
        self.add_edges(input, node);
        Ok(node)
    }

    /// The error callback steps of the step at the current position, innermost canvas first.
    fn errback_steps(&mut self) -> Result<Vec<i32>> {
        let declared: Vec<&'c Canvas> = self.errbacks.iter().rev().flat_map(|s| s.iter()).collect();
        let mut indexes = Vec::with_capacity(declared.len());
        for (k, errback) in declared.into_iter().enumerate() {
            let CanvasKind::Task(call) = &errback.kind else {
                continue; // refused when the scope was pushed
            };
            let mode = match call.mode {
                ArgsMode::Immutable => InputMode::Ignore,
                _ => InputMode::FirstArg,
            };
            let args = encode_args(&call.task, &call.args)?;
            self.enter(None, format_args!("e{k}"));
            let step = self.new_step(
                StepKind::Task,
                &call.task,
                args,
                0,
                mode,
                errback.options.clone(),
            );
            self.leave();
            let mut step = step?;
            step.errback = true;
            indexes.push(self.graph.add_node(step).index() as i32);
        }
        Ok(indexes)
    }

    /// A step record at the current position, refusing to grow past [`MAX_STEPS`].
    fn new_step(
        &self,
        kind: StepKind,
        task: &str,
        args: Vec<u8>,
        input_slots: usize,
        input_mode: InputMode,
        options: StepOptions,
    ) -> Result<WorkflowStep> {
        if self.graph.node_count() >= MAX_STEPS {
            return Err(Error::TooManySteps { limit: MAX_STEPS });
        }
        Ok(WorkflowStep {
            step_id: self.step_id.clone(),
            task_id: Uuid::new_v5(&self.workflow_id, self.step_id.as_bytes()),
            kind,
            task: task.to_string(),
            args,
            content_type: JSON.to_string(),
            input_slots: input_slots as i32,
            input_mode,
            options,
            errback: false,
            link_error: Vec::new(),
        })
    }

    fn add_edges(&mut self, input: Input<'_>, node: NodeIndex) {
        match input {
            Input::None => {}
            Input::One(parent) => {
                self.graph.add_edge(parent, node, 0);
            }
            Input::Many(parents) => {
                for (slot, &parent) in parents.iter().enumerate() {
                    self.graph.add_edge(parent, node, slot as u32);
                }
            }
        }
    }

    /// Brings a canvas's options and error callbacks into force.
    fn push_scope(&mut self, canvas: &'c Canvas) -> Result<Scope> {
        let options = canvas.options != StepOptions::default();
        if options {
            let outer = self.options.last().cloned().unwrap_or_default();
            self.options.push(merge_options(&canvas.options, &outer));
        }
        for (k, errback) in canvas.link_error.iter().enumerate() {
            self.check_errback(errback, k)?;
        }
        let errbacks = !canvas.link_error.is_empty();
        if errbacks {
            self.errbacks.push(&canvas.link_error);
        }
        Ok(Scope { options, errbacks })
    }

    fn pop_scope(&mut self, scope: Scope) {
        if scope.options {
            self.options.pop();
        }
        if scope.errbacks {
            self.errbacks.pop();
        }
    }

    /// An error callback is a task signature with no callbacks of its own.
    fn check_errback(&mut self, errback: &Canvas, k: usize) -> Result<()> {
        let seen = match &errback.kind {
            CanvasKind::Task(_) if errback.link.is_empty() && errback.link_error.is_empty() => {
                return Ok(())
            }
            CanvasKind::Task(_) => "a task signature with callbacks of its own",
            CanvasKind::Chain(_) => "a chain",
            CanvasKind::Group(_) => "a group",
            CanvasKind::Chord { .. } => "a chord",
            CanvasKind::Map(_) => "a map",
            CanvasKind::Starmap(_) => "a starmap",
            CanvasKind::Chunks(_) => "chunks",
        };
        self.path.push(Segment::LinkError(k));
        let path = self.path.text();
        self.path.pop();
        Err(Error::InvalidErrback {
            path,
            seen: seen.to_string(),
        })
    }

    fn no_parent(&self, task: &str) -> Error {
        Error::PartialWithoutParent {
            path: self.path.text(),
            task: task.to_string(),
        }
    }

    /// Moves down: `segment` extends the error path, `id` the step id.
    fn enter(&mut self, segment: Option<Segment>, id: impl Display) {
        self.marks.push(Mark {
            id_length: self.step_id.len(),
            segment: segment.is_some(),
        });
        let _ = write!(self.step_id, ".{id}");
        if let Some(segment) = segment {
            self.path.push(segment);
        }
    }

    /// Undoes the last `enter`.
    fn leave(&mut self) {
        if let Some(mark) = self.marks.pop() {
            self.step_id.truncate(mark.id_length);
            if mark.segment {
                self.path.pop();
            }
        }
    }
}

/// Bound arguments as the bytes of a JSON array.
fn encode_args(task: &str, args: &[Value]) -> Result<Vec<u8>> {
    serde_json::to_vec(args).map_err(|e| Error::Encode {
        task: task.to_string(),
        message: e.to_string(),
    })
}

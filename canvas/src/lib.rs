//! Celery's canvas in typed Rust, compiled to a DAG.
//!
//! What a user composes — signatures, `chain`, `group`, `chord`, `map`, `starmap`, `chunks`,
//! `link` and `link_error` — becomes a petgraph DAG ([`Dag`]) and a [`WorkflowSpec`] record
//! the coordinator runs. Nothing here touches the network.
//!
//! # Typed canvases
//!
//! A [`TaskRef<In, Out>`] names a registered task and knows its types. `s` binds all
//! arguments ([`Signature`]), `si` binds all and ignores a parent ([`Immutable`]), `partial`
//! binds all but the first, which the parent's result fills ([`Partial`]). [`chain()`],
//! [`group`] and [`chord`] combine them, and a link whose input type differs from its
//! parent's output does not compile:
//!
//! ```
//! use celeriac_canvas::{chain, chord, TaskRef};
//! let add: TaskRef<(i64, i64), i64> = TaskRef::new("add");
//! let mul: TaskRef<(i64, i64), i64> = TaskRef::new("mul");
//! let tsum: TaskRef<Vec<i64>, i64> = TaskRef::new("tsum");
//! let wf = chain(add.s((2, 2)), mul.partial(8)); // (2 + 2) * 8
//! let wf = chord((0..100).map(|i| add.s((i, i))), tsum.partial(()));
//! let dag = wf.compile(uuid::Uuid::new_v4()).unwrap();
//! ```
//!
//! Positional arguments come from the input type through [`TaskArgs`]: tuples element-wise,
//! `()` as no arguments, anything else (and types named in [`task_args!`]) as one argument.
//!
//! # Untyped canvases and their JSON form
//!
//! [`Canvas`] is the same tree with task names and JSON arguments, for the command line,
//! HTTP and other languages. [`Canvas::check`] validates it against the registered tasks
//! ([`TaskRegistry`]) before anything is published. The JSON form:
//!
//! ```json
//! {"task": "add", "args": [2, 2]}                      // Celery's s
//! {"task": "mul", "args": [8], "partial": true}         // must have a parent; its result first
//! {"task": "log", "args": ["done"], "immutable": true}  // Celery's si
//! {"chain": [canvas, ...]}
//! {"group": [canvas, ...]}
//! {"chord": {"header": [canvas, ...], "body": canvas}}
//! {"map": {"task": "double", "items": [1, 2, 3]}}       // without "items": the parent's list
//! {"starmap": {"task": "add", "items": [[1, 2], [3, 4]]}}
//! {"chunks": {"task": "add", "items": [[1, 2], [3, 4]], "n": 10}}
//! ```
//!
//! Any canvas object may also hold `"options"` (`queue`, `priority`, `countdown_ms`, `eta`,
//! `expires`, `soft_time_limit_ms`, `time_limit_ms`, `max_retries`, `headers`; they fill the
//! unset options of every signature inside), `"link"` (canvases receiving its result; they do
//! not change it) and `"link_error"` (task signatures attached to every task step inside).
//! Errors name their place: `chain[2].group[5]: unknown task `x``.
//!
//! # Semantics (Celery's)
//!
//! A signature with a parent receives the parent's result as its first argument unless it is
//! immutable. A chain's result is its last step's. A group's result is the list of its
//! members' results in member order; an empty group's is `[]`. A chord body receives the
//! header's results in header order, and a group followed by a task in a chain is a chord.
//! `map`/`starmap` run in one worker; `chunks(task, items, n)` is a group of starmaps whose
//! result is a list of lists. A failing step fails every step that depends on it; the error
//! callbacks of the step that failed run once each, with the [`TaskFailure`] first. (Unlike
//! Celery, a chord body's own error callbacks do not run when a header member fails: only
//! the failing member's do. An empty group after a parent does not wait for the parent.)
//!
//! # Compilation
//!
//! One step per task invocation, one COLLECT step wherever a group's list must become one
//! value (a group nested in a group or chord header, or the output), error callbacks as
//! `errback` steps. Step ids come from positions: the root is `0`, the i-th child of `p` is
//! `p.i`, a chord's header members are `p.0.i` and its body `p.1`, the k-th link of `p` is
//! `p.lk`, the k-th error callback of step `s` is `s.ek`, a COLLECT for `p` is `p.c`. Task
//! ids are UUIDv5 of the workflow id and the step id, so resubmitting is idempotent.
//! [`Dag::from_spec`] and [`Dag::into_spec`] convert losslessly; [`Dag::validate`] checks
//! slots, indexes, error callbacks, content types, acyclicity and the [`MAX_STEPS`] bound.
//!
//! # For the coordinator
//!
//! [`assemble_args`] and [`collect_list`] build a step's arguments from its bound arguments
//! and filled slots (JSON and msgpack, values spliced byte for byte). [`Evaluator`] is the
//! reference evaluator the coordinator's tests compare against; [`Dag::to_dot`] renders a
//! DAG for the dashboard.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod args;
mod assemble;
mod canvas;
mod check;
mod compile;
mod compose;
mod dag;
mod dot;
mod error;
mod evaluate;
mod failure;
mod json;
mod path;
mod schema;
#[cfg(feature = "strategies")]
pub mod strategies;
mod typed;
mod validate;

pub use args::{map_items, NoFirstArg, SingleArg, TaskArgs, VarArgs};
pub use assemble::{assemble_args, check_args_array, collect_list, prepend_arg, JSON, MSGPACK};
pub use canvas::{ArgsMode, Canvas, CanvasKind, ChunksCall, MapCall, TaskCall};
pub use celeriac_schemas::{
    InputMode, StepKind, StepOptions, WorkflowEdge, WorkflowSpec, WorkflowStep,
};
pub use check::{Arity, TaskRegistry};
pub use compile::MAX_DEPTH;
pub use compose::{chain, chord, group, ThenExt};
pub use dag::{Dag, StepGraph};
pub use error::{Error, Result};
pub use evaluate::{ErrbackCall, Evaluation, Evaluator, StepState, TaskFn, TaskTable};
pub use failure::TaskFailure;
pub use schema::schema_of;
pub use typed::{Immutable, Partial, Signature, TaskRef, Then, TypedCanvas};
pub use validate::MAX_STEPS;

/// Items the exported macros use; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::args::{decode_arg, encode_arg, expect_count};
    pub use serde_json::Value;
}

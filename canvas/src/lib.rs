//! Celery's canvas in typed Rust, compiled to a DAG.
//!
//! What a user composes — signatures, `chain`, `group`, `chord`, `map`, `starmap`, `chunks`,
//! `link` and `link_error` — becomes a petgraph DAG and a [`WorkflowSpec`] record the
//! coordinator runs. Nothing here touches the network.

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
mod typed;
mod validate;

pub use args::{NoFirstArg, SingleArg, TaskArgs};
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
pub use typed::{Immutable, Partial, Signature, TaskRef, Then, TypedCanvas};
pub use validate::MAX_STEPS;

/// Items the exported macros use; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::args::{decode_arg, encode_arg, expect_count};
    pub use serde_json::Value;
}

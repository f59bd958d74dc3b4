//! The one error type of the crate: every way a canvas can be refused, each message saying
//! what was expected, what was seen, and where in the canvas (`chain[2].group[5]`).
//!
//! None of these errors is transient: retrying the same canvas gives the same error. They are
//! all raised before anything is published.

use thiserror::Error;

/// Everything that can go wrong while building, checking, compiling or evaluating a canvas.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// A partial signature sits where no parent result can reach it.
    #[error(
        "{path}: partial signature `{task}` has no parent to supply its first argument \
         (place it after another step in a chain, as a chord body, or as a link)"
    )]
    PartialWithoutParent {
        /// Where in the canvas.
        path: String,
        /// The task name.
        task: String,
    },
    /// A signature is marked both partial and immutable.
    #[error("{path}: signature `{task}` is both partial and immutable; choose one")]
    PartialAndImmutable {
        /// Where in the canvas.
        path: String,
        /// The task name.
        task: String,
    },
    /// A chain with no steps.
    #[error("{path}: empty chain; a chain needs at least one step")]
    EmptyChain {
        /// Where in the canvas.
        path: String,
    },
    /// `chunks` with a chunk size of zero.
    #[error("{path}: chunks of `{task}` with n = 0; n must be at least 1")]
    ZeroChunkSize {
        /// Where in the canvas.
        path: String,
        /// The task name.
        task: String,
    },
    /// An error callback that is not a plain task signature, or that has callbacks itself.
    #[error("{path}: expected an error callback to be a task signature without link or link_error, saw {seen}")]
    InvalidErrback {
        /// Where in the canvas.
        path: String,
        /// What was found instead.
        seen: String,
    },
    /// A task name the registry does not know.
    #[error("{path}: unknown task `{task}`")]
    UnknownTask {
        /// Where in the canvas.
        path: String,
        /// The task name.
        task: String,
    },
    /// A task would receive a number of positional arguments it does not accept.
    #[error(
        "{path}: task `{task}` takes {expected} positional argument(s), but would receive {seen}"
    )]
    WrongArity {
        /// Where in the canvas.
        path: String,
        /// The task name.
        task: String,
        /// What the task accepts, e.g. "exactly 2".
        expected: String,
        /// How many it would receive.
        seen: usize,
    },
    /// The JSON form of a canvas does not have the expected shape.
    #[error("{path}: expected {expected}, saw {seen}")]
    InvalidCanvasJson {
        /// Where in the canvas.
        path: String,
        /// What the JSON form requires here.
        expected: String,
        /// What the JSON held.
        seen: String,
    },
    /// The canvas is nested too deeply to compile safely.
    #[error("{path}: canvas nested deeper than {limit} levels")]
    TooDeep {
        /// Where the limit was reached.
        path: String,
        /// The nesting limit.
        limit: usize,
    },
    /// The compiled DAG would exceed the step limit.
    #[error("workflow has more than {limit} steps; split it into smaller workflows")]
    TooManySteps {
        /// The step limit.
        limit: usize,
    },
    /// A value could not be encoded as a task argument.
    #[error("cannot encode an argument of task `{task}` as JSON: {message}")]
    Encode {
        /// The task name.
        task: String,
        /// The encoder's message.
        message: String,
    },
    /// Positional arguments could not be decoded into a task's input type.
    #[error("task arguments: expected {expected}, saw {seen}")]
    DecodeArgs {
        /// What the input type requires.
        expected: String,
        /// What the arguments held.
        seen: String,
    },
    /// Argument bytes, or a result's bytes, are not what their content type says.
    #[error("{content_type} arguments: expected {expected}, saw {seen}")]
    MalformedArgs {
        /// The content type of the bytes.
        content_type: String,
        /// What was required.
        expected: String,
        /// What was found.
        seen: String,
    },
    /// A content type workflows cannot assemble arguments in.
    #[error("content type `{0}` is not supported in workflows; use application/json or application/x-msgpack")]
    UnsupportedContentType(String),
    /// The DAG has a cycle.
    #[error("workflow graph has a cycle through step `{step_id}`")]
    Cycle {
        /// A step on the cycle.
        step_id: String,
    },
    /// A `WorkflowSpec` or DAG breaks a structural rule (slots, indexes, ids).
    #[error("invalid workflow: {0}")]
    InvalidWorkflow(String),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

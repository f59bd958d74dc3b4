//! The untyped canvas: task names and JSON arguments, the form every canvas takes before it
//! is compiled. Typed canvases convert to it; the command line and HTTP parse it from JSON.
//!
//! Semantics follow Celery's. A signature that has a parent (it follows a step in a chain, is
//! a chord body, or is a link) receives the parent's result as its first argument unless it
//! is immutable; a partial signature must have a parent. Options, `link` and `link_error`
//! may sit on any canvas: options fill the unset options of every signature inside, `link`
//! callbacks receive the canvas's result, and `link_error` callbacks are attached to every
//! task step inside (each failing step calls its own copy once).

use celeriac_schemas::StepOptions;
use serde_json::Value;

/// A canvas: what to run, with its options and callbacks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Canvas {
    /// What the canvas is.
    pub kind: CanvasKind,
    /// Options for every signature inside that does not set them itself.
    pub options: StepOptions,
    /// Success callbacks: each receives this canvas's result; none changes the result.
    pub link: Vec<Canvas>,
    /// Error callbacks (task signatures): attached to every task step inside.
    pub link_error: Vec<Canvas>,
}

/// The primitives of a canvas.
#[derive(Debug, Clone, PartialEq)]
pub enum CanvasKind {
    /// One task invocation.
    Task(TaskCall),
    /// Steps run one after another, each receiving the previous one's result.
    Chain(Vec<Canvas>),
    /// Members run in parallel; the result is the list of their results in member order.
    Group(Vec<Canvas>),
    /// A group whose list of results, in header order, is passed to the body.
    Chord {
        /// The members run in parallel.
        header: Vec<Canvas>,
        /// Receives the header's results.
        body: Box<Canvas>,
    },
    /// One worker applies the task to each item: `task(item)`.
    Map(MapCall),
    /// One worker applies the task to each item taken as an argument list: `task(*item)`.
    Starmap(MapCall),
    /// A group of starmaps over `n`-item slices of the items; the result is a list of lists.
    Chunks(ChunksCall),
}

impl Default for CanvasKind {
    fn default() -> Self {
        CanvasKind::Group(Vec::new())
    }
}

/// How a signature treats a parent's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ArgsMode {
    /// Celery's `s`: with a parent, the parent's result is prepended to the arguments.
    #[default]
    Mutable,
    /// Must have a parent; the parent's result is the first argument.
    Partial,
    /// Celery's `si`: waits for a parent but never receives its result.
    Immutable,
}

/// One task invocation: a name and bound positional arguments.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskCall {
    /// The registered task name.
    pub task: String,
    /// Bound positional arguments.
    pub args: Vec<Value>,
    /// How a parent's result is used.
    pub mode: ArgsMode,
}

/// A `map` or `starmap`: a task applied to each item inside one worker.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MapCall {
    /// The registered task name.
    pub task: String,
    /// The items; `None` takes the list from the parent's result.
    pub items: Option<Vec<Value>>,
}

/// `chunks(task, items, n)`: items split into slices of `n`, each slice one starmap.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChunksCall {
    /// The registered task name.
    pub task: String,
    /// The items, each an argument list.
    pub items: Vec<Value>,
    /// Items per chunk; at least 1.
    pub n: usize,
}

impl Canvas {
    /// A canvas of the given kind with no options or callbacks.
    pub fn new(kind: CanvasKind) -> Self {
        Canvas {
            kind,
            ..Canvas::default()
        }
    }

    /// A task signature (Celery's `s`).
    pub fn task(task: impl Into<String>, args: Vec<Value>) -> Self {
        Self::call(task, args, ArgsMode::Mutable)
    }

    /// An immutable task signature (Celery's `si`).
    pub fn immutable(task: impl Into<String>, args: Vec<Value>) -> Self {
        Self::call(task, args, ArgsMode::Immutable)
    }

    /// A partial signature: the parent's result comes first, then `args`.
    pub fn partial(task: impl Into<String>, args: Vec<Value>) -> Self {
        Self::call(task, args, ArgsMode::Partial)
    }

    /// A task signature with an explicit [`ArgsMode`].
    pub fn call(task: impl Into<String>, args: Vec<Value>, mode: ArgsMode) -> Self {
        let task = task.into();
        Self::new(CanvasKind::Task(TaskCall { task, args, mode }))
    }

    /// A chain of steps; nested chains without options or callbacks are flattened.
    pub fn chain(steps: impl IntoIterator<Item = Canvas>) -> Self {
        let mut flat = Vec::new();
        for step in steps {
            if step.is_bare_chain() {
                flat.extend(step.into_chain_steps());
            } else {
                flat.push(step);
            }
        }
        Self::new(CanvasKind::Chain(flat))
    }

    /// A group of members.
    pub fn group(members: impl IntoIterator<Item = Canvas>) -> Self {
        Self::new(CanvasKind::Group(members.into_iter().collect()))
    }

    /// A chord: the header's results, in header order, go to the body.
    pub fn chord(header: impl IntoIterator<Item = Canvas>, body: Canvas) -> Self {
        let header = header.into_iter().collect();
        Self::new(CanvasKind::Chord {
            header,
            body: Box::new(body),
        })
    }

    /// `task(item)` for each item, in one worker; `None` takes the items from the parent.
    pub fn map(task: impl Into<String>, items: Option<Vec<Value>>) -> Self {
        let task = task.into();
        Self::new(CanvasKind::Map(MapCall { task, items }))
    }

    /// `task(*item)` for each item, in one worker; `None` takes the items from the parent.
    pub fn starmap(task: impl Into<String>, items: Option<Vec<Value>>) -> Self {
        let task = task.into();
        Self::new(CanvasKind::Starmap(MapCall { task, items }))
    }

    /// Items split into chunks of `n`, each chunk one starmap step; a list of lists results.
    pub fn chunks(task: impl Into<String>, items: Vec<Value>, n: usize) -> Self {
        let task = task.into();
        Self::new(CanvasKind::Chunks(ChunksCall { task, items, n }))
    }

    /// Adds a success callback that receives this canvas's result.
    pub fn with_link(mut self, callback: Canvas) -> Self {
        self.link.push(callback);
        self
    }

    /// Adds an error callback to every task step of this canvas.
    pub fn with_link_error(mut self, errback: Canvas) -> Self {
        self.link_error.push(errback);
        self
    }

    /// Replaces this canvas's options.
    pub fn with_options(mut self, options: StepOptions) -> Self {
        self.options = options;
        self
    }

    /// True for a chain that carries no options or callbacks of its own.
    fn is_bare_chain(&self) -> bool {
        matches!(self.kind, CanvasKind::Chain(_))
            && self.options == StepOptions::default()
            && self.link.is_empty()
            && self.link_error.is_empty()
    }

    /// The steps of a chain (or the canvas itself as the single step).
    fn into_chain_steps(self) -> Vec<Canvas> {
        match self.kind {
            CanvasKind::Chain(steps) => steps,
            _ => vec![self],
        }
    }
}

/// Fills every option of `inner` that is unset from `outer`; headers merge, inner wins.
pub(crate) fn merge_options(inner: &StepOptions, outer: &StepOptions) -> StepOptions {
    let mut headers = outer.headers.clone();
    headers.extend(inner.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    StepOptions {
        queue: inner.queue.clone().or_else(|| outer.queue.clone()),
        priority: inner.priority.or(outer.priority),
        countdown_ms: inner.countdown_ms.or(outer.countdown_ms),
        eta: inner.eta.or(outer.eta),
        expires: inner.expires.or(outer.expires),
        soft_time_limit_ms: inner.soft_time_limit_ms.or(outer.soft_time_limit_ms),
        time_limit_ms: inner.time_limit_ms.or(outer.time_limit_ms),
        max_retries: inner.max_retries.or(outer.max_retries),
        headers,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nested_bare_chains_flatten() {
        let inner = Canvas::chain([Canvas::task("a", vec![]), Canvas::partial("b", vec![])]);
        let outer = Canvas::chain([inner, Canvas::partial("c", vec![json!(1)])]);
        let CanvasKind::Chain(steps) = outer.kind else {
            panic!("not a chain")
        };
        assert_eq!(steps.len(), 3);
    }

    #[test]
    fn chains_with_options_stay_nested() {
        let mut inner = Canvas::chain([Canvas::task("a", vec![])]);
        inner.options.queue = Some("q".into());
        let outer = Canvas::chain([inner, Canvas::partial("c", vec![])]);
        let CanvasKind::Chain(steps) = outer.kind else {
            panic!("not a chain")
        };
        assert_eq!(steps.len(), 2);
    }

    #[test]
    fn inner_options_win_and_headers_merge() {
        let mut inner = StepOptions {
            queue: Some("inner".into()),
            ..StepOptions::default()
        };
        inner.headers.insert("a".into(), "inner".into());
        let mut outer = StepOptions {
            queue: Some("outer".into()),
            priority: Some(3),
            ..StepOptions::default()
        };
        outer.headers.insert("a".into(), "outer".into());
        outer.headers.insert("b".into(), "outer".into());
        let merged = merge_options(&inner, &outer);
        assert_eq!(merged.queue.as_deref(), Some("inner"));
        assert_eq!(merged.priority, Some(3));
        assert_eq!(merged.headers["a"], "inner");
        assert_eq!(merged.headers["b"], "outer");
    }
}

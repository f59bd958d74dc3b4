//! Proptest strategies for random nested canvases, and the task table they are written for
//! (feature `strategies`): the oracle property tests of this crate and of the engine share them.
//!
//! Canvases use the tasks of [`tasks`]: `add` (sums every number in its arguments), `log`
//! (returns its arguments), `eb` (an error callback, returns null) and, when failures are on,
//! `boom` (always fails). Every generated canvas compiles.

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::canvas::{ArgsMode, Canvas, CanvasKind};
use crate::evaluate::TaskTable;

/// What random canvases may contain.
#[derive(Debug, Clone, Default)]
pub struct CanvasStrategy {
    failures: bool,
    queues: Vec<String>,
}

impl CanvasStrategy {
    /// Canvases of `add`, `log` and `eb` only: every task succeeds.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also uses `boom`, which fails, as a task, a link and inside maps.
    pub fn with_failures(mut self, failures: bool) -> Self {
        self.failures = failures;
        self
    }

    /// Routes some steps to one of `queues` (none by default: every step on the default queue).
    pub fn with_queues(mut self, queues: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.queues = queues.into_iter().map(Into::into).collect();
        self
    }

    /// The strategy: canvases up to four levels deep.
    pub fn canvases(&self) -> impl Strategy<Value = Canvas> {
        let leaf = self.decorate(self.leaf());
        let this = self.clone();
        leaf.prop_recursive(4, 32, 4, move |inner| {
            let composite = prop_oneof![
                prop::collection::vec(inner.clone(), 1..4).prop_map(Canvas::chain),
                prop::collection::vec(inner.clone(), 0..4).prop_map(Canvas::group),
                (prop::collection::vec(inner.clone(), 0..3), inner)
                    .prop_map(|(h, b)| Canvas::chord(h, b)),
            ];
            this.decorate(composite.boxed())
        })
        .prop_map(|mut canvas| {
            give_parents(&mut canvas, false);
            canvas
        })
    }

    fn leaf(&self) -> BoxedStrategy<Canvas> {
        let names = if self.failures {
            vec!["add", "add", "add", "boom"]
        } else {
            vec!["add"]
        };
        let name = prop::sample::select(names);
        let map_items = if self.failures {
            prop::option::of(small_ints(4)).boxed()
        } else {
            small_ints(4).prop_map(Some).boxed()
        };
        prop_oneof![
            4 => (name.clone(), small_ints(3), mode()).prop_map(|(t, args, mode)| Canvas::call(t, args, mode)),
            1 => (name.clone(), map_items).prop_map(|(t, items)| Canvas::map(t, items)),
            1 => (name.clone(), arg_lists()).prop_map(|(t, items)| Canvas::starmap(t, Some(items))),
            1 => (name, arg_lists(), 1..3usize).prop_map(|(t, items, n)| Canvas::chunks(t, items, n)),
        ]
        .boxed()
    }

    /// Adds, at random, a link, an error callback and a queue.
    fn decorate(&self, canvas: BoxedStrategy<Canvas>) -> BoxedStrategy<Canvas> {
        let link_task = if self.failures {
            vec!["log", "boom"]
        } else {
            vec!["log"]
        };
        let link = prop::option::weighted(0.2, prop::sample::select(link_task))
            .prop_map(|t| t.map(|t| Canvas::partial(t, vec![])));
        let errback = prop::option::weighted(0.3, mode())
            .prop_map(|m| m.map(|m| Canvas::call("eb", vec![], m)));
        let queue = if self.queues.is_empty() {
            Just(None).boxed()
        } else {
            prop::option::weighted(0.2, prop::sample::select(self.queues.clone())).boxed()
        };
        (canvas, link, errback, queue)
            .prop_map(|(mut canvas, link, errback, queue)| {
                canvas.link.extend(link);
                canvas.link_error.extend(errback);
                canvas.options.queue = queue;
                canvas
            })
            .boxed()
    }
}

/// The tasks random canvases call, for the reference [`Evaluator`](crate::Evaluator).
pub fn tasks() -> TaskTable {
    TaskTable::new()
        .with("add", |args| Ok(json!(sum(&Value::Array(args)))))
        .with("log", |args| Ok(Value::Array(args)))
        .with("eb", |_| Ok(Value::Null))
        .with("boom", |args| Err(boom_message(&args)))
}

/// What `add` returns: the sum of every number in `value`, looking inside lists.
pub fn sum(value: &Value) -> i64 {
    match value {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::Array(items) => items.iter().map(sum).sum(),
        _ => 0,
    }
}

/// The error message `boom` fails with, given its arguments.
pub fn boom_message(args: &[Value]) -> String {
    format!("boom {}", Value::Array(args.to_vec()))
}

fn mode() -> impl Strategy<Value = ArgsMode> {
    prop_oneof![
        Just(ArgsMode::Mutable),
        Just(ArgsMode::Partial),
        Just(ArgsMode::Immutable)
    ]
}

fn small_ints(max: usize) -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec((0..5i64).prop_map(Value::from), 0..max)
}

fn arg_lists() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(small_ints(3).prop_map(Value::Array), 0..4)
}

/// Makes every partial that has no parent a full signature, so every canvas compiles.
fn give_parents(canvas: &mut Canvas, has_parent: bool) {
    match &mut canvas.kind {
        CanvasKind::Task(call) if !has_parent && call.mode == ArgsMode::Partial => {
            call.mode = ArgsMode::Mutable
        }
        CanvasKind::Map(call) | CanvasKind::Starmap(call)
            if !has_parent && call.items.is_none() =>
        {
            call.items = Some(vec![json!(1), json!(2)]);
        }
        CanvasKind::Chain(steps) => {
            for (i, step) in steps.iter_mut().enumerate() {
                give_parents(step, has_parent || i > 0);
            }
        }
        CanvasKind::Group(members) => members.iter_mut().for_each(|m| give_parents(m, has_parent)),
        CanvasKind::Chord { header, body } => {
            header.iter_mut().for_each(|m| give_parents(m, has_parent));
            give_parents(body, true);
        }
        _ => {}
    }
    canvas.link.iter_mut().for_each(|l| give_parents(l, true));
}

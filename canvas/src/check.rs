//! Checking an untyped canvas against the registered tasks before anything is published:
//! every task name is known, and every task would receive a number of positional arguments
//! it accepts (bound arguments, plus the parent's result or the failure where one is passed).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde_json::Value;

use crate::canvas::{ArgsMode, Canvas, CanvasKind, ChunksCall, MapCall, TaskCall};
use crate::error::{Error, Result};
use crate::path::{Path, Segment};

/// How many positional arguments a task accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Arity {
    /// The fewest it accepts.
    pub min: usize,
    /// The most it accepts; `None` means no upper bound.
    pub max: Option<usize>,
}

impl Arity {
    /// Any number of arguments: the count is not checked.
    pub const UNKNOWN: Arity = Arity { min: 0, max: None };

    /// Exactly `n` arguments.
    pub const fn exactly(n: usize) -> Self {
        Arity {
            min: n,
            max: Some(n),
        }
    }

    /// `min` or more arguments.
    pub const fn at_least(min: usize) -> Self {
        Arity { min, max: None }
    }

    /// From `min` to `max` arguments.
    pub const fn between(min: usize, max: usize) -> Self {
        Arity {
            min,
            max: Some(max),
        }
    }

    /// True if the task accepts `count` arguments.
    pub fn accepts(&self, count: usize) -> bool {
        count >= self.min && self.max.is_none_or(|max| count <= max)
    }
}

impl fmt::Display for Arity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (0, None) => f.write_str("any number of"),
            (min, None) => write!(f, "at least {min}"),
            (min, Some(max)) if min == max => write!(f, "exactly {min}"),
            (min, Some(max)) => write!(f, "between {min} and {max}"),
        }
    }
}

/// The registered tasks, as the engine knows them.
pub trait TaskRegistry {
    /// The arity of the task registered under `name`, or `None` if there is no such task.
    fn arity(&self, name: &str) -> Option<Arity>;
}

impl<S: std::hash::BuildHasher> TaskRegistry for HashMap<String, Arity, S> {
    fn arity(&self, name: &str) -> Option<Arity> {
        self.get(name).copied()
    }
}

impl TaskRegistry for BTreeMap<String, Arity> {
    fn arity(&self, name: &str) -> Option<Arity> {
        self.get(name).copied()
    }
}

impl<R: TaskRegistry + ?Sized> TaskRegistry for &R {
    fn arity(&self, name: &str) -> Option<Arity> {
        (**self).arity(name)
    }
}

impl Canvas {
    /// Checks the canvas against the registered tasks: unknown tasks, argument counts a task
    /// does not accept, starmap items that are not argument lists, partial signatures with no
    /// parent, empty chains and `chunks` with `n = 0` are errors naming their place.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use celeriac_canvas::{Arity, Canvas};
    /// let tasks = HashMap::from([("add".to_string(), Arity::exactly(2))]);
    /// let canvas = Canvas::from_json_str(r#"{"chain": [
    ///     {"task": "add", "args": [2, 2]},
    ///     {"task": "add", "args": [1, 2], "partial": true}]}"#).unwrap();
    /// let err = canvas.check(&tasks).unwrap_err();
    /// assert_eq!(err.to_string(),
    ///     "chain[1]: task `add` takes exactly 2 positional argument(s), but would receive 3");
    /// ```
    pub fn check(&self, registry: &impl TaskRegistry) -> Result<()> {
        Checker {
            registry,
            path: Path::default(),
        }
        .canvas(self, false)
    }
}

struct Checker<'r, R> {
    registry: &'r R,
    path: Path,
}

impl<R: TaskRegistry> Checker<'_, R> {
    fn canvas(&mut self, canvas: &Canvas, has_parent: bool) -> Result<()> {
        self.kind(&canvas.kind, has_parent)?;
        for (k, link) in canvas.link.iter().enumerate() {
            self.nested(Segment::Link(k), |c| c.canvas(link, true))?;
        }
        for (k, errback) in canvas.link_error.iter().enumerate() {
            self.nested(Segment::LinkError(k), |c| c.errback(errback))?;
        }
        Ok(())
    }

    fn kind(&mut self, kind: &CanvasKind, has_parent: bool) -> Result<()> {
        match kind {
            CanvasKind::Task(call) => self.task(call, has_parent),
            CanvasKind::Chain(steps) => self.chain(steps, has_parent),
            CanvasKind::Group(members) => self.all(members, Segment::Group, has_parent),
            CanvasKind::Chord { header, body } => {
                self.all(header, Segment::Header, has_parent)?;
                self.nested(Segment::Body, |c| c.canvas(body, true))
            }
            CanvasKind::Map(call) => self.map(call, has_parent, false),
            CanvasKind::Starmap(call) => self.map(call, has_parent, true),
            CanvasKind::Chunks(call) => self.chunks(call),
        }
    }

    fn task(&self, call: &TaskCall, has_parent: bool) -> Result<()> {
        if call.mode == ArgsMode::Partial && !has_parent {
            return Err(Error::PartialWithoutParent {
                path: self.path.text(),
                task: call.task.clone(),
            });
        }
        let receives = has_parent && call.mode != ArgsMode::Immutable;
        self.arity(&call.task, call.args.len() + usize::from(receives))
    }

    fn chain(&mut self, steps: &[Canvas], has_parent: bool) -> Result<()> {
        if steps.is_empty() {
            return Err(Error::EmptyChain {
                path: self.path.text(),
            });
        }
        for (i, step) in steps.iter().enumerate() {
            self.nested(Segment::Chain(i), |c| c.canvas(step, has_parent || i > 0))?;
        }
        Ok(())
    }

    fn all(
        &mut self,
        members: &[Canvas],
        segment: fn(usize) -> Segment,
        has_parent: bool,
    ) -> Result<()> {
        for (i, member) in members.iter().enumerate() {
            self.nested(segment(i), |c| c.canvas(member, has_parent))?;
        }
        Ok(())
    }

    fn map(&mut self, call: &MapCall, has_parent: bool, star: bool) -> Result<()> {
        let name = if star { "starmap" } else { "map" };
        self.nested(Segment::Named(name), |c| match &call.items {
            None if !has_parent => Err(Error::PartialWithoutParent {
                path: c.path.text(),
                task: call.task.clone(),
            }),
            None if star => c.known(&call.task),
            None => c.arity(&call.task, 1),
            Some(items) if star => c.argument_lists(&call.task, items),
            Some(items) if items.is_empty() => c.known(&call.task),
            Some(_) => c.arity(&call.task, 1),
        })
    }

    fn chunks(&mut self, call: &ChunksCall) -> Result<()> {
        self.nested(Segment::Named("chunks"), |c| {
            if call.n == 0 {
                return Err(Error::ZeroChunkSize {
                    path: c.path.text(),
                    task: call.task.clone(),
                });
            }
            c.argument_lists(&call.task, &call.items)
        })
    }

    /// Each item is an argument list the task accepts.
    fn argument_lists(&mut self, task: &str, items: &[Value]) -> Result<()> {
        self.known(task)?;
        for (i, item) in items.iter().enumerate() {
            self.nested(Segment::Item(i), |c| match item {
                Value::Array(args) => c.arity(task, args.len()),
                other => Err(Error::InvalidCanvasJson {
                    path: c.path.text(),
                    expected: format!("an argument list (array) for `{task}`"),
                    seen: other.to_string(),
                }),
            })?;
        }
        Ok(())
    }

    /// An error callback: a task signature receiving the failure unless immutable.
    fn errback(&mut self, errback: &Canvas) -> Result<()> {
        match &errback.kind {
            CanvasKind::Task(call) if errback.link.is_empty() && errback.link_error.is_empty() => {
                let receives = call.mode != ArgsMode::Immutable;
                self.arity(&call.task, call.args.len() + usize::from(receives))
            }
            _ => Err(Error::InvalidErrback {
                path: self.path.text(),
                seen: errback.to_json().to_string(),
            }),
        }
    }

    fn known(&self, task: &str) -> Result<()> {
        self.registry
            .arity(task)
            .map(drop)
            .ok_or_else(|| self.unknown(task))
    }

    fn arity(&self, task: &str, count: usize) -> Result<()> {
        let arity = self
            .registry
            .arity(task)
            .ok_or_else(|| self.unknown(task))?;
        if arity.accepts(count) {
            return Ok(());
        }
        Err(Error::WrongArity {
            path: self.path.text(),
            task: task.to_string(),
            expected: arity.to_string(),
            seen: count,
        })
    }

    fn unknown(&self, task: &str) -> Error {
        Error::UnknownTask {
            path: self.path.text(),
            task: task.to_string(),
        }
    }

    fn nested<T>(&mut self, segment: Segment, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.path.push(segment);
        let result = f(self);
        self.path.pop();
        result
    }
}

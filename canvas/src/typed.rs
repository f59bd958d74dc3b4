//! Typed canvases: a task reference knows its input and output types, so a chain link whose
//! input differs from its parent's output does not compile.
//!
//! Three shapes of typed canvas exist, told apart by what they need from a parent:
//! [`Signature<Out>`] needs nothing (Celery's `s` with all arguments bound, or anything built
//! from such); [`Partial<In, Out>`] needs an `In` as its first argument; [`Immutable<Out>`]
//! (Celery's `si`) needs nothing and ignores a parent if it has one. What can follow a step
//! producing `T` is whatever implements [`Then<T>`]: a `Partial<T, _>` or an `Immutable<_>`.
//!
//! Every typed canvas converts to the untyped [`Canvas`]; encoding errors (a value serde
//! cannot turn into JSON) are kept and reported when the canvas is converted or compiled.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use celeriac_schemas::StepOptions;
use serde_json::Value;
use uuid::Uuid;

use crate::args::{SingleArg, TaskArgs};
use crate::canvas::{ArgsMode, Canvas};
use crate::check::Arity;
use crate::dag::Dag;
use crate::error::{Error, Result};
use crate::failure::TaskFailure;

/// A typed handle on a registered task: its name, its input type `In` (positional arguments
/// through [`TaskArgs`]) and its output type `Out`.
///
/// ```
/// use celeriac_canvas::{chain, TaskRef};
/// let add: TaskRef<(i64, i64), i64> = TaskRef::new("add");
/// let mul: TaskRef<(i64, i64), i64> = TaskRef::new("mul");
/// let wf = chain(add.s((2, 2)), mul.partial(8)); // (2 + 2) * 8
/// assert!(wf.compile(uuid::Uuid::nil()).is_ok());
/// ```
pub struct TaskRef<In, Out> {
    name: Arc<str>,
    _types: PhantomData<fn(In) -> Out>,
}

impl<In, Out> TaskRef<In, Out> {
    /// A handle on the task registered under `name`.
    pub fn new(name: impl Into<String>) -> Self {
        TaskRef {
            name: Arc::from(name.into()),
            _types: PhantomData,
        }
    }

    /// The registered task name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<In: TaskArgs, Out> TaskRef<In, Out> {
    /// How many positional arguments the task takes: its input type's [`TaskArgs::ACCEPTS`].
    pub fn arity(&self) -> Arity {
        In::ACCEPTS
    }

    /// A signature with all arguments bound (Celery's `s`).
    pub fn s(&self, args: In) -> Signature<Out> {
        Signature::wrap(self.call(args.to_args(), ArgsMode::Mutable))
    }

    /// An immutable signature (Celery's `si`): all arguments bound, a parent's result ignored.
    pub fn si(&self, args: In) -> Immutable<Out> {
        Immutable::wrap(self.call(args.to_args(), ArgsMode::Immutable))
    }

    /// A partial signature: every argument but the first, which the parent's result fills.
    pub fn partial(&self, rest: In::Rest) -> Partial<In::First, Out> {
        Partial::wrap(self.call(In::rest_to_args(&rest), ArgsMode::Partial))
    }

    /// `task(*item)` for each item, in one worker (Celery's `starmap`).
    pub fn starmap(&self, items: impl IntoIterator<Item = In>) -> Signature<Vec<Out>> {
        let items = self.arg_lists(items);
        Signature::wrap(items.map(|items| Canvas::starmap(self.name(), Some(items))))
    }

    /// Items in chunks of `n`, each chunk one starmap step; the result is a list of lists.
    pub fn chunks(
        &self,
        items: impl IntoIterator<Item = In>,
        n: usize,
    ) -> Signature<Vec<Vec<Out>>> {
        let items = self.arg_lists(items);
        Signature::wrap(items.map(|items| Canvas::chunks(self.name(), items, n)))
    }

    fn call(&self, args: Result<Vec<Value>>, mode: ArgsMode) -> Result<Canvas> {
        let args = args.map_err(|e| self.named(e))?;
        Ok(Canvas::call(self.name(), args, mode))
    }

    fn arg_lists(&self, items: impl IntoIterator<Item = In>) -> Result<Vec<Value>> {
        let lists = items
            .into_iter()
            .map(|item| item.to_args().map(Value::Array));
        lists.collect::<Result<_>>().map_err(|e| self.named(e))
    }

    /// Puts this task's name into an encoding error.
    fn named(&self, error: Error) -> Error {
        match error {
            Error::Encode { message, .. } => Error::Encode {
                task: self.name().to_string(),
                message,
            },
            other => other,
        }
    }
}

impl<In: SingleArg, Out> TaskRef<In, Out> {
    /// `task(item)` for each item, in one worker (Celery's `map`).
    pub fn map(&self, items: impl IntoIterator<Item = In::First>) -> Signature<Vec<Out>> {
        let items: Result<Vec<Value>> = items.into_iter().map(|i| In::first_to_value(&i)).collect();
        let items = items.map_err(|e| self.named(e));
        Signature::wrap(items.map(|items| Canvas::map(self.name(), Some(items))))
    }

    /// A map over the list its parent produces.
    pub fn map_partial(&self) -> Partial<Vec<In::First>, Vec<Out>> {
        Partial::wrap(Ok(Canvas::map(self.name(), None)))
    }
}

impl<In, Out> Clone for TaskRef<In, Out> {
    fn clone(&self) -> Self {
        TaskRef {
            name: self.name.clone(),
            _types: PhantomData,
        }
    }
}

impl<In, Out> fmt::Debug for TaskRef<In, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TaskRef").field(&self.name).finish()
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A typed canvas: what it produces, and how to rebuild it with another output type.
///
/// Implemented by [`Signature`], [`Partial`] and [`Immutable`] only.
pub trait TypedCanvas: Sized + sealed::Sealed {
    /// The type of the canvas's result.
    type Out;
    /// The same shape of canvas (same needs from a parent) with output `O`.
    type WithOut<O>: TypedCanvas<Out = O>;

    /// The untyped canvas, or the first encoding error met while building it.
    fn into_canvas(self) -> Result<Canvas>;

    /// Rebuilds the shape around an untyped canvas.
    #[doc(hidden)]
    fn rewrap<O>(canvas: Result<Canvas>) -> Self::WithOut<O>;
}

/// Marks what can follow a step producing `In`: a [`Partial<In, _>`] or an [`Immutable<_>`].
pub trait Then<In>: TypedCanvas {}

/// Defines a typed canvas wrapper and the methods every wrapper shares.
macro_rules! typed_canvas {
    ($(#[$doc:meta])* $name:ident <$($param:ident),+> , out = $out:ident, phantom = $phantom:ty) => {
        $(#[$doc])*
        pub struct $name<$($param),+> {
            canvas: Result<Canvas>,
            _types: PhantomData<$phantom>,
        }

        impl<$($param),+> $name<$($param),+> {
            fn wrap(canvas: Result<Canvas>) -> Self {
                $name { canvas, _types: PhantomData }
            }

            /// The untyped canvas (a copy), or the first encoding error met while building it.
            pub fn to_canvas(&self) -> Result<Canvas> {
                self.canvas.clone()
            }

            /// Compiles the canvas into the DAG of workflow `workflow_id`.
            pub fn compile(&self, workflow_id: Uuid) -> Result<Dag> {
                self.canvas.as_ref().map_err(Clone::clone)?.compile(workflow_id)
            }

            /// Adds a success callback that receives this canvas's result.
            pub fn link(self, callback: impl Then<$out>) -> Self {
                self.combine(callback.into_canvas(), Canvas::with_link)
            }

            /// Adds an error callback to every task step inside; each failing step calls its
            /// own copy once, with the [`TaskFailure`] first (unless the callback is immutable).
            pub fn link_error(self, errback: impl Then<TaskFailure>) -> Self {
                self.combine(errback.into_canvas(), Canvas::with_link_error)
            }

            /// Changes the options every signature inside inherits (its own settings win).
            pub fn options(self, change: impl FnOnce(&mut StepOptions)) -> Self {
                Self::wrap(self.canvas.map(|mut canvas| {
                    change(&mut canvas.options);
                    canvas
                }))
            }

            /// The queue to publish to.
            pub fn queue(self, queue: impl Into<String>) -> Self {
                let queue = queue.into();
                self.options(|o| o.queue = Some(queue))
            }

            /// The priority, 0 (lowest) to 9 (highest).
            pub fn priority(self, priority: u8) -> Self {
                self.options(|o| o.priority = Some(i32::from(priority)))
            }

            /// Waits this long after the step becomes ready.
            pub fn countdown(self, delay: Duration) -> Self {
                self.options(|o| o.countdown_ms = Some(millis(delay)))
            }

            /// Runs no earlier than this time.
            pub fn eta(self, at: SystemTime) -> Self {
                self.options(|o| o.eta = Some(epoch_millis(at)))
            }

            /// Is revoked rather than run after this time.
            pub fn expires(self, at: SystemTime) -> Self {
                self.options(|o| o.expires = Some(epoch_millis(at)))
            }

            /// The soft time limit: the task sees its deadline pass.
            pub fn soft_time_limit(self, limit: Duration) -> Self {
                self.options(|o| o.soft_time_limit_ms = Some(millis(limit)))
            }

            /// The hard time limit: the attempt fails when it passes.
            pub fn time_limit(self, limit: Duration) -> Self {
                self.options(|o| o.time_limit_ms = Some(millis(limit)))
            }

            /// The retry budget, instead of the task's default.
            pub fn max_retries(self, retries: u32) -> Self {
                let retries = i32::try_from(retries).unwrap_or(i32::MAX);
                self.options(|o| o.max_retries = Some(retries))
            }

            /// A header copied into every task message.
            pub fn header(self, name: impl Into<String>, value: impl Into<String>) -> Self {
                let (name, value) = (name.into(), value.into());
                self.options(|o| {
                    o.headers.insert(name, value);
                })
            }

            fn combine(self, other: Result<Canvas>, join: fn(Canvas, Canvas) -> Canvas) -> Self {
                Self::wrap(both(self.canvas, other).map(|(a, b)| join(a, b)))
            }
        }

        impl<$($param),+> Clone for $name<$($param),+> {
            fn clone(&self) -> Self {
                Self::wrap(self.canvas.clone())
            }
        }

        impl<$($param),+> fmt::Debug for $name<$($param),+> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.canvas).finish()
            }
        }

        impl<$($param),+> sealed::Sealed for $name<$($param),+> {}
    };
}

typed_canvas!(
    /// A canvas that needs no parent and produces `Out`: a full signature, or a chain, group,
    /// chord, map, starmap or chunks built from such.
    Signature<Out>, out = Out, phantom = fn() -> Out
);

typed_canvas!(
    /// A canvas whose first step takes an `In` from its parent as first argument, and which
    /// produces `Out`.
    Partial<In, Out>, out = Out, phantom = fn(In) -> Out
);

typed_canvas!(
    /// A canvas that needs no parent, ignores one if it has one, and produces `Out`
    /// (Celery's immutable signature `si`, or a chain or group starting with such).
    Immutable<Out>, out = Out, phantom = fn() -> Out
);

impl<Out> TypedCanvas for Signature<Out> {
    type Out = Out;
    type WithOut<O> = Signature<O>;
    fn into_canvas(self) -> Result<Canvas> {
        self.canvas
    }
    fn rewrap<O>(canvas: Result<Canvas>) -> Signature<O> {
        Signature::wrap(canvas)
    }
}

impl<In, Out> TypedCanvas for Partial<In, Out> {
    type Out = Out;
    type WithOut<O> = Partial<In, O>;
    fn into_canvas(self) -> Result<Canvas> {
        self.canvas
    }
    fn rewrap<O>(canvas: Result<Canvas>) -> Partial<In, O> {
        Partial::wrap(canvas)
    }
}

impl<Out> TypedCanvas for Immutable<Out> {
    type Out = Out;
    type WithOut<O> = Immutable<O>;
    fn into_canvas(self) -> Result<Canvas> {
        self.canvas
    }
    fn rewrap<O>(canvas: Result<Canvas>) -> Immutable<O> {
        Immutable::wrap(canvas)
    }
}

impl<In, Out> Then<In> for Partial<In, Out> {}
impl<In, Out> Then<In> for Immutable<Out> {}

/// An immutable canvas can stand anywhere a parentless one can.
impl<Out> From<Immutable<Out>> for Signature<Out> {
    fn from(immutable: Immutable<Out>) -> Self {
        Signature::wrap(immutable.canvas)
    }
}

/// Both results, or the first error.
pub(crate) fn both<A, B>(a: Result<A>, b: Result<B>) -> Result<(A, B)> {
    Ok((a?, b?))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn epoch_millis(at: SystemTime) -> i64 {
    match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => millis(after),
        Err(before) => -millis(before.duration()),
    }
}

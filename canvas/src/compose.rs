//! `chain`, `group` and `chord` over typed canvases, and the `chain!` macro.
//!
//! A wrong link does not compile: an `i64` cannot flow into a task taking `Vec<i64>`.
//!
//! ```compile_fail
//! use celeriac_canvas::{chain, TaskRef};
//! let add: TaskRef<(i64, i64), i64> = TaskRef::new("add");
//! let tsum: TaskRef<Vec<i64>, i64> = TaskRef::new("tsum");
//! let wf = chain(add.s((1, 2)), tsum.partial(())); // i64 into Vec<i64>
//! ```
//!
//! A chord body must take the header's list:
//!
//! ```compile_fail
//! use celeriac_canvas::{chord, TaskRef};
//! let add: TaskRef<(i64, i64), i64> = TaskRef::new("add");
//! let mul: TaskRef<(i64, i64), i64> = TaskRef::new("mul");
//! let wf = chord((0..3).map(|i| add.s((i, i))), mul.partial(2)); // Vec<i64> into i64
//! ```
//!
//! And a full signature (`s`, all arguments bound) cannot follow a step, since it has no
//! place for the parent's result; use `partial` or `si`:
//!
//! ```compile_fail
//! use celeriac_canvas::{chain, TaskRef};
//! let add: TaskRef<(i64, i64), i64> = TaskRef::new("add");
//! let wf = chain(add.s((1, 2)), add.s((3, 4)));
//! ```
//!
//! The same shapes with matching types compile:
//!
//! ```
//! use celeriac_canvas::{chain, chord, TaskRef};
//! let add: TaskRef<(i64, i64), i64> = TaskRef::new("add");
//! let tsum: TaskRef<Vec<i64>, i64> = TaskRef::new("tsum");
//! let wf = chain(add.s((1, 2)), add.partial(3));
//! let wf = chord((0..3).map(|i| add.s((i, i))), tsum.partial(()));
//! let wf = chain(add.s((1, 2)), add.si((3, 4)));
//! ```

use crate::canvas::Canvas;
use crate::error::Result;
use crate::typed::{both, Then, TypedCanvas};

/// `first`, then `next` with `first`'s result as its first argument (or, for an immutable
/// `next`, after `first` without it). The result is `next`'s.
///
/// A chain keeps the shape of its first step: a chain starting with a partial is partial.
/// A group followed by a partial is a chord.
pub fn chain<A, N>(first: A, next: N) -> A::WithOut<N::Out>
where
    A: TypedCanvas,
    N: Then<A::Out>,
{
    let steps = both(first.into_canvas(), next.into_canvas());
    A::rewrap(steps.map(|(a, b)| Canvas::chain([a, b])))
}

/// A group: the members run in parallel; the result is the list of their results in member
/// order. An empty group is legal; its result is the empty list.
///
/// Members share a shape: a group of partials is itself partial (each member receives the
/// parent's result), a group of full signatures needs no parent.
pub fn group<M: TypedCanvas>(members: impl IntoIterator<Item = M>) -> M::WithOut<Vec<M::Out>> {
    let members: Result<Vec<Canvas>> = members.into_iter().map(M::into_canvas).collect();
    M::rewrap(members.map(Canvas::group))
}

/// A chord: the header runs as a group; the body receives the header's results, in header
/// order, as its first argument.
///
/// ```
/// use celeriac_canvas::{chord, TaskRef};
/// let add: TaskRef<(i64, i64), i64> = TaskRef::new("add");
/// let tsum: TaskRef<Vec<i64>, i64> = TaskRef::new("tsum");
/// let wf = chord((0..100).map(|i| add.s((i, i))), tsum.partial(()));
/// assert_eq!(wf.compile(uuid::Uuid::nil()).unwrap().len(), 101);
/// ```
pub fn chord<M, B>(header: impl IntoIterator<Item = M>, body: B) -> M::WithOut<B::Out>
where
    M: TypedCanvas,
    B: Then<Vec<M::Out>>,
{
    let header: Result<Vec<Canvas>> = header.into_iter().map(M::into_canvas).collect();
    M::rewrap(both(header, body.into_canvas()).map(|(h, b)| Canvas::chord(h, b)))
}

/// Chains any number of steps: `chain!(a, b, c)` is `chain(chain(a, b), c)`.
///
/// ```
/// use celeriac_canvas::{chain, TaskRef};
/// let add: TaskRef<(i64, i64), i64> = TaskRef::new("add");
/// let wf = chain!(add.s((1, 1)), add.partial(2), add.partial(3));
/// assert_eq!(wf.compile(uuid::Uuid::nil()).unwrap().len(), 3);
/// ```
#[macro_export]
macro_rules! chain {
    ($first:expr $(,)?) => { $first };
    ($first:expr, $second:expr $(, $rest:expr)* $(,)?) => {
        $crate::chain!($crate::chain($first, $second) $(, $rest)*)
    };
}

impl<S: TypedCanvas> ThenExt for S {}

/// `then`: method syntax for [`chain()`], available on every typed canvas.
pub trait ThenExt: TypedCanvas {
    /// This canvas, then `next` (see [`chain()`]).
    fn then<N: Then<Self::Out>>(self, next: N) -> Self::WithOut<N::Out> {
        chain(self, next)
    }
}

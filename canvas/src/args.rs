//! How a Rust task's input type maps to positional arguments on the wire (a JSON array).
//!
//! Tuples `(A,)` to `(A, B, C, D, E, F, G, H)` map element-wise: `(2, 3)` travels as `[2,3]`.
//! The unit type `()` is the empty argument list `[]`. Every other supported type — primitives,
//! `String`, `Vec<T>`, `Option<T>`, sets, maps, `serde_json::Value` — is one positional
//! argument; [`task_args!`](crate::task_args) makes a user's own type one argument too.
//!
//! The same trait splits an input into the `First` argument (the one a parent's result fills
//! in a chain) and the `Rest` a partial signature binds up front.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::check::Arity;
use crate::error::{Error, Result};

/// A task's input type seen as positional arguments.
///
/// Implemented for tuples (element-wise), for `()` (no arguments) and for common single-value
/// types (one argument). Use [`task_args!`](crate::task_args) for your own types.
pub trait TaskArgs: Sized {
    /// The first positional argument: what a parent's result fills in a partial signature.
    type First;
    /// The remaining arguments a partial signature binds: `B` for `(A, B)`, `(B, C)` for
    /// `(A, B, C)`, `()` for a single argument.
    type Rest;
    /// How many positional arguments the type takes.
    const ARITY: usize;
    /// The argument counts the type accepts: exactly [`Self::ARITY`] unless the type is
    /// variadic, like [`VarArgs`].
    const ACCEPTS: Arity = Arity::exactly(Self::ARITY);

    /// Encodes the value as positional arguments.
    fn to_args(&self) -> Result<Vec<Value>>;
    /// Decodes positional arguments; the count must be one [`Self::ACCEPTS`] allows.
    fn from_args(args: Vec<Value>) -> Result<Self>;
    /// Encodes the arguments a partial signature binds (everything after the first).
    fn rest_to_args(rest: &Self::Rest) -> Result<Vec<Value>>;
    /// Encodes a first argument on its own (a `map` item).
    fn first_to_value(first: &Self::First) -> Result<Value>;

    /// The JSON Schema of each positional argument, in order, when every one can be traced
    /// (see [`schema_of`](crate::schema_of)); `None` when any cannot or the count varies.
    fn arg_schemas() -> Option<Vec<Value>> {
        None
    }
}

/// Marker for input types that are exactly one positional argument: what `map` needs.
pub trait SingleArg: TaskArgs {}

/// The `First` of a task that takes no arguments: uninhabited, so no parent's result can
/// ever fill it and such a task cannot be made partial in a way that type-checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoFirstArg {}

impl Serialize for NoFirstArg {
    fn serialize<S: Serializer>(&self, _serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match *self {}
    }
}

/// Encodes one value as a JSON argument.
#[doc(hidden)]
pub fn encode_arg<T: Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| Error::Encode {
        task: String::new(),
        message: e.to_string(),
    })
}

/// Decodes one JSON argument into a value.
#[doc(hidden)]
pub fn decode_arg<T: DeserializeOwned>(value: Value) -> Result<T> {
    let seen = short(&value);
    serde_json::from_value(value).map_err(|e| Error::DecodeArgs {
        expected: format!("{} ({e})", std::any::type_name::<T>()),
        seen,
    })
}

/// Checks an argument count against an arity.
#[doc(hidden)]
pub fn expect_count(args: &[Value], arity: usize) -> Result<()> {
    if args.len() == arity {
        return Ok(());
    }
    Err(Error::DecodeArgs {
        expected: format!("{arity} positional argument(s)"),
        seen: format!("{} ({})", args.len(), short(&Value::Array(args.to_vec()))),
    })
}

/// A value's JSON text, cut to a readable length for error messages.
fn short(value: &Value) -> String {
    let mut text = value.to_string();
    if text.len() > 80 {
        let mut cut = 77;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

/// Makes each listed type one positional argument: implements [`TaskArgs`] and [`SingleArg`].
///
/// The type must implement `Serialize` and `DeserializeOwned`.
///
/// ```
/// use celeriac_canvas::{task_args, TaskArgs};
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Order { id: u64 }
/// task_args!(Order);
/// assert_eq!(Order { id: 7 }.to_args().unwrap(), vec![serde_json::json!({"id": 7})]);
/// ```
#[macro_export]
macro_rules! task_args {
    ($($ty:ty),+ $(,)?) => {$(
        impl $crate::TaskArgs for $ty {
            type First = $ty;
            type Rest = ();
            const ARITY: usize = 1;
            fn to_args(&self) -> $crate::Result<::std::vec::Vec<$crate::__private::Value>> {
                ::std::result::Result::Ok(::std::vec![$crate::__private::encode_arg(self)?])
            }
            fn from_args(args: ::std::vec::Vec<$crate::__private::Value>) -> $crate::Result<Self> {
                $crate::__private::expect_count(&args, 1)?;
                let mut args = args;
                $crate::__private::decode_arg(args.remove(0))
            }
            fn rest_to_args(_rest: &()) -> $crate::Result<::std::vec::Vec<$crate::__private::Value>> {
                ::std::result::Result::Ok(::std::vec::Vec::new())
            }
            fn first_to_value(first: &$ty) -> $crate::Result<$crate::__private::Value> {
                $crate::__private::encode_arg(first)
            }
            fn arg_schemas() -> ::std::option::Option<::std::vec::Vec<$crate::__private::Value>> {
                ::std::option::Option::Some(::std::vec![$crate::schema_of::<$ty>()?])
            }
        }
        impl $crate::SingleArg for $ty {}
    )+};
}

task_args!(bool, char, String, Value);
task_args!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64);

/// Implements the one-argument form for a generic container.
macro_rules! single_arg_generic {
    ($( [$($param:ident),+] $ty:ty ;)+) => {$(
        impl<$($param),+> TaskArgs for $ty
        where
            $ty: Serialize + DeserializeOwned,
        {
            type First = $ty;
            type Rest = ();
            const ARITY: usize = 1;
            fn to_args(&self) -> Result<Vec<Value>> {
                Ok(vec![encode_arg(self)?])
            }
            fn from_args(mut args: Vec<Value>) -> Result<Self> {
                expect_count(&args, 1)?;
                decode_arg(args.remove(0))
            }
            fn rest_to_args(_rest: &()) -> Result<Vec<Value>> {
                Ok(Vec::new())
            }
            fn first_to_value(first: &Self) -> Result<Value> {
                encode_arg(first)
            }
            fn arg_schemas() -> Option<Vec<Value>> {
                Some(vec![crate::schema_of::<Self>()?])
            }
        }
        impl<$($param),+> SingleArg for $ty where $ty: Serialize + DeserializeOwned {}
    )+};
}

single_arg_generic! {
    [T] Vec<T>;
    [T] VecDeque<T>;
    [T] Option<T>;
    [T] BTreeSet<T>;
    [T, S] HashSet<T, S>;
    [K, V] BTreeMap<K, V>;
    [K, V, S] HashMap<K, V, S>;
}

impl TaskArgs for () {
    type First = NoFirstArg;
    type Rest = ();
    const ARITY: usize = 0;
    fn to_args(&self) -> Result<Vec<Value>> {
        Ok(Vec::new())
    }
    fn from_args(args: Vec<Value>) -> Result<Self> {
        expect_count(&args, 0)
    }
    fn rest_to_args(_rest: &()) -> Result<Vec<Value>> {
        Ok(Vec::new())
    }
    fn first_to_value(first: &NoFirstArg) -> Result<Value> {
        match *first {}
    }
    fn arg_schemas() -> Option<Vec<Value>> {
        Some(Vec::new())
    }
}

/// Any number of positional arguments, as JSON values: Celery's `*args`.
///
/// A task taking `VarArgs` accepts every argument count; a partial binds the arguments after
/// the first, and a parent's result becomes the first.
///
/// ```
/// use celeriac_canvas::{TaskArgs, VarArgs};
/// use serde_json::json;
/// let args = VarArgs::from_args(vec![json!(1), json!("two")]).unwrap();
/// assert_eq!(args.0.len(), 2);
/// assert!(VarArgs::ACCEPTS.accepts(0) && VarArgs::ACCEPTS.accepts(7));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VarArgs(pub Vec<Value>);

impl TaskArgs for VarArgs {
    type First = Value;
    type Rest = Vec<Value>;
    const ARITY: usize = 0;
    const ACCEPTS: Arity = Arity::UNKNOWN;
    fn to_args(&self) -> Result<Vec<Value>> {
        Ok(self.0.clone())
    }
    fn from_args(args: Vec<Value>) -> Result<Self> {
        Ok(VarArgs(args))
    }
    fn rest_to_args(rest: &Vec<Value>) -> Result<Vec<Value>> {
        Ok(rest.clone())
    }
    fn first_to_value(first: &Value) -> Result<Value> {
        Ok(first.clone())
    }
}

impl<A: Serialize + DeserializeOwned> TaskArgs for (A,) {
    type First = A;
    type Rest = ();
    const ARITY: usize = 1;
    fn to_args(&self) -> Result<Vec<Value>> {
        Ok(vec![encode_arg(&self.0)?])
    }
    fn from_args(mut args: Vec<Value>) -> Result<Self> {
        expect_count(&args, 1)?;
        Ok((decode_arg(args.remove(0))?,))
    }
    fn rest_to_args(_rest: &()) -> Result<Vec<Value>> {
        Ok(Vec::new())
    }
    fn first_to_value(first: &A) -> Result<Value> {
        encode_arg(first)
    }
    fn arg_schemas() -> Option<Vec<Value>> {
        Some(vec![crate::schema_of::<A>()?])
    }
}

impl<A: Serialize + DeserializeOwned> SingleArg for (A,) {}

impl<A, B> TaskArgs for (A, B)
where
    A: Serialize + DeserializeOwned,
    B: Serialize + DeserializeOwned,
{
    type First = A;
    type Rest = B;
    const ARITY: usize = 2;
    fn to_args(&self) -> Result<Vec<Value>> {
        Ok(vec![encode_arg(&self.0)?, encode_arg(&self.1)?])
    }
    fn from_args(args: Vec<Value>) -> Result<Self> {
        expect_count(&args, 2)?;
        let mut args = args.into_iter();
        Ok((next_arg(&mut args)?, next_arg(&mut args)?))
    }
    fn rest_to_args(rest: &B) -> Result<Vec<Value>> {
        Ok(vec![encode_arg(rest)?])
    }
    fn first_to_value(first: &A) -> Result<Value> {
        encode_arg(first)
    }
    fn arg_schemas() -> Option<Vec<Value>> {
        Some(vec![crate::schema_of::<A>()?, crate::schema_of::<B>()?])
    }
}

/// Decodes the next argument of an iterator whose length was already checked.
fn next_arg<T: DeserializeOwned>(args: &mut impl Iterator<Item = Value>) -> Result<T> {
    decode_arg(args.next().unwrap_or(Value::Null))
}

/// Implements [`TaskArgs`] for a tuple of three or more elements: `Rest` is the tail tuple.
macro_rules! tuple_args {
    ($arity:literal; $first:ident $(, $rest:ident)+) => {
        #[allow(non_snake_case)]
        impl<$first, $($rest),+> TaskArgs for ($first, $($rest),+)
        where
            $first: Serialize + DeserializeOwned,
            $($rest: Serialize + DeserializeOwned),+
        {
            type First = $first;
            type Rest = ($($rest,)+);
            const ARITY: usize = $arity;
            fn to_args(&self) -> Result<Vec<Value>> {
                let ($first, $($rest),+) = self;
                Ok(vec![encode_arg($first)?, $(encode_arg($rest)?),+])
            }
            fn from_args(args: Vec<Value>) -> Result<Self> {
                expect_count(&args, $arity)?;
                let mut args = args.into_iter();
                Ok((next_arg(&mut args)?, $(next_arg::<$rest>(&mut args)?),+))
            }
            fn rest_to_args(rest: &Self::Rest) -> Result<Vec<Value>> {
                let ($($rest,)+) = rest;
                Ok(vec![$(encode_arg($rest)?),+])
            }
            fn first_to_value(first: &$first) -> Result<Value> {
                encode_arg(first)
            }
            fn arg_schemas() -> Option<Vec<Value>> {
                Some(vec![crate::schema_of::<$first>()?, $(crate::schema_of::<$rest>()?),+])
            }
        }
    };
}

tuple_args!(3; A, B, C);
tuple_args!(4; A, B, C, D);
tuple_args!(5; A, B, C, D, E);
tuple_args!(6; A, B, C, D, E, F);
tuple_args!(7; A, B, C, D, E, F, G);
tuple_args!(8; A, B, C, D, E, F, G, H);

/// The items of a MAP or STARMAP step: its single argument, which must be a list.
///
/// The error is the message the failed step reports (the engine and the reference evaluator
/// say the same thing).
///
/// ```
/// use celeriac_canvas::map_items;
/// use serde_json::json;
/// assert_eq!(map_items(vec![json!([1, 2])]), Ok(vec![json!(1), json!(2)]));
/// assert_eq!(map_items(vec![json!(0)]).unwrap_err(), "expected a list of items, saw 0");
/// ```
pub fn map_items(args: Vec<Value>) -> std::result::Result<Vec<Value>, String> {
    match <[Value; 1]>::try_from(args) {
        Ok([Value::Array(items)]) => Ok(items),
        Ok([other]) => Err(format!("expected a list of items, saw {other}")),
        Err(args) => Err(format!(
            "expected one argument (the items), saw {}",
            args.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tuples_map_element_wise_and_round_trip() {
        let args = (2i64, "x".to_string(), vec![1u8]).to_args().unwrap();
        assert_eq!(args, vec![json!(2), json!("x"), json!([1])]);
        let back = <(i64, String, Vec<u8>)>::from_args(args).unwrap();
        assert_eq!(back, (2, "x".to_string(), vec![1]));
    }

    #[test]
    fn single_values_are_one_argument() {
        assert_eq!(vec![1i64, 2].to_args().unwrap(), vec![json!([1, 2])]);
        assert_eq!(Some(3u8).to_args().unwrap(), vec![json!(3)]);
        assert_eq!(().to_args().unwrap(), Vec::<Value>::new());
        assert_eq!(<Vec<i64> as TaskArgs>::ARITY, 1);
    }

    #[test]
    fn rest_of_a_pair_is_one_argument_even_when_it_is_a_tuple() {
        let rest = <(i64, (u8, u8)) as TaskArgs>::rest_to_args(&(1, 2)).unwrap();
        assert_eq!(rest, vec![json!([1, 2])]);
        let rest = <(i64, u8, u8) as TaskArgs>::rest_to_args(&(1, 2)).unwrap();
        assert_eq!(rest, vec![json!(1), json!(2)]);
    }

    #[test]
    fn wrong_count_says_expected_and_seen() {
        let err = <(i64, i64)>::from_args(vec![json!(1)]).unwrap_err();
        assert!(
            err.to_string()
                .contains("expected 2 positional argument(s), saw 1"),
            "{err}"
        );
        let err = <(i64, i64)>::from_args(vec![json!(1), json!("a")]).unwrap_err();
        assert!(err.to_string().contains("\"a\""), "{err}");
    }
}

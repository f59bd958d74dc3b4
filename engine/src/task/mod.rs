//! Tasks: options, errors, the running context, and the type-erased handler a worker calls.

mod context;
mod error;
mod handle;
mod options;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use celeriac_canvas::TaskArgs;
use celeriac_schemas::ContentType;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub(crate) use context::Attempt;
pub use context::{Ctx, DeliveryInfo, Request};
pub use error::{RetryRequest, TaskError};
pub use handle::{ApplyAsync, Task};
pub use options::TaskOptions;

/// A boxed future a task handler returns: the encoded result or the error.
pub(crate) type HandlerFuture = Pin<Box<dyn Future<Output = Result<Vec<u8>, TaskError>> + Send>>;

/// A task function with its argument decoding and result encoding erased.
pub(crate) type Handler = Arc<dyn Fn(Ctx, ContentType, &[u8]) -> HandlerFuture + Send + Sync>;

/// A task function with its synchronous (blocking) body erased.
pub(crate) type BlockingHandler =
    Arc<dyn Fn(Ctx, ContentType, &[u8]) -> Result<Vec<u8>, TaskError> + Send + Sync>;

/// How a registered task is called.
#[derive(Clone)]
pub(crate) enum TaskBody {
    /// An async function, run on the tokio runtime.
    Async(Handler),
    /// A blocking function, run on the blocking pool.
    Blocking(BlockingHandler),
}

/// Decodes positional arguments into the task's input type.
pub(crate) fn decode_input<In: TaskArgs>(
    content_type: ContentType,
    bytes: &[u8],
) -> Result<In, TaskError> {
    let args: Option<Vec<Value>> = match content_type {
        ContentType::Json => serde_json::from_slice(bytes).map_err(|e| bad_args(&e))?,
        ContentType::MsgPack => rmp_serde::from_slice(bytes).map_err(|e| bad_args(&e))?,
        ContentType::Avro => {
            return Err(TaskError::new(
                "UnsupportedContentType",
                "typed tasks take application/json or application/x-msgpack arguments",
            ))
        }
    };
    // `null` (what a producer sends for "no arguments") is the empty argument list.
    In::from_args(args.unwrap_or_default())
        .map_err(|e| TaskError::new("ArgumentError", e.to_string()))
}

/// Encodes a task's return value.
pub(crate) fn encode_output<Out: Serialize>(
    content_type: ContentType,
    value: &Out,
) -> Result<Vec<u8>, TaskError> {
    let content_type = if content_type == ContentType::Avro {
        ContentType::Json
    } else {
        content_type
    };
    content_type.encode(value).map_err(|e| {
        TaskError::new(
            "EncodeError",
            format!("the return value could not be encoded: {e}"),
        )
    })
}

/// Decodes a recorded result into the caller's type.
pub(crate) fn decode_output<Out: DeserializeOwned>(
    content_type: &str,
    bytes: &[u8],
) -> Result<Out, String> {
    let content_type = ContentType::parse(content_type).map_err(|e| e.to_string())?;
    content_type.decode(bytes).map_err(|e| e.to_string())
}

fn bad_args(error: &dyn std::fmt::Display) -> TaskError {
    TaskError::new(
        "ArgumentError",
        format!("the arguments are not an array of positional values: {error}"),
    )
}

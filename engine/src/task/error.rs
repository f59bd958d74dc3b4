//! What a task function returns when it does not succeed: a failure, or a request to retry.

use std::fmt;
use std::time::Duration;

/// A task's failure (type, message, traceback text), or its request to be retried.
///
/// Any `std::error::Error` converts into it with `?`; the error's type name becomes
/// [`kind`](Self::kind), which [`autoretry_for`](crate::TaskOptions::autoretry_for) matches.
///
/// ```
/// use celeriac_engine::TaskError;
/// fn parse(text: &str) -> Result<i64, TaskError> {
///     Ok(text.parse::<i64>()?) // a ParseIntError becomes a TaskError of kind "ParseIntError"
/// }
/// assert_eq!(parse("x").unwrap_err().kind(), "ParseIntError");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TaskError {
    kind: String,
    message: String,
    traceback: Option<String>,
    retry: Option<RetryRequest>,
}

/// A task's request to run again later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryRequest {
    /// Run again after this delay; `None` uses the task's backoff policy.
    pub countdown: Option<Duration>,
}

impl TaskError {
    /// A failure of kind `kind` with `message`.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
            traceback: None,
            retry: None,
        }
    }

    /// A failure of kind `"Error"` with `message`.
    pub fn msg(message: impl Into<String>) -> Self {
        Self::new("Error", message)
    }

    /// A request to retry after `countdown` (Celery's `self.retry(countdown=…)`).
    pub fn retry_in(countdown: Duration) -> Self {
        Self {
            retry: Some(RetryRequest {
                countdown: Some(countdown),
            }),
            ..Self::new("Retry", "retry requested")
        }
    }

    /// A request to retry after the task's backoff delay (Celery's `self.retry()`).
    pub fn retry() -> Self {
        Self {
            retry: Some(RetryRequest { countdown: None }),
            ..Self::new("Retry", "retry requested")
        }
    }

    /// Attaches traceback text.
    pub fn with_traceback(mut self, traceback: impl Into<String>) -> Self {
        self.traceback = Some(traceback.into());
        self
    }

    /// Adds a reason to a retry request (kept as the message if retries run out).
    pub fn because(mut self, reason: impl Into<String>) -> Self {
        self.message = reason.into();
        self
    }

    /// The error's kind (its type name for converted errors).
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The traceback text, if any.
    pub fn traceback(&self) -> Option<&str> {
        self.traceback.as_deref()
    }

    /// The retry request, if this is one.
    pub fn retry_request(&self) -> Option<RetryRequest> {
        self.retry
    }

    /// The error as the schema's record.
    pub fn to_record(&self) -> celeriac_schemas::TaskError {
        celeriac_schemas::TaskError {
            type_name: self.kind.clone(),
            message: self.message.clone(),
            traceback: self.traceback.clone(),
        }
    }

    /// The error from the schema's record.
    pub fn from_record(record: &celeriac_schemas::TaskError) -> Self {
        Self {
            kind: record.type_name.clone(),
            message: record.message.clone(),
            traceback: record.traceback.clone(),
            retry: None,
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("TaskError");
        debug
            .field("kind", &self.kind)
            .field("message", &self.message);
        if let Some(retry) = &self.retry {
            debug.field("retry", retry);
        }
        debug.finish()
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for TaskError {
    fn from(error: E) -> Self {
        let full = std::any::type_name::<E>();
        let kind = full.rsplit("::").next().unwrap_or(full);
        let mut chain = Vec::new();
        let mut source = error.source();
        while let Some(cause) = source {
            chain.push(format!("caused by: {cause}"));
            source = cause.source();
        }
        let error = Self::new(kind, error.to_string());
        if chain.is_empty() {
            error
        } else {
            error.with_traceback(chain.join("\n"))
        }
    }
}

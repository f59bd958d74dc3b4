//! The one error type of beat, and what a caller can do about each case.

/// `Result` with beat's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in beat: a schedule or configuration that cannot work (fix the input), or
/// the log failing underneath (see [`Error::is_retriable`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A crontab expression does not parse, or can never fire.
    #[error("invalid crontab expression {expression:?}: {reason}")]
    Crontab {
        /// The expression as written.
        expression: String,
        /// What is wrong, naming the field.
        reason: String,
    },
    /// A schedule entry is invalid: its schedule, task, queue or options.
    #[error("beat entry {entry:?}: {reason}")]
    Entry {
        /// The entry's name.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The `[beat]` configuration is invalid outside any one entry.
    #[error("beat configuration: {0}")]
    Config(String),
    /// The log failed.
    #[error("beat: the log failed: {0}")]
    Log(#[from] celeriac_topics::Error),
    /// A record could not be encoded.
    #[error("beat: encoding a record: {0}")]
    Schema(#[from] celeriac_schemas::Error),
}

impl Error {
    /// True when the same operation may succeed if tried again later (a log hiccup), false for
    /// an input that will never work.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Log(e) => e.is_retriable(),
            _ => false,
        }
    }

    /// Wraps any error as the error of entry `entry`, keeping its message.
    pub(crate) fn in_entry(self, entry: &str) -> Error {
        match self {
            Error::Entry { .. } => self,
            Error::Config(reason) => Error::Entry {
                entry: entry.to_owned(),
                reason,
            },
            other => Error::Entry {
                entry: entry.to_owned(),
                reason: other.to_string(),
            },
        }
    }
}

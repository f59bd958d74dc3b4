//! The bodies of workers' answers to control commands, as typed structs.
//!
//! A [`ControlReply`]'s `body` is a JSON document; which shape depends on what was asked:
//!
//! | asked | body |
//! |---|---|
//! | `ping` | [`Pong`] |
//! | `inspect active` | `Vec<`[`ActiveEntry`]`>` |
//! | `inspect scheduled` | `Vec<`[`ScheduledEntry`]`>` |
//! | `inspect reserved` | `Vec<`[`ReservedEntry`]`>` |
//! | `inspect registered` | `Vec<String>` (task names) |
//! | `inspect stats` | [`WorkerStats`] |
//!
//! A worker that cannot answer sends `{"error": "…"}`; [`decode_body`] turns that into
//! [`Error::BadReply`](crate::Error::BadReply).

use celeriac_schemas::ControlReply;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, Result};

/// The answer to a ping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pong {
    /// Always `"pong"`.
    pub ok: String,
}

/// A task whose body is running on the worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveEntry {
    /// The task id.
    pub id: Uuid,
    /// The task name.
    pub task: String,
    /// When its body started (milliseconds since the Unix epoch).
    pub started_at: i64,
}

/// A task waiting for its ETA (a countdown, an ETA, or a retry's backoff).
///
/// A worker does not hold such messages: it forwards them to the durable timers topic, where
/// the coordinator that owns the partition keeps them until due. A worker that runs a
/// coordinator answers with the timers of the partitions its coordinator holds, so the same
/// task can be named by more than one worker after a rebalance; [`Control::inspect`]
/// (crate::inspect::Control::inspect) callers should deduplicate by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledEntry {
    /// The task id.
    pub id: Uuid,
    /// The task name.
    pub task: String,
    /// When it is due (milliseconds since the Unix epoch).
    pub eta: i64,
    /// The queue it goes to when due.
    pub queue: String,
    /// The attempt's retry count (0 for a first attempt with a countdown).
    pub retries: i32,
}

/// A message the worker took from its queue but has not started yet: waiting for a free
/// concurrency slot or for its rate limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservedEntry {
    /// The task id.
    pub id: Uuid,
    /// The task name.
    pub task: String,
    /// When the worker took it (milliseconds since the Unix epoch).
    pub received_at: i64,
    /// The queue it came from.
    pub queue: String,
}

/// A worker's counters and settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStats {
    /// The worker's name.
    pub hostname: String,
    /// Its operating-system process id.
    pub pid: u32,
    /// Tasks finished (in any state) since it started.
    pub processed: i64,
    /// Tasks running now.
    pub active: usize,
    /// Tasks taken but not started.
    pub reserved: usize,
    /// How many tasks it runs at once.
    pub concurrency: usize,
    /// How many messages it takes before pausing its queues.
    pub prefetch: usize,
    /// The queues it consumes.
    pub queues: Vec<String>,
    /// How long it has run, in seconds.
    pub uptime_s: u64,
    /// Rate limits set by control commands or task options, per task name (`"10/s"`).
    #[serde(default)]
    pub rate_limits: std::collections::BTreeMap<String, String>,
    /// The celeriac version it runs.
    pub software_version: String,
    /// How its coordinator member is doing (`running`, `restarting …: cause`, `failed: cause`,
    /// `none`); empty from workers that do not say.
    #[serde(default)]
    pub coordinator: String,
}

/// Decodes a reply's JSON body as `T`; a body `{"error": …}` or of another shape is
/// [`Error::BadReply`].
pub fn decode_body<T: DeserializeOwned>(reply: &ControlReply) -> Result<T> {
    let bad = |detail: String| Error::BadReply {
        hostname: reply.hostname.clone(),
        detail,
    };
    let value: serde_json::Value =
        serde_json::from_str(&reply.body).map_err(|e| bad(format!("body is not JSON: {e}")))?;
    if let Some(message) = value.get("error").and_then(|e| e.as_str()) {
        return Err(bad(message.to_owned()));
    }
    serde_json::from_value(value).map_err(|e| {
        bad(format!(
            "unexpected body for {}: {e}",
            std::any::type_name::<T>()
        ))
    })
}

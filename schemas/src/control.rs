//! `ControlCommand` and `ControlReply`: Celery's remote control on `celeriac.control`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A command broadcast to every worker (`schemas/avro/ControlCommand.avsc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlCommand {
    /// Id of the command; replies carry it as `command_id`.
    #[serde(deserialize_with = "crate::uuid_field::deserialize")]
    pub id: Uuid,
    /// What to do.
    pub kind: ControlKind,
    /// The tasks a revoke or terminate is about.
    pub task_ids: Vec<Uuid>,
    /// The task name a rate limit is about.
    pub task_name: Option<String>,
    /// The new rate, as Celery writes it (`"10/s"`, `"100/m"`); `None` or `"0"` removes it.
    pub rate_limit: Option<String>,
    /// What an inspect asks for: `active`, `scheduled`, `reserved`, `registered` or `stats`.
    pub inspect: Option<String>,
    /// Host names of the workers that should act; empty means all.
    pub destination: Vec<String>,
    /// Topic to send [`ControlReply`] records to; `None` wants no reply.
    pub reply_to: Option<String>,
    /// When the command was sent (milliseconds since the Unix epoch).
    pub issued_at: i64,
    /// Ignore the command after this time; `None` never expires.
    pub expires_at: Option<i64>,
}

/// What a [`ControlCommand`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ControlKind {
    /// Never start `task_ids`.
    Revoke,
    /// Revoke `task_ids` and stop them if running.
    Terminate,
    /// Set `task_name`'s rate to `rate_limit`.
    RateLimit,
    /// Reply with a pong.
    Ping,
    /// Drain and stop.
    Shutdown,
    /// Reply with what `inspect` names.
    Inspect,
}

/// One worker's answer to a [`ControlCommand`] (`schemas/avro/ControlReply.avsc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlReply {
    /// The id of the command answered.
    #[serde(deserialize_with = "crate::uuid_field::deserialize")]
    pub command_id: Uuid,
    /// The worker that answered.
    pub hostname: String,
    /// The answer as a JSON document, for example `{"ok": "pong"}`.
    pub body: String,
    /// When the worker answered (milliseconds since the Unix epoch).
    pub timestamp: i64,
}

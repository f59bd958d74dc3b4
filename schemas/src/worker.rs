//! `WorkerHeartbeat`: a worker's periodic sign of life (`schemas/avro/WorkerHeartbeat.avsc`).

use serde::{Deserialize, Serialize};

/// A worker's periodic sign of life (Celery's `worker-heartbeat` event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerHeartbeat {
    /// The worker's name, unique in the cluster (`"worker1@host"`).
    pub hostname: String,
    /// The worker's operating-system process id.
    pub pid: i32,
    /// The queues the worker consumes.
    pub queues: Vec<String>,
    /// Tasks running now.
    pub active: i32,
    /// Tasks finished (in any state) since the worker started.
    pub processed: i64,
    /// When the heartbeat was sent (milliseconds since the Unix epoch).
    pub timestamp: i64,
    /// The celeriac version the worker runs.
    pub software_version: String,
    /// How many tasks the worker runs at once; 0 when the sender does not say (added in v2).
    #[serde(default)]
    pub concurrency: i32,
    /// How often the worker sends heartbeats, in milliseconds; 0 when the sender does not
    /// say (added in v2).
    #[serde(default)]
    pub freq_ms: i64,
    /// How the worker's coordinator member is doing (`"running"`, `"restarting …: cause"`,
    /// `"failed: cause"`, `"none"`); empty when the sender does not say (added in v3).
    #[serde(default)]
    pub coordinator: String,
}

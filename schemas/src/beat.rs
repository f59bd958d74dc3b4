//! `BeatFire`: what the beat leader settled for one window of one entry
//! (`schemas/avro/BeatFire.avsc`).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What the beat leader settled for one window of one periodic entry, on `celeriac.beat`
/// (key: the entry name). A fire is written in the same transaction as the task it published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeatFire {
    /// The schedule entry's name.
    pub entry: String,
    /// The schedule window this record settles (milliseconds since the Unix epoch).
    pub window: i64,
    /// What was done for the window.
    pub kind: BeatFireKind,
    /// The id of the task published for a [`Fired`](BeatFireKind::Fired) window; `None` otherwise.
    #[serde(default, deserialize_with = "crate::uuid_field::deserialize_option")]
    pub task_id: Option<Uuid>,
    /// Windows after the entry's previous record and before this one that were not fired
    /// (at most 100 000 are counted).
    pub missed: i64,
    /// When the leader wrote the record, by its clock (milliseconds since the Unix epoch).
    pub recorded_at: i64,
    /// Host name of the beat process that wrote the record.
    pub leader: String,
}

/// What the beat leader did for a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BeatFireKind {
    /// The task was published for the window.
    Fired,
    /// The window was missed and the entry's catch-up policy is to skip it.
    Skipped,
    /// The leader first saw the entry at the window; later windows are due.
    Registered,
}

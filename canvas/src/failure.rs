//! `TaskFailure`: what an error callback receives as its first argument.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::assemble::{JSON, MSGPACK};
use crate::error::{Error, Result};

/// The failure of one step, passed as the first argument to each of its error callbacks
/// (encoded as a JSON object: `{"task_id":…,"step_id":…,"task":…,"error":…}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFailure {
    /// The task id of the step that failed.
    pub task_id: Uuid,
    /// The step id of the step that failed.
    pub step_id: String,
    /// The task name of the step that failed.
    pub task: String,
    /// The error message.
    pub error: String,
}

crate::task_args!(TaskFailure);

impl TaskFailure {
    /// Encodes the failure as one value in a workflow content type.
    pub fn encode(&self, content_type: &str) -> Result<Vec<u8>> {
        let encoded = match content_type {
            JSON => serde_json::to_vec(self).map_err(|e| e.to_string()),
            // Through a JSON value, so the task id is a string here too, not 16 raw bytes.
            MSGPACK => serde_json::to_value(self)
                .map_err(|e| e.to_string())
                .and_then(|value| rmp_serde::to_vec(&value).map_err(|e| e.to_string())),
            other => return Err(Error::UnsupportedContentType(other.to_string())),
        };
        encoded.map_err(|message| Error::Encode {
            task: self.task.clone(),
            message,
        })
    }
}

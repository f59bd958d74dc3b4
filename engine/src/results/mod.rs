//! Reading results from any process: `AsyncResult` and the reader that tails
//! `celeriac.results`.
//!
//! The reader shares no group with anyone (its consumer group is its own): it reads every
//! partition of the results topic from a little before it started, keeps recent results in a
//! cache bounded in bytes, older ones by position, and hands terminal ones to waiters. A `get`
//! for a task sent before the reader started first scans the task's partition from the task's
//! send time turned into the log's time (the skew is measured), so it cannot miss a result
//! that was recorded before it was called; a task whose age is unknown (a v4 id) is looked
//! for in its partition's whole history, read once and shared.

mod cache;
mod history;
mod reader;

use std::marker::PhantomData;
use std::time::Duration;

use celeriac_schemas::{Record as _, TaskResult, TaskState};
use celeriac_topics::OutRecord;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::app::App;
use crate::task::{decode_output, TaskError};
use crate::{Error, Result};

pub use cache::CacheStats;
pub use reader::ReaderStats;
pub(crate) use reader::ResultReader;

/// The handle of a sent task: wait for its result, read its state, forget it.
pub struct AsyncResult<Out> {
    app: App,
    id: Uuid,
    sent_at: i64,
    output: PhantomData<fn() -> Out>,
}

impl<Out> Clone for AsyncResult<Out> {
    fn clone(&self) -> Self {
        Self {
            app: self.app.clone(),
            id: self.id,
            sent_at: self.sent_at,
            output: PhantomData,
        }
    }
}

impl<Out> std::fmt::Debug for AsyncResult<Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AsyncResult({})", self.id)
    }
}

impl<Out: DeserializeOwned> AsyncResult<Out> {
    pub(crate) fn new(app: App, id: Uuid, sent_at: i64) -> Self {
        Self {
            app,
            id,
            sent_at,
            output: PhantomData,
        }
    }

    /// A handle for a task id from elsewhere (the command line, another process). Its send
    /// time is read from the id when it is a UUIDv7, as Celeriac's ids are.
    pub fn from_id(app: &App, id: Uuid) -> Self {
        Self::new(app.clone(), id, sent_at(&id))
    }

    /// The task id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Waits up to `timeout` for the task to finish; its value, or its error.
    pub async fn get(&self, timeout: Duration) -> Result<Out> {
        let record = self.wait(timeout).await?;
        match record.state {
            TaskState::Success => {
                let content_type = record
                    .content_type
                    .as_deref()
                    .unwrap_or(celeriac_canvas::JSON);
                let bytes = record.result.as_deref().unwrap_or(b"null");
                decode_output(content_type, bytes).map_err(|detail| Error::ResultType {
                    task_id: self.id,
                    expected: std::any::type_name::<Out>(),
                    detail,
                })
            }
            TaskState::Revoked => Err(Error::Revoked(self.id)),
            _ => {
                let error = record.error.as_ref().map(TaskError::from_record);
                Err(Error::TaskFailed {
                    task_id: self.id,
                    error: error
                        .unwrap_or_else(|| TaskError::msg("failed without an error record")),
                })
            }
        }
    }

    /// Waits up to `timeout` for the task's terminal record.
    pub async fn wait(&self, timeout: Duration) -> Result<TaskResult> {
        let reader = &self.app.inner.results;
        // Reading history counts against the timeout too; a wait that gives up (or is
        // dropped) leaves nothing behind in the reader.
        let waited = tokio::time::timeout(timeout, async {
            let waiting = reader.wait(self.id, self.sent_at).await?;
            waiting.await.map_err(|_| Error::Shutdown("result reader"))
        });
        match waited.await {
            Ok(Ok(payload)) => Ok(TaskResult::decode(&payload)?),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(Error::Timeout {
                task_id: self.id,
                after: timeout,
            }),
        }
    }

    /// The latest known state: PENDING until a worker reports.
    pub async fn state(&self) -> Result<TaskState> {
        Ok(self
            .app
            .inner
            .results
            .latest(self.id, self.sent_at)
            .await?
            .map_or(TaskState::Pending, |r| r.state))
    }

    /// True once the task reached a terminal state.
    pub async fn ready(&self) -> Result<bool> {
        Ok(self.state().await?.is_terminal())
    }

    /// Forgets the result: a tombstone on the results topic (compaction drops it).
    pub async fn forget(&self) -> Result<()> {
        let names = &self.app.inner.names;
        let key = crate::coordinator::record_key(&self.id);
        let record = OutRecord::keyed(names.results(), key, bytes::Bytes::new());
        self.app.inner.log.send(record)?.await?;
        self.app.inner.results.forget(&self.id);
        Ok(())
    }
}

impl App {
    /// What this app's results reader holds (its cache and waits, in entries and bytes) and
    /// how often it read history: the figures behind `/metrics`' `celeriac_results_*`.
    pub fn results_stats(&self) -> ReaderStats {
        self.inner.results.stats()
    }
}

/// When a task was sent, read from its id when it is a UUIDv7 (as Celeriac's ids are; 0
/// otherwise, so a wait scans from the start of the task's partition).
pub(crate) fn sent_at(id: &Uuid) -> i64 {
    id.get_timestamp()
        .map(|ts| {
            let (secs, nanos) = ts.to_unix();
            i64::try_from(secs).unwrap_or(0) * 1000 + i64::from(nanos / 1_000_000)
        })
        .unwrap_or(0)
}

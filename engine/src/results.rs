//! Reading results from any process: `AsyncResult` and the reader that tails
//! `celeriac.results`.
//!
//! The reader joins no group: it reads every partition of the results topic from a little
//! before it started, keeps recent results in a bounded cache and hands terminal ones to
//! waiters. A `get` for a task sent before the reader started first scans the task's
//! partition from the task's send time (minus a margin), so it cannot miss a result that was
//! recorded before it was called.

use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use celeriac_schemas::{now_millis, Record, TaskResult, TaskState};
use celeriac_topics::{
    partition_for_key, ConsumerConfig, ConsumerEvent, Log, OutRecord, StartFrom, TopicPartition,
};
use serde::de::DeserializeOwned;
use tokio::sync::{oneshot, OnceCell};
use uuid::Uuid;

use crate::app::App;
use crate::task::{decode_output, TaskError};
use crate::{lock, Error, Result};

/// How far before a task's send time the scan for its result starts (clock skew between
/// the submitting host and the broker).
const MARGIN_MS: i64 = 60_000;
/// Results kept in memory for `get` calls that come after the result.
const CACHE_LIMIT: usize = 200_000;

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
        let sent_at = id
            .get_timestamp()
            .map(|ts| {
                let (secs, nanos) = ts.to_unix();
                i64::try_from(secs).unwrap_or(0) * 1000 + i64::from(nanos / 1_000_000)
            })
            .unwrap_or(0);
        Self::new(app.clone(), id, sent_at)
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
        let waiting = reader.wait(self.id, self.sent_at).await?;
        match tokio::time::timeout(timeout, waiting).await {
            Ok(Ok(record)) => Ok(record),
            Ok(Err(_)) => Err(Error::Shutdown("result reader")),
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
        let record = OutRecord::keyed(names.results(), self.id.to_string(), bytes::Bytes::new());
        self.app.inner.log.send(record)?.await?;
        lock(&self.app.inner.results.shared).forget(self.id);
        Ok(())
    }
}

/// What the reader knows, shared with its background task.
#[derive(Default)]
struct Shared {
    /// Boxed: the table stays small to grow (a result is a few hundred bytes).
    latest: HashMap<Uuid, Box<TaskResult>>,
    order: VecDeque<Uuid>,
    waiters: HashMap<Uuid, Vec<oneshot::Sender<TaskResult>>>,
    /// Every result recorded at or after this time (ms) is in `latest` or was handed over.
    complete_since: i64,
}

impl Shared {
    fn record(&mut self, result: TaskResult) {
        let id = result.task_id;
        if result.state.is_terminal() {
            if let Some(waiters) = self.waiters.remove(&id) {
                for waiter in waiters {
                    let _ = waiter.send(result.clone());
                }
            }
        }
        if self.latest.insert(id, Box::new(result)).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > CACHE_LIMIT {
            if let Some(old) = self.order.pop_front() {
                if let Some(evicted) = self.latest.remove(&old) {
                    self.complete_since = self.complete_since.max(evicted.date_done + 1);
                }
            }
        }
    }

    fn forget(&mut self, id: Uuid) {
        self.latest.remove(&id);
    }
}

/// Tails the results topic for one app.
pub(crate) struct ResultReader {
    log: Arc<dyn Log>,
    topic: String,
    shared: Arc<Mutex<Shared>>,
    started: OnceCell<()>,
}

impl ResultReader {
    pub(crate) fn new(log: Arc<dyn Log>, topic: String) -> Self {
        Self {
            log,
            topic,
            shared: Arc::default(),
            started: OnceCell::new(),
        }
    }

    /// Starts the tail on first use.
    async fn start(&self) -> Result<()> {
        self.started
            .get_or_try_init(|| async {
                let since = now_millis() - MARGIN_MS;
                lock(&self.shared).complete_since = since;
                let group = format!("{}.reader.{}", self.topic, Uuid::now_v7());
                let config =
                    ConsumerConfig::new(group, [self.topic.clone()]).start_from(StartFrom::Latest);
                let consumer = self.log.consumer(config).await?;
                tokio::spawn(tail(self.log.clone(), consumer, self.shared.clone(), since));
                Ok::<(), Error>(())
            })
            .await
            .map(|_| ())
    }

    /// A receiver of `id`'s terminal record.
    pub(crate) async fn wait(
        &self,
        id: Uuid,
        sent_at: i64,
    ) -> Result<oneshot::Receiver<TaskResult>> {
        self.start().await?;
        let (tx, rx) = oneshot::channel();
        {
            let mut shared = lock(&self.shared);
            match shared.latest.get(&id) {
                Some(result) if result.state.is_terminal() => {
                    let _ = tx.send(TaskResult::clone(result));
                    return Ok(rx);
                }
                _ => shared.waiters.entry(id).or_default().push(tx),
            }
            if sent_at - MARGIN_MS >= shared.complete_since {
                return Ok(rx);
            }
        }
        self.scan_history(id, sent_at).await?;
        Ok(rx)
    }

    /// The latest record of `id`, scanning history when the cache may not know it.
    pub(crate) async fn latest(&self, id: Uuid, sent_at: i64) -> Result<Option<TaskResult>> {
        self.start().await?;
        let complete = {
            let shared = lock(&self.shared);
            if let Some(result) = shared.latest.get(&id) {
                return Ok(Some(TaskResult::clone(result)));
            }
            sent_at - MARGIN_MS >= shared.complete_since
        };
        if !complete {
            self.scan_history(id, sent_at).await?;
        }
        Ok(lock(&self.shared)
            .latest
            .get(&id)
            .map(|result| TaskResult::clone(result)))
    }

    /// Reads `id`'s partition from its send time to the end, recording what it finds.
    async fn scan_history(&self, id: Uuid, sent_at: i64) -> Result<()> {
        let description = self.log.describe_topic(&self.topic).await?;
        let key = id.to_string();
        let tp = TopicPartition::new(
            self.topic.clone(),
            partition_for_key(key.as_bytes(), description.partitions),
        );
        let from = self.log.offset_for_time(&tp, sent_at - MARGIN_MS).await?;
        let mut reader = self.log.read_partition(&tp, from).await?;
        while let Some(batch) = reader.next_batch().await? {
            let mut shared = lock(&self.shared);
            for record in batch {
                if record.key.as_deref() == Some(key.as_bytes()) {
                    match TaskResult::decode(&record.payload) {
                        Ok(result) => shared.record(result),
                        Err(_) if record.payload.is_empty() => shared.forget(id),
                        Err(error) => {
                            tracing::warn!(%error, "undecodable record on the results topic")
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// The reader's background task: from `since` on every partition, forever.
async fn tail(
    log: Arc<dyn Log>,
    consumer: Box<dyn celeriac_topics::Consumer>,
    shared: Arc<Mutex<Shared>>,
    since: i64,
) {
    loop {
        match consumer.poll(10_000, Duration::from_millis(500)).await {
            Ok(ConsumerEvent::Assigned(partitions)) => {
                for tp in partitions {
                    match log.offset_for_time(&tp, since).await {
                        Ok(offset) => {
                            if let Err(error) = consumer.seek(&tp, offset) {
                                tracing::warn!(%error, %tp, "results reader could not seek");
                            }
                        }
                        // The process is ending (its runtime is shutting down): nothing to say.
                        Err(celeriac_topics::Error::Closed(_)) => return,
                        Err(error) => {
                            tracing::warn!(%error, %tp, "results reader: offsets-for-times failed")
                        }
                    }
                }
            }
            Ok(ConsumerEvent::Records(records)) => {
                let mut shared = lock(&shared);
                for record in records {
                    match TaskResult::decode(&record.payload) {
                        Ok(result) => shared.record(result),
                        Err(_) if record.payload.is_empty() => {}
                        Err(error) => {
                            tracing::warn!(%error, "undecodable record on the results topic")
                        }
                    }
                }
            }
            Ok(ConsumerEvent::Revoked(_)) => {}
            Err(celeriac_topics::Error::Closed(_)) => return,
            Err(error) => {
                tracing::warn!(%error, "results reader poll failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

//! The monitor: follows `app.events(EventsFrom::Now)` (task events and worker heartbeats) and
//! keeps what the dashboard, `/api/tasks`, `/api/workers`, `/api/events` and `/metrics` show —
//! a bounded table of recent tasks, the workers seen (seeded from `app.workers(..)`),
//! counters and histograms — and fans each event out to the live streams.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use celeriac_schemas::{now_millis, TaskEvent, TaskEventKind, WorkerHeartbeat};
use serde::Serialize;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::metrics::Histogram;
use crate::inspect::{Event, EventStream, EventsFrom, WorkerStatus};
use crate::{lock, App, Result};

/// Tasks kept in the table.
const TABLE_LIMIT: usize = 10_000;
/// Workers that sent a heartbeat this recently are listed from the start.
const SEED_WITHIN: Duration = Duration::from_secs(60);
/// Live events buffered per slow stream before it skips ahead.
const LIVE_BUFFER: usize = 4096;

/// One row of the task table.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TaskRow {
    pub(crate) id: Uuid,
    pub(crate) task: String,
    pub(crate) state: &'static str,
    pub(crate) root_id: Uuid,
    pub(crate) queue: Option<String>,
    pub(crate) worker: Option<String>,
    pub(crate) retries: i32,
    pub(crate) sent_at: Option<i64>,
    pub(crate) received_at: Option<i64>,
    pub(crate) started_at: Option<i64>,
    pub(crate) finished_at: Option<i64>,
    pub(crate) runtime_ms: Option<i64>,
    pub(crate) error: Option<String>,
    pub(crate) updated_at: i64,
}

/// A worker as its heartbeats and events show it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WorkerRow {
    pub(crate) hostname: String,
    pub(crate) pid: Option<i32>,
    pub(crate) queues: Vec<String>,
    pub(crate) concurrency: Option<u32>,
    pub(crate) active: i32,
    pub(crate) processed: i64,
    pub(crate) last_heartbeat: Option<i64>,
    pub(crate) last_seen: i64,
    pub(crate) software_version: Option<String>,
}

/// What `/metrics` reads.
#[derive(Default)]
pub(crate) struct Counters {
    /// Task events by (task name, state).
    pub(crate) events: BTreeMap<(String, &'static str), u64>,
    /// Body runtime by task name, in seconds.
    pub(crate) runtime: BTreeMap<String, Histogram>,
    /// Time from send to first start by task name, in seconds.
    pub(crate) queue_wait: BTreeMap<String, Histogram>,
    /// Retries by task name.
    pub(crate) retries: BTreeMap<String, u64>,
}

#[derive(Default)]
struct State {
    tasks: HashMap<Uuid, TaskRow>,
    order: VecDeque<Uuid>,
    workers: BTreeMap<String, WorkerRow>,
    counters: Counters,
    /// Every task event and heartbeat applied since the server started.
    seen: u64,
}

/// The monitor shared by the handlers.
pub(crate) struct Monitor {
    state: Mutex<State>,
    live: broadcast::Sender<Arc<serde_json::Value>>,
}

/// Celery's state name after an event.
pub(crate) fn state_of(kind: TaskEventKind) -> &'static str {
    match kind {
        TaskEventKind::Received => "RECEIVED",
        TaskEventKind::Started => "STARTED",
        TaskEventKind::Succeeded => "SUCCESS",
        TaskEventKind::Failed | TaskEventKind::Rejected => "FAILURE",
        TaskEventKind::Retried => "RETRY",
        TaskEventKind::Revoked => "REVOKED",
    }
}

fn is_terminal(state: &str) -> bool {
    matches!(state, "SUCCESS" | "FAILURE" | "REVOKED")
}

/// The send time carried by a UUIDv7 task id, in milliseconds.
pub(crate) fn v7_millis(id: Uuid) -> Option<i64> {
    if id.get_version_num() != 7 {
        return None;
    }
    let (secs, nanos) = id.get_timestamp()?.to_unix();
    Some(i64::try_from(secs).ok()? * 1000 + i64::from(nanos / 1_000_000))
}

impl Monitor {
    /// Starts following `app`'s events topic until `cancel` fires.
    pub(crate) async fn start(app: App, cancel: CancellationToken) -> Result<Arc<Self>> {
        let (live, _) = broadcast::channel(LIVE_BUFFER);
        let monitor = Arc::new(Self {
            state: Mutex::default(),
            live,
        });
        let names = app.names();
        app.log()
            .create_topics(&names.core_topics())
            .await
            .or_else(|e| match e {
                celeriac_topics::Error::PartitionMismatch { .. } => Ok(()),
                other => Err(other),
            })?;
        let events = app.events(EventsFrom::Now).await?;
        for worker in app.workers(SEED_WITHIN).await? {
            monitor.seed_worker(worker);
        }
        tokio::spawn(follow(events, monitor.clone(), cancel));
        Ok(monitor)
    }

    /// A receiver of every event applied from now on, as JSON.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<serde_json::Value>> {
        self.live.subscribe()
    }

    /// Notes a task sent through the API, so the table shows it before a worker reports.
    pub(crate) fn submitted(&self, id: Uuid, task: &str, queue: Option<String>) {
        let now = now_millis();
        let mut state = lock(&self.state);
        if state.tasks.contains_key(&id) {
            return;
        }
        let row = TaskRow {
            id,
            task: task.to_owned(),
            state: "PENDING",
            root_id: id,
            queue,
            worker: None,
            retries: 0,
            sent_at: Some(now),
            received_at: None,
            started_at: None,
            finished_at: None,
            runtime_ms: None,
            error: None,
            updated_at: now,
        };
        insert_row(&mut state, row);
    }

    /// The table's row of `id`, if it is known.
    pub(crate) fn task(&self, id: Uuid) -> Option<TaskRow> {
        lock(&self.state).tasks.get(&id).cloned()
    }

    /// Recent tasks, newest first, filtered.
    pub(crate) fn tasks(&self, filter: impl Fn(&TaskRow) -> bool, limit: usize) -> Vec<TaskRow> {
        let state = lock(&self.state);
        state
            .order
            .iter()
            .rev()
            .filter_map(|id| state.tasks.get(id))
            .filter(|row| filter(row))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Tasks in the table by state.
    pub(crate) fn totals(&self) -> (BTreeMap<&'static str, u64>, u64) {
        let state = lock(&self.state);
        let mut totals = BTreeMap::new();
        for row in state.tasks.values() {
            *totals.entry(row.state).or_insert(0) += 1;
        }
        (totals, state.seen)
    }

    /// The workers seen, by name.
    pub(crate) fn workers(&self) -> Vec<WorkerRow> {
        lock(&self.state).workers.values().cloned().collect()
    }

    /// Reads the counters and tracked-task gauges under the lock.
    pub(crate) fn with_counters<T>(
        &self,
        read: impl FnOnce(&Counters, &HashMap<Uuid, TaskRow>) -> T,
    ) -> T {
        let state = lock(&self.state);
        read(&state.counters, &state.tasks)
    }

    fn apply_task_event(&self, event: &TaskEvent) {
        let new_state = state_of(event.kind);
        let error = event
            .error
            .as_ref()
            .map(|e| format!("{}: {}", e.type_name, e.message));
        {
            let mut state = lock(&self.state);
            state.seen += 1;
            let before = state.tasks.get(&event.task_id).cloned();
            count(&mut state.counters, event, new_state, before.as_ref());
            touch_worker(&mut state, &event.hostname, event.timestamp);
            let row = state.tasks.get_mut(&event.task_id);
            match row {
                Some(row) => {
                    if !is_terminal(row.state) || is_terminal(new_state) {
                        row.state = new_state;
                    }
                    update_row(row, event, error.clone());
                }
                None => {
                    let mut row = TaskRow {
                        id: event.task_id,
                        task: event.task.clone(),
                        state: new_state,
                        root_id: event.root_id,
                        queue: None,
                        worker: None,
                        retries: 0,
                        sent_at: v7_millis(event.task_id),
                        received_at: None,
                        started_at: None,
                        finished_at: None,
                        runtime_ms: None,
                        error: None,
                        updated_at: event.timestamp,
                    };
                    update_row(&mut row, event, error.clone());
                    insert_row(&mut state, row);
                }
            }
        }
        let _ = self
            .live
            .send(Arc::new(event_json(event, new_state, error)));
    }

    fn seed_worker(&self, worker: WorkerStatus) {
        let mut state = lock(&self.state);
        let row = touch_worker(&mut state, &worker.hostname, worker.last_heartbeat);
        row.pid = Some(worker.pid);
        row.queues = worker.queues;
        row.concurrency = worker.concurrency;
        row.active = worker.active;
        row.processed = worker.processed;
        row.last_heartbeat = Some(worker.last_heartbeat);
        row.software_version = Some(worker.software_version);
    }

    fn apply_heartbeat(&self, beat: &WorkerHeartbeat) {
        {
            let mut state = lock(&self.state);
            state.seen += 1;
            let row = touch_worker(&mut state, &beat.hostname, beat.timestamp);
            row.pid = Some(beat.pid);
            row.queues = beat.queues.clone();
            row.concurrency = u32::try_from(beat.concurrency).ok().filter(|c| *c > 0);
            row.active = beat.active;
            row.processed = beat.processed;
            row.last_heartbeat = Some(beat.timestamp);
            row.software_version = Some(beat.software_version.clone());
        }
        let _ = self.live.send(Arc::new(serde_json::json!({
            "type": "worker", "hostname": beat.hostname, "active": beat.active,
            "processed": beat.processed, "queues": beat.queues, "timestamp": beat.timestamp,
        })));
    }
}

fn insert_row(state: &mut State, row: TaskRow) {
    state.order.push_back(row.id);
    state.tasks.insert(row.id, row);
    while state.order.len() > TABLE_LIMIT {
        if let Some(old) = state.order.pop_front() {
            state.tasks.remove(&old);
        }
    }
}

fn update_row(row: &mut TaskRow, event: &TaskEvent, error: Option<String>) {
    row.queue = Some(event.queue.clone());
    row.worker = Some(event.hostname.clone());
    row.retries = row.retries.max(event.retries);
    row.root_id = event.root_id;
    row.updated_at = event.timestamp;
    match event.kind {
        TaskEventKind::Received => {
            row.received_at = row.received_at.or(Some(event.timestamp));
        }
        TaskEventKind::Started => {
            row.started_at = Some(event.timestamp);
            row.received_at = row.received_at.or(Some(event.timestamp));
        }
        TaskEventKind::Succeeded
        | TaskEventKind::Failed
        | TaskEventKind::Revoked
        | TaskEventKind::Rejected => {
            row.finished_at = Some(event.timestamp);
            let began = row.started_at.or(row.received_at);
            row.runtime_ms = event
                .runtime_ms
                .or_else(|| began.map(|at| (event.timestamp - at).max(0)));
        }
        TaskEventKind::Retried => {}
    }
    if error.is_some() {
        row.error = error;
    }
}

fn touch_worker<'a>(state: &'a mut State, hostname: &str, at: i64) -> &'a mut WorkerRow {
    let row = state
        .workers
        .entry(hostname.to_owned())
        .or_insert_with(|| WorkerRow {
            hostname: hostname.to_owned(),
            pid: None,
            queues: Vec::new(),
            concurrency: None,
            active: 0,
            processed: 0,
            last_heartbeat: None,
            last_seen: at,
            software_version: None,
        });
    row.last_seen = row.last_seen.max(at);
    row
}

/// Counts one event. Runtime comes from the event, else from the attempt's STARTED (or
/// RECEIVED) event; queue wait is from the send time in a UUIDv7 id to the first RECEIVED
/// or STARTED event.
fn count(counters: &mut Counters, event: &TaskEvent, state: &'static str, row: Option<&TaskRow>) {
    *counters
        .events
        .entry((event.task.clone(), state))
        .or_insert(0) += 1;
    let first_pickup = row.is_none_or(|r| r.received_at.is_none() && r.started_at.is_none());
    match event.kind {
        TaskEventKind::Retried => *counters.retries.entry(event.task.clone()).or_insert(0) += 1,
        TaskEventKind::Received | TaskEventKind::Started if event.retries == 0 && first_pickup => {
            let sent = row
                .and_then(|r| r.sent_at)
                .or_else(|| v7_millis(event.task_id));
            if let Some(sent) = sent {
                counters
                    .queue_wait
                    .entry(event.task.clone())
                    .or_default()
                    .observe_ms((event.timestamp - sent).max(0));
            }
        }
        TaskEventKind::Succeeded | TaskEventKind::Failed => {
            let began = row.and_then(|r| r.started_at.or(r.received_at));
            let runtime = event
                .runtime_ms
                .or_else(|| began.map(|at| (event.timestamp - at).max(0)));
            if let Some(runtime) = runtime {
                counters
                    .runtime
                    .entry(event.task.clone())
                    .or_default()
                    .observe_ms(runtime);
            }
        }
        _ => {}
    }
}

fn event_json(event: &TaskEvent, state: &str, error: Option<String>) -> serde_json::Value {
    let result = match (&event.result, event.content_type.as_deref()) {
        (Some(bytes), Some(celeriac_canvas::JSON) | None) => {
            serde_json::from_slice::<serde_json::Value>(bytes).ok()
        }
        _ => None,
    };
    serde_json::json!({
        "type": "task", "event_id": event.id, "task_id": event.task_id, "root_id": event.root_id,
        "task": event.task, "kind": format!("{:?}", event.kind).to_uppercase(), "state": state,
        "timestamp": event.timestamp, "hostname": event.hostname, "retries": event.retries,
        "runtime_ms": event.runtime_ms, "queue": event.queue, "error": error, "result": result,
    })
}

/// Applies events from `events` until `cancel` fires or the log closes.
async fn follow(mut events: EventStream, monitor: Arc<Monitor>, cancel: CancellationToken) {
    loop {
        let next = tokio::select! {
            next = events.next() => next,
            _ = cancel.cancelled() => break,
        };
        match next {
            Some(Ok(Event::Task(event))) => monitor.apply_task_event(&event),
            Some(Ok(Event::Heartbeat(beat))) => monitor.apply_heartbeat(&beat),
            Some(Err(error)) => tracing::warn!(%error, "monitor: an events record was skipped"),
            None => break,
        }
    }
    let _ = events.close().await;
}

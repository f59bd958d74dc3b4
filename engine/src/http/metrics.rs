//! `/metrics` in Prometheus text format: task events by name and state, tasks in the table
//! by state, runtime and queue-wait histograms, retries, workers and queue lag.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use super::errors::ApiError;
use super::router::ApiState;

/// Bucket bounds in milliseconds (exported in seconds).
const BUCKETS_MS: [i64; 14] = [
    1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000,
];

/// A cumulative histogram over [`BUCKETS_MS`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Histogram {
    counts: [u64; BUCKETS_MS.len()],
    count: u64,
    sum_ms: i64,
}

impl Histogram {
    /// Adds one observation.
    pub(crate) fn observe_ms(&mut self, ms: i64) {
        for (bound, count) in BUCKETS_MS.iter().zip(self.counts.iter_mut()) {
            if ms <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum_ms = self.sum_ms.saturating_add(ms);
    }

    fn render(&self, out: &mut String, name: &str, task: &str) {
        let task = escape(task);
        for (bound, count) in BUCKETS_MS.iter().zip(self.counts.iter()) {
            let le = *bound as f64 / 1000.0;
            let _ = writeln!(out, "{name}_bucket{{task=\"{task}\",le=\"{le}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{task=\"{task}\",le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(
            out,
            "{name}_sum{{task=\"{task}\"}} {}",
            self.sum_ms as f64 / 1000.0
        );
        let _ = writeln!(out, "{name}_count{{task=\"{task}\"}} {}", self.count);
    }
}

/// Escapes a label value.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(state): State<Arc<ApiState>>) -> Result<Response, ApiError> {
    let mut out = String::new();
    state.monitor.with_counters(|counters, tasks| {
        out.push_str("# HELP celeriac_task_events_total Task events seen, by task name and the state they lead to.\n");
        out.push_str("# TYPE celeriac_task_events_total counter\n");
        for ((task, task_state), n) in &counters.events {
            let _ = writeln!(
                out,
                "celeriac_task_events_total{{task=\"{}\",state=\"{task_state}\"}} {n}",
                escape(task)
            );
        }
        let mut by_state = std::collections::BTreeMap::<(&str, &str), u64>::new();
        for row in tasks.values() {
            *by_state.entry((row.task.as_str(), row.state)).or_insert(0) += 1;
        }
        out.push_str("# HELP celeriac_tasks Recent tasks (the dashboard's table) by task name and current state.\n");
        out.push_str("# TYPE celeriac_tasks gauge\n");
        for ((task, task_state), n) in by_state {
            let _ = writeln!(
                out,
                "celeriac_tasks{{task=\"{}\",state=\"{task_state}\"}} {n}",
                escape(task)
            );
        }
        out.push_str("# HELP celeriac_task_retries_total Retries, by task name.\n");
        out.push_str("# TYPE celeriac_task_retries_total counter\n");
        for (task, n) in &counters.retries {
            let _ = writeln!(
                out,
                "celeriac_task_retries_total{{task=\"{}\"}} {n}",
                escape(task)
            );
        }
        out.push_str("# HELP celeriac_task_runtime_seconds How long task bodies ran.\n");
        out.push_str("# TYPE celeriac_task_runtime_seconds histogram\n");
        for (task, histogram) in &counters.runtime {
            histogram.render(&mut out, "celeriac_task_runtime_seconds", task);
        }
        out.push_str(
            "# HELP celeriac_task_queue_wait_seconds From send to the first start of a task.\n",
        );
        out.push_str("# TYPE celeriac_task_queue_wait_seconds histogram\n");
        for (task, histogram) in &counters.queue_wait {
            histogram.render(&mut out, "celeriac_task_queue_wait_seconds", task);
        }
    });
    let workers = state.monitor.workers();
    out.push_str("# HELP celeriac_workers Workers seen (heartbeats or events).\n");
    out.push_str("# TYPE celeriac_workers gauge\n");
    let _ = writeln!(out, "celeriac_workers {}", workers.len());
    out.push_str("# HELP celeriac_queue_lag Messages not yet taken, by queue and partition.\n");
    out.push_str("# TYPE celeriac_queue_lag gauge\n");
    for queue in super::workers::queue_status(&state).await? {
        for partition in &queue.partitions {
            let _ = writeln!(
                out,
                "celeriac_queue_lag{{queue=\"{}\",partition=\"{}\"}} {}",
                escape(&queue.queue),
                partition.partition,
                partition.lag
            );
        }
    }
    render_results(&mut out, state.app.results_stats());
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    )
        .into_response())
}

/// The results reader's bounds: waits open, what its cache holds, its reads of history.
fn render_results(out: &mut String, stats: crate::ReaderStats) {
    let cache = stats.cache;
    out.push_str("# HELP celeriac_results_waiters Waits for a task's result not yet answered.\n");
    out.push_str("# TYPE celeriac_results_waiters gauge\n");
    let _ = writeln!(out, "celeriac_results_waiters {}", cache.waiters);
    out.push_str(
        "# HELP celeriac_results_cached Results the reader keeps, in full or by position.\n",
    );
    out.push_str("# TYPE celeriac_results_cached gauge\n");
    let _ = writeln!(
        out,
        "celeriac_results_cached{{tier=\"full\"}} {}",
        cache.full
    );
    let _ = writeln!(
        out,
        "celeriac_results_cached{{tier=\"position\"}} {}",
        cache.placed
    );
    out.push_str("# HELP celeriac_results_cache_bytes What the reader's cache holds, in bytes.\n");
    out.push_str("# TYPE celeriac_results_cache_bytes gauge\n");
    let _ = writeln!(
        out,
        "celeriac_results_cache_bytes{{tier=\"full\"}} {}",
        cache.full_bytes
    );
    let _ = writeln!(
        out,
        "celeriac_results_cache_bytes{{tier=\"position\"}} {}",
        cache.placed_bytes
    );
    out.push_str("# HELP celeriac_results_history_reads_total Reads of the results topic's history behind look-ups.\n");
    out.push_str("# TYPE celeriac_results_history_reads_total counter\n");
    let _ = writeln!(
        out,
        "celeriac_results_history_reads_total {}",
        stats.history_reads
    );
    out.push_str("# HELP celeriac_results_clock_ahead_ms How far this host's clock was measured ahead of the log's.\n");
    out.push_str("# TYPE celeriac_results_clock_ahead_ms gauge\n");
    let _ = writeln!(
        out,
        "celeriac_results_clock_ahead_ms {}",
        stats.clock_ahead_ms
    );
}

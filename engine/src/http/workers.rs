//! `GET /api/workers` (from heartbeats and task events) and `GET /api/queues` (partition lag
//! of each queue's worker group).

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use celeriac_schemas::now_millis;
use celeriac_topics::TopicPartition;
use serde::Serialize;

use super::errors::ApiError;
use super::router::ApiState;

/// A worker silent for longer than this is shown offline.
const ONLINE_MS: i64 = 10_000;

/// One partition of a queue.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PartitionLag {
    pub(crate) partition: i32,
    /// The offset the next message will get.
    pub(crate) end: i64,
    /// The offset the queue's workers will read next (`None`: nothing committed yet).
    pub(crate) committed: Option<i64>,
    /// Messages not yet taken.
    pub(crate) lag: i64,
}

/// A queue and its lag.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct QueueStatus {
    pub(crate) queue: String,
    pub(crate) topic: String,
    pub(crate) lag: i64,
    pub(crate) partitions: Vec<PartitionLag>,
}

/// `GET /api/workers`.
pub(crate) async fn workers(State(state): State<Arc<ApiState>>) -> Json<serde_json::Value> {
    let now = now_millis();
    let workers: Vec<serde_json::Value> = state
        .monitor
        .workers()
        .into_iter()
        .map(|w| {
            let online = now - w.last_seen <= ONLINE_MS;
            let mut value = serde_json::to_value(&w).unwrap_or_default();
            if let Some(object) = value.as_object_mut() {
                object.insert("online".into(), online.into());
            }
            value
        })
        .collect();
    Json(serde_json::json!({ "workers": workers }))
}

/// `GET /api/queues`.
pub(crate) async fn queues(
    State(state): State<Arc<ApiState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let queues = queue_status(&state).await?;
    Ok(Json(serde_json::json!({ "queues": queues })))
}

/// The queues this server knows of — the default queue, the registered tasks' queues, and
/// the queues workers and tasks were seen on — with their lag.
pub(crate) async fn queue_status(state: &ApiState) -> Result<Vec<QueueStatus>, ApiError> {
    let app = &state.app;
    let mut names: BTreeSet<String> = BTreeSet::new();
    names.insert(app.inner.default_queue.clone());
    for task in app.task_names() {
        names.insert(app.queue_for(&task));
    }
    for worker in state.monitor.workers() {
        names.extend(worker.queues);
    }
    for row in state.monitor.tasks(|_| true, 1000) {
        names.extend(row.queue);
    }
    let log = app.log();
    let mut out = Vec::new();
    for queue in names {
        let topic = app.names().tasks(&queue);
        let description = match log.describe_topic(&topic).await {
            Ok(description) => description,
            Err(celeriac_topics::Error::UnknownTopic(_)) => continue,
            Err(error) => return Err(crate::Error::from(error).into()),
        };
        let partitions: Vec<TopicPartition> = (0..description.partitions)
            .map(|p| TopicPartition::new(topic.clone(), p))
            .collect();
        let committed = log
            .committed_offsets(&app.names().worker_group(&queue), &partitions)
            .await
            .map_err(crate::Error::from)?;
        let mut lags = Vec::with_capacity(partitions.len());
        for (tp, committed) in partitions.iter().zip(committed) {
            let (low, high) = log.watermarks(tp).await.map_err(crate::Error::from)?;
            let lag = (high - committed.unwrap_or(low).max(low)).max(0);
            lags.push(PartitionLag {
                partition: tp.partition,
                end: high,
                committed,
                lag,
            });
        }
        out.push(QueueStatus {
            lag: lags.iter().map(|p| p.lag).sum(),
            queue,
            topic,
            partitions: lags,
        });
    }
    Ok(out)
}

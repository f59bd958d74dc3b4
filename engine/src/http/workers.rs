//! `GET /api/workers` (the monitor's view: heartbeats and task events, seeded from
//! `app.workers(..)`) and `GET /api/queues` (`app.queues()`: each queue's partition lag).

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use celeriac_schemas::now_millis;

use super::errors::ApiError;
use super::router::ApiState;
use crate::inspect::{QueueStatus, ALIVE_WITHIN};

/// `GET /api/workers`.
pub(crate) async fn workers(State(state): State<Arc<ApiState>>) -> Json<serde_json::Value> {
    let now = now_millis();
    let workers: Vec<serde_json::Value> = state
        .monitor
        .workers()
        .into_iter()
        .map(|w| {
            let alive_ms = i64::try_from(ALIVE_WITHIN.as_millis()).unwrap_or(i64::MAX);
            let online = now - w.last_seen <= alive_ms;
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

/// Every queue topic of the app with its lag (`app.queues()`).
pub(crate) async fn queue_status(state: &ApiState) -> Result<Vec<QueueStatus>, ApiError> {
    Ok(state.app.queues().await?)
}

//! `GET /api/health`: whether the log answers and every live worker's coordinator runs — what a
//! load balancer or an orchestrator's probe asks. 200 when healthy, 503 with the reasons when not.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::router::ApiState;
use crate::inspect::ALIVE_WITHIN;

/// `GET /api/health`.
pub(crate) async fn health(
    State(state): State<Arc<ApiState>>,
) -> (StatusCode, Json<serde_json::Value>) {
    let workers = match state.app.workers(ALIVE_WITHIN).await {
        Ok(workers) => workers,
        Err(error) => {
            let body = serde_json::json!({
                "status": "unavailable",
                "problems": [format!("the log does not answer: {error}")],
                "workers": [],
            });
            return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
        }
    };
    let mut problems = Vec::new();
    let listed: Vec<serde_json::Value> = workers
        .iter()
        .filter(|w| w.alive)
        .map(|w| {
            let healthy = coordinator_ok(&w.coordinator);
            if !healthy {
                problems.push(format!("{}: coordinator {}", w.hostname, w.coordinator));
            }
            serde_json::json!({
                "hostname": w.hostname,
                "coordinator": w.coordinator,
                "healthy": healthy,
                "last_heartbeat": w.last_heartbeat,
            })
        })
        .collect();
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if problems.is_empty() { "ok" } else { "degraded" },
        "problems": problems,
        "workers": listed,
    });
    (status, Json(body))
}

/// A worker's coordinator is fine when it runs, when the worker has none, or when the worker
/// does not say (an older version).
fn coordinator_ok(label: &str) -> bool {
    label.is_empty() || label == "none" || label.starts_with("running")
}

#[cfg(test)]
mod tests {
    use super::coordinator_ok;

    #[test]
    fn only_a_running_or_absent_coordinator_is_healthy() {
        assert!(coordinator_ok("running"));
        assert!(coordinator_ok("running (restarted 2 times)"));
        assert!(coordinator_ok("none"));
        assert!(coordinator_ok(""));
        assert!(!coordinator_ok(
            "restarting (1 failures in a row): timed out"
        ));
        assert!(!coordinator_ok("failed: topic deleted"));
        assert!(!coordinator_ok("starting"));
    }
}

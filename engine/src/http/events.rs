//! `GET /api/events`: a live server-sent-event stream of task events (`event: task`) and
//! worker heartbeats (`event: worker`), each a JSON object. The first event, `ready`, says
//! the stream is subscribed: everything that happens after it is delivered.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::errors::ApiError;
use super::router::ApiState;
use axum::http::StatusCode;

/// `GET /api/events`; 503 when as many streams as allowed are open already.
pub(crate) async fn stream(
    State(state): State<Arc<ApiState>>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let permit = state.streams.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_streams",
            "as many event streams as this server allows are open; try again later",
        )
    })?;
    let receiver = state.monitor.subscribe();
    let (totals, seen) = state.monitor.totals();
    let ready = serde_json::json!({"totals": totals, "events_seen": seen});
    let first = Event::default().event("ready").data(ready.to_string());
    // The permit lives as long as the stream does.
    let live = futures::stream::unfold((receiver, permit), |(mut receiver, permit)| async move {
        let event = match receiver.recv().await {
            Ok(value) => {
                let kind = value
                    .get("type")
                    .and_then(|t| t.as_str())
                    .unwrap_or("message")
                    .to_owned();
                Event::default().event(kind).data(value.to_string())
            }
            Err(RecvError::Lagged(skipped)) => Event::default()
                .event("lagged")
                .data(serde_json::json!({"skipped": skipped}).to_string()),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), (receiver, permit)))
    });
    let stream = futures::StreamExt::chain(futures::stream::once(async { Ok(first) }), live);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

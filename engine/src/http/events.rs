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

use super::router::ApiState;

/// `GET /api/events`.
pub(crate) async fn stream(
    State(state): State<Arc<ApiState>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = state.monitor.subscribe();
    let (totals, seen) = state.monitor.totals();
    let ready = serde_json::json!({"totals": totals, "events_seen": seen});
    let first = Event::default().event("ready").data(ready.to_string());
    let live = futures::stream::unfold(receiver, |mut receiver| async move {
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
        Some((Ok(event), receiver))
    });
    let stream = futures::StreamExt::chain(futures::stream::once(async { Ok(first) }), live);
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

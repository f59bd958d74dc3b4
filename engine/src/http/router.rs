//! The route table and the layers around it: the browser guard (host, origin, JSON bodies),
//! auth, body limit, request timeout, and a JSON 404/405 for anything else.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio_util::sync::CancellationToken;

use super::errors::ApiError;
use super::idempotency::Idempotency;
use super::monitor::Monitor;
use super::ServeOptions;
use crate::{App, Result};

/// What every handler shares.
pub(crate) struct ApiState {
    pub(crate) app: App,
    pub(crate) token: Option<String>,
    pub(crate) monitor: Arc<Monitor>,
    pub(crate) idempotency: Idempotency,
    pub(crate) allow_unregistered: bool,
    pub(crate) request_timeout: Duration,
    /// The longest `wait_ms` a task read takes: a second under the request timeout.
    pub(crate) max_wait_ms: u64,
    /// Host names served without a token besides loopback ones.
    pub(crate) allowed_hosts: Vec<String>,
    /// One permit per live event stream.
    pub(crate) streams: Arc<tokio::sync::Semaphore>,
}

/// Builds the router for `app`: starts the monitor that follows the events topic and opens
/// the idempotency store under the state directory.
pub(crate) async fn router(
    app: &App,
    options: &ServeOptions,
    cancel: CancellationToken,
) -> Result<Router> {
    let monitor = Monitor::start(app.clone(), cancel).await?;
    let idempotency = Idempotency::open(&app.state_dir().join("http-idempotency"))?;
    let state = Arc::new(ApiState {
        app: app.clone(),
        token: options.token.clone().filter(|t| !t.is_empty()),
        monitor,
        idempotency,
        allow_unregistered: options.allow_unregistered,
        request_timeout: options.request_timeout,
        max_wait_ms: u64::try_from(options.request_timeout.as_millis())
            .unwrap_or(u64::MAX)
            .saturating_sub(1000)
            .min(super::tasks::MAX_WAIT_MS),
        allowed_hosts: options.allowed_hosts.clone(),
        streams: Arc::new(tokio::sync::Semaphore::new(options.max_event_streams)),
    });
    let api = Router::new()
        .route(
            "/api/tasks",
            post(super::tasks::submit).get(super::tasks::list),
        )
        .route("/api/tasks/{id}", get(super::tasks::show))
        .route("/api/tasks/{id}/revoke", post(super::tasks::revoke))
        .route("/api/workflows", post(super::workflows::submit))
        .route("/api/workflows/{id}", get(super::workflows::show))
        .route("/api/workers", get(super::workers::workers))
        .route("/api/queues", get(super::workers::queues))
        .route("/api/health", get(super::health::health))
        .route("/metrics", get(super::metrics::metrics))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            request_timeout,
        ))
        // The event stream lasts as long as the client wants: no request timeout.
        .route("/api/events", get(super::events::stream))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            super::auth::require_token,
        ));
    let router = Router::new()
        .merge(api)
        .merge(super::dashboard::routes())
        .route("/openapi.json", get(super::openapi::document))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(options.body_limit))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            super::guard::guard,
        ))
        .with_state(state);
    Ok(router)
}

/// Answers 503 when a request takes longer than the configured bound.
async fn request_timeout(
    State(state): State<Arc<ApiState>>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(state.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "request_timeout",
            format!(
                "the request took longer than {:?}; try again",
                state.request_timeout
            ),
        )
        .into_response(),
    }
}

async fn not_found(request: Request) -> ApiError {
    let path: String = request.uri().path().chars().take(200).collect();
    ApiError::not_found(format!("no route for {path:?}; see /openapi.json"))
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not allowed on {:?}; see /openapi.json",
            request.method(),
            request.uri().path()
        ),
    )
}

//! The HTTP API and dashboard of `celeriac serve` — what Flower and `celery inspect` give
//! Celery users, on one port.
//!
//! Routes (all JSON under `/api`, documented in [`openapi`] at `/openapi.json`):
//! `POST /api/tasks`, `GET /api/tasks`, `GET /api/tasks/{id}`, `POST /api/tasks/{id}/revoke`,
//! `POST /api/workflows`, `GET /api/workflows/{id}`, `GET /api/workers`, `GET /api/queues`,
//! `GET /api/events` (server-sent events), `GET /metrics` (Prometheus text) and the dashboard
//! at `/`.
//!
//! Hardening: a bearer token (compared in constant time) is required on every route but the
//! dashboard's static assets, and must be configured unless the server binds a loopback
//! address; request bodies are limited; a client that does not finish its request head in
//! time is cut off, and a request that takes too long is answered 503. Bad input is a 4xx
//! with a message saying what was wrong, never a 500.

mod auth;
mod dashboard;
mod errors;
mod events;
mod health;
mod idempotency;
mod metrics;
mod monitor;
pub mod openapi;
mod router;
mod server;
mod tasks;
mod workers;
mod workflows;

use std::net::SocketAddr;
use std::time::Duration;

pub use server::Server;

/// How `celeriac serve` listens and protects itself.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The address to bind (port 0 picks a free one).
    pub bind: SocketAddr,
    /// The bearer token every API request must carry; required unless `bind` is loopback.
    pub token: Option<String>,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long a client may take to send its request head.
    pub header_timeout: Duration,
    /// How long a request may take before it is answered 503 (not the event stream).
    pub request_timeout: Duration,
    /// Accept task names this process has not registered (their arguments go unchecked).
    pub allow_unregistered: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            token: None,
            body_limit: 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            allow_unregistered: false,
        }
    }
}

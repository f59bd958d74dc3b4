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
//! address. Without a token, a request must name an allowed host (`Host`: loopback names or
//! [`ServeOptions::allowed_hosts`], so a DNS-rebound page cannot read results) and a
//! state-changing one must not come from another origin (`Origin`); every request body is
//! `application/json` (415 otherwise), so a cross-site form cannot post a task. Request
//! bodies are limited; connections and event streams are capped (503 past the cap); a
//! client that does not finish its request head in time is cut off, and a request that takes
//! too long is answered 503. Bad input is a 4xx with a message saying what was wrong, never
//! a 500.

mod auth;
mod dashboard;
mod errors;
mod events;
mod guard;
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
    /// Host names (without port) a request may name when no token is set, besides
    /// `localhost`, `127.0.0.1` and `::1`.
    pub allowed_hosts: Vec<String>,
    /// Connections served at once; past this a new one is answered 503 and closed.
    pub max_connections: usize,
    /// Live event streams (`/api/events`) at once; past this one is answered 503.
    pub max_event_streams: usize,
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
            allowed_hosts: Vec::new(),
            max_connections: 1024,
            max_event_streams: 64,
        }
    }
}

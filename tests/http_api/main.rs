//! `celeriac serve` end to end, in one test binary: every route, idempotency and auth
//! (`routes`), malformed and hostile requests (`hostile`), and the dashboard in headless
//! Chromium (`dashboard`). The server runs on 127.0.0.1:0 with an in-process worker.

#[path = "../support/mod.rs"]
mod support;

mod client;
mod dashboard;
mod hostile;
mod routes;

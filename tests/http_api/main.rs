//! `celeriac serve` end to end, in one test binary: every route, idempotency and auth
//! (`routes`), malformed and hostile requests (`hostile`), what a web page could do without a
//! token and the connection caps (`browser`), the dashboard in headless
//! Chromium (`dashboard`), the `celeriac serve` command itself (`command`), the OpenAPI
//! document checked by schemathesis (`contract`) and task states that come only from result
//! records (`truth`). The server runs on 127.0.0.1 with an in-process worker.

#[path = "../support/mod.rs"]
mod support;

mod browser;
mod client;
mod command;
mod contract;
mod dashboard;
mod hostile;
mod routes;
mod truth;

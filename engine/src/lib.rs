//! The Celeriac engine: app, tasks, workers, coordinator, results, beat and HTTP API.
//!
//! - [`App`]: where the log is, which tasks exist, how they are routed; `app.task(..)`
//!   registers a function and returns its typed [`Task`] handle (`delay`, `apply_async`,
//!   `apply`, and the canvas signatures `s`, `si`, `partial`).
//! - [`WorkerBuilder`]: consumes queues and runs tasks (`app.worker().spawn()`).
//! - [`AsyncResult`]: waits for a result from any process that reaches the log.
//! - [`inspect`]: `app.control()`, `app.workers(..)`, `app.queues()`, `app.events(..)` —
//!   see and steer a running cluster.
//! - [`http`]: `celeriac serve` — the HTTP API, live events, metrics and the dashboard
//!   (`app.serve(ServeOptions)`).

mod app;
pub mod beat;
pub mod config;
pub mod coordinator;
mod demo;
mod error;
mod host;
pub mod http;
pub mod inspect;
mod names;
mod registry;
mod results;
mod startup;
mod task;
mod worker;

pub use app::{App, AppBuilder, SendOptions, StepState, WorkflowHandle, PARKED_HEADER};
pub use config::Config;
pub use error::{Error, Result};
pub use inspect::{
    Control, Event, EventStream, EventsFrom, InspectKind, PartitionLag, QueueStatus, WorkerStatus,
};
pub use names::{validate_queue, TopicNames, MAX_QUEUE_NAME, RECORD_OVERHEAD, WORKFLOW_MAX_BYTES};
pub use results::{AsyncResult, CacheStats, ReaderStats};
pub use task::{
    ApplyAsync, Ctx, DeliveryInfo, Request, RetryRequest, Task, TaskError, TaskOptions,
};
pub use worker::rate_limit::RateLimit;
pub use worker::{ActiveTask, WorkerBuilder, WorkerHandle, LEAVE_WITHIN};

/// A map keyed by task id: ids are random, so a fast seeded hash (foldhash) serves where
/// SipHash cost a few percent of `celeriac bench tasks` on the per-task maps.
pub(crate) type IdMap<V> = std::collections::HashMap<uuid::Uuid, V, foldhash::fast::RandomState>;

/// Locks a mutex, taking the data even if a panicking thread poisoned it: every critical
/// section here leaves the data consistent between statements.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

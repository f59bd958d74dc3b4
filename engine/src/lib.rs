//! The Celeriac engine: app, tasks, workers, coordinator, results, beat and HTTP API.

pub mod coordinator;
mod names;
mod worker;

pub use names::TopicNames;
pub use worker::rate_limit::RateLimit;

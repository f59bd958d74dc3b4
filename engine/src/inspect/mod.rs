//! Inspection and control: what `celeriac inspect`, `celeriac control`, `celeriac events`
//! and the HTTP API use to see and steer a running cluster.
//!
//! - [`Control`] (`app.control()`): ping and inspect workers over the control topic and
//!   collect their replies ([`InspectKind`]; typed bodies in [`replies`]); revoke,
//!   terminate, rate limit, shutdown.
//! - [`WorkerStatus`] (`app.workers(within)`): workers as their heartbeats show them.
//! - [`QueueStatus`] (`app.queues()`): each queue topic's partitions and its worker group's
//!   lag.
//! - [`EventStream`] (`app.events(from)`): a live tail of task events and heartbeats.
//! - [`WorkflowStatus`] (`app.workflow_status(id)`): a workflow's spec and step states, read
//!   from the log.

mod control;
mod events;
mod queues;
pub mod replies;
mod workers;
mod workflow;

pub use control::{Control, InspectKind};
pub use events::{Event, EventStream, EventsFrom};
pub use queues::{PartitionLag, QueueStatus};
pub use replies::{decode_body, ActiveEntry, Pong, ReservedEntry, ScheduledEntry, WorkerStats};
pub use workers::{WorkerStatus, ALIVE_WITHIN};
pub use workflow::WorkflowStatus;

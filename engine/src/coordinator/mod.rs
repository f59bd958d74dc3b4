//! The coordinator: runs workflows, timers and results from the log.
//!
//! It consumes `workflows`, `timers` and `events` for the partitions it owns (one consumer
//! group, co-partitioned topics) and keeps in RocksDB the workflow specs, per-step state,
//! results, the timer index and the input offsets it applied. Ready steps and due timers
//! are published to their queues; results go to the store and to `results`.
//!
//! - [`Core`]: the deterministic core, `apply(state, input, now) -> actions`, over
//!   [`StateAccess`] ([`MemoryState`] in tests, a RocksDB write batch in the runner).
//! - [`Coordinator`]: the I/O loop — consume, apply, publish and commit offsets in one
//!   transaction, then write the state batch; restore newly owned partitions from the log.
//! - [`CoordinatorStore`]: read access to the state (task results, workflow views, digest).
//! - [`replay`]: rebuild a store from the log into a fresh directory.
//!
//! # Record conventions
//!
//! Keys are ids as hyphenated lower-case text ([`record_key`]). `workflows`: `WorkflowSpec`,
//! key the workflow id; a known id is a no-op. `events`: `TaskEvent`, key the root id
//! (worker heartbeats are read past). `timers`: `TaskMessage` with an `eta` arms a timer;
//! one without an eta is the marker of a fired timer (see [`TIMER_DUE_HEADER`]). A MAP or
//! STARMAP step's message carries [`STEP_KIND_HEADER`]. A record that is not what its topic
//! carries goes to `dead`; it never stops the coordinator.

mod core;
mod cycle;
mod error;
mod events;
mod faults;
mod plan;
mod replay;
mod restore;
mod runner;
mod state;
mod store;
mod supervise;
mod timers;
mod txn;
mod watchdog;
mod workflow;

pub use self::core::{record_key, Action, Core, CoreConfig, CoreStats, Input, RecordMeta, Source};
pub use self::error::{Error, Result};
pub use self::replay::{replay, ReplayOptions, ReplayProgress, ReplaySummary};
pub use self::runner::{Coordinator, CoordinatorBuilder, CoordinatorHandle};
pub use self::state::{MemoryState, StateAccess, StepStatus, Table};
pub use self::store::{task_result, CoordinatorStore, StepView, StoreCounts, WorkflowView};
pub use self::supervise::{supervise, CoordinatorState, RestartPolicy, SupervisedCoordinator};
pub use self::timers::TIMER_DUE_HEADER;
pub use self::workflow::STEP_KIND_HEADER;

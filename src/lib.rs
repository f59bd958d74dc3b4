//! Celeriac: Celery's model of distributed work — tasks, retries, countdowns, chains,
//! groups, chords, periodic schedules, results — rebuilt in Rust on an event log.
//!
//! Every step of work is an Avro record on a Kafka topic (or on the embedded log when no
//! broker is configured); state lives in RocksDB stores that replaying the log rebuilds.
//!
//! ```no_run
//! use celeriac::prelude::*;
//!
//! # async fn demo() -> celeriac::Result<()> {
//! let app = App::from_env().await?; // CELERIAC_BROKERS unset → the embedded log in ./.celeriac
//! let add = app.task("add", |(x, y): (i64, i64)| async move { Ok(x + y) })?;
//! let worker = app.worker().concurrency(8).spawn();
//! assert_eq!(add.delay((2, 3)).await?.get(secs(10)).await?, 5);
//! worker.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! The crates underneath: [`schemas`] (the Avro contract), [`topics`] (the log),
//! [`canvas`] (chain, group, chord compiled to a DAG), [`engine`] (app, workers,
//! coordinator, results). [`cli`] is the `celeriac` command line, also for your own binary.

pub mod cli;

pub use celeriac_canvas as canvas;
pub use celeriac_engine as engine;
pub use celeriac_schemas as schemas;
pub use celeriac_topics as topics;

pub use celeriac_engine::{
    App, AppBuilder, AsyncResult, Ctx, Error, Result, Task, TaskError, TaskOptions,
};

/// What most programs need: `use celeriac::prelude::*;`.
pub mod prelude {
    pub use celeriac_canvas::{chain, chord, group, ThenExt};
    pub use celeriac_engine::{App, AsyncResult, Ctx, Task, TaskError, TaskOptions};

    pub use crate::{millis, secs};
}

/// `n` seconds.
pub fn secs(n: u64) -> std::time::Duration {
    std::time::Duration::from_secs(n)
}

/// `n` milliseconds.
pub fn millis(n: u64) -> std::time::Duration {
    std::time::Duration::from_millis(n)
}

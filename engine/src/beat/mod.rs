//! Beat: periodic tasks with one leader, no double fire and no silent miss.
//!
//! Celery runs exactly one `celery beat` and publishes every task twice when two run. Any
//! number of Celeriac beat processes may run: the one that owns the single partition of the
//! `<prefix>.beat` topic in its consumer group leads, and every window it settles is written
//! to that topic in the same transaction as the task it publishes (see [`Beat`] for how a new
//! leader picks up exactly where the last one stopped).
//!
//! - Schedules: [`Crontab`] (cron syntax, time zones with daylight saving handled),
//!   [`Interval`], once ([`Schedule::Once`]); [`Entry`] adds the task name, JSON arguments,
//!   queue, expiry and a [`CatchUp`] policy for missed windows.
//! - Configuration: [`BeatConfig`] from the `[beat]` section of `celeriac.toml`, or in code.
//! - Time: beat reads it only through [`Clock`]; [`FakeClock`] lets tests drive it.
//! - The decisions are a deterministic [`Ledger`], the I/O is [`Beat`]; [`run`] is what the
//!   `celeriac beat` command calls.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use celeriac_engine::beat::{self, BeatConfig};
//! use celeriac_engine::TopicNames;
//! use celeriac_topics::{open, LogConfig};
//!
//! let config = BeatConfig::from_file("celeriac.toml")?;
//! let log = open(LogConfig::embedded("./.celeriac/log")).await?;
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! beat::run(config, log, TopicNames::default(), shutdown).await?;
//! # Ok(()) }
//! ```

mod clock;
mod config;
mod crontab;
mod entry;
mod error;
mod fire;
mod ledger;
mod runner;
mod schedule;

pub use chrono_tz::Tz;
pub use clock::{Clock, FakeClock, SystemClock};
pub use config::{BeatConfig, DEFAULT_GRACE, DEFAULT_SESSION_TIMEOUT, DEFAULT_TICK};
pub use crontab::Crontab;
pub use entry::{CatchUp, Entry};
pub use error::{Error, Result};
pub use fire::{fire_task_id, HEADER_ENTRY, HEADER_WINDOW};
pub use ledger::{Action, Due, Ledger, FIRE_EACH_BATCH, MISSED_COUNT_CAP};
pub use runner::{run, Beat, BeatBuilder, BeatStatus};
pub use schedule::{Interval, Schedule};

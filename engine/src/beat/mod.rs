//! Beat: periodic tasks with one leader, no double fire and no silent miss.
//!
//! Celery runs exactly one `celery beat` and publishes every task twice when two run. Any
//! number of Celeriac beat processes may run: the one that owns the single partition of the
//! `<prefix>.beat` topic in its consumer group leads, and every window it settles is written
//! to that topic in the same transaction as the task it publishes (how a new leader picks up exactly
//! where the last one stopped comes with the leader, next).
//!
//! - Schedules: [`Crontab`] (cron syntax, time zones with daylight saving handled),
//!   [`Interval`], once ([`Schedule::Once`]); [`Entry`] adds the task name, JSON arguments,
//!   queue, expiry and a [`CatchUp`] policy for missed windows.
//! - Configuration: [`BeatConfig`] from the `[beat]` section of `celeriac.toml`, or in code.
//! - Time: beat reads it only through [`Clock`]; [`FakeClock`] lets tests drive it.

mod clock;
mod config;
mod crontab;
mod entry;
mod error;
mod schedule;

pub use chrono_tz::Tz;
pub use clock::{Clock, FakeClock, SystemClock};
pub use config::{BeatConfig, DEFAULT_GRACE, DEFAULT_TICK};
pub use crontab::Crontab;
pub use entry::{CatchUp, Entry};
pub use error::{Error, Result};
pub use schedule::{Interval, Schedule};

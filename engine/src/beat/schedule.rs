//! When an entry is due: a crontab, a fixed interval, or once.
//!
//! A schedule is a sequence of *windows* — the instants the entry is due — that depends on
//! nothing but the schedule, so every beat process computes the same windows and a window
//! names one fire wherever it is decided.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::crontab::Crontab;
use super::error::{Error, Result};

/// When an entry is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Wall-clock times of a crontab expression in its time zone.
    Crontab(Crontab),
    /// Every `every`, on a grid through `anchor` (see [`Interval`]).
    Interval(Interval),
    /// Once, at this instant.
    Once(DateTime<Utc>),
}

/// A fixed interval: the windows are `anchor + k × every` for every whole `k`. The default
/// anchor is the Unix epoch, so `every 15 minutes` fires at :00, :15, :30 and :45 UTC and the
/// windows do not depend on when a beat process started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    every_ms: i64,
    anchor: DateTime<Utc>,
}

impl Interval {
    /// Every `every` (at least one millisecond), on a grid through the Unix epoch.
    pub fn new(every: Duration) -> Result<Self> {
        let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
        if every_ms < 1 {
            return Err(Error::Config(format!(
                "an interval must be at least 1 ms, not {every:?}"
            )));
        }
        Ok(Interval {
            every_ms,
            anchor: DateTime::UNIX_EPOCH,
        })
    }

    /// The same interval on a grid through `anchor` instead of the epoch.
    pub fn anchored_at(mut self, anchor: DateTime<Utc>) -> Self {
        self.anchor = anchor;
        self
    }

    /// The period.
    pub fn every(&self) -> Duration {
        Duration::from_millis(self.every_ms.unsigned_abs())
    }

    /// The first window strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let since_anchor = (after - self.anchor).num_milliseconds();
        let k = since_anchor.div_euclid(self.every_ms).checked_add(1)?;
        let offset = k.checked_mul(self.every_ms)?;
        self.anchor
            .checked_add_signed(TimeDelta::try_milliseconds(offset)?)
    }
}

impl Schedule {
    /// A crontab schedule from an expression, in UTC (see [`Crontab::parse`]).
    pub fn cron(expression: &str) -> Result<Self> {
        Crontab::parse(expression).map(Schedule::Crontab)
    }

    /// A fixed interval on a grid through the Unix epoch (see [`Interval`]).
    pub fn every(every: Duration) -> Result<Self> {
        Interval::new(every).map(Schedule::Interval)
    }

    /// Once, at `at`.
    pub fn once(at: DateTime<Utc>) -> Self {
        Schedule::Once(at)
    }

    /// The first window strictly after `after`, or `None` when there is none (a one-shot in
    /// the past, or a time beyond the calendar).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Crontab(crontab) => crontab.next_after(after),
            Schedule::Interval(interval) => interval.next_after(after),
            Schedule::Once(at) => (*at > after).then_some(*at),
        }
    }

    /// True for [`Schedule::Once`]: its window is absolute, so it is due even if the entry is
    /// first seen after it.
    pub fn is_once(&self) -> bool {
        matches!(self, Schedule::Once(_))
    }
}

impl From<Crontab> for Schedule {
    fn from(crontab: Crontab) -> Self {
        Schedule::Crontab(crontab)
    }
}

impl From<Interval> for Schedule {
    fn from(interval: Interval) -> Self {
        Schedule::Interval(interval)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Crontab(crontab) => write!(f, "cron {crontab}"),
            Schedule::Interval(interval) => write!(f, "every {:?}", interval.every()),
            Schedule::Once(at) => write!(f, "once at {}", at.to_rfc3339()),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(s, 0).single().expect("valid time")
    }

    #[test]
    fn intervals_sit_on_a_grid_through_the_anchor() {
        let every = Interval::new(Duration::from_secs(900)).expect("valid");
        assert_eq!(every.next_after(at(0)), Some(at(900)));
        assert_eq!(every.next_after(at(899)), Some(at(900)));
        assert_eq!(every.next_after(at(900)), Some(at(1800)));
        let anchored = every.anchored_at(at(100));
        assert_eq!(anchored.next_after(at(0)), Some(at(100)));
        assert_eq!(anchored.next_after(at(-1000)), Some(at(-800)));
        assert!(Interval::new(Duration::ZERO).is_err());
    }

    #[test]
    fn once_fires_only_before_its_time() {
        let once = Schedule::once(at(50));
        assert_eq!(once.next_after(at(49)), Some(at(50)));
        assert_eq!(once.next_after(at(50)), None);
        assert!(once.is_once());
    }
}

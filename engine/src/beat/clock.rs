//! The clock seam: beat reads the time only through [`Clock`], so tests can drive it.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// Where beat reads the time. Beat never sleeps on the clock: it re-reads it at least once per
/// tick, so a [`FakeClock`] moved by a test is noticed within one tick.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The host's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// The host's time, shifted by `CELERIAC_CLOCK_OFFSET_MS` (a fault-run knob; see
    /// [`celeriac_schemas::clock_offset_ms`]).
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + TimeDelta::milliseconds(celeriac_schemas::clock_offset_ms())
    }
}

/// A clock that stands still until told to move. Clones share one time.
///
/// ```
/// use celeriac_engine::beat::{Clock, FakeClock};
/// use chrono::{TimeZone, Utc};
/// use std::time::Duration;
///
/// let clock = FakeClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now(), Utc.with_ymd_and_hms(2026, 1, 1, 0, 1, 30).unwrap());
/// ```
#[derive(Debug, Clone)]
pub struct FakeClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl FakeClock {
    /// A clock showing `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        FakeClock {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Sets the time (it may go backwards, as a real clock can).
    pub fn set(&self, now: DateTime<Utc>) {
        *self.lock() = now;
    }

    /// Moves the time forward by `by` (saturating at the end of the calendar).
    pub fn advance(&self, by: Duration) {
        let mut now = self.lock();
        let by = TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
        *now = now
            .checked_add_signed(by)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        // The guarded value is a plain time: a panic elsewhere cannot leave it half-written.
        self.now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }
}

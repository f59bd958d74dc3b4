//! Per-task options, Celery's task decorator arguments: retries and backoff, limits, routing.

use std::time::Duration;

use crate::worker::rate_limit::RateLimit;
use crate::{Error, Result};

/// How a task is run and retried. Built with chained setters:
///
/// ```
/// use std::time::Duration;
/// use celeriac_engine::TaskOptions;
/// let options = TaskOptions::new()
///     .max_retries(5)
///     .retry_backoff(true)
///     .rate_limit("10/s")
///     .time_limit(Duration::from_secs(30));
/// assert_eq!(options.max_retries, 5);
/// ```
#[derive(Debug, Clone)]
pub struct TaskOptions {
    /// Retries allowed after the first attempt (Celery's default is 3).
    pub max_retries: u32,
    /// Delay before a retry when the task does not name one.
    pub default_retry_delay: Duration,
    /// Exponential backoff: the n-th retry waits `retry_backoff_base · 2ⁿ`.
    pub retry_backoff: bool,
    /// The first backoff delay.
    pub retry_backoff_base: Duration,
    /// The longest backoff delay.
    pub retry_backoff_max: Duration,
    /// Randomise backoff delays between zero and the computed delay (full jitter).
    pub retry_jitter: bool,
    /// Error kinds (see [`TaskError::kind`](crate::TaskError::kind)) retried automatically.
    pub autoretry_for: Vec<String>,
    /// At most this many starts per period on one worker.
    pub rate_limit: Option<RateLimit>,
    /// Soft time limit: the context reports it passed; the task may clean up.
    pub soft_time_limit: Option<Duration>,
    /// Hard time limit: the attempt is aborted and fails.
    pub time_limit: Option<Duration>,
    /// The queue this task goes to unless a route or the call says otherwise.
    pub queue: Option<String>,
    /// Record a STARTED state when a worker starts the task.
    pub track_started: bool,
    /// Do not record the result (the terminal state is still recorded).
    pub ignore_result: bool,
    /// The function is CPU-bound: run it on the blocking pool.
    pub cpu_bound: bool,
    /// Rate-limit text that failed to parse, reported when the task is registered.
    invalid_rate_limit: Option<String>,
}

impl Default for TaskOptions {
    fn default() -> Self {
        Self {
            max_retries: 3,
            default_retry_delay: Duration::from_secs(180),
            retry_backoff: false,
            retry_backoff_base: Duration::from_secs(1),
            retry_backoff_max: Duration::from_secs(600),
            retry_jitter: true,
            autoretry_for: Vec::new(),
            rate_limit: None,
            soft_time_limit: None,
            time_limit: None,
            queue: None,
            track_started: false,
            ignore_result: false,
            cpu_bound: false,
            invalid_rate_limit: None,
        }
    }
}

impl TaskOptions {
    /// Celery's defaults: 3 retries, 180 s default delay, no limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the retry budget.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Sets the delay of a retry that names none (without backoff).
    pub fn default_retry_delay(mut self, delay: Duration) -> Self {
        self.default_retry_delay = delay;
        self
    }

    /// Turns exponential backoff on or off.
    pub fn retry_backoff(mut self, on: bool) -> Self {
        self.retry_backoff = on;
        self
    }

    /// Sets the first backoff delay.
    pub fn retry_backoff_base(mut self, base: Duration) -> Self {
        self.retry_backoff_base = base;
        self
    }

    /// Caps backoff delays.
    pub fn retry_backoff_max(mut self, max: Duration) -> Self {
        self.retry_backoff_max = max;
        self
    }

    /// Turns full jitter on or off.
    pub fn retry_jitter(mut self, on: bool) -> Self {
        self.retry_jitter = on;
        self
    }

    /// Retries automatically when the task fails with an error of this kind.
    pub fn autoretry_for(mut self, kind: impl Into<String>) -> Self {
        self.autoretry_for.push(kind.into());
        self
    }

    /// Limits starts per worker, e.g. `"10/s"`, `"100/m"`, `"1000/h"`. An invalid text is
    /// reported when the task is registered.
    pub fn rate_limit(mut self, rate: &str) -> Self {
        match rate.parse() {
            Ok(rate) => self.rate_limit = Some(rate),
            Err(_) => self.invalid_rate_limit = Some(rate.to_owned()),
        }
        self
    }

    /// Sets the soft time limit.
    pub fn soft_time_limit(mut self, limit: Duration) -> Self {
        self.soft_time_limit = Some(limit);
        self
    }

    /// Sets the hard time limit.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = Some(limit);
        self
    }

    /// Sets the task's default queue.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }

    /// Records STARTED when a worker starts the task.
    pub fn track_started(mut self, on: bool) -> Self {
        self.track_started = on;
        self
    }

    /// Does not keep the task's return value.
    pub fn ignore_result(mut self, on: bool) -> Self {
        self.ignore_result = on;
        self
    }

    /// Runs the task on the blocking pool (for CPU-bound work).
    pub fn cpu_bound(mut self, on: bool) -> Self {
        self.cpu_bound = on;
        self
    }

    /// True when every retry setting is Celery's default, so a queue's configured retry policy
    /// applies instead.
    pub(crate) fn retry_is_default(&self) -> bool {
        let d = Self::default();
        self.max_retries == d.max_retries
            && self.default_retry_delay == d.default_retry_delay
            && self.retry_backoff == d.retry_backoff
            && self.retry_backoff_base == d.retry_backoff_base
            && self.retry_backoff_max == d.retry_backoff_max
            && self.retry_jitter == d.retry_jitter
    }

    /// Checks the options; an invalid rate limit is an error naming the task.
    pub(crate) fn validate(&self, task: &str) -> Result<()> {
        if let Some(queue) = &self.queue {
            crate::validate_queue(queue)?;
        }
        match (
            &self.invalid_rate_limit,
            self.invalid_rate_limit
                .as_deref()
                .map(str::parse::<RateLimit>),
        ) {
            (Some(_), Some(Err(why))) => Err(Error::Config(format!("task {task:?}: {why}"))),
            _ => Ok(()),
        }
    }

    /// The delay before retry number `retries + 1`, or `None` when the budget is spent.
    /// `requested` is the task's own countdown; `unit` is a uniform sample in `[0, 1)` for
    /// jitter (passed in so the decision is deterministic under test).
    pub fn retry_delay(
        &self,
        retries: u32,
        requested: Option<Duration>,
        unit: f64,
    ) -> Option<Duration> {
        if retries >= self.max_retries {
            return None;
        }
        if let Some(countdown) = requested {
            return Some(countdown);
        }
        if !self.retry_backoff {
            return Some(self.default_retry_delay);
        }
        let factor = 2f64.powi(retries.min(62) as i32);
        let delay = (self.retry_backoff_base.as_secs_f64() * factor)
            .min(self.retry_backoff_max.as_secs_f64());
        let delay = if self.retry_jitter {
            delay * unit.clamp(0.0, 1.0)
        } else {
            delay
        };
        Some(Duration::from_secs_f64(delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_stops_at_the_budget() {
        let options = TaskOptions::new()
            .max_retries(4)
            .retry_backoff(true)
            .retry_jitter(false)
            .retry_backoff_base(Duration::from_secs(1))
            .retry_backoff_max(Duration::from_secs(5));
        let delays: Vec<_> = (0..5).map(|n| options.retry_delay(n, None, 0.5)).collect();
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(delays, vec![secs(1), secs(2), secs(4), secs(5), None]);
    }

    #[test]
    fn jitter_scales_and_an_explicit_countdown_wins() {
        let options = TaskOptions::new()
            .retry_backoff(true)
            .retry_backoff_base(Duration::from_secs(8));
        assert_eq!(
            options.retry_delay(0, None, 0.25),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            options.retry_delay(0, Some(Duration::from_millis(7)), 0.25),
            Some(Duration::from_millis(7))
        );
        assert_eq!(
            TaskOptions::new().retry_delay(0, None, 0.9),
            Some(Duration::from_secs(180))
        );
    }

    #[test]
    fn an_invalid_rate_limit_is_reported_with_the_task_name() {
        let error = TaskOptions::new()
            .rate_limit("fast")
            .validate("fetch")
            .expect_err("invalid");
        assert!(
            error.to_string().contains("fetch") && error.to_string().contains("fast"),
            "{error}"
        );
    }
}

//! A schedule entry: a named schedule and the task it publishes, as Celery's `beat_schedule`
//! holds them.

use std::time::Duration;

use serde::Deserialize;

use super::error::{Error, Result};
use super::schedule::Schedule;

/// What to do about windows that passed while no beat was leading (or the leader was late by
/// more than the beat's grace).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CatchUp {
    /// Publish the task once, for the latest missed window, however many were missed.
    #[default]
    FireOnce,
    /// Publish nothing for missed windows; record that they were skipped and wait for the next.
    Skip,
    /// Publish the task once for every missed window that is at most the beat's grace old, in
    /// order; older windows are recorded as skipped. For entries where each window is a unit
    /// of work (a per-second tick, an hourly roll-up) and a leader change must lose none.
    FireEach,
}

/// A named schedule and the task it publishes at each window.
///
/// ```
/// use celeriac_engine::beat::{CatchUp, Entry, Schedule};
/// use std::time::Duration;
///
/// let entry = Entry::new("cleanup-nightly", Schedule::cron("0 3 * * *")?, "tasks.cleanup")
///     .args(serde_json::json!([30]))
///     .queue("maintenance")
///     .expires(Duration::from_secs(3600))
///     .catch_up(CatchUp::Skip);
/// assert_eq!(entry.name(), "cleanup-nightly");
/// # Ok::<(), celeriac_engine::beat::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub(crate) name: String,
    pub(crate) schedule: Schedule,
    pub(crate) task: String,
    pub(crate) args: serde_json::Value,
    pub(crate) queue: String,
    pub(crate) expires: Option<Duration>,
    pub(crate) priority: Option<i32>,
    pub(crate) catch_up: CatchUp,
}

impl Entry {
    /// An entry called `name` publishing `task` with `null` arguments to queue `default` at each
    /// window of `schedule`, catching up missed windows by firing once.
    pub fn new(
        name: impl Into<String>,
        schedule: impl Into<Schedule>,
        task: impl Into<String>,
    ) -> Self {
        Entry {
            name: name.into(),
            schedule: schedule.into(),
            task: task.into(),
            args: serde_json::Value::Null,
            queue: "default".to_owned(),
            expires: None,
            priority: None,
            catch_up: CatchUp::FireOnce,
        }
    }

    /// The task's arguments, sent as `application/json` (`null` by default, which a task
    /// taking `()` accepts; `[2, 3]` for one taking `(i64, i64)`).
    pub fn args(mut self, args: serde_json::Value) -> Self {
        self.args = args;
        self
    }

    /// The queue to publish to (topic `<prefix>.tasks.<queue>`).
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = queue.into();
        self
    }

    /// Workers revoke rather than run the task once this long has passed since it was
    /// published (Celery's `expires` in seconds).
    pub fn expires(mut self, after: Duration) -> Self {
        self.expires = Some(after);
        self
    }

    /// The task's priority, 0 (lowest) to 9 (highest).
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = Some(priority);
        self
    }

    /// What to do about missed windows.
    pub fn catch_up(mut self, policy: CatchUp) -> Self {
        self.catch_up = policy;
        self
    }

    /// The entry's name: the key of its records on the beat topic.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When it is due.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The task name it publishes.
    pub fn task(&self) -> &str {
        &self.task
    }

    /// The queue it publishes to.
    pub fn queue_name(&self) -> &str {
        &self.queue
    }

    /// The catch-up policy for missed windows.
    pub fn catch_up_policy(&self) -> CatchUp {
        self.catch_up
    }

    /// Checks what a beat process needs of an entry; the error names the entry.
    pub fn validate(&self) -> Result<()> {
        let fail = |reason: String| Error::Entry {
            entry: self.name.clone(),
            reason,
        };
        if self.name.trim().is_empty() || self.name.chars().any(char::is_control) {
            return Err(fail(
                "the name must be non-empty and free of control characters".into(),
            ));
        }
        if self.task.trim().is_empty() {
            return Err(fail("the task name is empty".into()));
        }
        if let Err(error) = crate::validate_queue(&self.queue) {
            return Err(fail(error.to_string()));
        }
        if let Some(priority) = self.priority {
            if !(0..=9).contains(&priority) {
                return Err(fail(format!("priority {priority} is out of range 0-9")));
            }
        }
        if self.expires.is_some_and(|e| e.is_zero()) {
            return Err(fail("expires must be longer than zero".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_entry() {
        let schedule = Schedule::every(Duration::from_secs(1)).expect("valid");
        let bad = [
            Entry::new("", schedule.clone(), "t"),
            Entry::new("e1", schedule.clone(), " "),
            Entry::new("e2", schedule.clone(), "t").queue("bad queue"),
            Entry::new("e3", schedule.clone(), "t").priority(10),
            Entry::new("e4", schedule.clone(), "t").expires(Duration::ZERO),
        ];
        for entry in bad {
            let error = entry.validate().expect_err("invalid");
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("beat entry {:?}", entry.name())),
                "{error}"
            );
        }
        Entry::new("ok", schedule, "t")
            .queue("math.fast-1")
            .validate()
            .expect("valid");
    }
}

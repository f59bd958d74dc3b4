//! Built-in demo tasks the stock `celeriac` binary serves, for smoke checks and benchmarks:
//! `demo.noop`, `demo.add`, `demo.sum` (of a list: a chord body), `demo.sleep` (milliseconds),
//! `demo.fail`.

use std::time::Duration;

use crate::{App, Result, TaskError};

impl App {
    /// Registers `demo.noop()`, `demo.add(x, y)`, `demo.sum([x, …])`, `demo.sleep(ms)` and
    /// `demo.fail(message)`.
    pub fn register_demo_tasks(&self) -> Result<()> {
        self.task("demo.noop", |(): ()| async move { Ok(()) })?;
        self.task("demo.add", |(x, y): (i64, i64)| async move {
            x.checked_add(y)
                .ok_or_else(|| TaskError::new("OverflowError", format!("{x} + {y} overflows")))
        })?;
        self.task("demo.sum", |xs: Vec<i64>| async move {
            xs.iter()
                .try_fold(0i64, |total, x| total.checked_add(*x))
                .ok_or_else(|| TaskError::new("OverflowError", "the sum overflows"))
        })?;
        self.task("demo.sleep", |ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(ms)
        })?;
        self.task("demo.fail", |message: String| async move {
            Err::<(), _>(TaskError::new("DemoError", message))
        })?;
        Ok(())
    }
}

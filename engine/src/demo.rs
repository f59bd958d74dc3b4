//! Built-in demo tasks the stock `celeriac` binary serves, for smoke checks and benchmarks:
//! `demo.noop`, `demo.add`, `demo.sum` (of a list: a chord body), `demo.sleep` (milliseconds),
//! `demo.fail`, `demo.flaky` (retries through the timers topic before it succeeds).

use std::time::Duration;

use crate::{App, Ctx, Result, TaskError, TaskOptions};

impl App {
    /// Registers `demo.noop()`, `demo.add(x, y)`, `demo.sum([x, …])`, `demo.sleep(ms)`,
    /// `demo.fail(message)` and `demo.flaky(n)` — which asks to be retried (after 200 ms,
    /// doubling) until it has been retried `n` times, then returns `n`.
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
        let flaky = TaskOptions::new()
            .max_retries(10)
            .retry_backoff(true)
            .retry_jitter(false)
            .retry_backoff_base(Duration::from_millis(200))
            .retry_backoff_max(Duration::from_secs(2));
        self.task_with("demo.flaky", flaky, |ctx: Ctx, times: i64| async move {
            if i64::from(ctx.request().retries) < times {
                return Err(ctx.retry().because("not yet"));
            }
            Ok(times)
        })?;
        Ok(())
    }
}

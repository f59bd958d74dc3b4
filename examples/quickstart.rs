//! The quickstart: two tasks, an in-process worker, one task that retries, one with a
//! countdown. Runs on the embedded log with nothing to set up:
//!
//! ```sh
//! cargo run --example quickstart                               # embedded log in ./.celeriac
//! CELERIAC_BROKERS=127.0.0.1:9092 cargo run --example quickstart  # the same on Kafka
//! ```

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use celeriac::prelude::*;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let app = App::from_env().await?;

    // A plain task: the input is the positional arguments, here two of them.
    let add = app.task("add", |(x, y): (i64, i64)| async move { Ok(x + y) })?;

    // A flaky task: it fails twice with a retry request, then succeeds.
    let attempts = Arc::new(AtomicU32::new(0));
    let seen = attempts.clone();
    let flaky = app.task_with(
        "flaky",
        TaskOptions::new()
            .max_retries(5)
            .retry_backoff(true)
            .retry_backoff_base(millis(100)),
        move |ctx: Ctx, name: String| {
            let seen = seen.clone();
            async move {
                if seen.fetch_add(1, Ordering::SeqCst) < 2 {
                    return Err(ctx.retry().because("the service is warming up"));
                }
                Ok(format!(
                    "hello {name}, after {} retries",
                    ctx.request().retries
                ))
            }
        },
    )?;

    let worker = app.worker().concurrency(8).spawn();

    let sum = add.delay((2, 3)).await?.get(secs(10)).await?;
    println!("add(2, 3) = {sum}");

    let greeting = flaky
        .delay("celeriac".to_owned())
        .await?
        .get(secs(30))
        .await?;
    println!("flaky(\"celeriac\") = {greeting:?}");

    let sent = Instant::now();
    let later = add.apply_async((40, 2)).countdown(secs(1)).send().await?;
    let value = later.get(secs(30)).await?;
    println!(
        "add(40, 2) with a 1 s countdown = {value} (after {:.1} s)",
        sent.elapsed().as_secs_f64()
    );

    worker.shutdown().await?;
    Ok(())
}

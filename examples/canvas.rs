//! Canvases: a chain, a group, a chord, a nesting of them, and an error callback — each run
//! as one workflow whose fan-in the coordinator does exactly once.
//!
//! ```sh
//! cargo run --example canvas
//! ```

use celeriac::canvas::TaskFailure;
use celeriac::prelude::*;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let app = App::from_env().await?;
    let add = app.task("add", |(x, y): (i64, i64)| async move { Ok(x + y) })?;
    let mul = app.task("mul", |(x, y): (i64, i64)| async move { Ok(x * y) })?;
    let tsum = app.task("tsum", |xs: Vec<i64>| async move {
        Ok(xs.into_iter().sum::<i64>())
    })?;
    let fail = app.task("fail", |why: String| async move {
        Err::<i64, _>(TaskError::new("Oops", why))
    })?;
    let report = app.task("report", |failure: TaskFailure| async move {
        println!(
            "  error callback: step {} ({}) failed: {}",
            failure.step_id, failure.task, failure.error
        );
        Ok(())
    })?;
    let worker = app.worker().concurrency(8).spawn();

    // chain: (2 + 2) * 8 — the parent's result is the first argument of the next step.
    let value = app
        .submit(chain(add.s((2, 2)), mul.partial(8)))
        .await?
        .get(secs(30))
        .await?;
    println!("chain(add(2, 2), mul(8)) = {value}");

    // group: the list of results in member order.
    let values = app
        .submit(group((0..5).map(|i| add.s((i, i)))))
        .await?
        .get(secs(30))
        .await?;
    println!("group(add(i, i) for i in 0..5) = {values:?}");

    // chord: the header's results, in header order, go to the body once.
    let total = app
        .submit(chord((0..100).map(|i| add.s((i, i))), tsum.partial(())))
        .await?
        .get(secs(30))
        .await?;
    println!("chord(add(i, i) for i in 0..100, tsum) = {total}");

    // nesting: a chord whose header members are chains.
    let nested = chord(
        (1..=3).map(|i| chain(add.s((i, i)), mul.partial(10))),
        tsum.partial(()),
    );
    println!(
        "chord(chain(add(i, i), mul(10)) for i in 1..=3, tsum) = {}",
        app.submit(nested).await?.get(secs(30)).await?
    );

    // an error callback: the failing step's errback runs once; the workflow fails with its error.
    let failing = chain(
        fail.s("no luck".into()).link_error(report.partial(())),
        mul.partial(2),
    );
    match app.submit(failing).await?.get(secs(30)).await {
        Err(error) => println!("chain(fail, mul) failed as expected: {error}"),
        Ok(value) => println!("unexpected success: {value}"),
    }

    worker.shutdown().await?;
    Ok(())
}

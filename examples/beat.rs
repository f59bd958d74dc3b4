//! Periodic tasks: a beat in this process fires `tick` every second; a worker runs it. Start
//! this program twice against Kafka and only one of the two beats fires each window.
//!
//! ```sh
//! cargo run --example beat
//! ```

use celeriac::engine::beat::{Beat, Entry, Schedule};
use celeriac::prelude::*;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let app = App::from_env().await?;
    let (ticked, mut ticks) = tokio::sync::mpsc::unbounded_channel();
    app.task("tick", move |message: String| {
        let ticked = ticked.clone();
        async move {
            let _ = ticked.send(message);
            Ok(())
        }
    })?;
    let worker = app.worker().spawn();

    let every_second = Entry::new("every-second", Schedule::every(secs(1))?, "tick")
        .args(serde_json::json!(["hello"]));
    let beat = Beat::builder()
        .entries([every_second])
        .log(app.log().clone())
        .names(app.names().clone())
        .build()?;
    let shutdown = CancellationToken::new();
    let running = beat.spawn(shutdown.clone());

    for n in 1..=3 {
        let message = tokio::time::timeout(secs(30), ticks.recv())
            .await?
            .unwrap_or_default();
        println!("tick {n}: {message}");
    }
    shutdown.cancel();
    running.await??;
    worker.shutdown().await?;
    Ok(())
}

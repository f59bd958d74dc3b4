//! `celeriac beat`: the periodic scheduler. Any number may run; one leads at a time.

use celeriac_engine::beat;
use celeriac_engine::{App, Config};
use clap::Args;

use super::signal::LEAVE_WITHIN;

/// Options of `celeriac beat` (the schedule is the configuration's `[beat]` section; name
/// the file with the global `--config`).
#[derive(Debug, Args)]
pub(crate) struct BeatArgs {}

pub(crate) async fn run(app: &App, config: &Config, _args: &BeatArgs) -> anyhow::Result<()> {
    let beat_config = config.beat()?;
    let entries = beat_config.entries.len();
    let shutdown = super::signal::shutdown_token()?;
    let from = config
        .sources()
        .get("beat")
        .map_or_else(|| "no [beat] section".to_owned(), ToString::to_string);
    eprintln!("celeriac beat: {entries} entries from {from}; waiting to lead");
    let signalled = shutdown.clone();
    let running = beat::run(
        beat_config,
        app.log().clone(),
        app.names().clone(),
        shutdown,
    );
    tokio::pin!(running);
    let bounded = async {
        signalled.cancelled().await;
        tokio::time::sleep(LEAVE_WITHIN).await;
    };
    tokio::select! {
        result = &mut running => result?,
        // Safe to leave: the next leader's producer fences this one's open transaction.
        () = bounded => eprintln!(
            "the beat did not stop within {LEAVE_WITHIN:?} of the signal (the cluster does not \
             answer): leaving anyway"
        ),
    }
    Ok(())
}

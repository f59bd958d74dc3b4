//! `celeriac beat`: the periodic scheduler. Any number may run; one leads at a time.

use std::path::PathBuf;

use celeriac_engine::beat::{self, BeatConfig};
use celeriac_engine::App;
use clap::Args;

/// Options of `celeriac beat`.
#[derive(Debug, Args)]
pub(crate) struct BeatArgs {
    /// The configuration file whose `[beat]` section lists the schedule.
    #[arg(long, default_value = "celeriac.toml")]
    config: PathBuf,
}

pub(crate) async fn run(app: &App, args: &BeatArgs) -> anyhow::Result<()> {
    let config = BeatConfig::from_file(&args.config)?;
    let entries = config.entries.len();
    let shutdown = super::signal::shutdown_token()?;
    eprintln!(
        "celeriac beat: {entries} entries from {}; waiting to lead",
        args.config.display()
    );
    beat::run(config, app.log().clone(), app.names().clone(), shutdown).await?;
    Ok(())
}

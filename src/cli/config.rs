//! `celeriac config show`: the effective configuration — file, `CELERIAC_*` variables and
//! flags together — with where each value came from.

use celeriac_engine::Config;
use clap::{Args, Subcommand};

/// Options of `celeriac config`.
#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    #[command(subcommand)]
    action: ConfigAction,
}

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Print every setting's effective value and its source (secrets hidden).
    Show,
}

pub(crate) fn run(config: &Config, args: &ConfigArgs, json: bool) -> anyhow::Result<()> {
    match args.action {
        ConfigAction::Show if json => {
            // Secrets are shown as their source ({"file": …}, {"env": …}) or hidden.
            let mut value = serde_json::to_value(config)?;
            if let Some(kafka) = value.get_mut("kafka").and_then(|k| k.as_object_mut()) {
                for (key, entry) in kafka.iter_mut() {
                    if entry.is_string() && celeriac_engine::config::is_secret(key) {
                        *entry = serde_json::Value::String("<hidden>".into());
                    }
                }
            }
            println!("{value}");
        }
        ConfigAction::Show => print!("{}", config.show()),
    }
    Ok(())
}

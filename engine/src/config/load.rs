//! Finding `celeriac.toml`, laying `CELERIAC_*` variables over it, and remembering where each
//! value came from.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::env::{overrides, Override};
use super::Config;
use crate::{Error, Result};

/// The file read when no other is named.
pub const DEFAULT_FILE: &str = "celeriac.toml";

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The configuration file at this path.
    File(PathBuf),
    /// This environment variable.
    Env(String),
    /// This command-line flag.
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Env(variable) => write!(f, "${variable}"),
            Source::Flag(flag) => write!(f, "{flag}"),
        }
    }
}

/// The source of each value set, by its dotted key path (`worker.concurrency`,
/// `kafka."sasl.password"`); a key not listed has its default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources(BTreeMap<String, Source>);

impl Sources {
    /// Where the value at `key` came from, or `None` for a default.
    pub fn get(&self, key: &str) -> Option<&Source> {
        self.0.get(key)
    }

    /// Records that `key` was set by `source` (a command-line flag, say).
    pub fn set(&mut self, key: impl Into<String>, source: Source) {
        self.0.insert(key.into(), source);
    }

    fn forget(&mut self, key: &str) {
        let nested = format!("{key}.");
        self.0
            .retain(|path, _| path != key && !path.starts_with(&nested));
    }
}

/// A key path as `config show` and errors print it: segments joined by dots, a segment that
/// holds a dot quoted (`kafka."sasl.password"`).
pub(crate) fn key_path(segments: &[String]) -> String {
    segments
        .iter()
        .map(|s| {
            if s.contains('.') || s.is_empty() {
                format!("{s:?}")
            } else {
                s.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

impl Config {
    /// Loads the configuration: the file at `explicit`, else `CELERIAC_CONFIG`, else
    /// `celeriac.toml` in the working directory if it exists; then the process's `CELERIAC_*`
    /// variables over it.
    pub fn load(explicit: Option<&Path>) -> Result<Config> {
        let from_env = std::env::var_os("CELERIAC_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let file = match explicit.map(Path::to_path_buf).or(from_env) {
            Some(path) => Some(path),
            None => Some(PathBuf::from(DEFAULT_FILE)).filter(|p| p.is_file()),
        };
        let text = match &file {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|error| {
                Error::Config(format!("cannot read {}: {error}", path.display()))
            })?),
            None => None,
        };
        Self::assemble(
            file.as_deref().zip(text.as_deref()),
            std::env::vars().collect::<Vec<_>>(),
        )
    }

    /// Reads a configuration from TOML text alone (no file lookup, no environment).
    pub fn from_toml(text: &str) -> Result<Config> {
        Self::assemble(Some((Path::new(DEFAULT_FILE), text)), Vec::new())
    }

    /// The configuration of `file` (path and text) with `vars` laid over it.
    pub(crate) fn assemble(
        file: Option<(&Path, &str)>,
        vars: Vec<(String, String)>,
    ) -> Result<Config> {
        let mut sources = Sources::default();
        let mut document = toml::Table::new();
        if let Some((path, text)) = file {
            document = toml::from_str(text).map_err(|error| {
                Error::Config(format!("{}: not valid TOML: {error}", path.display()))
            })?;
            record_leaves(&document, &mut Vec::new(), path, &mut sources);
        }
        for Override {
            path,
            value,
            variable,
        } in overrides(vars)
        {
            apply(&mut document, &path, value.clone()).map_err(|detail| {
                Error::Config(format!("${variable} ({}): {detail}", key_path(&path)))
            })?;
            sources.forget(&key_path(&path));
            if value.is_some() {
                sources.set(key_path(&path), Source::Env(variable));
            }
        }
        let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(document))
            .map_err(|error| {
                let mut path = error.path().to_string();
                let mut message = error.inner().to_string();
                // toml adds the table's name on a line of its own; the path says it already.
                if let Some(cut) = message.find("\nin `") {
                    message.truncate(cut);
                }
                if let Some(field) = unknown_field(&message) {
                    if path == "." {
                        path = field;
                    } else if !path.ends_with(&format!(".{field}")) && path != field {
                        path = format!("{path}.{field}");
                    }
                }
                let origin = sources
                    .get(&path)
                    .map_or_else(|| file_name(file), |s| s.to_string());
                Error::Config(format!("{origin}: {path}: {message}"))
            })?;
        config.validate().map_err(|error| match error {
            Error::Config(message) => Error::Config(format!("{}: {message}", file_name(file))),
            other => other,
        })?;
        config.sources = sources;
        Ok(config)
    }

    /// Where each value set came from.
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// Mutable sources, for a command line that lays its flags over the configuration.
    pub fn sources_mut(&mut self) -> &mut Sources {
        &mut self.sources
    }
}

fn file_name(file: Option<(&Path, &str)>) -> String {
    file.map_or_else(
        || "the environment".to_owned(),
        |(path, _)| path.display().to_string(),
    )
}

/// The field serde calls unknown in `message`, if it is that error.
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest[..rest.find('`')?].to_owned())
}

/// Records every leaf of `table` (tables of tables are walked; arrays and inline values are
/// leaves) as coming from `file`.
fn record_leaves(table: &toml::Table, at: &mut Vec<String>, file: &Path, sources: &mut Sources) {
    for (key, value) in table {
        at.push(key.clone());
        match value {
            // `[beat]` and secrets written as `{ file = … }` are leaves as a whole.
            toml::Value::Table(inner) if !is_leaf_table(at) => {
                record_leaves(inner, at, file, sources)
            }
            _ => sources.set(key_path(at), Source::File(file.to_path_buf())),
        }
        at.pop();
    }
}

fn is_leaf_table(path: &[String]) -> bool {
    matches!(path.first().map(String::as_str), Some("beat"))
        || matches!(path.first().map(String::as_str), Some("kafka")) && path.len() == 2
        || path.len() == 4 && path[0] == "queues" && path[2] == "topic"
}

/// Sets (or with `None` removes) the value at `path` in `document`.
fn apply(
    document: &mut toml::Table,
    path: &[String],
    value: Option<toml::Value>,
) -> std::result::Result<(), String> {
    let (last, parents) = path.split_last().ok_or("an empty key")?;
    let mut table = document;
    for parent in parents {
        let entry = table
            .entry(parent.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry
            .as_table_mut()
            .ok_or_else(|| format!("{parent} is not a table in the file"))?;
    }
    match value {
        Some(value) => {
            table.insert(last.clone(), value);
        }
        None => {
            table.remove(last);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const FILE: &str = r#"
brokers = "file:9092"
result-expires = "2h"

[kafka]
"security.protocol" = "SASL_SSL"
"sasl.password" = { env = "SOME_VARIABLE" }

[worker]
concurrency = 4
queues = ["default", "math"]

[routes]
"math.slow_*" = "slow"
"math.*" = "math"

[queues.math]
partitions = 16
max-retries = 7
topic = { "retention.ms" = 60000 }
"#;

    #[test]
    fn a_file_with_variables_over_it() {
        let path = Path::new("deploy/celeriac.toml");
        let config = Config::assemble(
            Some((path, FILE)),
            vars(&[
                ("CELERIAC_WORKER_CONCURRENCY", "12"),
                ("CELERIAC_BROKERS", "env:9092"),
                ("CELERIAC_LOG", "debug"),
            ]),
        )
        .expect("valid");
        assert_eq!(config.brokers.as_deref(), Some("env:9092"));
        assert_eq!(config.worker.concurrency, Some(12));
        assert_eq!(config.result_expires, Some(Duration::from_secs(7200)));
        assert_eq!(
            config.routes.0,
            vec![
                ("math.slow_*".to_owned(), "slow".to_owned()),
                ("math.*".to_owned(), "math".to_owned())
            ],
            "routes keep the file's order"
        );
        assert_eq!(config.queues["math"].partitions, Some(16));
        assert_eq!(
            config.queues["math"].topic_configs("math").expect("text")["retention.ms"],
            "60000"
        );
        let sources = config.sources();
        assert_eq!(
            sources.get("worker.concurrency"),
            Some(&Source::Env("CELERIAC_WORKER_CONCURRENCY".into()))
        );
        assert_eq!(
            sources.get("worker.queues"),
            Some(&Source::File(path.into()))
        );
        assert_eq!(
            sources.get("kafka.\"sasl.password\""),
            Some(&Source::File(path.into()))
        );
        assert_eq!(sources.get("prefix"), None);
    }

    #[test]
    fn an_empty_variable_unsets_the_file_value() {
        let config = Config::assemble(
            Some((Path::new("celeriac.toml"), FILE)),
            vars(&[("CELERIAC_BROKERS", "")]),
        )
        .expect("valid");
        assert_eq!(config.brokers, None);
        assert_eq!(config.sources().get("brokers"), None);
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_key() {
        let cases = [
            ("[worker]\nconcurency = 4\n", "worker.concurency"),
            ("[worker]\nconcurrency = \"many\"\n", "worker.concurrency"),
            ("colour = \"blue\"\n", "colour"),
            (
                "[queues.math]\nmax-retries = -1\n",
                "queues.math.max-retries",
            ),
            ("[topics]\nretention = \"soon\"\n", "topics.retention"),
            ("[serve]\nbind = \"nowhere\"\n", "serve.bind"),
            ("partitions = 0\n", "partitions"),
            (
                "[topics]\nreplication-factor = 1\nmin-insync-replicas = 2\n",
                "min-insync-replicas",
            ),
            ("[beat]\ntick = \"0s\"\n", "beat"),
        ];
        for (text, key) in cases {
            let error = Config::from_toml(text).expect_err(text).to_string();
            assert!(error.contains(key), "{text:?}: {error}");
            assert!(error.contains("celeriac.toml"), "{text:?}: {error}");
        }
        let from_env = Config::assemble(None, vars(&[("CELERIAC_WORKER_PREFECTH", "3")]))
            .expect_err("unknown")
            .to_string();
        assert!(
            from_env.contains("worker.prefecth") && from_env.contains("CELERIAC_WORKER_PREFECTH"),
            "{from_env}"
        );
    }

    #[test]
    fn a_missing_file_named_explicitly_is_an_error() {
        let error = Config::load(Some(Path::new("/nonexistent/celeriac.toml")))
            .expect_err("missing")
            .to_string();
        assert!(error.contains("/nonexistent/celeriac.toml"), "{error}");
    }
}

//! `CELERIAC_*` environment variables as overrides of keys of `celeriac.toml`.
//!
//! | variable | key |
//! |---|---|
//! | `CELERIAC_BROKERS`, `CELERIAC_PREFIX`, `CELERIAC_STATE_DIR`, `CELERIAC_DEFAULT_QUEUE`, `CELERIAC_PARTITIONS`, `CELERIAC_RESULT_EXPIRES`, `CELERIAC_CONNECT_TIMEOUT` | the top-level key of the same name |
//! | `CELERIAC_KAFKA_SASL_PASSWORD` | `kafka."sasl.password"` (underscores become dots) |
//! | `CELERIAC_WORKER_CONCURRENCY`, `CELERIAC_SERVE_BIND`, `CELERIAC_TOPICS_REPLICATION_FACTOR`, … | `worker.concurrency`, `serve.bind`, `topics.replication-factor` (underscores become dashes) |
//!
//! An empty value unsets the key (the default applies again). Other `CELERIAC_*` variables
//! (`CELERIAC_CONFIG`, `CELERIAC_LOG`, …) are not configuration keys and are left alone.

/// One override: the key's path in the document, its value, and the variable it came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Override {
    pub(crate) path: Vec<String>,
    /// `None`: the variable is empty, so the key is removed.
    pub(crate) value: Option<toml::Value>,
    pub(crate) variable: String,
}

const TOP_LEVEL: &[&str] = &[
    "BROKERS",
    "PREFIX",
    "STATE_DIR",
    "DEFAULT_QUEUE",
    "PARTITIONS",
    "RESULT_EXPIRES",
    "CONNECT_TIMEOUT",
];

/// Keys whose values are text even when they look like numbers.
const TEXT_KEYS: &[&str] = &[
    "brokers",
    "prefix",
    "state-dir",
    "default-queue",
    "serve.bind",
    "serve.token-file",
];

/// The overrides among `vars`, in a stable order (by variable name).
pub(crate) fn overrides(vars: impl IntoIterator<Item = (String, String)>) -> Vec<Override> {
    let mut found: Vec<Override> = vars
        .into_iter()
        .filter_map(|(variable, raw)| {
            let path = path_of(&variable)?;
            let value = (!raw.trim().is_empty()).then(|| typed(&path, &raw));
            Some(Override {
                path,
                value,
                variable,
            })
        })
        .collect();
    found.sort_by(|a, b| a.variable.cmp(&b.variable));
    found
}

fn path_of(variable: &str) -> Option<Vec<String>> {
    let name = variable.strip_prefix("CELERIAC_")?;
    if TOP_LEVEL.contains(&name) {
        return Some(vec![dashed(name)]);
    }
    if let Some(property) = name.strip_prefix("KAFKA_").filter(|p| !p.is_empty()) {
        return Some(vec![
            "kafka".to_owned(),
            property.to_ascii_lowercase().replace('_', "."),
        ]);
    }
    for section in ["WORKER", "SERVE", "TOPICS"] {
        if let Some(key) = name
            .strip_prefix(section)
            .and_then(|rest| rest.strip_prefix('_'))
            .filter(|key| !key.is_empty())
        {
            return Some(vec![section.to_ascii_lowercase(), dashed(key)]);
        }
    }
    None
}

fn dashed(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// The TOML value a variable's text stands for at `path`.
fn typed(path: &[String], raw: &str) -> toml::Value {
    let key = path.join(".");
    let raw = raw.trim();
    if path[0] == "kafka" || TEXT_KEYS.contains(&key.as_str()) {
        return toml::Value::String(raw.to_owned());
    }
    if key == "worker.queues" {
        return toml::Value::Array(
            raw.split(',')
                .map(|q| toml::Value::String(q.trim().to_owned()))
                .filter(|q| q.as_str().is_some_and(|s| !s.is_empty()))
                .collect(),
        );
    }
    if let Ok(n) = raw.parse::<i64>() {
        return toml::Value::Integer(n);
    }
    match raw {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(variable: &str, value: &str) -> Option<Override> {
        overrides([(variable.to_owned(), value.to_owned())]).pop()
    }

    #[test]
    fn variables_map_to_keys_with_types() {
        let brokers = one("CELERIAC_BROKERS", "a:1,b:2").expect("maps");
        assert_eq!(brokers.path, ["brokers"]);
        assert_eq!(brokers.value, Some(toml::Value::String("a:1,b:2".into())));
        let password = one("CELERIAC_KAFKA_SASL_PASSWORD", "pw").expect("maps");
        assert_eq!(password.path, ["kafka", "sasl.password"]);
        let concurrency = one("CELERIAC_WORKER_CONCURRENCY", "4").expect("maps");
        assert_eq!(concurrency.path, ["worker", "concurrency"]);
        assert_eq!(concurrency.value, Some(toml::Value::Integer(4)));
        let replication = one("CELERIAC_TOPICS_REPLICATION_FACTOR", "3").expect("maps");
        assert_eq!(replication.path, ["topics", "replication-factor"]);
        let queues = one("CELERIAC_WORKER_QUEUES", "a, b").expect("maps");
        assert_eq!(
            queues.value,
            Some(toml::Value::Array(vec!["a".into(), "b".into()]))
        );
        let prefix = one("CELERIAC_PREFIX", "2026").expect("maps");
        assert_eq!(prefix.value, Some(toml::Value::String("2026".into())));
    }

    #[test]
    fn empty_values_unset_and_other_variables_are_left_alone() {
        assert_eq!(one("CELERIAC_BROKERS", "").expect("maps").value, None);
        for other in [
            "CELERIAC_CONFIG",
            "CELERIAC_LOG",
            "CELERIAC_TEST_BROKERS",
            "HOME",
        ] {
            assert_eq!(one(other, "x"), None, "{other}");
        }
    }
}

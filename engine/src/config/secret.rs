//! Values of `[kafka]` and topic configs: written inline, or read from a file or an
//! environment variable so a secret stays out of the file.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One `[kafka]` property value: `"SASL_SSL"`, `5`, `true`, `{ file = "/run/secrets/pw" }` or
/// `{ env = "KAFKA_PASSWORD" }`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum KafkaValue {
    /// Text, as librdkafka takes it.
    Text(String),
    /// A number, passed as its decimal text.
    Integer(i64),
    /// A flag, passed as `true` or `false`.
    Flag(bool),
    /// The trimmed contents of a file.
    File {
        /// The file's path.
        file: std::path::PathBuf,
    },
    /// The value of an environment variable.
    Env {
        /// The variable's name.
        env: String,
    },
}

impl KafkaValue {
    /// The value as librdkafka takes it; `key` names it in errors.
    pub fn resolve(&self, key: &str) -> Result<String> {
        match self {
            KafkaValue::Text(text) => Ok(text.clone()),
            KafkaValue::Integer(n) => Ok(n.to_string()),
            KafkaValue::Flag(on) => Ok(on.to_string()),
            KafkaValue::File { file } => std::fs::read_to_string(file)
                .map(|text| text.trim_end_matches(['\r', '\n']).to_owned())
                .map_err(|error| {
                    Error::Config(format!("{key}: cannot read {}: {error}", file.display()))
                }),
            KafkaValue::Env { env } => std::env::var(env).map_err(|_| {
                Error::Config(format!("{key}: the environment variable {env} is not set"))
            }),
        }
    }

    /// How `config show` prints it: secrets (by key name) hidden unless they come from a file
    /// or a variable, which are shown as such.
    pub(crate) fn display(&self, key: &str) -> String {
        match self {
            KafkaValue::File { file } => format!("{{ file = {:?} }}", file.display().to_string()),
            KafkaValue::Env { env } => format!("{{ env = {env:?} }}"),
            _ if is_secret(key) => "\"<hidden>\"".to_owned(),
            KafkaValue::Text(text) => format!("{text:?}"),
            KafkaValue::Integer(n) => n.to_string(),
            KafkaValue::Flag(on) => on.to_string(),
        }
    }
}

/// Property names that carry secrets: passwords, keys, tokens.
pub fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        ".key.pem",
        "jaas",
        "sasl.oauthbearer.config",
    ]
    .iter()
    .any(|part| key.contains(part))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_from_files_and_variables_and_are_hidden() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\n").expect("write");
        let file = KafkaValue::File { file: path.clone() };
        assert_eq!(file.resolve("kafka.pw").expect("reads"), "s3cret");
        let missing = KafkaValue::Env {
            env: "CELERIAC_TEST_UNSET_VARIABLE_42".into(),
        };
        let error = missing
            .resolve("kafka.\"sasl.password\"")
            .expect_err("unset");
        assert!(
            error
                .to_string()
                .contains("CELERIAC_TEST_UNSET_VARIABLE_42")
                && error.to_string().contains("sasl.password"),
            "{error}"
        );
        let inline = KafkaValue::Text("hunter2".into());
        assert_eq!(inline.display("sasl.password"), "\"<hidden>\"");
        assert_eq!(inline.display("sasl.username"), "\"hunter2\"");
        assert!(file.display("sasl.password").contains("file"));
    }
}

//! `celeriac config show`: the effective configuration as TOML, each value with its source.

use std::fmt::Write as _;

use super::duration::format_duration;
use super::load::key_path;
use super::{Config, Routes};
use crate::app::defaults as app;
use crate::http::ServeOptions;
use crate::worker::defaults as worker;

impl Config {
    /// The effective configuration as TOML text: every key with its value (defaults
    /// included) and, in a comment, where it came from. Secrets written inline are hidden.
    pub fn show(&self) -> String {
        let mut out = String::new();
        let mut section = Section {
            config: self,
            out: &mut out,
            at: Vec::new(),
        };
        section.top_level();
        section.kafka();
        section.topics();
        section.queues();
        section.routes();
        section.worker();
        section.serve();
        section.beat();
        out
    }
}

struct Section<'c> {
    config: &'c Config,
    out: &'c mut String,
    at: Vec<String>,
}

/// A value as TOML writes it.
fn toml_text(value: impl Into<toml::Value>) -> String {
    value.into().to_string()
}

impl Section<'_> {
    fn header(&mut self, path: &[&str]) {
        self.at = path.iter().map(|s| (*s).to_owned()).collect();
        let _ = writeln!(self.out, "\n[{}]", key_path(&self.at));
    }

    /// One `key = value  # source` line; `value` is `None` when neither set nor defaulted.
    fn line(&mut self, key: &str, set: Option<String>, default: Option<String>) {
        let mut path = self.at.clone();
        path.push(key.to_owned());
        let full = key_path(&path);
        let shown = key_path(&[key.to_owned()]);
        let source = self.config.sources().get(&full);
        let text = match (set, default) {
            (Some(value), _) => {
                let from = source.map_or_else(|| "set in code".to_owned(), ToString::to_string);
                format!("{shown} = {value}  # {from}")
            }
            (None, Some(value)) => format!("{shown} = {value}  # default"),
            (None, None) => format!("# {shown} is unset"),
        };
        let _ = writeln!(self.out, "{text}");
    }

    fn top_level(&mut self) {
        let c = self.config;
        let text = |s: &str| toml_text(s);
        let duration = |d| toml_text(format_duration(d));
        let _ = writeln!(
            self.out,
            "# the effective configuration; each value says where it came from"
        );
        match &c.brokers {
            Some(brokers) => self.line("brokers", Some(text(brokers)), None),
            None => {
                let _ = writeln!(
                    self.out,
                    "# brokers is unset: the embedded log under state-dir"
                );
            }
        }
        self.line(
            "prefix",
            c.prefix.as_deref().map(text),
            Some(text(app::PREFIX)),
        );
        self.line(
            "state-dir",
            c.state_dir.as_ref().map(|p| text(&p.display().to_string())),
            Some(text(app::STATE_DIR)),
        );
        self.line(
            "default-queue",
            c.default_queue.as_deref().map(text),
            Some(text(app::DEFAULT_QUEUE)),
        );
        self.line(
            "partitions",
            c.partitions.map(|n| toml_text(i64::from(n))),
            Some(toml_text(i64::from(app::PARTITIONS))),
        );
        self.line(
            "result-expires",
            c.result_expires.map(duration),
            Some(duration(app::RESULT_EXPIRES)),
        );
        self.line(
            "connect-timeout",
            c.connect_timeout.map(duration),
            Some(duration(app::CONNECT_TIMEOUT)),
        );
    }

    fn kafka(&mut self) {
        self.header(&["kafka"]);
        if self.config.kafka.is_empty() {
            let _ = writeln!(self.out, "# none: librdkafka's and Celeriac's defaults");
        }
        for (key, value) in &self.config.kafka {
            self.line(key, Some(value.display(key)), None);
        }
    }

    fn topics(&mut self) {
        let t = &self.config.topics;
        self.header(&["topics"]);
        self.line(
            "replication-factor",
            t.replication_factor.map(|n| toml_text(i64::from(n))),
            Some("\"min(3, brokers)\"".to_owned()),
        );
        self.line(
            "min-insync-replicas",
            t.min_insync_replicas.map(|n| toml_text(i64::from(n))),
            Some("\"replication factor - 1, at least 1\"".to_owned()),
        );
        self.line(
            "retention",
            t.retention.map(|d| toml_text(format_duration(d))),
            Some("\"the broker's (7d)\"".to_owned()),
        );
        self.line(
            "max-record-bytes",
            t.max_record_bytes.map(|n| toml_text(n as i64)),
            Some(toml_text(crate::WORKFLOW_MAX_BYTES as i64)),
        );
    }

    fn queues(&mut self) {
        for (name, q) in &self.config.queues {
            self.header(&["queues", name]);
            let duration =
                |d: Option<std::time::Duration>| d.map(|d| toml_text(format_duration(d)));
            let app_partitions = self.config.partitions.unwrap_or(app::PARTITIONS);
            self.line(
                "partitions",
                q.partitions.map(|n| toml_text(i64::from(n))),
                Some(toml_text(i64::from(app_partitions))),
            );
            self.line(
                "max-retries",
                q.max_retries.map(|n| toml_text(i64::from(n))),
                None,
            );
            self.line("default-retry-delay", duration(q.default_retry_delay), None);
            self.line("retry-backoff", q.retry_backoff.map(toml_text), None);
            self.line("retry-backoff-base", duration(q.retry_backoff_base), None);
            self.line("retry-backoff-max", duration(q.retry_backoff_max), None);
            self.line("retry-jitter", q.retry_jitter.map(toml_text), None);
            if !q.topic.is_empty() {
                self.header(&["queues", name, "topic"]);
                for (key, value) in &q.topic {
                    self.line(key, Some(value.display(key)), None);
                }
            }
        }
    }

    fn routes(&mut self) {
        let Routes(routes) = &self.config.routes;
        self.header(&["routes"]);
        if routes.is_empty() {
            let _ = writeln!(
                self.out,
                "# none: tasks go to their own queue or default-queue"
            );
        }
        for (pattern, queue) in routes {
            self.line(pattern, Some(toml_text(queue.as_str())), None);
        }
    }

    fn worker(&mut self) {
        let w = &self.config.worker;
        let default_queue = self
            .config
            .default_queue
            .clone()
            .unwrap_or_else(|| app::DEFAULT_QUEUE.to_owned());
        let concurrency = w.concurrency.unwrap_or(worker::CONCURRENCY);
        self.header(&["worker"]);
        self.line(
            "queues",
            w.queues.clone().map(toml_text),
            Some(toml_text(vec![default_queue])),
        );
        self.line(
            "concurrency",
            w.concurrency.map(|n| toml_text(n as i64)),
            Some(toml_text(worker::CONCURRENCY as i64)),
        );
        self.line(
            "prefetch",
            w.prefetch.map(|n| toml_text(n as i64)),
            Some(toml_text((concurrency * worker::PREFETCH_PER_SLOT) as i64)),
        );
        self.line("events", w.events.map(toml_text), Some(toml_text(false)));
        self.line(
            "grace",
            w.grace.map(|d| toml_text(format_duration(d))),
            Some(toml_text(format_duration(worker::GRACE))),
        );
    }

    fn serve(&mut self) {
        let s = &self.config.serve;
        let defaults = ServeOptions::default();
        let duration = |d| toml_text(format_duration(d));
        self.header(&["serve"]);
        self.line(
            "bind",
            s.bind.map(|b| toml_text(b.to_string())),
            Some(toml_text(defaults.bind.to_string())),
        );
        self.line(
            "token-file",
            s.token_file
                .as_ref()
                .map(|p| toml_text(p.display().to_string())),
            None,
        );
        self.line(
            "body-limit",
            s.body_limit.map(|n| toml_text(n as i64)),
            Some(toml_text(defaults.body_limit as i64)),
        );
        self.line(
            "header-timeout",
            s.header_timeout.map(duration),
            Some(duration(defaults.header_timeout)),
        );
        self.line(
            "request-timeout",
            s.request_timeout.map(duration),
            Some(duration(defaults.request_timeout)),
        );
        self.line(
            "allow-unregistered",
            s.allow_unregistered.map(toml_text),
            Some(toml_text(defaults.allow_unregistered)),
        );
        self.line("worker", s.worker.map(toml_text), Some(toml_text(false)));
        let hosts = |hosts: &Vec<String>| toml_text(toml::Value::from(hosts.clone()));
        self.line(
            "allowed-hosts",
            s.allowed_hosts.as_ref().map(hosts),
            Some(hosts(&defaults.allowed_hosts)),
        );
        self.line(
            "max-connections",
            s.max_connections.map(|n| toml_text(n as i64)),
            Some(toml_text(defaults.max_connections as i64)),
        );
        self.line(
            "max-event-streams",
            s.max_event_streams.map(|n| toml_text(n as i64)),
            Some(toml_text(defaults.max_event_streams as i64)),
        );
    }

    fn beat(&mut self) {
        let Some(beat) = &self.config.beat else {
            let _ = writeln!(self.out, "\n# [beat] is unset: no periodic entries");
            return;
        };
        let source = self
            .config
            .sources()
            .get("beat")
            .map_or_else(|| "set in code".to_owned(), ToString::to_string);
        let mut document = toml::Table::new();
        document.insert("beat".to_owned(), beat.clone());
        let text = toml::to_string(&document).unwrap_or_default();
        let _ = writeln!(self.out, "\n# [beat] from {source}\n{}", text.trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_gives_values_sources_and_defaults_and_hides_secrets() {
        let config = Config::from_toml(
            r#"
brokers = "k:9093"
[kafka]
"sasl.password" = "hunter2"
"sasl.username" = "app"
[worker]
concurrency = 3
[routes]
"math.*" = "math"
"#,
        )
        .expect("valid");
        let shown = config.show();
        assert!(
            shown.contains("brokers = \"k:9093\"  # celeriac.toml"),
            "{shown}"
        );
        assert!(
            shown.contains("concurrency = 3  # celeriac.toml"),
            "{shown}"
        );
        assert!(shown.contains("prefetch = 12  # default"), "{shown}");
        assert!(
            shown.contains("prefix = \"celeriac\"  # default"),
            "{shown}"
        );
        assert!(shown.contains("\"math.*\" = \"math\""), "{shown}");
        assert!(
            shown.contains("\"sasl.password\" = \"<hidden>\""),
            "{shown}"
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        let reread: toml::Table = toml::from_str(&shown).expect("show prints TOML");
        assert!(reread.contains_key("worker"));
    }
}

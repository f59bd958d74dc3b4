//! The `[beat]` section of `celeriac.toml`: settings and entries, kebab-case keys.
//!
//! ```toml
//! [beat]
//! timezone = "Europe/London"   # default zone of the entries' crontabs (UTC if absent)
//! catch-up = "fire-once"       # default policy for missed windows: "fire-once", "fire-each" or "skip"
//! grace = "1m"                 # a window this late still counts as on time
//! tick = "1s"                  # how often beat re-reads the clock and its group
//! session-timeout = "6s"       # how long a silent leader keeps the lead (Kafka)
//!
//! [beat.entries.cleanup-nightly]
//! task = "tasks.cleanup"
//! cron = "0 3 * * *"           # exactly one of cron, every, at
//! args = [30]                  # any TOML value, sent as JSON
//! queue = "maintenance"
//! expires = "1h"
//! catch-up = "skip"
//!
//! [beat.entries.heartbeat]
//! task = "tasks.ping"
//! every = "30s"                # "500ms", "90s", "15m", "1h30m", "2d", or a number of seconds
//!
//! [beat.entries.launch]
//! task = "tasks.launch"
//! at = 2026-12-24T18:00:00Z    # or a local time in the entry's timezone
//! ```
//!
//! Every mistake is an error naming the entry it is in; other sections of the file are left
//! to their owners.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use super::crontab::Crontab;
use super::entry::{CatchUp, Entry};
use super::error::{Error, Result};
use super::schedule::Schedule;
use crate::config::duration::parse_duration;

/// Default of [`BeatConfig::grace`].
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60);
/// Default of [`BeatConfig::tick`].
pub const DEFAULT_TICK: Duration = Duration::from_secs(1);
/// Default of [`BeatConfig::session_timeout`]: 6 s, the lowest a Kafka broker accepts by
/// default (`group.min.session.timeout.ms`).
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(6);

/// Beat's settings and entries, from code or from `celeriac.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct BeatConfig {
    /// The entries, in name order when read from a file.
    pub entries: Vec<Entry>,
    /// A window at most this late still counts as on time (fires whatever the catch-up policy).
    pub grace: Duration,
    /// How often beat re-reads the clock and polls its group, at most.
    pub tick: Duration,
    /// On Kafka, how long the beat group waits for a silent member before it gives the lead to
    /// another: the failover time after a leader dies without leaving the group (kill -9, power
    /// loss). Windows due meanwhile are caught up by the new leader under each entry's
    /// [`CatchUp`] policy. It must lie within the broker's `group.min.session.timeout.ms` and
    /// `group.max.session.timeout.ms` (6 s and 30 min by default); the embedded log ignores it.
    pub session_timeout: Duration,
}

impl Default for BeatConfig {
    fn default() -> Self {
        BeatConfig {
            entries: Vec::new(),
            grace: DEFAULT_GRACE,
            tick: DEFAULT_TICK,
            session_timeout: DEFAULT_SESSION_TIMEOUT,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawBeat {
    timezone: Option<String>,
    catch_up: Option<CatchUp>,
    grace: Option<toml::Value>,
    tick: Option<toml::Value>,
    session_timeout: Option<toml::Value>,
    #[serde(default)]
    entries: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawEntry {
    task: String,
    cron: Option<String>,
    every: Option<toml::Value>,
    at: Option<toml::Value>,
    timezone: Option<String>,
    args: Option<toml::Value>,
    queue: Option<String>,
    expires: Option<toml::Value>,
    priority: Option<i32>,
    catch_up: Option<CatchUp>,
}

impl BeatConfig {
    /// Reads the `[beat]` section of a whole `celeriac.toml`; no section means no entries.
    pub fn from_toml(text: &str) -> Result<Self> {
        let mut document: toml::Table = toml::from_str(text)
            .map_err(|e| Error::Config(format!("the file is not valid TOML: {e}")))?;
        match document.remove("beat") {
            None => Ok(Self::default()),
            Some(section) => Self::from_section(section),
        }
    }

    /// Reads the `[beat]` section of the TOML file at `path`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text).map_err(|e| match e {
            Error::Config(message) => Error::Config(format!("{}: {message}", path.display())),
            other => other,
        })
    }

    /// Reads the value of a `[beat]` section.
    pub fn from_section(section: toml::Value) -> Result<Self> {
        let raw: RawBeat = section
            .try_into()
            .map_err(|e: toml::de::Error| Error::Config(e.message().to_owned()))?;
        let timezone = match &raw.timezone {
            Some(name) => parse_timezone(name).map_err(Error::Config)?,
            None => Tz::UTC,
        };
        let catch_up = raw.catch_up.unwrap_or_default();
        let duration = |key: &str, value: &Option<toml::Value>, default| match value {
            Some(value) => parse_duration(value).map_err(|e| Error::Config(format!("{key}: {e}"))),
            None => Ok(default),
        };
        let grace = duration("grace", &raw.grace, DEFAULT_GRACE)?;
        let tick = duration("tick", &raw.tick, DEFAULT_TICK)?;
        if tick.is_zero() {
            return Err(Error::Config("tick must be longer than zero".into()));
        }
        let session_timeout = duration(
            "session-timeout",
            &raw.session_timeout,
            DEFAULT_SESSION_TIMEOUT,
        )?;
        check_session_timeout(session_timeout)?;
        let entries = raw
            .entries
            .into_iter()
            .map(|(name, value)| {
                entry(&name, value, timezone, catch_up).map_err(|e| e.in_entry(&name))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(BeatConfig {
            entries,
            grace,
            tick,
            session_timeout,
        })
    }
}

/// Refuses a session timeout Kafka cannot take: under a millisecond, or over `i32::MAX` ms.
pub(crate) fn check_session_timeout(timeout: Duration) -> Result<()> {
    if timeout < Duration::from_millis(1) || timeout.as_millis() > i32::MAX as u128 {
        return Err(Error::Config(format!(
            "session-timeout must be between 1ms and {}ms (the broker's own bounds are 6s to 30m by default), got {timeout:?}",
            i32::MAX
        )));
    }
    Ok(())
}

/// One entry from its table; errors are wrapped with the entry's name by the caller.
fn entry(name: &str, value: toml::Value, timezone: Tz, catch_up: CatchUp) -> Result<Entry> {
    let raw: RawEntry = value
        .try_into()
        .map_err(|e: toml::de::Error| Error::Config(e.message().to_owned()))?;
    let timezone = match &raw.timezone {
        Some(name) => parse_timezone(name).map_err(Error::Config)?,
        None => timezone,
    };
    let schedule = match (&raw.cron, &raw.every, &raw.at) {
        (Some(cron), None, None) => {
            Schedule::Crontab(Crontab::parse(cron)?.with_timezone(timezone))
        }
        (None, Some(every), None) => Schedule::every(
            parse_duration(every).map_err(|e| Error::Config(format!("every: {e}")))?,
        )?,
        (None, None, Some(at)) => Schedule::Once(
            parse_instant(at, timezone).map_err(|e| Error::Config(format!("at: {e}")))?,
        ),
        _ => {
            return Err(Error::Config(
                "give exactly one of cron, every and at".into(),
            ))
        }
    };
    let mut entry = Entry::new(name, schedule, raw.task).catch_up(raw.catch_up.unwrap_or(catch_up));
    if let Some(args) = &raw.args {
        entry = entry.args(toml_to_json(args));
    }
    if let Some(queue) = raw.queue {
        entry = entry.queue(queue);
    }
    if let Some(expires) = &raw.expires {
        entry = entry
            .expires(parse_duration(expires).map_err(|e| Error::Config(format!("expires: {e}")))?);
    }
    if let Some(priority) = raw.priority {
        entry = entry.priority(priority);
    }
    entry.validate()?;
    Ok(entry)
}

fn parse_timezone(name: &str) -> std::result::Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| {
        format!("unknown time zone {name:?}: use an IANA name such as \"Europe/London\" or \"UTC\"")
    })
}

/// An instant: RFC 3339 with an offset, or a local date-time read in `timezone`.
fn parse_instant(value: &toml::Value, timezone: Tz) -> std::result::Result<DateTime<Utc>, String> {
    let text = match value {
        toml::Value::Datetime(datetime) => datetime.to_string(),
        toml::Value::String(text) => text.clone(),
        other => {
            return Err(format!(
                "expected a date-time such as 2026-12-24T18:00:00Z, found {}",
                other.type_str()
            ))
        }
    };
    if let Ok(at) = DateTime::parse_from_rfc3339(&text) {
        return Ok(at.with_timezone(&Utc));
    }
    let local = NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S%.f"))
        .map_err(|_| {
            format!(
                "{text:?} is not a date-time such as 2026-12-24T18:00:00Z or 2026-12-24T18:00:00"
            )
        })?;
    timezone
        .from_local_datetime(&local)
        .earliest()
        .map(|at| at.with_timezone(&Utc))
        .ok_or_else(|| format!("{text} does not exist in {timezone} (the clocks skip it)"))
}

/// A TOML value as JSON (date-times become their TOML text).
fn toml_to_json(value: &toml::Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        toml::Value::String(s) => Json::String(s.clone()),
        toml::Value::Integer(i) => Json::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        toml::Value::Boolean(b) => Json::Bool(*b),
        toml::Value::Datetime(d) => Json::String(d.to_string()),
        toml::Value::Array(items) => Json::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Json::Object(
            table
                .iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

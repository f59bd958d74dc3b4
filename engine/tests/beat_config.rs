//! `celeriac.toml`'s `[beat]` section: what loads, and a clear error naming the entry for what
//! does not.

use std::time::Duration;

use celeriac_engine::beat::{Beat, BeatConfig, CatchUp, Entry, Error, Schedule};
use celeriac_topics::{EmbeddedConfig, EmbeddedLog};

fn error_of(toml: &str) -> String {
    match BeatConfig::from_toml(toml) {
        Ok(config) => panic!("expected an error, loaded {config:?}"),
        Err(error) => error.to_string(),
    }
}

/// Named `beat::…` so `cargo test -p celeriac-engine beat` selects them.
mod beat {
    use super::*;

    #[test]
    fn a_full_section_loads_with_defaults_and_overrides() {
        let config = BeatConfig::from_toml(
            r#"
        [beat]
        timezone = "Europe/London"
        catch-up = "skip"
        grace = "30s"
        tick = "250ms"
        session-timeout = "8s"

        [beat.entries.nightly]
        task = "tasks.cleanup"
        cron = "0 3 * * *"
        args = { days = 30, dry-run = false }
        queue = "maintenance"
        expires = "1h30m"
        priority = 3
        catch-up = "fire-once"

        [beat.entries.ping]
        task = "tasks.ping"
        every = 30

        [beat.entries.tick]
        task = "tasks.tick"
        every = 1
        catch-up = "fire-each"
        "#,
        )
        .expect("loads");
        assert_eq!(
            (config.grace, config.tick, config.session_timeout),
            (
                Duration::from_secs(30),
                Duration::from_millis(250),
                Duration::from_secs(8)
            )
        );
        let [nightly, ping, tick] = config.entries.as_slice() else {
            panic!("three entries: {config:?}")
        };
        assert_eq!(tick.catch_up_policy(), CatchUp::FireEach);
        assert_eq!(nightly.name(), "nightly");
        assert_eq!(nightly.queue_name(), "maintenance");
        assert_eq!(nightly.catch_up_policy(), CatchUp::FireOnce);
        let Schedule::Crontab(crontab) = nightly.schedule() else {
            panic!("a crontab")
        };
        assert_eq!(
            (crontab.expression(), crontab.timezone()),
            ("0 3 * * *", chrono_tz::Europe::London)
        );
        assert_eq!(
            ping.catch_up_policy(),
            CatchUp::Skip,
            "the section's default"
        );
        assert_eq!(
            ping.schedule(),
            &Schedule::every(Duration::from_secs(30)).expect("valid")
        );
        assert_eq!(
            BeatConfig::from_toml("[worker]\nx = 1\n")
                .expect("no beat section")
                .entries,
            vec![]
        );
    }

    #[test]
    fn a_malformed_crontab_is_an_error_naming_the_entry_and_the_field() {
        let error = error_of(
            r#"
        [beat.entries.fine]
        task = "t"
        cron = "0 3 * * *"

        [beat.entries.report-hourly]
        task = "reports.build"
        cron = "0 25 * * *"
        "#,
        );
        assert_eq!(
            error,
            r#"beat entry "report-hourly": invalid crontab expression "0 25 * * *": hour field "25": 25 is out of range 0-23"#
        );
    }

    #[test]
    fn every_kind_of_mistake_names_its_entry() {
        let cases = [
            ("cron = \"* * *\"", "expected 5 fields"),
            ("cron = \"0 0 31 feb *\"", "never fires"),
            (
                "cron = \"0 0 * * 1\"\nevery = \"1m\"",
                "exactly one of cron, every and at",
            ),
            ("every = \"soon\"", "every: \"soon\" is not a duration"),
            ("every = \"0s\"", "at least 1 ms"),
            (
                "at = \"next tuesday\"",
                "at: \"next tuesday\" is not a date-time",
            ),
            (
                "at = 2026-03-29T01:30:00\ntimezone = \"Europe/London\"",
                "does not exist in Europe/London",
            ),
            (
                "cron = \"0 0 * * *\"\ntimezone = \"Mars/Olympus\"",
                "unknown time zone \"Mars/Olympus\"",
            ),
            (
                "cron = \"0 0 * * *\"\ncron-typo = 1",
                "unknown field `cron-typo`",
            ),
            (
                "cron = \"0 0 * * *\"\nqueue = \"a queue\"",
                "invalid queue name \"a queue\"",
            ),
            (
                "cron = \"0 0 * * *\"\npriority = 12",
                "priority 12 is out of range",
            ),
            ("cron = \"0 0 * * *\"\nexpires = -5", "negative"),
            (
                "cron = \"0 0 * * *\"\ncatch-up = \"sometimes\"",
                "unknown variant `sometimes`",
            ),
        ];
        for (body, expected) in cases {
            let error = error_of(&format!("[beat.entries.the-entry]\ntask = \"t\"\n{body}\n"));
            assert!(
                error.starts_with("beat entry \"the-entry\": "),
                "{body}: {error}"
            );
            assert!(
                error.contains(expected),
                "{body}: expected {expected:?} in {error}"
            );
        }
        let missing_task = error_of("[beat.entries.no-task]\ncron = \"0 0 * * *\"\n");
        assert!(
            missing_task.starts_with("beat entry \"no-task\": ")
                && missing_task.contains("missing field `task`"),
            "{missing_task}"
        );
    }

    #[test]
    fn section_level_mistakes_are_configuration_errors() {
        assert!(error_of("[beat\n").contains("not valid TOML"));
        assert!(error_of("[beat]\ntimezone = \"Nowhere\"\n").contains("unknown time zone"));
        assert!(error_of("[beat]\ntick = \"0s\"\n").contains("tick must be longer than zero"));
        assert!(error_of("[beat]\nentires = {}\n").contains("unknown field `entires`"));
        assert!(error_of("[beat]\nsession-timeout = \"0s\"\n")
            .contains("session-timeout must be between 1ms and"));
        assert!(error_of("[beat]\nsession-timeout = \"30d\"\n")
            .contains("session-timeout must be between 1ms and"));
        assert_eq!(
            BeatConfig::from_toml("[beat]\n")
                .expect("defaults")
                .session_timeout,
            celeriac_engine::beat::DEFAULT_SESSION_TIMEOUT
        );
    }

    #[test]
    fn a_missing_file_says_which() {
        let error = BeatConfig::from_file("/nonexistent/celeriac.toml")
            .expect_err("no file")
            .to_string();
        assert!(error.contains("/nonexistent/celeriac.toml"), "{error}");
    }

    #[test]
    fn the_builder_refuses_duplicate_names_and_oversized_arguments_naming_the_entry() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log =
            std::sync::Arc::new(EmbeddedLog::open(EmbeddedConfig::new(dir.path())).expect("log"));
        let every = Schedule::every(Duration::from_secs(60)).expect("valid");
        let error = Beat::builder()
            .log(log.clone())
            .entry(Entry::new("twice", every.clone(), "t"))
            .entry(Entry::new("twice", every.clone(), "t"))
            .build()
            .expect_err("duplicate");
        assert!(
            matches!(&error, Error::Entry { entry, .. } if entry == "twice"),
            "{error}"
        );
        let huge = serde_json::Value::String("x".repeat((16 << 20) + 1));
        let error = Beat::builder()
            .log(log)
            .entry(Entry::new("huge", every, "t").args(huge))
            .build()
            .expect_err("too big");
        assert!(
            matches!(&error, Error::Entry { entry, .. } if entry == "huge"),
            "{error}"
        );
        let error = Beat::builder().build().expect_err("no log");
        assert!(error.to_string().contains("no log"), "{error}");
    }
}

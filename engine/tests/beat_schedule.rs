//! Beat's schedules driven through a year by a fake clock, checked against a reference table
//! computed independently (`beat_reference/make_table.py`: hand-written field sets, Python's
//! zoneinfo) and against fire times worked out by hand around the 2026 changes of offset.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use celeriac_engine::beat::{
    Action, BeatConfig, CatchUp, Clock, Crontab, Entry, FakeClock, Ledger, Schedule, Tz,
};
use chrono::{DateTime, Utc};

const TABLE: &str = include_str!("beat_reference/fires_2026.tsv");

/// Entries whose every fire the table lists; the others it lists on change days only.
const FULL: [&str; 8] = [
    "london-daily-0130",
    "london-daily-0100",
    "ny-daily-0230",
    "ny-daily-0130",
    "ny-weekdays-0900",
    "ny-0145-to-0345",
    "utc-13th-or-friday",
    "london-jan-jul-first-week-or-monday",
];

const CONFIG: &str = r#"
[worker]
concurrency = 4          # another section: not beat's business

[beat]
timezone = "America/New_York"

[beat.entries.ny-daily-0230]
task = "reports.daily"
cron = "30 2 * * *"

[beat.entries.ny-daily-0130]
task = "reports.daily"
cron = "30 1 * * *"
args = ["late", 1]

[beat.entries.ny-weekdays-0900]
task = "mail.digest"
cron = "0 9 * * mon-fri"
queue = "mail"
expires = "1h"

[beat.entries.ny-0145-to-0345]
task = "sync"
cron = "45 1-3 * * *"

[beat.entries.ny-hourly-at-30]
task = "sync"
cron = "30 * * * *"

[beat.entries.every-7h]
task = "compact"
every = "7h"

[beat.entries.independence-day]
task = "fireworks"
at = 2026-07-04T12:00:00       # local: New York
"#;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("a time in the table")
        .with_timezone(&Utc)
}

fn cron(name: &str, expression: &str, tz: Tz) -> Entry {
    let crontab = Crontab::parse(expression).expect("valid").with_timezone(tz);
    Entry::new(name, crontab, "task")
}

fn entries() -> Vec<Entry> {
    use chrono_tz::{Europe::London, UTC};
    let mut entries = vec![
        cron("london-daily-0130", "30 1 * * *", London),
        cron("london-daily-0100", "0 1 * * *", London),
        cron("utc-13th-or-friday", "0 12 13 * fri", UTC),
        cron(
            "london-jan-jul-first-week-or-monday",
            "0 8 1-7 jan,jul mon",
            London,
        ),
        cron("london-quarter-hours", "*/15 * * * *", London),
    ];
    entries.extend(
        BeatConfig::from_toml(CONFIG)
            .expect("the config loads")
            .entries,
    );
    entries
}

/// Drives a ledger from `start` to `end`, jumping the fake clock to each next due time and
/// firing everything due; returns each entry's fires in `[from, end)`.
fn drive(
    entries: &[Entry],
    clock: &FakeClock,
    from: DateTime<Utc>,
    end: DateTime<Utc>,
) -> BTreeMap<String, Vec<DateTime<Utc>>> {
    let mut ledger = Ledger::new();
    let mut fires: BTreeMap<String, Vec<DateTime<Utc>>> = BTreeMap::new();
    while let Some(next) = ledger.next_due(entries, clock.now()) {
        if next >= end {
            break;
        }
        clock.set(next);
        for due in ledger.due(entries, clock.now(), Duration::ZERO) {
            assert_eq!(
                due.missed, 0,
                "{due:?}: nothing is missed when the clock stops at every window"
            );
            if due.action == Action::Fire && due.window >= from {
                fires.entry(due.entry.clone()).or_default().push(due.window);
            } else {
                assert_ne!(due.action, Action::Skip, "{due:?}");
            }
            ledger.settle(&due.entry, due.window);
        }
    }
    fires
}

/// Named `beat::…` so `cargo test -p celeriac-engine beat` selects them.
mod beat {
    use super::*;

    #[test]
    fn a_year_of_varied_entries_fires_exactly_as_the_reference_table_says() {
        let entries = entries();
        let from = utc("2026-01-01T00:00:00Z");
        let end = utc("2027-01-01T00:00:00Z");
        let clock = FakeClock::new(utc("2025-12-31T23:00:00Z"));
        let started = Instant::now();
        let fires = drive(&entries, &clock, from, end);
        let took = started.elapsed();
        let total: usize = fires.values().map(Vec::len).sum();
        eprintln!(
            "a year of {} entries, {total} fires, driven in {took:?}",
            entries.len()
        );

        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let mut listed: BTreeMap<&str, Vec<DateTime<Utc>>> = BTreeMap::new();
        for line in TABLE.lines().filter(|l| !l.starts_with('#')) {
            let fields: Vec<&str> = line.split('\t').collect();
            match fields.as_slice() {
                ["count", name, n] => {
                    counts.insert(name, n.parse().expect("a count"));
                }
                [name, at] => listed.entry(name).or_default().push(utc(at)),
                _ => panic!("bad table line {line:?}"),
            }
        }
        assert_eq!(counts.len(), 10, "the table covers ten crontab entries");
        for (name, count) in &counts {
            let got = fires.get(*name).map(Vec::as_slice).unwrap_or_default();
            assert_eq!(got.len(), *count, "{name}: number of fires in 2026");
            let expected = &listed[name];
            if FULL.contains(name) {
                assert_eq!(got, expected.as_slice(), "{name}: every fire");
            } else {
                let on_change_days: Vec<_> = got
                    .iter()
                    .filter(|t| {
                        ["2026-03-08", "2026-03-29", "2026-10-25", "2026-11-01"]
                            .contains(&t.date_naive().to_string().as_str())
                    })
                    .copied()
                    .collect();
                assert_eq!(
                    &on_change_days, expected,
                    "{name}: fires on the days of a change"
                );
            }
        }
        // Not in the table: the interval (multiples of 7 h since the epoch; 2026-01-01 is one:
        // 1 767 225 600 s = 70 128 × 25 200 s) and the one-shot (noon EDT = 16:00Z).
        let every_7h = &fires["every-7h"];
        assert_eq!(every_7h.len(), 71_379 - 70_128 + 1);
        assert_eq!(every_7h[0], from);
        assert!(every_7h.windows(2).all(|w| (w[1] - w[0]).num_hours() == 7));
        assert_eq!(fires["independence-day"], vec![utc("2026-07-04T16:00:00Z")]);
        assert!(
            took < Duration::from_secs(2),
            "the year took {took:?} (debug build; about 0.5 s on 2 busy cores)"
        );
    }

    #[test]
    fn fire_times_worked_out_by_hand_around_the_2026_changes() {
        // Two short drives, each from a fresh ledger a few days before the changes of its season.
        let entries = entries();
        let mut fires = drive(
            &entries,
            &FakeClock::new(utc("2026-03-05T00:00:00Z")),
            utc("2026-03-05T00:00:00Z"),
            utc("2026-04-01T00:00:00Z"),
        );
        for (name, more) in drive(
            &entries,
            &FakeClock::new(utc("2026-10-20T00:00:00Z")),
            utc("2026-10-20T00:00:00Z"),
            utc("2026-11-05T00:00:00Z"),
        ) {
            fires.entry(name).or_default().extend(more);
        }
        let between = |name: &str, a: &str, b: &str| -> Vec<DateTime<Utc>> {
            fires[name]
                .iter()
                .filter(|t| **t >= utc(a) && **t < utc(b))
                .copied()
                .collect()
        };
        // London, 29 March: 01:00 GMT → 02:00 BST. 01:30 does not exist: it fires at 02:30 BST.
        assert_eq!(
            between(
                "london-daily-0130",
                "2026-03-28T00:00:00Z",
                "2026-03-31T00:00:00Z"
            ),
            vec![
                utc("2026-03-28T01:30:00Z"),
                utc("2026-03-29T01:30:00Z"),
                utc("2026-03-30T00:30:00Z")
            ]
        );
        // London, 25 October: 02:00 BST → 01:00 GMT. 01:30 happens twice: the first (00:30Z) only.
        assert_eq!(
            between(
                "london-daily-0130",
                "2026-10-24T00:00:00Z",
                "2026-10-27T00:00:00Z"
            ),
            vec![
                utc("2026-10-24T00:30:00Z"),
                utc("2026-10-25T00:30:00Z"),
                utc("2026-10-26T01:30:00Z")
            ]
        );
        // New York, 8 March: 02:00 EST → 03:00 EDT. 02:30 fires at 03:30 EDT = 07:30Z.
        assert_eq!(
            between(
                "ny-daily-0230",
                "2026-03-07T00:00:00Z",
                "2026-03-10T00:00:00Z"
            ),
            vec![
                utc("2026-03-07T07:30:00Z"),
                utc("2026-03-08T07:30:00Z"),
                utc("2026-03-09T06:30:00Z")
            ]
        );
        // New York, 1 November: 02:00 EDT → 01:00 EST. 01:30 fires once, at 01:30 EDT = 05:30Z.
        assert_eq!(
            between(
                "ny-daily-0130",
                "2026-10-31T00:00:00Z",
                "2026-11-03T00:00:00Z"
            ),
            vec![
                utc("2026-10-31T05:30:00Z"),
                utc("2026-11-01T05:30:00Z"),
                utc("2026-11-02T06:30:00Z")
            ]
        );
        // Hourly at :30 keeps its rhythm through the repeated hour: 04:30Z … 07:30Z, every hour.
        assert_eq!(
            between(
                "ny-hourly-at-30",
                "2026-11-01T04:00:00Z",
                "2026-11-01T08:00:00Z"
            ),
            ["04:30", "05:30", "06:30", "07:30"]
                .map(|t| utc(&format!("2026-11-01T{t}:00Z")))
                .to_vec()
        );
        // Every quarter hour in London: 96 fires on each UTC day, changes or not.
        for day in ["2026-03-29", "2026-10-25"] {
            let next = (utc(&format!("{day}T00:00:00Z")) + chrono::TimeDelta::days(1)).to_rfc3339();
            assert_eq!(
                between("london-quarter-hours", &format!("{day}T00:00:00Z"), &next).len(),
                96,
                "{day}"
            );
        }
        // 13th or Friday, in March 2026 (Fridays 6, 13, 20, 27): the 13th fires once.
        assert_eq!(
            between(
                "utc-13th-or-friday",
                "2026-03-05T00:00:00Z",
                "2026-04-01T00:00:00Z"
            ),
            ["06", "13", "20", "27"]
                .map(|d| utc(&format!("2026-03-{d}T12:00:00Z")))
                .to_vec()
        );
    }

    #[test]
    fn a_clock_that_jumps_over_windows_fires_once_or_skips() {
        let start = utc("2026-06-01T00:00:00Z");
        let clock = FakeClock::new(start);
        let minute = Schedule::every(Duration::from_secs(60)).expect("valid");
        let entries = [
            Entry::new("once", minute.clone(), "t").catch_up(CatchUp::FireOnce),
            Entry::new("skip", minute, "t").catch_up(CatchUp::Skip),
        ];
        let mut ledger = Ledger::new();
        for due in ledger.due(&entries, clock.now(), Duration::from_secs(10)) {
            assert_eq!(due.action, Action::Register);
            ledger.settle(&due.entry, due.window);
        }
        // The process sleeps through an hour and a half: 90 windows pass, the last 45 s ago.
        clock.advance(Duration::from_secs(90 * 60 + 45));
        let due = ledger.due(&entries, clock.now(), Duration::from_secs(10));
        assert_eq!(
            (due[0].action, due[0].window, due[0].missed),
            (Action::Fire, start + chrono::TimeDelta::minutes(90), 89)
        );
        assert_eq!(
            (due[1].action, due[1].window, due[1].missed),
            (Action::Skip, start + chrono::TimeDelta::minutes(90), 89)
        );
        for due in &due {
            ledger.settle(&due.entry, due.window);
        }
        assert!(ledger
            .due(&entries, clock.now(), Duration::from_secs(10))
            .is_empty());
        // A clock that goes back never fires a settled window again.
        clock.set(start);
        assert!(ledger
            .due(&entries, clock.now(), Duration::from_secs(10))
            .is_empty());
    }
}

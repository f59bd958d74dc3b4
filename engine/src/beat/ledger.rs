//! The deterministic heart of beat: what each entry last settled, and what is due at a time.
//!
//! No I/O and no clock: the leader fills a [`Ledger`] from the beat topic, asks it what is
//! [`due`](Ledger::due) at the clock's time, publishes that in one transaction, and only then
//! [`settles`](Ledger::settle) it. Tests drive the same code with a fake clock.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::entry::{CatchUp, Entry};
use super::schedule::Schedule;

/// How many missed windows a decision counts before it stops counting.
pub const MISSED_COUNT_CAP: i64 = 100_000;

/// At most this many windows of one [`CatchUp::FireEach`] entry are decided at once; the rest
/// are due at the next call.
pub const FIRE_EACH_BATCH: usize = 256;

/// What the leader does for an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Publish the task for the window.
    Fire,
    /// Record the missed window as skipped (catch-up policy [`CatchUp::Skip`]).
    Skip,
    /// Record that the entry was first seen now: windows after `window` are due. Without this
    /// a leader that died before an entry's first window would leave the next leader no trace,
    /// and the window would be missed silently.
    Register,
}

/// One decision: an action for one window of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The entry's name.
    pub entry: String,
    /// The window the decision settles (for [`Action::Register`], the time the entry was seen).
    pub window: DateTime<Utc>,
    /// What to do.
    pub action: Action,
    /// Earlier windows since the entry's last record that are settled without a fire by this
    /// decision (at most [`MISSED_COUNT_CAP`]).
    pub missed: i64,
}

/// The last window settled for each entry (fired, skipped or registered).
///
/// The next window of each entry is cached until the entry settles again (or its schedule
/// changes), so asking what is due costs a hash lookup per entry, not a calendar search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    slots: HashMap<String, Slot>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    last: DateTime<Utc>,
    /// `next_after(last)` under the schedule it was computed with.
    next: Option<(Schedule, Option<DateTime<Utc>>)>,
}

/// Where an entry stands: never seen (periodic), or its next window.
enum Unsettled {
    Register,
    At(Option<DateTime<Utc>>),
}

impl Ledger {
    /// An empty ledger: every periodic entry will register first.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `window` of `entry` is settled; an older window than the one known is
    /// ignored, so records may be applied in any order.
    pub fn settle(&mut self, entry: &str, window: DateTime<Utc>) {
        match self.slots.get_mut(entry) {
            Some(slot) if slot.last >= window => {}
            Some(slot) => {
                *slot = Slot {
                    last: window,
                    next: None,
                }
            }
            None => {
                self.slots.insert(
                    entry.to_owned(),
                    Slot {
                        last: window,
                        next: None,
                    },
                );
            }
        }
    }

    /// The last settled window of `entry`.
    pub fn last(&self, entry: &str) -> Option<DateTime<Utc>> {
        self.slots.get(entry).map(|slot| slot.last)
    }

    /// Number of entries with a settled window.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when no entry has a settled window.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// What is due at `now`, in the order of `entries` (and of windows within an entry).
    ///
    /// For an entry whose windows up to `now` are not all settled, the decision is about the
    /// latest of them: it fires when that window is at most `grace` old or the policy is
    /// [`CatchUp::FireOnce`]; otherwise it is skipped. Earlier unsettled windows are counted in
    /// [`Due::missed`] and never fired: a window fires once, or not at all and on the record.
    /// A [`CatchUp::FireEach`] entry instead gets a decision per unsettled window (at most
    /// [`FIRE_EACH_BATCH`]): a fire for each at most `grace` old, after one skip settling the
    /// older ones.
    pub fn due(&mut self, entries: &[Entry], now: DateTime<Utc>, grace: Duration) -> Vec<Due> {
        let grace = TimeDelta::from_std(grace).unwrap_or(TimeDelta::MAX);
        let mut decisions = Vec::new();
        for entry in entries {
            match entry.catch_up {
                CatchUp::FireEach => decisions.extend(self.due_each(entry, now, grace)),
                _ => decisions.extend(self.due_one(entry, now, grace)),
            }
        }
        decisions
    }

    /// The decisions of a [`CatchUp::FireEach`] entry: every unsettled window up to `now`.
    fn due_each(&mut self, entry: &Entry, now: DateTime<Utc>, grace: TimeDelta) -> Vec<Due> {
        let first = match self.next_window(entry) {
            Unsettled::Register => return self.due_one(entry, now, grace).into_iter().collect(),
            Unsettled::At(Some(first)) if first <= now => first,
            Unsettled::At(_) => return Vec::new(),
        };
        let decision = |window, action, missed| Due {
            entry: entry.name.clone(),
            window,
            action,
            missed,
        };
        let mut decisions = Vec::new();
        let mut window = first;
        let (mut older, mut last_old) = (0, None);
        // Windows past the grace are settled by one skip of the last of them.
        while now.signed_duration_since(window) > grace {
            (older, last_old) = (older + 1, Some(window));
            if older >= MISSED_COUNT_CAP {
                let (latest, count) = latest_due(&entry.schedule, first, now);
                return vec![decision(latest, Action::Skip, count - 1)];
            }
            match entry.schedule.next_after(window).filter(|n| *n <= now) {
                Some(next) => window = next,
                None => return vec![decision(window, Action::Skip, older - 1)],
            }
        }
        if let Some(old) = last_old {
            decisions.push(decision(old, Action::Skip, older - 1));
        }
        while decisions.len() < FIRE_EACH_BATCH {
            decisions.push(decision(window, Action::Fire, 0));
            match entry.schedule.next_after(window).filter(|n| *n <= now) {
                Some(next) => window = next,
                None => break,
            }
        }
        decisions
    }

    fn due_one(&mut self, entry: &Entry, now: DateTime<Utc>, grace: TimeDelta) -> Option<Due> {
        let first = match self.next_window(entry) {
            Unsettled::Register => {
                return Some(Due {
                    entry: entry.name.clone(),
                    window: now,
                    action: Action::Register,
                    missed: 0,
                });
            }
            Unsettled::At(first) => first.filter(|first| *first <= now)?,
        };
        let (latest, count) = latest_due(&entry.schedule, first, now);
        let late = now.signed_duration_since(latest) > grace;
        let action = match (late, entry.catch_up) {
            (true, CatchUp::Skip) => Action::Skip,
            _ => Action::Fire,
        };
        Some(Due {
            entry: entry.name.clone(),
            window: latest,
            action,
            missed: count - 1,
        })
    }

    /// The earliest time something of `entries` is due, if any: `now` for an entry not yet
    /// registered or with a window already due.
    pub fn next_due(&mut self, entries: &[Entry], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        entries
            .iter()
            .filter_map(|entry| match self.next_window(entry) {
                Unsettled::Register => Some(now),
                Unsettled::At(at) => at,
            })
            .min()
            .map(|at| at.max(now))
    }

    /// The entry's first window after its last settled one (cached).
    fn next_window(&mut self, entry: &Entry) -> Unsettled {
        let Some(slot) = self.slots.get_mut(&entry.name) else {
            return match entry.schedule.is_once() {
                true => Unsettled::At(entry.schedule.next_after(DateTime::<Utc>::MIN_UTC)),
                false => Unsettled::Register,
            };
        };
        match &slot.next {
            Some((schedule, next)) if *schedule == entry.schedule => Unsettled::At(*next),
            _ => {
                let next = entry.schedule.next_after(slot.last);
                slot.next = Some((entry.schedule.clone(), next));
                Unsettled::At(next)
            }
        }
    }
}

/// The latest window at or before `now` from `first` on, and how many windows that is
/// (counting stops at [`MISSED_COUNT_CAP`]).
fn latest_due(
    schedule: &Schedule,
    first: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, i64) {
    let next_due = |w: DateTime<Utc>| schedule.next_after(w).filter(|n| *n <= now);
    let mut latest = first;
    let mut count = 1;
    while count < MISSED_COUNT_CAP {
        match next_due(latest) {
            Some(next) => (latest, count) = (next, count + 1),
            None => return (latest, count),
        }
    }
    // Very many missed windows: find the latest by looking back from `now` in widening steps.
    for back in [
        TimeDelta::hours(1),
        TimeDelta::days(1),
        TimeDelta::days(32),
        TimeDelta::days(366),
    ] {
        if let Some(mut window) = next_due((now - back).max(latest)) {
            while let Some(next) = next_due(window) {
                window = next;
            }
            return (window, count);
        }
    }
    while let Some(next) = next_due(latest) {
        latest = next;
    }
    (latest, count)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(s, 0).single().expect("valid time")
    }

    fn every_minute(name: &str, catch_up: CatchUp) -> Entry {
        let schedule = Schedule::every(Duration::from_secs(60)).expect("valid");
        Entry::new(name, schedule, "t").catch_up(catch_up)
    }

    #[test]
    fn an_unseen_periodic_entry_registers_then_fires_on_time() {
        let entries = [every_minute("a", CatchUp::FireOnce)];
        let mut ledger = Ledger::new();
        let due = ledger.due(&entries, at(30), Duration::from_secs(5));
        assert_eq!(
            due,
            vec![Due {
                entry: "a".into(),
                window: at(30),
                action: Action::Register,
                missed: 0
            }]
        );
        ledger.settle("a", at(30));
        assert!(ledger
            .due(&entries, at(59), Duration::from_secs(5))
            .is_empty());
        assert_eq!(ledger.next_due(&entries, at(59)), Some(at(60)));
        let due = ledger.due(&entries, at(61), Duration::from_secs(5));
        assert_eq!(
            due,
            vec![Due {
                entry: "a".into(),
                window: at(60),
                action: Action::Fire,
                missed: 0
            }]
        );
    }

    #[test]
    fn missed_windows_fire_once_or_are_skipped() {
        let entries = [
            every_minute("once", CatchUp::FireOnce),
            every_minute("skip", CatchUp::Skip),
        ];
        let mut ledger = Ledger::new();
        ledger.settle("once", at(0));
        ledger.settle("skip", at(0));
        // 10 windows (60..=600) passed; the latest is 30 s old, beyond a 5 s grace.
        let due = ledger.due(&entries, at(630), Duration::from_secs(5));
        assert_eq!(
            due[0],
            Due {
                entry: "once".into(),
                window: at(600),
                action: Action::Fire,
                missed: 9
            }
        );
        assert_eq!(
            due[1],
            Due {
                entry: "skip".into(),
                window: at(600),
                action: Action::Skip,
                missed: 9
            }
        );
        // Within the grace, even a skipping entry fires its latest window.
        let due = ledger.due(&entries, at(603), Duration::from_secs(5));
        assert_eq!(due[1].action, Action::Fire);
    }

    #[test]
    fn a_one_shot_is_due_even_when_first_seen_late() {
        let entries = [Entry::new("launch", Schedule::once(at(100)), "t").catch_up(CatchUp::Skip)];
        let mut ledger = Ledger::new();
        assert!(ledger.due(&entries, at(99), Duration::ZERO).is_empty());
        assert_eq!(ledger.next_due(&entries, at(0)), Some(at(100)));
        let due = ledger.due(&entries, at(500), Duration::ZERO);
        assert_eq!(due[0].action, Action::Skip);
        ledger.settle("launch", at(100));
        assert!(ledger.due(&entries, at(10_000), Duration::ZERO).is_empty());
        assert_eq!(ledger.next_due(&entries, at(10_000)), None);
    }

    #[test]
    fn a_long_outage_counts_up_to_the_cap_and_finds_the_latest_window() {
        let entries = [every_minute("a", CatchUp::FireOnce)];
        let mut ledger = Ledger::new();
        ledger.settle("a", at(0));
        let now = at(60 * 200_000 + 7);
        let due = ledger.due(&entries, now, Duration::ZERO);
        assert_eq!(due[0].window, at(60 * 200_000));
        assert_eq!(due[0].missed, MISSED_COUNT_CAP - 1);
    }

    #[test]
    fn fire_each_fires_every_window_within_the_grace_in_order() {
        let entries = [every_minute("each", CatchUp::FireEach)];
        let mut ledger = Ledger::new();
        ledger.settle("each", at(0));
        // Windows 60..=600 passed; a 200 s grace at 630 covers 480, 540 and 600.
        let due = ledger.due(&entries, at(630), Duration::from_secs(200));
        let summary: Vec<(i64, Action, i64)> = due
            .iter()
            .map(|d| (d.window.timestamp(), d.action, d.missed))
            .collect();
        assert_eq!(
            summary,
            vec![
                (420, Action::Skip, 6),
                (480, Action::Fire, 0),
                (540, Action::Fire, 0),
                (600, Action::Fire, 0)
            ]
        );
        for d in &due {
            ledger.settle(&d.entry, d.window);
        }
        assert!(ledger
            .due(&entries, at(630), Duration::from_secs(200))
            .is_empty());
        // All within the grace: one fire each, nothing skipped.
        let due = ledger.due(&entries, at(790), Duration::from_secs(200));
        assert_eq!(due.len(), 3);
        assert!(due.iter().all(|d| d.action == Action::Fire));
        // All past it: one skip.
        let due = ledger.due(&entries, at(2_000), Duration::from_secs(10));
        assert_eq!(due.len(), 1);
        assert_eq!(
            (due[0].window, due[0].action, due[0].missed),
            (at(1_980), Action::Skip, 22)
        );
    }

    #[test]
    fn fire_each_decides_a_bounded_batch_at_a_time() {
        let schedule = Schedule::every(Duration::from_secs(1)).expect("valid");
        let entries = [Entry::new("tick", schedule, "t").catch_up(CatchUp::FireEach)];
        let mut ledger = Ledger::new();
        ledger.settle("tick", at(0));
        let due = ledger.due(&entries, at(1_000), Duration::from_secs(3_600));
        assert_eq!(due.len(), FIRE_EACH_BATCH);
        assert_eq!(due[0].window, at(1));
        ledger.settle("tick", due[FIRE_EACH_BATCH - 1].window);
        let next = ledger.due(&entries, at(1_000), Duration::from_secs(3_600));
        assert_eq!(next[0].window, at(FIRE_EACH_BATCH as i64 + 1));
    }

    #[test]
    fn settling_keeps_the_latest_window() {
        let mut ledger = Ledger::new();
        ledger.settle("a", at(10));
        ledger.settle("a", at(5));
        assert_eq!(ledger.last("a"), Some(at(10)));
        assert_eq!(ledger.len(), 1);
    }
}

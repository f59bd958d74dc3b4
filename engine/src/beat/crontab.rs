//! Crontab expressions as cron writes them, and their fire times in a time zone.
//!
//! Five fields, `minute hour day-of-month month day-of-week`, each `*`, a number, a name
//! (`jan`…`dec`, `sun`…`sat`, any case), a range `a-b`, a step `*/n`, `a-b/n` or `a/n`, or a
//! comma-separated list of these; day of week `0` and `7` are both Sunday. The shorthands
//! `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly` stand
//! for their usual expansions. As in cron, when both day fields are restricted (neither starts
//! with `*`) a day matches if *either* does (`0 12 13 * fri`: every 13th and every Friday);
//! otherwise both must.
//!
//! # Daylight saving time
//!
//! Fire times are wall-clock times in the crontab's zone (UTC unless set), resolved as
//! iCalendar (RFC 5545) resolves local times:
//! - a time skipped when clocks go forward fires at the same distance past the change, using the
//!   offset from before it (`30 1 * * *` in London on 29 March 2026 fires at 02:30 BST, 01:30Z);
//! - a time that happens twice when clocks go back fires at its first occurrence — and also at
//!   its second when the hour field is `*` (every hour), so hourly and faster entries keep their
//!   rhythm through the repeated hour while entries pinned to an hour run once.

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;

use super::error::{Error, Result};

/// A parsed crontab expression with the time zone its wall-clock times are in.
///
/// ```
/// use celeriac_engine::beat::Crontab;
/// use chrono::{TimeZone, Utc};
///
/// let daily = Crontab::parse("30 1 * * *")?.with_timezone(chrono_tz::Europe::London);
/// // 29 March 2026: clocks go forward at 01:00 GMT, so 01:30 does not exist in London.
/// let after = Utc.with_ymd_and_hms(2026, 3, 28, 12, 0, 0).unwrap();
/// assert_eq!(daily.next_after(after), Some(Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0).unwrap()));
/// # Ok::<(), celeriac_engine::beat::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crontab {
    expression: String,
    minutes: u64,
    hours: u32,
    days_of_month: u32,
    months: u16,
    days_of_week: u8,
    /// The day-of-month field does not start with `*`.
    dom_restricted: bool,
    /// The day-of-week field does not start with `*`.
    dow_restricted: bool,
    tz: Tz,
}

/// One field's name, bounds and symbolic names (index 0 is the value `min`).
struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: FieldSpec = FieldSpec {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const DAY_OF_WEEK: FieldSpec = FieldSpec {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

/// How far a time-zone change may move a wall clock; wider than any real one (30 min to 2 h).
const SHIFT_MARGIN: TimeDelta = TimeDelta::hours(4);

/// How many years ahead a search for the next fire gives up (a Feb 29 entry fires within 8).
const SEARCH_YEARS: i32 = 30;

impl Crontab {
    /// Parses a five-field expression (or an `@` shorthand); times are in UTC until
    /// [`with_timezone`](Self::with_timezone). An expression that can never fire (`0 0 30 feb *`)
    /// is an error too.
    pub fn parse(expression: &str) -> Result<Self> {
        let fail = |reason: String| Error::Crontab {
            expression: expression.to_owned(),
            reason,
        };
        let expanded = match expression.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other if other.starts_with('@') => {
                return Err(fail(format!(
                    "unknown shorthand {other:?}: use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly"
                )))
            }
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(fail(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            )));
        }
        let minutes = parse_field(fields[0], &MINUTE).map_err(&fail)?;
        let hours = parse_field(fields[1], &HOUR).map_err(&fail)?;
        let days_of_month = parse_field(fields[2], &DAY_OF_MONTH).map_err(&fail)?;
        let months = parse_field(fields[3], &MONTH).map_err(&fail)?;
        let mut days_of_week = parse_field(fields[4], &DAY_OF_WEEK).map_err(&fail)?;
        if days_of_week & (1 << 7) != 0 {
            days_of_week = (days_of_week | 1) & !(1 << 7); // 7 is Sunday, as 0 is
        }
        let crontab = Crontab {
            expression: expression.trim().to_owned(),
            minutes,
            hours: hours as u32,
            days_of_month: days_of_month as u32,
            months: months as u16,
            days_of_week: days_of_week as u8,
            dom_restricted: !fields[2].starts_with('*'),
            dow_restricted: !fields[4].starts_with('*'),
            tz: Tz::UTC,
        };
        if !crontab.some_day_can_match() {
            return Err(fail("no month in the month field has the days in the day-of-month field, so it never fires".into()));
        }
        Ok(crontab)
    }

    /// The same expression with wall-clock times in `tz`.
    pub fn with_timezone(mut self, tz: Tz) -> Self {
        self.tz = tz;
        self
    }

    /// The expression as written.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The time zone of the wall-clock times.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The first fire time strictly after `after`, or `None` if there is none within 30 years.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let offset_at = |t: DateTime<Utc>| self.tz.offset_from_utc_datetime(&t.naive_utc()).fix();
        let local_after = after.with_timezone(&self.tz).naive_local();
        let settled = offset_at(after - SHIFT_MARGIN) == offset_at(after)
            && offset_at(after) == offset_at(after + SHIFT_MARGIN);
        if settled {
            // No change of offset near `after`: the next wall-clock match is the next fire,
            // unless it falls on a change itself.
            let next = self.next_naive(local_after)?;
            if let LocalResult::Single(at) = self.tz.from_local_datetime(&next) {
                let at = at.with_timezone(&Utc);
                if at > after {
                    return Some(at);
                }
            }
        }
        self.next_after_near_change(after, local_after)
    }

    /// [`next_after`](Self::next_after) near a change of offset: wall-clock matches from a
    /// little before `after`, each resolved to its instants, the earliest one after `after`.
    fn next_after_near_change(
        &self,
        after: DateTime<Utc>,
        local_after: NaiveDateTime,
    ) -> Option<DateTime<Utc>> {
        let mut cursor = local_after - SHIFT_MARGIN;
        let mut best: Option<(DateTime<Utc>, NaiveDateTime)> = None;
        loop {
            let naive = self.next_naive(cursor)?;
            if let Some((_, best_local)) = best {
                if naive > best_local + SHIFT_MARGIN {
                    return best.map(|(at, _)| at);
                }
            }
            for at in self.instants(naive).into_iter().flatten() {
                if at > after && best.is_none_or(|(b, _)| at < b) {
                    best = Some((at, at.with_timezone(&self.tz).naive_local()));
                }
            }
            cursor = naive;
        }
    }

    /// The instants a wall-clock time stands for under the rules in the module docs.
    fn instants(&self, naive: NaiveDateTime) -> [Option<DateTime<Utc>>; 2] {
        match self.tz.from_local_datetime(&naive) {
            LocalResult::Single(at) => [Some(at.with_timezone(&Utc)), None],
            LocalResult::Ambiguous(a, b) => {
                let (first, second) = if a <= b { (a, b) } else { (b, a) };
                let every_hour = self.hours == (1 << 24) - 1;
                [
                    Some(first.with_timezone(&Utc)),
                    every_hour.then(|| second.with_timezone(&Utc)),
                ]
            }
            LocalResult::None => {
                // Skipped by a change: read it with the offset from before the change.
                let before = self
                    .tz
                    .offset_from_utc_datetime(&(naive - TimeDelta::days(1)))
                    .fix();
                let utc = naive - TimeDelta::seconds(i64::from(before.local_minus_utc()));
                [Some(Utc.from_utc_datetime(&utc)), None]
            }
        }
    }

    /// The first wall-clock minute strictly after `after` that the fields match.
    fn next_naive(&self, after: NaiveDateTime) -> Option<NaiveDateTime> {
        let mut date = after.date();
        let mut hour = after.hour();
        let mut minute = after.minute() + 1;
        let last_year = date.year().saturating_add(SEARCH_YEARS);
        loop {
            if date.year() > last_year {
                return None;
            }
            if self.months & (1 << date.month()) == 0 {
                date = first_of_next_month(date)?;
                (hour, minute) = (0, 0);
                continue;
            }
            if !self.day_matches(date) {
                date = date.succ_opt()?;
                (hour, minute) = (0, 0);
                continue;
            }
            let Some(h) = next_bit(u64::from(self.hours), hour, 24) else {
                date = date.succ_opt()?;
                (hour, minute) = (0, 0);
                continue;
            };
            if h != hour {
                (hour, minute) = (h, 0);
            }
            match next_bit(self.minutes, minute, 60) {
                Some(m) => return date.and_hms_opt(hour, m, 0),
                None => (hour, minute) = (hour + 1, 0),
            }
        }
    }

    /// Cron's day rule: both restricted → either matches; otherwise both match.
    fn day_matches(&self, date: NaiveDate) -> bool {
        let dom = self.days_of_month & (1 << date.day()) != 0;
        let dow = self.days_of_week & (1 << date.weekday().num_days_from_sunday()) != 0;
        if self.dom_restricted && self.dow_restricted {
            dom || dow
        } else {
            dom && dow
        }
    }

    /// False when the day-of-month field names only days no chosen month has (`30 feb`).
    fn some_day_can_match(&self) -> bool {
        if self.dom_restricted && self.dow_restricted {
            return true; // any chosen weekday will do
        }
        let first_day = self.days_of_month.trailing_zeros();
        (1..=12u32)
            .filter(|m| self.months & (1 << m) != 0)
            .any(|m| first_day <= longest_month(m))
    }
}

impl FromStr for Crontab {
    type Err = Error;

    fn from_str(expression: &str) -> Result<Self> {
        Crontab::parse(expression)
    }
}

impl fmt::Display for Crontab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.expression, self.tz)
    }
}

/// The most days month `m` ever has (29 for February).
fn longest_month(m: u32) -> u32 {
    match m {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    let (year, month) = if date.month() == 12 {
        (date.year() + 1, 1)
    } else {
        (date.year(), date.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1)
}

/// The lowest set bit at or above `from` and below `width`.
fn next_bit(mask: u64, from: u32, width: u32) -> Option<u32> {
    if from >= width {
        return None;
    }
    let rest = mask >> from;
    (rest != 0)
        .then(|| from + rest.trailing_zeros())
        .filter(|b| *b < width)
}

/// Parses one field to a bit set of its values (bit *v* set for value *v*).
fn parse_field(text: &str, spec: &FieldSpec) -> std::result::Result<u64, String> {
    let fail = |reason: String| format!("{} field {text:?}: {reason}", spec.name);
    let mut bits = 0u64;
    for part in text.split(',') {
        if part.is_empty() {
            return Err(fail("empty list item".into()));
        }
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .map_err(|_| fail(format!("step {step:?} is not a positive whole number")))?;
                if step == 0 {
                    return Err(fail("a step of 0 never advances".into()));
                }
                (range, step)
            }
            None => (part, 1),
        };
        let (low, high) = if range == "*" {
            (spec.min, spec.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (
                value(a, spec).map_err(&fail)?,
                value(b, spec).map_err(&fail)?,
            );
            if a > b {
                return Err(fail(format!("range {range:?} runs backwards ({a} > {b})")));
            }
            (a, b)
        } else {
            let a = value(range, spec).map_err(&fail)?;
            // `a/n` runs from a to the field's end, as in cronie; a bare `a` is just a.
            (a, if part.contains('/') { spec.max } else { a })
        };
        for v in (low..=high).step_by(step as usize) {
            bits |= 1 << v;
        }
    }
    Ok(bits)
}

/// One value of a field: a number in bounds or one of the field's names.
fn value(text: &str, spec: &FieldSpec) -> std::result::Result<u32, String> {
    if let Some(index) = spec.names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(spec.min + index as u32);
    }
    if text
        .chars()
        .any(|c| matches!(c, '?' | 'L' | 'W' | '#' | 'l' | 'w'))
    {
        return Err(format!(
            "{text:?} uses Quartz syntax (?, L, W, #), which cron does not have"
        ));
    }
    let n: u32 = text.parse().map_err(|_| {
        if spec.names.is_empty() {
            format!("{text:?} is not a number")
        } else {
            format!(
                "{text:?} is neither a number nor one of {}",
                spec.names.join(", ")
            )
        }
    })?;
    if n < spec.min || n > spec.max {
        return Err(format!("{n} is out of range {}-{}", spec.min, spec.max));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn fields_lists_ranges_steps_and_names() {
        let c = Crontab::parse("*/15 9-17/4 1,15 jan-MAR mon-fri").expect("parses");
        assert_eq!(c.minutes, (1 << 0) | (1 << 15) | (1 << 30) | (1 << 45));
        assert_eq!(c.hours, (1 << 9) | (1 << 13) | (1 << 17));
        assert_eq!(c.days_of_month, (1 << 1) | (1 << 15));
        assert_eq!(c.months, 0b1110);
        assert_eq!(c.days_of_week, 0b0111110);
        let sunday = Crontab::parse("0 0 * * 5-7").expect("parses");
        assert_eq!(sunday.days_of_week, 0b1100001);
        assert_eq!(
            Crontab::parse("5/20 * * * *").expect("parses").minutes,
            (1 << 5) | (1 << 25) | (1 << 45)
        );
    }

    #[test]
    fn errors_name_the_field_and_the_problem() {
        let cases = [
            ("0 25 * * *", "hour field \"25\": 25 is out of range 0-23"),
            ("0 0 * *", "expected 5 fields"),
            ("0 0 L * *", "Quartz syntax"),
            ("*/0 * * * *", "a step of 0"),
            ("0 0 * foo *", "neither a number nor one of jan"),
            ("0 0 5-1 * *", "runs backwards"),
            ("0 0 30 feb *", "never fires"),
            ("@sometimes", "unknown shorthand"),
            ("0 0,,1 * * *", "empty list item"),
        ];
        for (expression, expected) in cases {
            let error = Crontab::parse(expression)
                .expect_err(expression)
                .to_string();
            assert!(error.contains(expected), "{expression}: {error}");
            assert!(error.contains(expression), "{expression}: {error}");
        }
    }

    #[test]
    fn day_fields_follow_cron_or_semantics() {
        // Both restricted: the 13th OR a Friday. 2026-02-13 is a Friday; 2026-02-06 a Friday.
        let c = Crontab::parse("0 12 13 * fri").expect("parses");
        assert_eq!(
            c.next_after(utc(2026, 2, 1, 0, 0)),
            Some(utc(2026, 2, 6, 12, 0))
        );
        assert_eq!(
            c.next_after(utc(2026, 3, 7, 0, 0)),
            Some(utc(2026, 3, 13, 12, 0))
        );
        assert_eq!(
            c.next_after(utc(2026, 3, 13, 12, 0)),
            Some(utc(2026, 3, 20, 12, 0))
        );
        // Day of week starting with `*`: AND, as cron does.
        let c = Crontab::parse("0 0 13 * */1").expect("parses");
        assert_eq!(
            c.next_after(utc(2026, 2, 1, 0, 0)),
            Some(utc(2026, 2, 13, 0, 0))
        );
    }

    #[test]
    fn shorthands_and_leap_days() {
        let c = Crontab::parse("@yearly").expect("parses");
        assert_eq!(
            c.next_after(utc(2026, 6, 1, 0, 0)),
            Some(utc(2027, 1, 1, 0, 0))
        );
        let c = Crontab::parse("0 0 29 2 *").expect("parses");
        assert_eq!(
            c.next_after(utc(2026, 3, 1, 0, 0)),
            Some(utc(2028, 2, 29, 0, 0))
        );
        let c = Crontab::parse("@hourly").expect("parses");
        assert_eq!(
            c.next_after(utc(2026, 12, 31, 23, 0)),
            Some(utc(2027, 1, 1, 0, 0))
        );
    }

    #[test]
    fn new_york_changes_of_offset() {
        let ny = chrono_tz::America::New_York;
        // 8 March 2026: 02:00 EST becomes 03:00 EDT; 02:30 does not exist → 03:30 EDT.
        let c = Crontab::parse("30 2 * * *")
            .expect("parses")
            .with_timezone(ny);
        assert_eq!(
            c.next_after(utc(2026, 3, 7, 12, 0)),
            Some(utc(2026, 3, 8, 7, 30))
        );
        assert_eq!(
            c.next_after(utc(2026, 3, 8, 7, 30)),
            Some(utc(2026, 3, 9, 6, 30))
        );
        // 1 November 2026: 02:00 EDT becomes 01:00 EST; 01:30 happens twice.
        let c = Crontab::parse("30 1 * * *")
            .expect("parses")
            .with_timezone(ny);
        assert_eq!(
            c.next_after(utc(2026, 10, 31, 12, 0)),
            Some(utc(2026, 11, 1, 5, 30))
        );
        assert_eq!(
            c.next_after(utc(2026, 11, 1, 5, 30)),
            Some(utc(2026, 11, 2, 6, 30))
        );
        let every_hour = Crontab::parse("30 * * * *")
            .expect("parses")
            .with_timezone(ny);
        assert_eq!(
            every_hour.next_after(utc(2026, 11, 1, 5, 30)),
            Some(utc(2026, 11, 1, 6, 30))
        );
    }
}

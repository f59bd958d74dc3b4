#!/usr/bin/env python3
"""Writes fires_2026.tsv: the expected fire times of the year test's crontab entries in 2026.

Independent of the Rust code under test: the field sets are written out by hand below (no
crontab parser), days are walked with Python's calendar, and local times are resolved with
the standard library's zoneinfo (the system tz database), PEP 495 style:

- a wall-clock time skipped by a change (spring forward) resolves with fold=0, which PEP 495
  defines as the offset from before the change (RFC 5545's rule);
- a time that happens twice (fall back) fires at its first occurrence (fold=0), and also at
  its second (fold=1) when the hour set is all 24 hours.

Several wall-clock times may land on one instant (a skipped 01:30 lands on 02:30 BST): one fire.
Run: python3 engine/tests/beat_reference/make_table.py > engine/tests/beat_reference/fires_2026.tsv
"""

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

ALL_MIN = set(range(60))
ALL_HOUR = set(range(24))
ALL_DOM = set(range(1, 32))
ALL_MON = set(range(1, 13))
ALL_DOW = set(range(7))  # 0 = Sunday

# name, zone, minutes, hours, days of month, months, days of week (0 = Sun),
# dom restricted, dow restricted, full list (else only the days of a change + the count)
ENTRIES = [
    ("london-daily-0130", "Europe/London", {30}, {1}, ALL_DOM, ALL_MON, ALL_DOW, False, False, True),
    ("london-daily-0100", "Europe/London", {0}, {1}, ALL_DOM, ALL_MON, ALL_DOW, False, False, True),
    ("ny-daily-0230", "America/New_York", {30}, {2}, ALL_DOM, ALL_MON, ALL_DOW, False, False, True),
    ("ny-daily-0130", "America/New_York", {30}, {1}, ALL_DOM, ALL_MON, ALL_DOW, False, False, True),
    ("ny-weekdays-0900", "America/New_York", {0}, {9}, ALL_DOM, ALL_MON, {1, 2, 3, 4, 5}, False, True, True),
    ("ny-0145-to-0345", "America/New_York", {45}, {1, 2, 3}, ALL_DOM, ALL_MON, ALL_DOW, False, False, True),
    ("utc-13th-or-friday", "UTC", {0}, {12}, {13}, ALL_MON, {5}, True, True, True),
    ("london-jan-jul-first-week-or-monday", "Europe/London", {0}, {8}, set(range(1, 8)), {1, 7}, {1}, True, True, True),
    ("london-quarter-hours", "Europe/London", {0, 15, 30, 45}, ALL_HOUR, ALL_DOM, ALL_MON, ALL_DOW, False, False, False),
    ("ny-hourly-at-30", "America/New_York", {30}, ALL_HOUR, ALL_DOM, ALL_MON, ALL_DOW, False, False, False),
]

CHANGE_DAYS = {date(2026, 3, 8), date(2026, 3, 29), date(2026, 10, 25), date(2026, 11, 1)}
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
END = datetime(2027, 1, 1, tzinfo=timezone.utc)


def day_matches(d, doms, dows, dom_restricted, dow_restricted):
    dom = d.day in doms
    dow = (d.isoweekday() % 7) in dows
    return (dom or dow) if (dom_restricted and dow_restricted) else (dom and dow)


def fires(zone, minutes, hours, doms, months, dows, dom_r, dow_r):
    tz = ZoneInfo(zone)
    out = set()
    d = date(2025, 12, 30)
    while d <= date(2027, 1, 2):
        if d.month in months and day_matches(d, doms, dows, dom_r, dow_r):
            for h in sorted(hours):
                for m in sorted(minutes):
                    first = datetime(d.year, d.month, d.day, h, m, tzinfo=tz, fold=0)
                    second = first.replace(fold=1)
                    out.add(first.astimezone(timezone.utc))
                    u1, u2 = first.astimezone(timezone.utc), second.astimezone(timezone.utc)
                    exists = u1.astimezone(tz).replace(tzinfo=None) == first.replace(tzinfo=None)
                    if exists and u2 != u1 and hours == ALL_HOUR:
                        out.add(max(u1, u2))
        d += timedelta(days=1)
    return sorted(t for t in out if START <= t < END)


def main():
    print("# entry\tfire time (UTC) — or: count\tentry\tnumber of fires in 2026")
    for name, zone, mins, hours, doms, months, dows, dom_r, dow_r, full in ENTRIES:
        times = fires(zone, mins, hours, doms, months, dows, dom_r, dow_r)
        print(f"count\t{name}\t{len(times)}")
        for t in times:
            if full or t.date() in CHANGE_DAYS:
                print(f"{name}\t{t.strftime('%Y-%m-%dT%H:%M:%SZ')}")


if __name__ == "__main__":
    main()

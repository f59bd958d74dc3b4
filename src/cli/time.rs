//! Times for people: epoch milliseconds as UTC `YYYY-MM-DD HH:MM:SS.mmm`, uptimes as `1h 2m 3s`.

/// Milliseconds since the Unix epoch as a UTC timestamp (`?` for one out of range).
pub(crate) fn format_millis(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || format!("?{ms}"),
        |t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
    )
}

/// Seconds as `2d 3h 4m 5s` (leading zero units left out).
pub(crate) fn format_uptime(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m {s}s"),
        _ => format!("{d}d {h}h {m}m {s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_millis_format_as_utc() {
        assert_eq!(format_millis(0), "1970-01-01 00:00:00.000");
        assert_eq!(format_millis(1_750_000_000_123), "2025-06-15 15:06:40.123");
        assert_eq!(format_millis(951_782_400_000), "2000-02-29 00:00:00.000");
    }

    #[test]
    fn uptimes_drop_leading_zero_units() {
        assert_eq!(format_uptime(5), "5s");
        assert_eq!(format_uptime(3725), "1h 2m 5s");
        assert_eq!(format_uptime(90_061), "1d 1h 1m 1s");
    }
}

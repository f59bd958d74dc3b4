//! Durations on the command line: `250ms`, `5s`, `2m`, `1h` (a bare number is seconds).

use std::time::Duration;

/// Parses `250ms`, `5s`, `1.5s`, `2m`, `1h`; a bare number means seconds.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(celeriac::cli::parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(celeriac::cli::parse_duration("2m"), Ok(Duration::from_secs(120)));
/// assert!(celeriac::cli::parse_duration("soon").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 250ms, 5s, 2m or 1h"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "{text:?}: unit {other:?} is not one of ms, s, m, h"
            ))
        }
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("{text:?} is not a non-negative duration"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

//! Durations in `celeriac.toml`: a number of seconds, or number-unit pairs (`500ms`, `30s`,
//! `15m`, `1h30m`, `2d`).

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// A duration from a TOML value: a number of seconds, or a string of number-unit pairs.
pub(crate) fn parse_duration(value: &toml::Value) -> Result<Duration, String> {
    match value {
        toml::Value::Integer(secs) => u64::try_from(*secs)
            .map(Duration::from_secs)
            .map_err(|_| format!("{secs} is negative")),
        toml::Value::Float(secs) => {
            Duration::try_from_secs_f64(*secs).map_err(|_| format!("{secs} is not a duration"))
        }
        toml::Value::String(text) => parse_duration_text(text),
        other => Err(format!(
            "expected a duration such as \"30s\" or a number of seconds, found {}",
            other.type_str()
        )),
    }
}

/// A duration from text such as `"1h30m"`; a bare number is seconds.
pub(crate) fn parse_duration_text(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "{text:?} is not a duration such as \"500ms\", \"30s\", \"15m\", \"1h30m\" or \"2d\""
        )
    };
    let trimmed = text.trim();
    if let Ok(secs) = trimmed.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = trimmed;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match rest[..unit_len].trim() {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "d" => Duration::from_secs(86_400),
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        let part = unit
            .checked_mul(u32::try_from(number).map_err(|_| bad())?)
            .ok_or_else(bad)?;
        total = total.checked_add(part).ok_or_else(bad)?;
    }
    Ok(total)
}

/// The shortest text [`parse_duration_text`] reads back as `duration` (`"90s"`, `"1500ms"`).
pub(crate) fn format_duration(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms % 1000 != 0 {
        return format!("{ms}ms");
    }
    let secs = ms / 1000;
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs >= size && secs % size == 0 {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

/// Serde support for `Option<Duration>` fields written as TOML durations.
pub(crate) mod option {
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        let value = toml::Value::deserialize(deserializer)?;
        parse_duration(&value)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => serializer.serialize_str(&format_duration(*duration)),
            None => serializer.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let text = |s: &str| parse_duration(&toml::Value::String(s.into()));
        assert_eq!(text("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(text("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(text("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(text("90"), Ok(Duration::from_secs(90)));
        assert_eq!(
            parse_duration(&toml::Value::Integer(7)),
            Ok(Duration::from_secs(7))
        );
        for bad in ["", "5x", "m", "1.5h", "-3s"] {
            assert!(text(bad).is_err(), "{bad}");
        }
        assert!(parse_duration(&toml::Value::Integer(-1)).is_err());
    }

    #[test]
    fn formatted_durations_read_back() {
        for ms in [
            0u64, 1, 999, 1000, 1500, 60_000, 90_000, 3_600_000, 86_400_000,
        ] {
            let duration = Duration::from_millis(ms);
            assert_eq!(
                parse_duration_text(&format_duration(duration)),
                Ok(duration),
                "{ms} ms as {}",
                format_duration(duration)
            );
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
    }
}

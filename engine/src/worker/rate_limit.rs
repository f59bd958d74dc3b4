//! Rate limits per task name per worker, written as Celery writes them: `"10/s"`, `"100/m"`,
//! `"1000/h"` (a bare number means per second).

use std::time::Duration;

use tokio::time::Instant;

/// A parsed rate: `count` tasks per `per`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Tasks allowed in each period.
    pub count: f64,
    /// The period.
    pub per: Duration,
}

impl std::str::FromStr for RateLimit {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (count, unit) = text.trim().split_once('/').unwrap_or((text.trim(), "s"));
        let count: f64 = count.trim().parse().map_err(|_| {
            format!("rate limit {text:?}: expected a number of tasks such as \"10/s\"")
        })?;
        let per = match unit.trim() {
            "s" | "sec" => Duration::from_secs(1),
            "m" | "min" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => {
                return Err(format!(
                    "rate limit {text:?}: unit {other:?} is not one of s, m, h"
                ))
            }
        };
        if !(count.is_finite() && count > 0.0) {
            return Err(format!(
                "rate limit {text:?}: the count must be a positive number"
            ));
        }
        Ok(Self { count, per })
    }
}

impl std::fmt::Display for RateLimit {
    /// Celery's notation: `10/s`, `100/m`, `1000/h` (other periods in seconds).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "m",
            3600 => "h",
            _ => return write!(f, "{}/{}s", self.count, self.per.as_secs_f64()),
        };
        write!(f, "{}/{unit}", self.count)
    }
}

/// A token bucket: up to `count` tasks at once, refilled evenly over `per`.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate: RateLimit,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    pub(crate) fn new(rate: RateLimit) -> Self {
        Self {
            rate,
            tokens: rate.count.min(rate.count.max(1.0)),
            updated: Instant::now(),
        }
    }

    /// The rate this bucket allows.
    pub(crate) fn rate(&self) -> RateLimit {
        self.rate
    }

    /// Takes a token now, or says how long until one is there.
    pub(crate) fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let per_token = self.rate.per.as_secs_f64() / self.rate.count;
        let refill = now.saturating_duration_since(self.updated).as_secs_f64() / per_token;
        self.tokens = (self.tokens + refill).min(self.rate.count.max(1.0));
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) * per_token))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_celery_rates_and_refuses_nonsense() {
        let rate: RateLimit = "10/s".parse().expect("parses");
        assert_eq!(
            rate,
            RateLimit {
                count: 10.0,
                per: Duration::from_secs(1)
            }
        );
        assert_eq!(
            "100/m".parse::<RateLimit>().map(|r| r.per),
            Ok(Duration::from_secs(60))
        );
        assert_eq!(
            "1000/h".parse::<RateLimit>().map(|r| r.per),
            Ok(Duration::from_secs(3600))
        );
        assert_eq!("5".parse::<RateLimit>().map(|r| r.count), Ok(5.0));
        assert!("ten/s".parse::<RateLimit>().is_err());
        assert!("10/d".parse::<RateLimit>().is_err());
        assert!("0/s".parse::<RateLimit>().is_err());
    }

    #[test]
    fn the_bucket_allows_the_rate_and_no_more() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new("2/s".parse().expect("rate"));
        bucket.updated = start;
        assert!(bucket.take(start).is_ok());
        assert!(bucket.take(start).is_ok());
        let wait = bucket
            .take(start)
            .expect_err("third within the same instant");
        assert!(
            (wait.as_secs_f64() - 0.5).abs() < 1e-6,
            "one token every 500 ms, got {wait:?}"
        );
        assert!(bucket.take(start + Duration::from_millis(500)).is_ok());
    }
}

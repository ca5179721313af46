//! Times as the tools spell them: RFC 3339 in and out, stored as
//! microseconds (events) or seconds (alerting) since the Unix epoch. One
//! module so every toolset accepts and writes the same forms and says the
//! same thing about a bad one. Like [`crate::quote`], it imports nothing
//! of the crate but that, so every layer may use it.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};

/// Microseconds since the epoch, now.
pub fn now_us() -> i64 {
    Utc::now().timestamp_micros()
}

/// Seconds since the epoch, now, with microseconds.
pub fn now_seconds() -> f64 {
    now_us() as f64 / 1e6
}

/// Parses RFC 3339 into microseconds since the epoch; the error says what
/// is accepted and quotes (a prefix of) the value.
pub fn parse_rfc3339_us(value: &str) -> Result<i64, String> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.timestamp_micros())
        .map_err(|e| {
            format!(
                "{} is not an RFC 3339 time like 2026-11-26T08:00:00Z ({e})",
                crate::quote::quote(value)
            )
        })
}

/// Parses RFC 3339, or `YYYY-MM-DD[ T]HH:MM:SS[.fff]` as UTC, into
/// seconds since the epoch.
pub fn parse_lenient_seconds(value: &str) -> Option<f64> {
    let s = value.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros() as f64 / 1e6);
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp_micros() as f64 / 1e6);
        }
    }
    None
}

/// Microseconds since the epoch as RFC 3339 UTC with microseconds.
pub fn rfc3339_us(us: i64) -> String {
    DateTime::from_timestamp_micros(us)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Seconds since the epoch as RFC 3339 UTC with milliseconds.
pub fn rfc3339_seconds(t: f64) -> String {
    let ms = (t * 1000.0).round() as i64;
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accepted_forms_round_trip() {
        let us = parse_rfc3339_us("2026-11-26T08:00:00.000001+01:00").unwrap();
        assert_eq!(rfc3339_us(us), "2026-11-26T07:00:00.000001Z");
        let e = parse_rfc3339_us(&"x".repeat(500)).unwrap_err();
        assert!(e.contains("(500 bytes)") && e.contains("RFC 3339"), "{e}");
        assert_eq!(
            parse_lenient_seconds("2026-01-05 10:00:00.5"),
            parse_lenient_seconds("2026-01-05T10:00:00.5Z")
        );
        assert_eq!(parse_lenient_seconds("yesterday"), None);
        assert_eq!(rfc3339_seconds(1.5), "1970-01-01T00:00:01.500Z");
    }
}

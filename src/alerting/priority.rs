//! Priority 0-100 with its factors shown, so a person can see why one alert
//! outranks another.
//!
//! Design choice: an additive score of named, bounded factors (rather than a
//! learned or multiplicative one) so every point of priority is explained by
//! a line in `priority_factors`: severity base (info 10, warning 30, error 50,
//! critical 70), distance beyond the threshold (up to 10), anomaly score (up
//! to 10), production / customer-facing labels (5 each), business hours in
//! the configured time zone (5), and the size of the alert's group (up to 5).

use chrono::{Datelike, TimeZone, Timelike};
use serde::{Deserialize, Serialize};

use super::model::{PriorityFactor, Severity};

/// Most points the group-size factor adds (one per other member).
pub const GROUP_FACTOR_CAP: usize = 5;

/// Business hours, in a fixed UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BusinessHours {
    /// First hour of the working day (0-23).
    pub start_hour: u32,
    /// Hour the working day ends (1-24, exclusive).
    pub end_hour: u32,
    /// Offset of the time zone from UTC, minutes (e.g. -300 for New York winter).
    pub utc_offset_minutes: i32,
    /// Whether Saturday and Sunday count as business days.
    pub weekends: bool,
}

impl Default for BusinessHours {
    fn default() -> Self {
        BusinessHours {
            start_hour: 9,
            end_hour: 17,
            utc_offset_minutes: 0,
            weekends: false,
        }
    }
}

impl BusinessHours {
    /// Whether Unix second `at` falls in business hours.
    pub fn contains(&self, at: f64) -> bool {
        let Some(tz) = chrono::FixedOffset::east_opt(self.utc_offset_minutes * 60) else {
            return false;
        };
        let Some(t) = tz.timestamp_opt(at.floor() as i64, 0).single() else {
            return false;
        };
        let weekday = t.weekday().number_from_monday();
        (self.weekends || weekday <= 5) && t.hour() >= self.start_hour && t.hour() < self.end_hour
    }
}

/// What the priority of one alert is computed from.
#[derive(Debug, Clone, Copy)]
pub struct PriorityInput<'a> {
    pub severity: Severity,
    pub value: f64,
    pub threshold: Option<f64>,
    pub anomaly_score: f64,
    pub labels: &'a [(String, String)],
    pub at: f64,
    pub group_size: usize,
}

/// Computes the priority and its factors.
pub fn compute(input: &PriorityInput<'_>, hours: &BusinessHours) -> (f64, Vec<PriorityFactor>) {
    let mut f = Vec::with_capacity(6);
    let base = match input.severity {
        Severity::Info => 10.0,
        Severity::Warning => 30.0,
        Severity::Error => 50.0,
        Severity::Critical => 70.0,
    };
    f.push(PriorityFactor {
        factor: "severity".into(),
        points: base,
        detail: input.severity.name().into(),
    });
    if let Some(t) = input.threshold {
        let rel = (input.value - t).abs() / t.abs().max(1e-9);
        let pts = (rel * 20.0).min(10.0);
        f.push(PriorityFactor {
            factor: "distance".into(),
            points: round1(pts),
            detail: format!(
                "{} is {:.0}% beyond threshold {}",
                super::rules::format_num(input.value),
                rel * 100.0,
                super::rules::format_num(t)
            ),
        });
    }
    if input.anomaly_score > 0.0 {
        f.push(PriorityFactor {
            factor: "anomaly_score".into(),
            points: round1(10.0 * input.anomaly_score.clamp(0.0, 1.0)),
            detail: format!("anomaly score {:.2}", input.anomaly_score),
        });
    }
    for (k, v) in input.labels {
        let v_l = v.to_ascii_lowercase();
        let hit = match k.as_str() {
            "env" | "environment" => matches!(v_l.as_str(), "prod" | "production"),
            "customer_facing" => matches!(v_l.as_str(), "true" | "yes" | "1"),
            _ => false,
        };
        if hit {
            f.push(PriorityFactor {
                factor: "labels".into(),
                points: 5.0,
                detail: format!("{k}={v}"),
            });
        }
    }
    if hours.contains(input.at) {
        f.push(PriorityFactor {
            factor: "business_hours".into(),
            points: 5.0,
            detail: format!(
                "{:02}:00-{:02}:00 UTC{:+}m",
                hours.start_hour, hours.end_hour, hours.utc_offset_minutes
            ),
        });
    }
    if input.group_size > 1 {
        f.push(PriorityFactor {
            factor: "group_size".into(),
            points: (input.group_size - 1).min(GROUP_FACTOR_CAP) as f64,
            detail: format!("{} alerts in its group", input.group_size),
        });
    }
    let total: f64 = f.iter().map(|x| x.points).sum();
    (round1(total.clamp(0.0, 100.0)), f)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_add_up_and_are_named() {
        let l = vec![
            ("customer_facing".to_string(), "true".to_string()),
            ("env".to_string(), "production".to_string()),
        ];
        // 2024-01-03 (Wednesday) 10:00 UTC.
        let at = 1_704_276_000.0;
        let (p, f) = compute(
            &PriorityInput {
                severity: Severity::Critical,
                value: 99.0,
                threshold: Some(90.0),
                anomaly_score: 0.0,
                labels: &l,
                at,
                group_size: 3,
            },
            &BusinessHours::default(),
        );
        let names: Vec<&str> = f.iter().map(|x| x.factor.as_str()).collect();
        assert_eq!(
            names,
            [
                "severity",
                "distance",
                "labels",
                "labels",
                "business_hours",
                "group_size"
            ]
        );
        assert_eq!(p, 70.0 + 2.0 + 5.0 + 5.0 + 5.0 + 2.0);
        let night = BusinessHours {
            utc_offset_minutes: 12 * 60,
            ..Default::default()
        };
        assert!(!night.contains(at));
    }
}

//! Changing the engine's settings (`configure_alerting`): a patch of the
//! fields given, checked as a whole before anything changes.

use super::engine::{Engine, EngineConfig, EngineError, invalid};

/// Longest duration any alerting setting takes: 100 years. Beyond it a
/// time is no longer a date (`ends_at` printed 300 digits).
pub const MAX_SECONDS: f64 = 100.0 * 365.25 * 86_400.0;

/// Most labels in `group_by`.
pub const MAX_GROUP_BY: usize = 16;

/// Longest label name in `group_by`, in bytes.
pub const MAX_LABEL_NAME: usize = 200;

/// The settings to change; `None` keeps a setting's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigPatch {
    /// Dedup window, seconds.
    pub dedup_window_seconds: Option<f64>,
    /// Group window, seconds.
    pub group_window_seconds: Option<f64>,
    /// Labels forming the group key.
    pub group_by: Option<Vec<String>>,
    /// Default auto-resolve delay, seconds.
    pub resolve_after_seconds: Option<f64>,
    /// First business hour, 0-23.
    pub business_hours_start: Option<u32>,
    /// Hour business ends, 1-24, exclusive.
    pub business_hours_end: Option<u32>,
    /// Business hours' time zone, minutes east of UTC.
    pub utc_offset_minutes: Option<i32>,
    /// Whether weekends are business days.
    pub weekends: Option<bool>,
}

/// A duration in seconds between `min` and [`MAX_SECONDS`].
pub fn seconds(field: &str, x: f64, min: f64) -> Result<f64, EngineError> {
    if (min..=MAX_SECONDS).contains(&x) {
        Ok(x)
    } else {
        Err(invalid(
            field,
            format!("must be a number of seconds from {min} to {MAX_SECONDS} (100 years)"),
        ))
    }
}

impl ConfigPatch {
    /// The patch's own values, each in its range (a field at a time, in
    /// argument order).
    pub fn validate(&self) -> Result<(), EngineError> {
        for (field, v) in [
            ("dedup_window_seconds", self.dedup_window_seconds),
            ("group_window_seconds", self.group_window_seconds),
            ("resolve_after_seconds", self.resolve_after_seconds),
        ] {
            if let Some(x) = v {
                seconds(field, x, 0.0)?;
            }
        }
        if let Some(g) = &self.group_by
            && (g.len() > MAX_GROUP_BY
                || g.iter()
                    .any(|x| x.trim().is_empty() || x.len() > MAX_LABEL_NAME))
        {
            return Err(invalid(
                "group_by",
                format!(
                    "at most {MAX_GROUP_BY} non-empty label names of at most {MAX_LABEL_NAME} characters"
                ),
            ));
        }
        if self.business_hours_start.is_some_and(|h| h > 23) {
            return Err(invalid("business_hours_start", "must be an hour 0-23"));
        }
        if self.business_hours_end.is_some_and(|h| h == 0 || h > 24) {
            return Err(invalid("business_hours_end", "must be an hour 1-24"));
        }
        if self.utc_offset_minutes.is_some_and(|m| m.abs() > 14 * 60) {
            return Err(invalid("utc_offset_minutes", "must be within -840..840"));
        }
        Ok(())
    }
}

impl Engine {
    /// Applies `patch` when it is valid and leaves business hours that end
    /// after they start; returns the settings now in force.
    pub fn configure(&mut self, patch: ConfigPatch) -> Result<EngineConfig, EngineError> {
        patch.validate()?;
        let mut h = self.config.business_hours;
        if let Some(x) = patch.business_hours_start {
            h.start_hour = x;
        }
        if let Some(x) = patch.business_hours_end {
            h.end_hour = x;
        }
        if let Some(x) = patch.utc_offset_minutes {
            h.utc_offset_minutes = x;
        }
        if let Some(x) = patch.weekends {
            h.weekends = x;
        }
        if h.end_hour <= h.start_hour {
            return Err(invalid(
                "business_hours_end",
                format!("must be after business_hours_start ({})", h.start_hour),
            ));
        }
        let c = &mut self.config;
        if let Some(x) = patch.dedup_window_seconds {
            c.dedup_window_seconds = x;
        }
        if let Some(x) = patch.group_window_seconds {
            c.group_window_seconds = x;
        }
        if let Some(x) = patch.resolve_after_seconds {
            c.resolve_after_seconds = x;
        }
        if let Some(g) = patch.group_by {
            c.group_by = g;
        }
        c.business_hours = h;
        let c = c.clone();
        self.definitions_changed(super::storage::Write::Config(c.clone()));
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_changes_only_what_it_names_and_nothing_when_invalid() {
        let mut e = Engine::new();
        let before = e.config.clone();
        let c = e
            .configure(ConfigPatch {
                dedup_window_seconds: Some(60.0),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(c.dedup_window_seconds, 60.0);
        assert_eq!(c.group_by, before.group_by);
        let err = e
            .configure(ConfigPatch {
                group_window_seconds: Some(10.0),
                business_hours_start: Some(18),
                business_hours_end: Some(9),
                ..Default::default()
            })
            .unwrap_err();
        assert!(err.to_string().starts_with("business_hours_end"), "{err}");
        assert_eq!(e.config.group_window_seconds, before.group_window_seconds);
        let err = e
            .configure(ConfigPatch {
                resolve_after_seconds: Some(-1.0),
                ..Default::default()
            })
            .unwrap_err();
        assert!(
            err.to_string().starts_with("resolve_after_seconds"),
            "{err}"
        );
    }
}

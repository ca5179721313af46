//! How large what a user defines may be, and the checks the definitions'
//! `validate` methods run ([`RuleSpec::validate`], [`DynamicSpec::validate`],
//! [`Silence::validate`], [`Policy::validated`]). Every free-text field has a
//! limit: a label renders into every title that names it and an alert
//! carries its labels into every answer that shows it, so sizes multiply.
//!
//! Design choice: the engine does not run these checks when it loads its
//! own stored definitions (a limit tightened later must not drop a rule at
//! start); the adapters run them on what a client sends.

use super::engine::{DynamicSpec, EngineError, RuleSpec, invalid};
use super::escalate::{Level, Policy};
use super::settings::seconds;
use super::silence::Silence;
use super::threshold::learnable;

/// Longest name or id (rule, metric, source, user, alert, silence, group,
/// label name), in characters.
pub const MAX_NAME: usize = 200;
/// Longest condition (and recovery condition), in characters.
pub const MAX_CONDITION: usize = 2048;
/// Longest template (title or description), in characters.
pub const MAX_TEMPLATE: usize = 2048;
/// Longest free comment (a resolve note, a silence comment), in characters.
pub const MAX_NOTE: usize = 2048;
/// Longest matcher value or pattern, in characters.
pub const MAX_MATCHER_VALUE: usize = 1024;
/// Longest label value, in bytes.
pub const MAX_LABEL_VALUE: usize = 1024;
/// Most bytes of one label set (names and values).
pub const MAX_LABEL_BYTES: usize = 4096;
/// Most labels in one set.
pub const MAX_LABELS: usize = 64;
/// Most targets one escalation level notifies.
pub const MAX_NOTIFY: usize = 20;
/// Most levels in one escalation policy.
pub const MAX_LEVELS: usize = 20;
/// Most matchers in one silence (as many as a point has labels).
pub const MAX_MATCHERS: usize = 64;
/// Window sizes a learned threshold accepts, in points.
pub const WINDOW_SIZES: std::ops::RangeInclusive<usize> = 2..=100_000;
/// Most points a learned threshold waits for before it may alert.
pub const MAX_MIN_SAMPLES: usize = 1_000_000;

/// A non-empty name of at most [`MAX_NAME`] bytes.
pub fn name(field: &str, v: &str) -> Result<(), EngineError> {
    if v.trim().is_empty() || v.len() > MAX_NAME {
        return Err(invalid(
            field,
            "must be a non-empty name of at most 200 characters",
        ));
    }
    Ok(())
}

/// At most `max` characters.
pub fn chars(field: &str, value: &str, max: usize) -> Result<(), EngineError> {
    match crate::quote::too_long(value, max) {
        Some(message) => Err(invalid(field, message)),
        None => Ok(()),
    }
}

/// A condition within [`MAX_CONDITION`]; an over-long one that does not
/// parse either gets the parse error, which says more.
pub fn condition(field: &str, c: &str) -> Result<(), EngineError> {
    if c.len() > MAX_CONDITION {
        if let Err(e) = super::rules::Condition::parse(c) {
            return Err(invalid(field, e.to_string()));
        }
        chars(field, c, MAX_CONDITION)?;
    }
    Ok(())
}

fn template(field: &str, t: &Option<String>) -> Result<(), EngineError> {
    match t {
        Some(t) if t.chars().count() > MAX_TEMPLATE => {
            Err(invalid(field, format!("at most {MAX_TEMPLATE} characters")))
        }
        _ => Ok(()),
    }
}

/// A label set: at most [`MAX_LABELS`] names of 1-200 letters, digits and
/// `_`, values of at most [`MAX_LABEL_VALUE`] bytes, [`MAX_LABEL_BYTES`]
/// in all.
pub fn labels(field: &str, labels: &[(String, String)]) -> Result<(), EngineError> {
    if labels.len() > MAX_LABELS {
        return Err(invalid(field, format!("at most {MAX_LABELS} labels")));
    }
    for (k, v) in labels {
        if k.is_empty() || k.len() > MAX_NAME || !k.chars().all(|c| c.is_alphanumeric() || c == '_')
        {
            return Err(invalid(
                field,
                format!(
                    "label name {} must be 1-200 letters, digits and `_`",
                    crate::quote::quote(k)
                ),
            ));
        }
        if v.len() > MAX_LABEL_VALUE {
            return Err(invalid(
                field,
                format!(
                    "label {} is {} bytes long; a label value is at most {MAX_LABEL_VALUE} bytes",
                    crate::quote::quote(k),
                    v.len()
                ),
            ));
        }
    }
    let total: usize = labels.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_LABEL_BYTES {
        return Err(invalid(
            field,
            format!("labels are {total} bytes in all; at most {MAX_LABEL_BYTES}"),
        ));
    }
    Ok(())
}

fn non_negative(field: &str, v: Option<f64>) -> Result<(), EngineError> {
    match v {
        Some(x) => seconds(field, x, 0.0).map(|_| ()),
        None => Ok(()),
    }
}

impl RuleSpec {
    /// Checks the names, conditions, templates, durations and labels
    /// against the limits; `dynamic:` ids are reserved for learned
    /// thresholds.
    pub fn validate(&self) -> Result<(), EngineError> {
        name("rule_id", &self.rule_id)?;
        if self.rule_id.starts_with("dynamic:") {
            return Err(invalid(
                "rule_id",
                "`dynamic:` ids are reserved for learned thresholds",
            ));
        }
        name("metric_name", &self.metric_name)?;
        condition("condition", &self.condition)?;
        if let Some(r) = &self.recovery_condition {
            condition("recovery_condition", r)?;
        }
        template("title_template", &self.title_template)?;
        template("description_template", &self.description_template)?;
        non_negative("for_seconds", Some(self.for_seconds))?;
        non_negative("resolve_after_seconds", self.resolve_after_seconds)?;
        labels("labels", &self.labels)
    }
}

impl DynamicSpec {
    /// Checks the metric name, the detector's window, sensitivity and
    /// warm-up, and the auto-resolve delay.
    pub fn validate(&self) -> Result<(), EngineError> {
        name("metric_name", &self.metric_name)?;
        let p = &self.params;
        if !WINDOW_SIZES.contains(&p.window_size) {
            return Err(invalid("window_size", "must be 2-100000 points"));
        }
        if !(p.sensitivity.is_finite() && p.sensitivity > 0.0 && p.sensitivity <= 100.0) {
            return Err(invalid(
                "sensitivity",
                "must be a number of standard deviations > 0 and <= 100",
            ));
        }
        if p.min_samples > MAX_MIN_SAMPLES {
            return Err(invalid("min_samples", "must be at most 1000000"));
        }
        if let Some(r) = p.value_range {
            if !(learnable(r.min) && learnable(r.max)) {
                return Err(invalid(
                    "value_range",
                    "min and max must be finite numbers within +-1e100",
                ));
            }
            if r.min >= r.max {
                return Err(invalid("value_range", "min must be below max"));
            }
        }
        non_negative("resolve_after_seconds", self.resolve_after_seconds)
    }
}

/// A silence matcher's label and value within [`MAX_NAME`] and
/// [`MAX_MATCHER_VALUE`] characters, checked before a pattern is compiled.
pub fn matcher(i: usize, label: &str, value: &str) -> Result<(), EngineError> {
    if label.trim().is_empty() {
        return Err(invalid(
            &format!("matchers[{i}].label"),
            "must be a label name",
        ));
    }
    chars(&format!("matchers[{i}].label"), label, MAX_NAME)?;
    chars(&format!("matchers[{i}].value"), value, MAX_MATCHER_VALUE)
}

impl Silence {
    /// Checks the number of matchers, the author and the comment (each
    /// matcher is checked by [`matcher`] before it is built).
    pub fn validate(&self) -> Result<(), EngineError> {
        if self.matchers.is_empty() {
            return Err(invalid(
                "matchers",
                "give at least one matcher; a silence of everything is refused",
            ));
        }
        if self.matchers.len() > MAX_MATCHERS {
            return Err(invalid(
                "matchers",
                "at most 64 matchers (as many as a point has labels)",
            ));
        }
        name("user_id", &self.created_by)?;
        chars("comment", &self.comment, MAX_NOTE)
    }
}

impl Policy {
    /// A policy of at most [`MAX_LEVELS`] levels, each after a valid delay
    /// and notifying 1 to [`MAX_NOTIFY`] targets of 1 to 200 characters;
    /// errors name the level as given (the policy sorts them by time).
    pub fn validated(levels: Vec<Level>) -> Result<Policy, EngineError> {
        if levels.len() > MAX_LEVELS {
            return Err(invalid("levels", format!("at most {MAX_LEVELS} levels")));
        }
        for (i, l) in levels.iter().enumerate() {
            seconds(&format!("levels[{i}].after_seconds"), l.after_seconds, 0.0)?;
            if l.notify.is_empty()
                || l.notify.len() > MAX_NOTIFY
                || l.notify
                    .iter()
                    .any(|n| n.trim().is_empty() || n.len() > MAX_NAME)
            {
                return Err(invalid(
                    &format!("levels[{i}].notify"),
                    format!("list 1 to {MAX_NOTIFY} targets of 1 to 200 characters"),
                ));
            }
        }
        Ok(Policy::new(levels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(after_seconds: f64, notify: &[&str]) -> Level {
        Level {
            after_seconds,
            notify: notify.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn field(e: EngineError) -> String {
        match e {
            EngineError::Invalid { field, .. } => field,
            other => panic!("not a field error: {other:?}"),
        }
    }

    #[test]
    fn a_policy_error_names_the_level_as_given_not_as_sorted() {
        let levels = vec![level(600.0, &["lead"]), level(60.0, &[])];
        assert_eq!(
            field(Policy::validated(levels).unwrap_err()),
            "levels[1].notify"
        );
        let ok = Policy::validated(vec![level(600.0, &["lead"]), level(60.0, &["oncall"])]);
        assert_eq!(ok.unwrap().levels[0].notify, ["oncall"]);
        let many = (0..=MAX_LEVELS).map(|i| level(i as f64, &["x"])).collect();
        assert_eq!(field(Policy::validated(many).unwrap_err()), "levels");
    }

    #[test]
    fn labels_names_and_lengths_are_checked_by_bytes_and_characters() {
        assert!(labels("labels", &[("team".into(), "a".repeat(MAX_LABEL_VALUE))]).is_ok());
        let long = [("team".into(), "a".repeat(MAX_LABEL_VALUE + 1))];
        assert_eq!(field(labels("labels", &long).unwrap_err()), "labels");
        assert!(labels("labels", &[("bad-name".into(), "x".into())]).is_err());
        // 200 two-byte characters are 200 characters, within the limit.
        assert!(chars("source", &"é".repeat(MAX_NAME), MAX_NAME).is_ok());
        assert!(chars("source", &"é".repeat(MAX_NAME + 1), MAX_NAME).is_err());
        assert!(name("user_id", "  ").is_err());
    }
}

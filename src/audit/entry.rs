//! What an audit entry is: the validated input of `audit_log` ([`NewEntry`]),
//! the closed vocabularies (action, severity, outcome), and the entry as a
//! reader sees it ([`AuditEntry`]).
//!
//! Validation happens here, before anything is hashed, so a stored entry is
//! always well-formed and every rejection names the argument at fault.
//! Personal values never reach the hashed part of an entry: [`split_personal`]
//! moves them into [`PersonalValue`]s that the store keeps apart.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::AuditError;
use super::encoding::{canonical_json, pii_commitment};
use super::merkle::to_hex;

/// The actions an entry may record.
pub const ACTIONS: &[&str] = &[
    "create", "read", "update", "delete", "login", "logout", "access", "export", "import", "admin",
];
/// Severities, least to most severe.
pub const SEVERITIES: &[&str] = &["info", "warning", "error", "critical"];
/// Outcomes.
pub const OUTCOMES: &[&str] = &["success", "failure"];
/// Top-level personal fields (always personal, besides `--pii-fields` keys of `details`).
pub const PERSONAL_FIELDS: &[&str] = &["user_email", "ip_address", "user_agent"];
/// What queries show in place of an erased personal value.
pub const ERASED: &str = "[erased]";

/// Longest accepted identifier-like string (user_id, resource_id, ...).
pub const MAX_ID_LEN: usize = 512;
/// Longest accepted free-text string (user_agent, purpose).
pub const MAX_TEXT_LEN: usize = 4096;
/// Largest accepted `details` or `changes` object, as canonical JSON bytes.
pub const MAX_JSON_BYTES: usize = 64 * 1024;
/// Most tags on one entry.
pub const MAX_TAGS: usize = 32;

/// `changes` of an entry: the value before and after the action.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Changes {
    /// The value before the action (any JSON; null when created).
    pub before: Value,
    /// The value after the action (any JSON; null when deleted).
    pub after: Value,
}

/// Only an object `{before, after}`: serde's derived form also took an
/// array, so `changes: [1, 2]` was stored as `{"before": 1, "after": 2}`,
/// a record the caller never wrote.
impl<'de> Deserialize<'de> for Changes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut m = serde_json::Map::deserialize(d)?;
        let before = m
            .remove("before")
            .ok_or_else(|| D::Error::missing_field("before"))?;
        let after = m
            .remove("after")
            .ok_or_else(|| D::Error::missing_field("after"))?;
        if let Some(k) = m.keys().next() {
            return Err(D::Error::unknown_field(k, &["before", "after"]));
        }
        Ok(Changes { before, after })
    }
}

/// A validated `audit_log` request, before the writer assigns its sequence,
/// timestamp and chain link.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewEntry {
    pub user_id: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub severity: String,
    pub outcome: String,
    pub user_email: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub session_id: Option<String>,
    pub details: Map<String, Value>,
    pub changes: Option<Changes>,
    pub tenant_id: Option<String>,
    pub correlation_id: Option<String>,
    pub tags: Vec<String>,
    pub purpose: Option<String>,
}

/// One personal value kept outside the hashed entry, with the salt of its
/// commitment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalValue {
    /// `user_email`, `ip_address`, `user_agent` or `details.<key>`.
    pub field: String,
    /// The value as canonical JSON.
    pub value_json: String,
    /// 32 random bytes; deleted on erasure.
    pub salt: [u8; 32],
}

/// An entry ready for the writer: its hashed text fields prepared, its
/// personal values split off. Sequence, timestamp and prev_hash come later.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedEntry {
    pub audit_id: String,
    pub user_id: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub severity: String,
    pub outcome: String,
    pub session_id: Option<String>,
    /// Canonical JSON of `details` without its personal keys.
    pub details: String,
    pub changes: Option<String>,
    pub tenant_id: Option<String>,
    pub correlation_id: Option<String>,
    /// Canonical JSON array.
    pub tags: String,
    pub purpose: Option<String>,
    /// Canonical JSON object: personal field -> hex commitment.
    pub personal: String,
    pub personal_values: Vec<PersonalValue>,
}

fn check_id(field: &str, value: &str) -> Result<(), AuditError> {
    if value.trim().is_empty() {
        return Err(AuditError::invalid(field, "must be a non-empty string"));
    }
    check_text(field, value, MAX_ID_LEN)
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), AuditError> {
    if value.len() > max {
        return Err(AuditError::invalid(
            field,
            format!("is {} bytes long; at most {max} are accepted", value.len()),
        ));
    }
    if value.contains('\0') {
        return Err(AuditError::invalid(
            field,
            "must not contain NUL characters",
        ));
    }
    Ok(())
}

fn check_opt(field: &str, value: &Option<String>, max: usize) -> Result<(), AuditError> {
    match value {
        Some(v) => check_text(field, v, max),
        None => Ok(()),
    }
}

/// Checks `value` against a closed vocabulary.
pub fn check_vocab(field: &str, value: &str, allowed: &[&str]) -> Result<(), AuditError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(AuditError::invalid(
            field,
            format!(
                "`{value}` is not accepted; use one of {}",
                allowed.join(", ")
            ),
        ))
    }
}

impl NewEntry {
    /// Checks every field; the error names the first one at fault.
    pub fn validate(&self) -> Result<(), AuditError> {
        check_id("user_id", &self.user_id)?;
        check_vocab("action", &self.action, ACTIONS)?;
        check_id("resource_type", &self.resource_type)?;
        check_id("resource_id", &self.resource_id)?;
        check_vocab("severity", &self.severity, SEVERITIES)?;
        check_vocab("outcome", &self.outcome, OUTCOMES)?;
        check_opt("user_email", &self.user_email, MAX_ID_LEN)?;
        check_opt("ip_address", &self.ip_address, MAX_ID_LEN)?;
        check_opt("user_agent", &self.user_agent, MAX_TEXT_LEN)?;
        check_opt("session_id", &self.session_id, MAX_ID_LEN)?;
        check_opt("tenant_id", &self.tenant_id, MAX_ID_LEN)?;
        check_opt("correlation_id", &self.correlation_id, MAX_ID_LEN)?;
        check_opt("purpose", &self.purpose, MAX_TEXT_LEN)?;
        if let Some(t) = &self.tenant_id
            && t.trim().is_empty()
        {
            return Err(AuditError::invalid(
                "tenant_id",
                "must be non-empty when given",
            ));
        }
        if self.tags.len() > MAX_TAGS {
            return Err(AuditError::invalid(
                "tags",
                format!(
                    "has {} tags; at most {MAX_TAGS} are accepted",
                    self.tags.len()
                ),
            ));
        }
        for (i, tag) in self.tags.iter().enumerate() {
            check_id(&format!("tags[{i}]"), tag)?;
        }
        let details = canonical_json(&Value::Object(self.details.clone()));
        if details.len() > MAX_JSON_BYTES {
            return Err(AuditError::invalid(
                "details",
                format!(
                    "is {} bytes as JSON; at most {MAX_JSON_BYTES}",
                    details.len()
                ),
            ));
        }
        if let Some(c) = &self.changes {
            let len = canonical_json(&serde_json::to_value(c).unwrap_or(Value::Null)).len();
            if len > MAX_JSON_BYTES {
                return Err(AuditError::invalid(
                    "changes",
                    format!("is {len} bytes as JSON; at most {MAX_JSON_BYTES}"),
                ));
            }
        }
        Ok(())
    }

    /// Validates, splits off personal values (the top-level personal fields
    /// and the `details` keys in `pii_fields`) with fresh salts, and gives the
    /// entry an id.
    pub fn prepare(self, pii_fields: &[String]) -> Result<PreparedEntry, AuditError> {
        self.validate()?;
        let (details, personal_values) = split_personal(&self, pii_fields)?;
        let mut commitments = Map::new();
        for pv in &personal_values {
            let c = pii_commitment(&pv.salt, &pv.field, &pv.value_json);
            commitments.insert(pv.field.clone(), Value::String(to_hex(&c)));
        }
        let tags = canonical_json(&Value::Array(
            self.tags.iter().cloned().map(Value::String).collect(),
        ));
        let changes = self
            .changes
            .as_ref()
            .map(|c| canonical_json(&serde_json::json!({"before": c.before, "after": c.after})));
        Ok(PreparedEntry {
            audit_id: new_audit_id()?,
            user_id: self.user_id,
            action: self.action,
            resource_type: self.resource_type,
            resource_id: self.resource_id,
            severity: self.severity,
            outcome: self.outcome,
            session_id: self.session_id,
            details: canonical_json(&Value::Object(details)),
            changes,
            tenant_id: self.tenant_id,
            correlation_id: self.correlation_id,
            tags,
            purpose: self.purpose,
            personal: canonical_json(&Value::Object(commitments)),
            personal_values,
        })
    }
}

/// Splits personal values off an entry: returns `details` without its
/// personal keys, and the personal values with fresh random salts.
pub fn split_personal(
    entry: &NewEntry,
    pii_fields: &[String],
) -> Result<(Map<String, Value>, Vec<PersonalValue>), AuditError> {
    let mut values = Vec::new();
    let top = [
        ("user_email", &entry.user_email),
        ("ip_address", &entry.ip_address),
        ("user_agent", &entry.user_agent),
    ];
    for (field, value) in top {
        if let Some(v) = value {
            values.push(PersonalValue {
                field: field.to_string(),
                value_json: canonical_json(&Value::String(v.clone())),
                salt: random_bytes()?,
            });
        }
    }
    let mut details = entry.details.clone();
    for key in pii_fields {
        if let Some(v) = details.remove(key) {
            values.push(PersonalValue {
                field: format!("details.{key}"),
                value_json: canonical_json(&v),
                salt: random_bytes()?,
            });
        }
    }
    Ok((details, values))
}

/// 32 bytes from the operating system's CSPRNG.
pub fn random_bytes() -> Result<[u8; 32], AuditError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| AuditError::Internal(format!("no randomness: {e}")))?;
    Ok(b)
}

/// A time-ordered (version 7, RFC 9562) UUID: 48 bits of Unix milliseconds,
/// then random bits. Ids of successive entries sort together, so the unique
/// index on audit_id grows at its right edge instead of at random pages.
pub fn new_audit_id() -> Result<String, AuditError> {
    let mut b = random_bytes()?;
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    b[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    b[6] = (b[6] & 0x0f) | 0x70;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = to_hex(&b[..16]);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// An audit entry as a reader sees it: personal values restored, or
/// `"[erased]"` where they were erased.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct AuditEntry {
    /// Unique id of the entry (UUID).
    pub audit_id: String,
    /// Position in the log, 1-based and gap-free.
    pub sequence: u64,
    /// When the server recorded it (RFC 3339, UTC, microseconds).
    pub timestamp: String,
    /// Who acted.
    pub user_id: String,
    /// The acting user's e-mail, `"[erased]"` after erasure, or null.
    pub user_email: Option<String>,
    /// What was done: create, read, update, delete, login, logout, access, export, import, admin.
    pub action: String,
    /// Kind of the resource acted on (e.g. `player`, `report`).
    pub resource_type: String,
    /// Id of the resource acted on.
    pub resource_id: String,
    /// info, warning, error or critical.
    pub severity: String,
    /// success or failure.
    pub outcome: String,
    /// Client IP address, `"[erased]"` after erasure, or null.
    pub ip_address: Option<String>,
    /// Client user agent, `"[erased]"` after erasure, or null.
    pub user_agent: Option<String>,
    /// Session id, or null.
    pub session_id: Option<String>,
    /// Free-form details (personal keys restored or `"[erased]"`).
    pub details: Map<String, Value>,
    /// `{before, after}` of a change, or null.
    #[schemars(with = "Option<serde_json::Map<String, Value>>")]
    pub changes: Option<Value>,
    /// Tenant the entry belongs to, or null.
    pub tenant_id: Option<String>,
    /// Links entries of one operation, or null.
    pub correlation_id: Option<String>,
    /// Labels.
    pub tags: Vec<String>,
    /// Why data was accessed (GDPR purpose limitation), or null.
    pub purpose: Option<String>,
    /// Hex SHA-256 leaf hash of the entry's canonical encoding (covers every
    /// field and the previous entry's hash).
    pub entry_hash: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry() -> NewEntry {
        NewEntry {
            user_id: "u1".into(),
            action: "read".into(),
            resource_type: "player".into(),
            resource_id: "2544".into(),
            severity: "info".into(),
            outcome: "success".into(),
            ..NewEntry::default()
        }
    }

    #[test]
    fn bad_vocabulary_names_the_field_and_the_accepted_values() {
        let e = NewEntry {
            action: "steal".into(),
            ..entry()
        };
        let err = e.validate().unwrap_err();
        assert!(matches!(&err, AuditError::Invalid { field, .. } if field == "action"));
        assert!(err.to_string().contains("create, read"), "{err}");
        let e = NewEntry {
            user_id: " ".into(),
            ..entry()
        };
        assert!(
            matches!(e.validate().unwrap_err(), AuditError::Invalid { field, .. } if field == "user_id")
        );
    }

    #[test]
    fn personal_values_leave_details_and_are_committed_with_distinct_salts() {
        let mut e = entry();
        e.user_email = Some("lebron@example.com".into());
        e.details = json!({"phone": "555", "team": "LAL"})
            .as_object()
            .unwrap()
            .clone();
        let p = e.prepare(&["phone".to_string()]).unwrap();
        assert_eq!(p.details, r#"{"team":"LAL"}"#);
        assert!(!p.personal.contains("lebron"));
        assert!(p.personal.contains("details.phone") && p.personal.contains("user_email"));
        assert_eq!(p.personal_values.len(), 2);
        assert_ne!(p.personal_values[0].salt, p.personal_values[1].salt);
        assert_eq!(p.audit_id.len(), 36);
        assert_eq!(&p.audit_id[14..15], "7", "a version 7 UUID: {}", p.audit_id);
    }
}

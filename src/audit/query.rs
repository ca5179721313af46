//! Reading the log back: filtered, paged queries (newest first), per-user
//! activity, and the row -> [`AuditEntry`] conversion that restores personal
//! values (or shows them as erased).
//!
//! Every filter maps onto an index: user, resource and tenant have
//! `(column, sequence)` indexes, and because timestamps never decrease along
//! the sequence, a time window is first turned into a sequence range with two
//! index probes. A page is then a short backwards index scan from the cursor.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params_from_iter};
use serde_json::{Map, Value};

use super::AuditError;
use super::encoding::EntryView;
use super::entry::{ACTIONS, AuditEntry, ERASED, OUTCOMES, SEVERITIES, check_vocab};
use super::merkle::{Hash, to_hex};
use super::schema::ENTRY_COLUMNS;
use super::sealing::open;

/// Default page size of `audit_query`.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size of `audit_query`.
pub const MAX_LIMIT: u32 = 500;

/// Which entries to read. Every set field must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryFilter {
    pub user_id: Option<String>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub tenant_id: Option<String>,
    pub severity: Option<String>,
    pub outcome: Option<String>,
    /// Entries must carry every one of these tags.
    pub tags: Vec<String>,
    /// Inclusive lower bound, stored timestamp format.
    pub start_time: Option<String>,
    /// Exclusive upper bound, stored timestamp format.
    pub end_time: Option<String>,
}

/// Parses an RFC 3339 time argument into the stored format (UTC, micros).
pub fn parse_time(field: &str, value: &str) -> Result<String, AuditError> {
    crate::time::parse_rfc3339_us(value)
        .map(crate::time::rfc3339_us)
        .map_err(|e| AuditError::invalid(field, e))
}

impl QueryFilter {
    /// Checks the closed vocabularies.
    pub fn validate(&self) -> Result<(), AuditError> {
        if let Some(a) = &self.action {
            check_vocab("action", a, ACTIONS)?;
        }
        if let Some(s) = &self.severity {
            check_vocab("severity", s, SEVERITIES)?;
        }
        if let Some(o) = &self.outcome {
            check_vocab("outcome", o, OUTCOMES)?;
        }
        if self.resource_id.is_some() && self.resource_type.is_none() {
            return Err(AuditError::invalid(
                "resource_id",
                "needs resource_type too (ids are unique per resource type)",
            ));
        }
        if let (Some(s), Some(e)) = (&self.start_time, &self.end_time)
            && s >= e
        {
            return Err(AuditError::invalid("end_time", "must be after start_time"));
        }
        Ok(())
    }

    /// SQL conditions (joined with AND) and their parameters, with the
    /// sequence range of the time window.
    pub(crate) fn conditions(
        &self,
        conn: &Connection,
    ) -> Result<(Vec<String>, Vec<SqlValue>), AuditError> {
        let mut conds = Vec::new();
        let mut params: Vec<SqlValue> = Vec::new();
        let mut eq = |col: &str, v: &Option<String>| {
            if let Some(v) = v {
                conds.push(format!("{col} = ?"));
                params.push(SqlValue::Text(v.clone()));
            }
        };
        eq("user_id", &self.user_id);
        eq("action", &self.action);
        eq("resource_type", &self.resource_type);
        eq("resource_id", &self.resource_id);
        eq("tenant_id", &self.tenant_id);
        eq("severity", &self.severity);
        eq("outcome", &self.outcome);
        for tag in &self.tags {
            conds.push(
                "EXISTS (SELECT 1 FROM json_each(audit_entries.tags) WHERE value = ?)".into(),
            );
            params.push(SqlValue::Text(tag.clone()));
        }
        let (lo, hi) = sequence_window(conn, self.start_time.as_deref(), self.end_time.as_deref())?;
        if let Some(lo) = lo {
            conds.push("sequence >= ?".into());
            params.push(SqlValue::Integer(lo as i64));
        }
        if let Some(hi) = hi {
            conds.push("sequence <= ?".into());
            params.push(SqlValue::Integer(hi as i64));
        }
        if let Some(s) = &self.start_time {
            conds.push("timestamp >= ?".into());
            params.push(SqlValue::Text(s.clone()));
        }
        if let Some(e) = &self.end_time {
            conds.push("timestamp < ?".into());
            params.push(SqlValue::Text(e.clone()));
        }
        if conds.is_empty() {
            conds.push("1".into());
        }
        Ok((conds, params))
    }
}

/// The sequence range `[lo, hi]` whose timestamps fall in `[start, end)`;
/// an empty window gives `lo > hi`.
pub fn sequence_window(
    conn: &Connection,
    start: Option<&str>,
    end: Option<&str>,
) -> Result<(Option<u64>, Option<u64>), AuditError> {
    let lo = match start {
        None => None,
        Some(s) => Some(
            conn.query_row(
                "SELECT sequence FROM audit_entries WHERE timestamp >= ?1 ORDER BY timestamp, sequence LIMIT 1",
                [s],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map_or(u64::MAX / 2, |v| v as u64),
        ),
    };
    let hi = match end {
        None => None,
        Some(e) => Some(
            conn.query_row(
                "SELECT sequence FROM audit_entries WHERE timestamp < ?1 ORDER BY timestamp DESC, sequence DESC LIMIT 1",
                [e],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map_or(0, |v| v as u64),
        ),
    };
    Ok((lo, hi))
}

/// One page of entries.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub entries: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

/// The cursor of the page after one that ends with entry `sequence`.
pub fn cursor_before(sequence: u64) -> String {
    format!("before:{sequence}")
}

/// Parses an `audit_query` cursor.
pub fn parse_cursor(cursor: &str) -> Result<u64, AuditError> {
    cursor
        .strip_prefix("before:")
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| {
            AuditError::invalid(
                "cursor",
                "pass back the next_cursor of a previous audit_query page",
            )
        })
}

/// Newest-first page of entries matching `filter`, older than `cursor`.
pub fn query(
    conn: &Connection,
    filter: &QueryFilter,
    limit: u32,
    cursor: Option<u64>,
) -> Result<Page, AuditError> {
    filter.validate()?;
    let (mut conds, mut params) = filter.conditions(conn)?;
    if let Some(c) = cursor {
        conds.push("sequence < ?".into());
        params.push(SqlValue::Integer(c as i64));
    }
    params.push(SqlValue::Integer(limit as i64 + 1));
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE {} ORDER BY sequence DESC LIMIT ?",
        conds.join(" AND ")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(params))?;
    let mut entries = Vec::new();
    while let Some(row) = rows.next()? {
        entries.push(entry_from_row(conn, row)?);
    }
    let next_cursor = if entries.len() > limit as usize {
        entries.truncate(limit as usize);
        entries.last().map(|e| cursor_before(e.sequence))
    } else {
        None
    };
    Ok(Page {
        entries,
        next_cursor,
    })
}

/// Calls `f` for every entry matching `filter`, oldest first.
pub fn for_each(
    conn: &Connection,
    filter: &QueryFilter,
    mut f: impl FnMut(AuditEntry) -> Result<(), AuditError>,
) -> Result<u64, AuditError> {
    filter.validate()?;
    let (conds, params) = filter.conditions(conn)?;
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE {} ORDER BY sequence",
        conds.join(" AND ")
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(params_from_iter(params))?;
    let mut n = 0;
    while let Some(row) = rows.next()? {
        f(entry_from_row(conn, row)?)?;
        n += 1;
    }
    Ok(n)
}

fn json_or_string(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// The entry of a row selected with [`ENTRY_COLUMNS`], personal values
/// opened from `audit_sealed` with their keys (the connection has the key
/// file attached as `keys`) or shown as `"[erased]"`.
pub fn entry_from_row(conn: &Connection, row: &Row<'_>) -> Result<AuditEntry, AuditError> {
    let (v, stored) = super::rows::view(row)?;
    let mut values: Vec<(String, String)> = Vec::new();
    if v.personal != "{}" {
        let mut stmt = conn.prepare_cached(
            "SELECT p.field, p.sealed, k.key FROM audit_sealed p \
             LEFT JOIN keys.subject_keys k ON k.id = p.key_id WHERE p.sequence = ?1",
        )?;
        let mut rows = stmt.query([v.sequence as i64])?;
        while let Some(r) = rows.next()? {
            let field: String = r.get(0)?;
            let sealed: Option<Vec<u8>> = r.get(1).ok().flatten();
            let key: Option<Vec<u8>> = r.get(2).ok().flatten();
            if let (Some(sealed), Some(key)) = (sealed, key)
                && let Some((_, value)) = open(&key, v.sequence, &field, &sealed)
            {
                values.push((field, value));
            }
        }
    }
    Ok(entry_from_view(&v, &stored, values))
}

/// An entry as a tool shows it, from its stored row and its remaining
/// personal values (field, canonical JSON); erased ones show as `"[erased]"`.
pub fn entry_from_view(
    v: &EntryView<'_>,
    stored: &Hash,
    personal_values: Vec<(String, String)>,
) -> AuditEntry {
    let personal: Map<String, Value> = serde_json::from_str(v.personal).unwrap_or_default();
    let values: Map<String, Value> = personal_values
        .into_iter()
        .map(|(field, value)| (field, json_or_string(&value)))
        .collect();
    let personal_value = |field: &str| -> Option<Value> {
        if !personal.contains_key(field) {
            return None;
        }
        Some(
            values
                .get(field)
                .cloned()
                .unwrap_or_else(|| Value::String(ERASED.into())),
        )
    };
    let as_string = |v: Option<Value>| -> Option<String> {
        v.map(|v| match v {
            Value::String(s) => s,
            other => other.to_string(),
        })
    };
    let mut details: Map<String, Value> = serde_json::from_str(v.details).unwrap_or_default();
    for key in personal.keys() {
        if let Some(k) = key.strip_prefix("details.")
            && let Some(val) = personal_value(key)
        {
            details.insert(k.to_string(), val);
        }
    }
    let tags: Vec<String> = serde_json::from_str(v.tags).unwrap_or_default();
    let owned = |s: Option<&str>| s.map(str::to_string);
    AuditEntry {
        audit_id: v.audit_id.to_string(),
        sequence: v.sequence,
        timestamp: v.timestamp.to_string(),
        user_id: v.user_id.to_string(),
        user_email: as_string(personal_value("user_email")),
        action: v.action.to_string(),
        resource_type: v.resource_type.to_string(),
        resource_id: v.resource_id.to_string(),
        severity: v.severity.to_string(),
        outcome: v.outcome.to_string(),
        ip_address: as_string(personal_value("ip_address")),
        user_agent: as_string(personal_value("user_agent")),
        session_id: owned(v.session_id),
        details,
        changes: v.changes.map(json_or_string),
        tenant_id: owned(v.tenant_id),
        correlation_id: owned(v.correlation_id),
        tags,
        purpose: owned(v.purpose),
        entry_hash: to_hex(stored),
    }
}

/// Counts for one user over a time window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Activity {
    pub total: u64,
    pub failures: u64,
    pub by_action: std::collections::BTreeMap<String, u64>,
    pub by_resource_type: std::collections::BTreeMap<String, u64>,
    pub first_activity: Option<String>,
    pub last_activity: Option<String>,
}

/// What `user_id` did since `since` (stored timestamp format).
pub fn user_activity(
    conn: &Connection,
    user_id: &str,
    since: &str,
) -> Result<Activity, AuditError> {
    let (lo, _) = sequence_window(conn, Some(since), None)?;
    let mut stmt = conn.prepare_cached(
        "SELECT action, resource_type, COUNT(*), SUM(outcome = 'failure'), MIN(timestamp), MAX(timestamp)
         FROM audit_entries WHERE user_id = ?1 AND sequence >= ?2 AND timestamp >= ?3
         GROUP BY action, resource_type",
    )?;
    let mut rows = stmt.query(rusqlite::params![user_id, lo.unwrap_or(0) as i64, since])?;
    let mut a = Activity::default();
    while let Some(r) = rows.next()? {
        let action: String = r.get(0)?;
        let rtype: String = r.get(1)?;
        let n = r.get::<_, i64>(2)? as u64;
        a.total += n;
        a.failures += r.get::<_, Option<i64>>(3)?.unwrap_or(0) as u64;
        *a.by_action.entry(action).or_default() += n;
        *a.by_resource_type.entry(rtype).or_default() += n;
        let first: String = r.get(4)?;
        let last: String = r.get(5)?;
        if a.first_activity.as_ref().is_none_or(|f| first < *f) {
            a.first_activity = Some(first);
        }
        if a.last_activity.as_ref().is_none_or(|l| last > *l) {
            a.last_activity = Some(last);
        }
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditTrail;
    use crate::audit::entry::NewEntry;
    use crate::store::Store;

    fn trail_with(n: u64) -> (tempfile::TempDir, AuditTrail) {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path(), &[("audit", crate::audit::MIGRATIONS)]).unwrap();
        let trail = AuditTrail::open(&store, vec![]).unwrap();
        for i in 0..n {
            trail
                .log_blocking(NewEntry {
                    user_id: format!("u{}", i % 3),
                    action: "read".into(),
                    resource_type: "player".into(),
                    resource_id: format!("{}", i % 5),
                    severity: "info".into(),
                    outcome: "success".into(),
                    tenant_id: Some(format!("t{}", i % 2)),
                    ..NewEntry::default()
                })
                .unwrap();
        }
        (tmp, trail)
    }

    fn plan(conn: &Connection, filter: &QueryFilter) -> String {
        let (conds, params) = filter.conditions(conn).unwrap();
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE {} \
             ORDER BY sequence DESC LIMIT 51",
            conds.join(" AND ")
        );
        let mut stmt = conn.prepare(&sql).unwrap();
        let rows = stmt
            .query_map(params_from_iter(params), |r| r.get::<_, String>(3))
            .unwrap();
        rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("; ")
    }

    #[test]
    fn user_resource_tenant_and_time_queries_use_an_index_not_a_scan() {
        let (_tmp, trail) = trail_with(20);
        let filters = [
            QueryFilter {
                user_id: Some("u1".into()),
                ..QueryFilter::default()
            },
            QueryFilter {
                resource_type: Some("player".into()),
                resource_id: Some("3".into()),
                ..QueryFilter::default()
            },
            QueryFilter {
                tenant_id: Some("t1".into()),
                ..QueryFilter::default()
            },
            QueryFilter {
                start_time: Some("2000-01-01T00:00:00.000000Z".into()),
                end_time: Some("2100-01-01T00:00:00.000000Z".into()),
                ..QueryFilter::default()
            },
        ];
        let c = &Connection::open(trail.db_path().unwrap()).unwrap();
        for f in &filters {
            let p = plan(c, f);
            assert!(p.contains("SEARCH"), "{f:?}: {p}");
            assert!(!p.contains("SCAN audit_entries"), "{f:?}: {p}");
        }
    }

    #[test]
    fn time_windows_become_sequence_ranges() {
        let (_tmp, trail) = trail_with(5);
        let c = &Connection::open(trail.db_path().unwrap()).unwrap();
        let all = sequence_window(
            c,
            Some("2000-01-01T00:00:00.000000Z"),
            Some("2100-01-01T00:00:00.000000Z"),
        )
        .unwrap();
        assert_eq!(all, (Some(1), Some(5)));
        let none = sequence_window(c, Some("2099-01-01T00:00:00.000000Z"), None).unwrap();
        assert!(none.0.unwrap() > 5);
    }
}

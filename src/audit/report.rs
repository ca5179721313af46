//! Compliance figures over a time window: who did what, how much personal
//! data was read or exported and by whom, failures, privileged actions,
//! erasures; the same numbers serve GDPR, HIPAA and SOC 2, each framework
//! adding its own findings.
//!
//! Aggregation is done by the database over the window (one GROUP BY pass;
//! here SQLite's, PostgreSQL's in [`super::postgres`]), never by loading
//! entries into memory; [`ComplianceFigures::add_group`] is shared.

use std::collections::BTreeMap;

use rusqlite::{Connection, params_from_iter};
use schemars::JsonSchema;
use serde::Serialize;

use super::checkpoint::Checkpoint;
use super::merkle::to_hex;
use super::query::QueryFilter;
use super::verify::{Problem, VerifyRequest};
use super::{AuditError, AuditTrail};

/// Frameworks a report can be written for.
pub const FRAMEWORKS: &[&str] = &["gdpr", "hipaa", "soc2"];
/// How many data subjects the per-subject access list shows at most.
pub const MAX_SUBJECTS: usize = 100;
/// resource_type of the entries `erase_subject` writes.
pub const ERASURE_RESOURCE_TYPE: &str = "personal_data";

/// Accesses to one data subject's records (GDPR Art. 15: who accessed what, why).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SubjectAccess {
    /// Kind of the record accessed (the data subject's record type).
    pub resource_type: String,
    /// Id of the record accessed.
    pub resource_id: String,
    /// Reads, exports and accesses of it.
    pub accesses: u64,
    /// Distinct users who accessed it.
    pub accessed_by: Vec<String>,
    /// Purposes given for those accesses.
    pub purposes: Vec<String>,
}

/// Figures of a compliance report.
#[derive(Debug, Clone, PartialEq, Default, Serialize, JsonSchema)]
pub struct ComplianceFigures {
    /// Entries in the window.
    pub total_entries: u64,
    /// Distinct user_ids in the window.
    pub unique_users: u64,
    /// Data access: read, export and access actions.
    pub data_access: u64,
    /// Modifications: create, update and delete actions.
    pub modifications: u64,
    /// Entries with outcome failure.
    pub failures: u64,
    /// Privileged (admin) actions.
    pub privileged_actions: u64,
    /// Export actions.
    pub exports: u64,
    /// Erasures of personal data (erase_subject calls).
    pub erasures: u64,
    /// Data accesses that recorded no purpose.
    pub access_without_purpose: u64,
    /// Entry count per action.
    pub by_action: BTreeMap<String, u64>,
    /// Entry count per severity.
    pub by_severity: BTreeMap<String, u64>,
    /// Per data subject (resource) access, most accessed first (at most 100).
    pub subject_access: Vec<SubjectAccess>,
}

impl ComplianceFigures {
    /// Adds `n` entries that share these values (one row of a GROUP BY).
    pub fn add_group(
        &mut self,
        action: &str,
        severity: String,
        outcome: &str,
        no_purpose: bool,
        erasure: bool,
        n: u64,
    ) {
        let f = self;
        f.total_entries += n;
        *f.by_action.entry(action.to_string()).or_default() += n;
        *f.by_severity.entry(severity).or_default() += n;
        match action {
            "read" | "export" | "access" => {
                f.data_access += n;
                if no_purpose {
                    f.access_without_purpose += n;
                }
            }
            "create" | "update" => f.modifications += n,
            "delete" if erasure => f.erasures += n,
            "delete" => f.modifications += n,
            "admin" => f.privileged_actions += n,
            _ => {}
        }
        if action == "export" {
            f.exports += n;
        }
        if outcome == "failure" {
            f.failures += n;
        }
    }
}

/// Computes the figures for `[start, end)` (stored timestamp format),
/// optionally for one tenant.
pub fn figures(
    conn: &Connection,
    start: &str,
    end: &str,
    tenant_id: Option<&str>,
) -> Result<ComplianceFigures, AuditError> {
    let filter = QueryFilter {
        tenant_id: tenant_id.map(str::to_string),
        start_time: Some(start.to_string()),
        end_time: Some(end.to_string()),
        ..QueryFilter::default()
    };
    let (conds, params) = filter.conditions(conn)?;
    let wh = conds.join(" AND ");
    let mut f = ComplianceFigures::default();
    {
        let mut stmt = conn.prepare(&format!(
            "SELECT action, severity, outcome, purpose IS NULL, resource_type = ?, COUNT(*)
             FROM audit_entries WHERE {wh} GROUP BY 1, 2, 3, 4, 5"
        ))?;
        let mut p = vec![rusqlite::types::Value::Text(ERASURE_RESOURCE_TYPE.into())];
        p.extend(params.iter().cloned());
        let mut rows = stmt.query(params_from_iter(p))?;
        while let Some(r) = rows.next()? {
            let action: String = r.get(0)?;
            let severity: String = r.get(1)?;
            let outcome: String = r.get(2)?;
            let no_purpose: bool = r.get(3)?;
            let erasure: bool = r.get(4)?;
            let n = r.get::<_, i64>(5)? as u64;
            f.add_group(&action, severity, &outcome, no_purpose, erasure, n);
        }
    }
    f.unique_users = conn.query_row(
        &format!("SELECT COUNT(DISTINCT user_id) FROM audit_entries WHERE {wh}"),
        params_from_iter(params.clone()),
        |r| r.get::<_, i64>(0),
    )? as u64;
    let mut stmt = conn.prepare(&format!(
        "SELECT resource_type, resource_id, COUNT(*),
                json_group_array(DISTINCT user_id), json_group_array(DISTINCT purpose)
         FROM audit_entries
         WHERE {wh} AND action IN ('read', 'export', 'access')
         GROUP BY resource_type, resource_id ORDER BY COUNT(*) DESC, resource_type, resource_id
         LIMIT {MAX_SUBJECTS}"
    ))?;
    let mut rows = stmt.query(params_from_iter(params))?;
    while let Some(r) = rows.next()? {
        let users: Vec<String> = serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or_default();
        let purposes: Vec<Option<String>> =
            serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default();
        f.subject_access.push(SubjectAccess {
            resource_type: r.get(0)?,
            resource_id: r.get(1)?,
            accesses: r.get::<_, i64>(2)? as u64,
            accessed_by: users,
            purposes: purposes.into_iter().flatten().collect(),
        });
    }
    Ok(f)
}

/// Findings a reviewer of `framework` should look at.
pub fn findings(framework: &str, f: &ComplianceFigures, chain_valid: bool) -> Vec<String> {
    let mut out = Vec::new();
    if !chain_valid {
        out.push(
            "The audit chain does NOT verify: the trail was altered; see verification.problems."
                .into(),
        );
    }
    match framework {
        "gdpr" => {
            if f.access_without_purpose > 0 {
                out.push(format!(
                    "{} personal-data accesses recorded no purpose (Art. 5(1)(b) purpose limitation).",
                    f.access_without_purpose
                ));
            }
            out.push(format!(
                "{} records of data subjects were accessed; subject_access lists who accessed each and why (Art. 15).",
                f.subject_access.len()
            ));
            out.push(format!(
                "{} erasure requests were executed (Art. 17).",
                f.erasures
            ));
        }
        "hipaa" => {
            out.push(format!(
                "{} accesses and {} modifications were logged (45 CFR 164.312(b) audit controls).",
                f.data_access, f.modifications
            ));
            if f.failures > 0 {
                out.push(format!(
                    "{} operations failed; review them for access attempts.",
                    f.failures
                ));
            }
        }
        "soc2" => {
            out.push(format!(
                "{} privileged (admin) actions were logged (CC6.1 logical access).",
                f.privileged_actions
            ));
            let high = f.by_severity.get("error").copied().unwrap_or(0)
                + f.by_severity.get("critical").copied().unwrap_or(0);
            if high > 0 {
                out.push(format!(
                    "{high} error or critical events need incident review (CC7.3)."
                ));
            }
        }
        _ => {}
    }
    out
}

/// What a compliance report covers.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    /// One of [`FRAMEWORKS`].
    pub framework: String,
    /// Period start (RFC 3339, inclusive).
    pub start_time: String,
    /// Period end (RFC 3339, exclusive).
    pub end_time: String,
    /// Only this tenant's entries.
    pub tenant_id: Option<String>,
    /// A checkpoint to verify the chain against, with the note it came from.
    pub checkpoint: Option<(Checkpoint, String)>,
}

/// Problems a report lists at most.
pub const REPORT_PROBLEMS: usize = 20;

/// Chain verification inside a compliance report.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ReportVerification {
    /// Whether the whole chain verified.
    pub valid: bool,
    /// Entries checked.
    pub entries_checked: u64,
    /// Tree size verified.
    pub tree_size: u64,
    /// Hex root verified.
    pub root_hash: String,
    /// Up to 20 problems.
    pub problems: Vec<Problem>,
    /// The checkpoint given to check against, or null.
    pub checked_against: Option<String>,
    /// A fresh signed checkpoint of the verified tree (null when invalid): keep it with the report.
    pub checkpoint: Option<String>,
}

/// A compliance report.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ComplianceResult {
    /// gdpr, hipaa or soc2.
    pub framework: String,
    /// Period start (UTC).
    pub start_time: String,
    /// Period end (UTC).
    pub end_time: String,
    /// Tenant scope, or null for all.
    pub tenant_id: Option<String>,
    /// The figures.
    pub figures: ComplianceFigures,
    /// What a reviewer should look at.
    pub findings: Vec<String>,
    /// Integrity of the trail the figures come from.
    pub verification: ReportVerification,
}

impl AuditTrail {
    /// The report of `req.framework` over the period: the figures, the
    /// framework's findings, and the whole chain verified (against the
    /// checkpoint when given) with a fresh signed checkpoint of the verified
    /// tree when it is valid, so the report carries proof of what it read.
    pub fn compliance_report(&self, req: ReportRequest) -> Result<ComplianceResult, AuditError> {
        let figures =
            self.read(|c| c.figures(&req.start_time, &req.end_time, req.tenant_id.as_deref()))?;
        let (checkpoint, checked_against) = req.checkpoint.unzip();
        let verified = self.verify(&VerifyRequest {
            checkpoint,
            ..VerifyRequest::default()
        })?;
        let findings = findings(&req.framework, &figures, verified.valid);
        let fresh = verified
            .valid
            .then(|| self.sign(verified.tree_size, verified.root_hash).note);
        let mut problems = verified.problems;
        problems.truncate(REPORT_PROBLEMS);
        Ok(ComplianceResult {
            framework: req.framework,
            start_time: req.start_time,
            end_time: req.end_time,
            tenant_id: req.tenant_id,
            figures,
            findings,
            verification: ReportVerification {
                valid: verified.valid,
                entries_checked: verified.entries_checked,
                tree_size: verified.tree_size,
                root_hash: to_hex(&verified.root_hash),
                problems,
                checked_against,
                checkpoint: fresh,
            },
        })
    }
}

//! MCP adapters of the `audit` toolset: argument types (whose doc comments
//! are what the model reads), conversion to the domain in
//! [`crate::audit`], and result shapes. SQLite and hashing run on blocking
//! threads; `audit_log` awaits the group-commit writer without blocking.

// Doc comments here are what agents read (tool descriptions, kept verbatim):
// `audit_query`'s "[erased]" is text, not a link.
#![allow(rustdoc::broken_intra_doc_links)]

use std::collections::BTreeMap;
use std::sync::Arc;

use super::args::Parameters;
use rmcp::{Json, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::SmartServer;
use super::error::ToolError;
use crate::audit::bus_event::AuditBusEvent;
use crate::audit::entry::{AuditEntry, Changes, NewEntry};
use crate::audit::merkle::to_hex;
use crate::audit::query::{DEFAULT_LIMIT, MAX_LIMIT, QueryFilter, parse_time};
use crate::audit::report::{ComplianceResult, FRAMEWORKS, ReportRequest};
use crate::audit::verify::{Problem, VerifyRequest};
use crate::audit::{AuditError, AuditTrail, export};

impl From<AuditError> for ToolError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Invalid { field, message } => ToolError::invalid(field, message),
            other => ToolError::failed(other.to_string()),
        }
    }
}

/// Arguments of `audit_log`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogArgs {
    /// Who acted (a stable user id, not a name or e-mail).
    pub user_id: String,
    /// What was done.
    #[schemars(extend("enum" = ["create", "read", "update", "delete", "login", "logout", "access", "export", "import", "admin"]))]
    pub action: String,
    /// E.g. `player`, `game`, `report`.
    pub resource_type: String,
    /// Id of the resource acted on.
    pub resource_id: String,
    /// Severity (default info).
    #[schemars(extend("enum" = ["info", "warning", "error", "critical"]))]
    pub severity: Option<String>,
    /// Outcome (default success).
    #[schemars(extend("enum" = ["success", "failure"]))]
    pub outcome: Option<String>,
    /// E-mail of the acting user (personal data: kept off the hash chain, erasable).
    pub user_email: Option<String>,
    /// Client IP (personal data).
    pub ip_address: Option<String>,
    /// Client user agent (personal data).
    pub user_agent: Option<String>,
    /// Session id.
    pub session_id: Option<String>,
    /// JSON object; --pii-fields keys are personal data.
    pub details: Option<Map<String, Value>>,
    /// `{"before": ..., "after": ...}`.
    #[schemars(with = "Option<Map<String, Value>>")]
    pub changes: Option<Value>,
    /// Tenant, for scoped queries and reports.
    pub tenant_id: Option<String>,
    /// Links the entries of one operation.
    pub correlation_id: Option<String>,
    /// Labels, e.g. ["pii", "playoffs"].
    pub tags: Option<Vec<String>>,
    /// Why the data was accessed (GDPR purpose), e.g. "scouting report".
    pub purpose: Option<String>,
}

/// What `audit_log` returns once the entry is durably stored.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LogResult {
    /// Unique id of the new entry.
    pub audit_id: String,
    /// Its position in the log (1-based, gap-free).
    pub sequence: u64,
    /// Server-assigned UTC time of the entry.
    pub timestamp: String,
    /// Hex SHA-256 of the entry (RFC 9162 leaf hash of its canonical encoding).
    pub entry_hash: String,
    /// Size of the Merkle tree ending with this entry (= sequence).
    pub tree_size: u64,
    /// Hex root hash of that tree.
    pub root_hash: String,
}

/// Filters shared by `audit_query` and `audit_export`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryArgs {
    /// Only entries by this user.
    pub user_id: Option<String>,
    /// Only this action.
    #[schemars(extend("enum" = ["create", "read", "update", "delete", "login", "logout", "access", "export", "import", "admin"]))]
    pub action: Option<String>,
    /// Only this resource type.
    pub resource_type: Option<String>,
    /// Only this resource id (requires resource_type).
    pub resource_id: Option<String>,
    /// Only this tenant's entries.
    pub tenant_id: Option<String>,
    /// Only this severity.
    #[schemars(extend("enum" = ["info", "warning", "error", "critical"]))]
    pub severity: Option<String>,
    /// Only this outcome.
    #[schemars(extend("enum" = ["success", "failure"]))]
    pub outcome: Option<String>,
    /// Only entries carrying all of these tags.
    pub tags: Option<Vec<String>>,
    /// From this time (RFC 3339).
    pub start_time: Option<String>,
    /// Entries before this time (RFC 3339).
    pub end_time: Option<String>,
    /// Page size, 1-500 (default 50).
    pub limit: Option<u32>,
    /// next_cursor of the previous page.
    pub cursor: Option<String>,
}

impl QueryArgs {
    fn filter(&self) -> Result<QueryFilter, ToolError> {
        // An entry carries at most MAX_TAGS, so more can match nothing; about
        // 1,000 overflowed SQLite's expression depth with a store error.
        if let Some(tags) = &self.tags
            && tags.len() > crate::audit::entry::MAX_TAGS
        {
            return Err(ToolError::invalid(
                "tags",
                format!(
                    "has {} tags; an entry carries at most {}, so give at most that many",
                    tags.len(),
                    crate::audit::entry::MAX_TAGS
                ),
            ));
        }
        Ok(QueryFilter {
            user_id: self.user_id.clone(),
            action: self.action.clone(),
            resource_type: self.resource_type.clone(),
            resource_id: self.resource_id.clone(),
            tenant_id: self.tenant_id.clone(),
            severity: self.severity.clone(),
            outcome: self.outcome.clone(),
            tags: self.tags.clone().unwrap_or_default(),
            start_time: self
                .start_time
                .as_deref()
                .map(|t| parse_time("start_time", t))
                .transpose()?,
            end_time: self
                .end_time
                .as_deref()
                .map(|t| parse_time("end_time", t))
                .transpose()?,
        })
    }
}

/// A page of `audit_query` results.
#[derive(Debug, Serialize, JsonSchema)]
pub struct QueryResult {
    /// Matching entries, newest first.
    pub entries: Vec<AuditEntry>,
    /// Pass as `cursor` to get the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Arguments of `verify_chain`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyArgs {
    /// First sequence to verify (default 1).
    pub from_sequence: Option<u64>,
    /// Last sequence to verify (default: the newest entry).
    pub to_sequence: Option<u64>,
    /// A checkpoint from audit_checkpoint; the log must still hold what it signed.
    pub checkpoint: Option<String>,
}

/// What `verify_chain` found.
#[derive(Debug, Serialize, JsonSchema)]
pub struct VerifyResult {
    /// True when no problem was found.
    pub valid: bool,
    /// Entries whose hashes were recomputed.
    pub entries_checked: u64,
    /// Hex Merkle root recomputed from the entries' current contents.
    pub root_hash: String,
    /// Number of entries in that tree.
    pub tree_size: u64,
    /// Each problem with its sequence and kind, in sequence order (the first 100).
    pub problems: Vec<Problem>,
    /// How many problems were found in all.
    pub problem_count: u64,
    /// Tree size of the checkpoint checked against, if one was given.
    pub checkpoint_tree_size: Option<u64>,
    /// Time of the checkpoint checked against, if one was given.
    pub checkpoint_timestamp: Option<String>,
}

/// A signed checkpoint of the log.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CheckpointResult {
    /// The C2SP signed-note checkpoint text: save it outside the server and
    /// pass it to verify_chain later to detect truncation, rollback or rewriting.
    pub checkpoint: String,
    /// Origin line (identifies this log and its key).
    pub origin: String,
    /// Number of entries covered.
    pub tree_size: u64,
    /// Hex Merkle root of those entries.
    pub root_hash: String,
    /// When the checkpoint was signed (UTC).
    pub timestamp: String,
    /// Signed-note verifier key `<name>+<key id>+<base64 key>` for note tooling.
    pub verifier_key: String,
    /// Hex Ed25519 public key.
    pub public_key: String,
}

/// Arguments of `audit_proof`: either `sequence` or `audit_id` (with
/// optional `tree_size`) for an inclusion proof, or `old_size` (with
/// optional `new_size`) for a consistency proof.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProofArgs {
    /// Sequence of the entry to prove (inclusion proof).
    pub sequence: Option<u64>,
    /// audit_id of the entry to prove (inclusion proof).
    pub audit_id: Option<String>,
    /// Tree size to prove inclusion in (default: current size).
    pub tree_size: Option<u64>,
    /// Older tree size (consistency proof).
    pub old_size: Option<u64>,
    /// Newer tree size (consistency proof; default: current size).
    pub new_size: Option<u64>,
}

/// An RFC 9162 proof. Hashes are hex SHA-256.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProofResult {
    /// `inclusion` or `consistency`.
    pub proof_type: String,
    /// Tree size the proof is for (the newer size for consistency).
    pub tree_size: u64,
    /// Root of that tree.
    pub root_hash: String,
    /// Inclusion: sequence of the entry.
    pub sequence: Option<u64>,
    /// Inclusion: audit_id of the entry.
    pub audit_id: Option<String>,
    /// Inclusion: 0-based leaf index (= sequence - 1).
    pub leaf_index: Option<u64>,
    /// Inclusion: hex canonical encoding of the entry; leaf_hash = SHA-256(0x00 || leaf_data).
    pub leaf_data: Option<String>,
    /// Inclusion: the entry's leaf hash.
    pub leaf_hash: Option<String>,
    /// Inclusion: audit path, bottom to top (RFC 9162 §2.1.3).
    pub audit_path: Option<Vec<String>>,
    /// Consistency: older tree size.
    pub old_size: Option<u64>,
    /// Consistency: root of the older tree.
    pub old_root: Option<String>,
    /// Consistency: proof hashes (RFC 9162 §2.1.4).
    pub consistency_path: Option<Vec<String>>,
    /// How to check this proof independently.
    pub how_to_verify: String,
}

/// Arguments of `user_activity`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityArgs {
    /// The user to summarise.
    pub user_id: String,
    /// Look-back window in days, 1-3650 (default 7).
    pub days: Option<u32>,
}

/// A user's recent activity.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ActivityResult {
    /// The user.
    pub user_id: String,
    /// Window length in days.
    pub days: u32,
    /// Start of the window (UTC).
    pub since: String,
    /// Entries in the window.
    pub total: u64,
    /// Of which failed.
    pub failures: u64,
    /// Count per action.
    pub by_action: BTreeMap<String, u64>,
    /// Count per resource type.
    pub by_resource_type: BTreeMap<String, u64>,
    /// First activity in the window, or null.
    pub first_activity: Option<String>,
    /// Last activity in the window, or null.
    pub last_activity: Option<String>,
}

/// Arguments of `compliance_report`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplianceArgs {
    /// Start of the period (RFC 3339, inclusive).
    pub start_time: String,
    /// End of the period (RFC 3339, exclusive).
    pub end_time: String,
    /// Only this tenant's entries.
    pub tenant_id: Option<String>,
    /// Framework whose findings to add (default gdpr).
    #[schemars(extend("enum" = ["gdpr", "hipaa", "soc2"]))]
    pub framework: Option<String>,
    /// A checkpoint saved earlier to verify the chain against (recommended).
    pub checkpoint: Option<String>,
}

/// Arguments of `audit_export`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportArgs {
    /// File under a root (relative: from the first root), outside the data directory.
    pub path: String,
    /// Replace an existing file (default false: refuse).
    pub overwrite: Option<bool>,
    /// File format.
    #[schemars(extend("enum" = ["jsonl", "csv"]))]
    pub format: String,
    /// Only entries by this user.
    pub user_id: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this resource type.
    pub resource_type: Option<String>,
    /// Only this resource id (requires resource_type).
    pub resource_id: Option<String>,
    /// Only this tenant.
    pub tenant_id: Option<String>,
    /// Only this severity.
    pub severity: Option<String>,
    /// Only this outcome.
    pub outcome: Option<String>,
    /// Only entries with all these tags.
    pub tags: Option<Vec<String>>,
    /// Entries at or after this time (RFC 3339).
    pub start_time: Option<String>,
    /// Entries before this time (RFC 3339).
    pub end_time: Option<String>,
}

/// Where the export went.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ExportResult {
    /// Absolute path written.
    pub path: String,
    /// Entries written (oldest first).
    pub count: u64,
    /// jsonl or csv.
    pub format: String,
}

/// Arguments of `erase_subject`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseArgs {
    /// The person's user_id.
    pub user_id: Option<String>,
    /// The person's e-mail.
    pub user_email: Option<String>,
    /// Why, e.g. "GDPR Art. 17 request #123" (no personal data).
    pub reason: String,
}

/// What `erase_subject` did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EraseResult {
    /// Entries whose personal values were erased.
    pub entries_affected: u64,
    /// Personal values erased.
    pub values_erased: u64,
    /// Sequence of the audit entry recording this erasure.
    pub erasure_sequence: u64,
    /// audit_id of that entry.
    pub erasure_audit_id: String,
    /// True when the subject's keys were destroyed, the key file rewritten
    /// and the write-ahead logs truncated right away, so no erased byte
    /// remains in any store file; false when another process was reading
    /// (the rest goes at the next checkpoint) and on PostgreSQL (its WAL
    /// keeps the keys until it recycles them).
    pub wal_truncated: bool,
}

const HOW_TO_VERIFY_INCLUSION: &str = "RFC 9162 §2.1.3.2: leaf_hash = SHA-256(0x00 || hex-decoded leaf_data); \
fold audit_path with node = SHA-256(0x01 || left || right) using leaf_index and tree_size; \
the result must equal root_hash (and the root of a signed checkpoint of that size).";
const HOW_TO_VERIFY_CONSISTENCY: &str = "RFC 9162 §2.1.4.2 with old_size, tree_size, old_root, \
root_hash and consistency_path (node = SHA-256(0x01 || left || right)); both recomputed roots must match.";

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AuditError> + Send + 'static,
) -> Result<T, ToolError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ToolError::failed(format!("audit task failed: {e}")))?
        .map_err(ToolError::from)
}

impl SmartServer {
    fn audit(&self) -> Result<Arc<AuditTrail>, ToolError> {
        self.app
            .audit
            .clone()
            .ok_or_else(|| ToolError::failed("the audit toolset is not enabled"))
    }
}

#[tool_router(router = audit_router, vis = "pub(crate)")]
impl SmartServer {
    /// Record an audit entry (who did what to which resource, with what outcome); returns once
    /// durable, with its sequence, hash and Merkle root.
    #[tool(
        name = "audit_log",
        annotations(
            title = "Record an audit entry",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    pub async fn audit_log(
        &self,
        Parameters(args): Parameters<LogArgs>,
    ) -> Result<Json<LogResult>, ToolError> {
        let trail = self.audit()?;
        let changes = match args.changes {
            None | Some(Value::Null) => None,
            Some(v) => Some(serde_json::from_value::<Changes>(v).map_err(|e| {
                ToolError::invalid(
                    "changes",
                    format!("must be an object {{\"before\": ..., \"after\": ...}} ({e})"),
                )
            })?),
        };
        let entry = NewEntry {
            user_id: args.user_id,
            action: args.action,
            resource_type: args.resource_type,
            resource_id: args.resource_id,
            severity: args.severity.unwrap_or_else(|| "info".into()),
            outcome: args.outcome.unwrap_or_else(|| "success".into()),
            user_email: args.user_email,
            ip_address: args.ip_address,
            user_agent: args.user_agent,
            session_id: args.session_id,
            details: args.details.unwrap_or_default(),
            changes,
            tenant_id: args.tenant_id,
            correlation_id: args.correlation_id,
            tags: args.tags.unwrap_or_default(),
            purpose: args.purpose,
        };
        let event = AuditBusEvent::of(&entry);
        let done = trail.log(entry).await?;
        self.app.publish(event.appended(&done));
        Ok(Json(LogResult {
            audit_id: done.audit_id,
            sequence: done.sequence,
            timestamp: done.timestamp,
            entry_hash: to_hex(&done.entry_hash),
            tree_size: done.tree_size,
            root_hash: to_hex(&done.root_hash),
        }))
    }

    /// Search audit entries, newest first, paged; erased personal values show as "[erased]".
    #[tool(
        name = "audit_query",
        annotations(
            title = "Query audit entries",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn audit_query(
        &self,
        Parameters(args): Parameters<QueryArgs>,
    ) -> Result<Json<QueryResult>, ToolError> {
        let trail = self.audit()?;
        let filter = args.filter()?;
        let limit = args.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ToolError::invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let cursor = args.cursor;
        let mut page = blocking(move || trail.query(&filter, limit, cursor.as_deref())).await?;
        // A page within the answer bound ends early; the rest is the next page.
        let fit = self.budget.prefix(&page.entries, 100);
        if fit < page.entries.len() {
            page.entries.truncate(fit);
            page.next_cursor = page
                .entries
                .last()
                .map(|e| crate::audit::query::cursor_before(e.sequence));
        }
        Ok(Json(QueryResult {
            entries: page.entries,
            next_cursor: page.next_cursor,
        }))
    }

    /// Recompute hashes, chain links and the Merkle root and report each problem with its sequence.
    /// With a saved checkpoint it also detects truncation, rollback or a rewritten log.
    #[tool(
        name = "verify_chain",
        annotations(
            title = "Verify the audit chain",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn verify_chain(
        &self,
        Parameters(args): Parameters<VerifyArgs>,
    ) -> Result<Json<VerifyResult>, ToolError> {
        let trail = self.audit()?;
        if args.from_sequence == Some(0) {
            return Err(ToolError::invalid("from_sequence", "sequences start at 1"));
        }
        let checkpoint = args
            .checkpoint
            .as_deref()
            .map(|n| trail.parse_checkpoint(n))
            .transpose()?;
        let req = VerifyRequest {
            from_sequence: args.from_sequence,
            to_sequence: args.to_sequence,
            checkpoint: checkpoint.clone(),
        };
        let report = blocking(move || trail.verify(&req)).await?;
        Ok(Json(VerifyResult {
            valid: report.valid,
            entries_checked: report.entries_checked,
            root_hash: to_hex(&report.root_hash),
            tree_size: report.tree_size,
            problems: report.problems,
            problem_count: report.problem_count,
            checkpoint_tree_size: checkpoint.as_ref().map(|c| c.tree_size),
            checkpoint_timestamp: checkpoint.and_then(|c| c.timestamp),
        }))
    }

    /// Sign a checkpoint of the log (Ed25519, C2SP signed note); kept outside the server, it
    /// lets verify_chain prove the log was not rewritten.
    #[tool(
        name = "audit_checkpoint",
        annotations(
            title = "Sign a checkpoint",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn audit_checkpoint(&self) -> Result<Json<CheckpointResult>, ToolError> {
        let trail = self.audit()?;
        let cp = blocking(move || trail.checkpoint()).await?;
        Ok(Json(CheckpointResult {
            checkpoint: cp.note,
            origin: cp.checkpoint.origin,
            tree_size: cp.checkpoint.tree_size,
            root_hash: to_hex(&cp.checkpoint.root_hash),
            timestamp: cp.checkpoint.timestamp.unwrap_or_default(),
            verifier_key: cp.verifier_key,
            public_key: to_hex(&cp.public_key),
        }))
    }

    /// RFC 9162 Merkle proofs: an entry is in the log (`sequence` or `audit_id`), or a newer
    /// log extends an older one (`old_size`). See `how_to_verify`.
    #[tool(
        name = "audit_proof",
        annotations(title = "Merkle proof", read_only_hint = true, open_world_hint = false)
    )]
    pub async fn audit_proof(
        &self,
        Parameters(args): Parameters<ProofArgs>,
    ) -> Result<Json<ProofResult>, ToolError> {
        let trail = self.audit()?;
        let inclusion = args.sequence.is_some() || args.audit_id.is_some();
        let consistency = args.old_size.is_some() || args.new_size.is_some();
        if inclusion == consistency {
            return Err(ToolError::invalid(
                "sequence",
                "give `sequence` or `audit_id` (inclusion proof), or `old_size` (consistency proof), not both",
            ));
        }
        if args.sequence.is_some() && args.audit_id.is_some() {
            return Err(ToolError::invalid(
                "audit_id",
                "give sequence or audit_id, not both",
            ));
        }
        if consistency {
            if args.tree_size.is_some() {
                return Err(ToolError::invalid(
                    "tree_size",
                    "is for inclusion proofs; use new_size",
                ));
            }
            let old = args.old_size.ok_or_else(|| {
                ToolError::invalid("old_size", "is required for a consistency proof")
            })?;
            let new = args.new_size;
            let p = blocking(move || trail.consistency(old, new)).await?;
            return Ok(Json(ProofResult {
                proof_type: "consistency".into(),
                tree_size: p.new_size,
                root_hash: to_hex(&p.new_root),
                sequence: None,
                audit_id: None,
                leaf_index: None,
                leaf_data: None,
                leaf_hash: None,
                audit_path: None,
                old_size: Some(p.old_size),
                old_root: Some(to_hex(&p.old_root)),
                consistency_path: Some(p.proof.iter().map(|h| to_hex(h)).collect()),
                how_to_verify: HOW_TO_VERIFY_CONSISTENCY.into(),
            }));
        }
        let (sequence, audit_id, tree_size) = (args.sequence, args.audit_id, args.tree_size);
        let p = blocking(move || {
            let seq = match (sequence, audit_id) {
                (Some(s), _) => s,
                (None, Some(id)) => trail.sequence_of(&id)?,
                (None, None) => {
                    return Err(AuditError::invalid("sequence", "give sequence or audit_id"));
                }
            };
            trail.inclusion(seq, tree_size)
        })
        .await?;
        Ok(Json(ProofResult {
            proof_type: "inclusion".into(),
            tree_size: p.tree_size,
            root_hash: to_hex(&p.root_hash),
            sequence: Some(p.sequence),
            audit_id: Some(p.audit_id),
            leaf_index: Some(p.leaf_index),
            leaf_data: Some(to_hex(&p.leaf_data)),
            leaf_hash: Some(to_hex(&p.leaf_hash)),
            audit_path: Some(p.path.iter().map(|h| to_hex(h)).collect()),
            old_size: None,
            old_root: None,
            consistency_path: None,
            how_to_verify: HOW_TO_VERIFY_INCLUSION.into(),
        }))
    }

    /// Summarise one user's last `days` days (default 7): counts by action and resource, failures,
    /// first and last activity.
    #[tool(
        name = "user_activity",
        annotations(
            title = "User activity",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn user_activity(
        &self,
        Parameters(args): Parameters<ActivityArgs>,
    ) -> Result<Json<ActivityResult>, ToolError> {
        let trail = self.audit()?;
        let days = args.days.unwrap_or(7);
        if !(1..=3650).contains(&days) {
            return Err(ToolError::invalid("days", "must be between 1 and 3650"));
        }
        if args.user_id.trim().is_empty() {
            return Err(ToolError::invalid("user_id", "must be a non-empty user id"));
        }
        let since = (chrono::Utc::now() - chrono::Duration::days(days as i64))
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let (user, since2) = (args.user_id.clone(), since.clone());
        let a = blocking(move || trail.read(|c| c.user_activity(&user, &since2))).await?;
        Ok(Json(ActivityResult {
            user_id: args.user_id,
            days,
            since,
            total: a.total,
            failures: a.failures,
            by_action: a.by_action,
            by_resource_type: a.by_resource_type,
            first_activity: a.first_activity,
            last_activity: a.last_activity,
        }))
    }

    /// Compliance report (GDPR, HIPAA or SOC 2) for a period, optionally one tenant, with a
    /// verified chain and a signed checkpoint.
    #[tool(
        name = "compliance_report",
        annotations(
            title = "Compliance report",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn compliance_report(
        &self,
        Parameters(args): Parameters<ComplianceArgs>,
    ) -> Result<Json<ComplianceResult>, ToolError> {
        let trail = self.audit()?;
        let framework = args.framework.unwrap_or_else(|| "gdpr".into());
        if !FRAMEWORKS.contains(&framework.as_str()) {
            return Err(ToolError::invalid(
                "framework",
                format!(
                    "{} is not supported; use one of {}",
                    crate::quote::quote(&framework),
                    FRAMEWORKS.join(", ")
                ),
            ));
        }
        let start = parse_time("start_time", &args.start_time)?;
        let end = parse_time("end_time", &args.end_time)?;
        if start >= end {
            return Err(ToolError::invalid("end_time", "must be after start_time"));
        }
        let checkpoint = args
            .checkpoint
            .as_deref()
            .map(|n| trail.parse_checkpoint(n))
            .transpose()?;
        let request = ReportRequest {
            framework,
            start_time: start,
            end_time: end,
            tenant_id: args.tenant_id,
            checkpoint: checkpoint.zip(args.checkpoint),
        };
        let report = blocking(move || trail.compliance_report(request)).await?;
        Ok(Json(report))
    }

    /// Export matching entries, oldest first, to a JSON Lines or CSV file under the roots (personal
    /// values included unless erased).
    #[tool(
        name = "audit_export",
        annotations(
            title = "Export audit entries",
            read_only_hint = false,
            destructive_hint = false,
            open_world_hint = false
        )
    )]
    pub async fn audit_export(
        &self,
        Parameters(args): Parameters<ExportArgs>,
        peer: rmcp::service::Peer<rmcp::service::RoleServer>,
    ) -> Result<Json<ExportResult>, ToolError> {
        let trail = self.audit()?;
        if !export::FORMATS.contains(&args.format.as_str()) {
            return Err(ToolError::invalid(
                "format",
                format!(
                    "{} is not supported; use jsonl or csv",
                    crate::quote::quote(&args.format)
                ),
            ));
        }
        let filter = QueryArgs {
            user_id: args.user_id,
            action: args.action,
            resource_type: args.resource_type,
            resource_id: args.resource_id,
            tenant_id: args.tenant_id,
            severity: args.severity,
            outcome: args.outcome,
            tags: args.tags,
            start_time: args.start_time,
            end_time: args.end_time,
            ..QueryArgs::default()
        }
        .filter()?;
        let roots = self.workspace(&peer).await?;
        let target = export::resolve_path(
            &args.path,
            &roots,
            self.app.store.data_dir(),
            args.overwrite.unwrap_or(false),
        )?;
        let format = args.format;
        let shown = target.path();
        let f2 = format.clone();
        let count = blocking(move || {
            trail.read(|c| export::write_file(&target, &f2, |sink| c.for_each(&filter, sink)))
        })
        .await?;
        Ok(Json(ExportResult {
            path: shown.display().to_string(),
            count,
            format,
        }))
    }

    /// Erase a person's personal data from all their entries, by user_id and/or user_email;
    /// proofs stay valid and the erasure is audited. Irreversible.
    #[tool(
        name = "erase_subject",
        annotations(
            title = "Erase a data subject",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn erase_subject(
        &self,
        Parameters(args): Parameters<EraseArgs>,
    ) -> Result<Json<EraseResult>, ToolError> {
        let trail = self.audit()?;
        let erased = trail
            .erase(args.user_id, args.user_email, args.reason)
            .await?;
        if let Some(event) = erased.event.clone() {
            self.app.publish(event);
        }
        Ok(Json(EraseResult {
            entries_affected: erased.entries_affected,
            values_erased: erased.values_erased,
            erasure_sequence: erased.erasure_entry.sequence,
            erasure_audit_id: erased.erasure_entry.audit_id,
            wal_truncated: erased.wal_truncated,
        }))
    }
}

//! Prompts: the workflows people start by hand (a monthly cost review, an
//! incident triage, a compliance evidence pack, documenting a code base), as
//! MCP prompts a client offers its user, with completion of their arguments
//! and of the `events://topics/{topic}` template.
//!
//! A prompt is a plan written for the model: which tools to call in which
//! order and what to report. It adds no logic of its own (the tools do the
//! work), so it lives in the MCP layer. A prompt is listed only when the
//! toolsets its plan needs are served.

use rmcp::ErrorData;
use rmcp::model::{
    ArgumentInfo, CompleteRequestParams, CompleteResult, CompletionInfo, GetPromptRequestParams,
    GetPromptResult, Prompt, PromptArgument, PromptMessage, Reference, Role,
};
use serde_json::Value;

use super::SmartServer;
use crate::config::Toolset;

/// Most values one completion answers.
const MAX_COMPLETIONS: usize = 100;

/// Regions offered when completing a `regions` argument.
const REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "sa-east-1",
];

/// One prompt: its definition, the toolset it needs and its arguments'
/// closed sets of values (for completion).
struct PromptSpec {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    toolset: Toolset,
    /// (name, description, required, values offered by completion)
    arguments: &'static [(&'static str, &'static str, bool, &'static [&'static str])],
}

const PROMPTS: &[PromptSpec] = &[
    PromptSpec {
        name: "monthly_cost_review",
        title: "Monthly AWS cost review",
        description: "Review last month's AWS spend: what changed, where the waste is, what next month will cost, and what to do first.",
        toolset: Toolset::Cost,
        arguments: &[
            (
                "regions",
                "Comma-separated regions to scan for waste (default: the home region).",
                false,
                REGIONS,
            ),
            (
                "min_savings",
                "Smallest monthly saving worth listing, in USD (default 10).",
                false,
                &["5", "10", "50", "100"],
            ),
        ],
    },
    PromptSpec {
        name: "incident_triage",
        title: "Incident triage from firing alerts",
        description: "Triage the firing alerts: group them, find the likely cause, say who must be notified now, and propose acknowledgements and silences.",
        toolset: Toolset::Alerting,
        arguments: &[
            (
                "min_priority",
                "Lowest alert priority (0-100) to look at (default 50).",
                false,
                &["30", "50", "70", "90"],
            ),
            (
                "severity",
                "Only alerts of this severity.",
                false,
                &["critical", "error", "warning", "info"],
            ),
        ],
    },
    PromptSpec {
        name: "compliance_evidence_pack",
        title: "Compliance evidence pack",
        description: "Assemble audit evidence for a period: chain verification, a signed checkpoint, the compliance report and an export of the entries.",
        toolset: Toolset::Audit,
        arguments: &[
            (
                "framework",
                "gdpr, hipaa or soc2.",
                true,
                &["gdpr", "hipaa", "soc2"],
            ),
            (
                "start",
                "Start of the period (RFC 3339, e.g. 2026-11-01T00:00:00Z).",
                true,
                &[],
            ),
            ("end", "End of the period (RFC 3339).", true, &[]),
            ("tenant_id", "Only this tenant's entries.", false, &[]),
            (
                "export_path",
                "File under the workspace roots for the JSON Lines export (omit to skip the export).",
                false,
                &[],
            ),
        ],
    },
    PromptSpec {
        name: "document_codebase",
        title: "Document a code base",
        description: "Document a crate: API pages, module and type diagrams, and the gaps in its documentation.",
        toolset: Toolset::Docs,
        arguments: &[
            (
                "path",
                "The crate's directory, under the workspace roots.",
                true,
                &[],
            ),
            (
                "output_dir",
                "Where to write the Markdown pages (omit to only report).",
                false,
                &[],
            ),
        ],
    },
];

fn arg<'a>(args: &'a Option<serde_json::Map<String, Value>>, name: &str) -> Option<&'a str> {
    args.as_ref()?
        .get(name)?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The plan of `spec` with the given arguments.
fn plan(spec: &PromptSpec, args: &Option<serde_json::Map<String, Value>>) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    match spec.name {
        "monthly_cost_review" => {
            let regions: Vec<String> = arg(args, "regions")
                .map(|r| r.split(',').map(|s| q(s.trim())).collect())
                .unwrap_or_default();
            let min = arg(args, "min_savings").unwrap_or("10");
            format!(
                "Review our AWS spend for last month.\n\
                 1. cost_month_over_month {{}}: which services grew or appeared, with the alarms.\n\
                 2. cost_by_service {{\"granularity\": \"MONTHLY\", \"group_by\": \"SERVICE\"}} for the last complete month.\n\
                 3. cost_report {{{}\"min_savings\": {min}}}: the waste found, largest savings first; note anything in insufficient_data or errors.\n\
                 4. cost_forecast {{\"days\": 30}}: next month's spend with its interval.\n\
                 Then write a one-page review: total and the biggest changes, the five actions that save the most \
                 (resource, evidence, monthly saving), and what the forecast says. Quote figures from the tools; do not estimate.",
                if regions.is_empty() {
                    String::new()
                } else {
                    format!("\"regions\": [{}], ", regions.join(", "))
                }
            )
        }
        "incident_triage" => {
            let min = arg(args, "min_priority").unwrap_or("50");
            let severity = arg(args, "severity")
                .map(|s| format!(", \"severity\": {}", q(s)))
                .unwrap_or_default();
            format!(
                "Triage the alerts that are firing now.\n\
                 1. list_alerts {{\"status\": \"firing\", \"min_priority\": {min}{severity}}}: the alerts, highest priority first.\n\
                 2. escalations {{}}: who must be notified now for each unacknowledged alert.\n\
                 3. alert_stats {{}}: how noisy things are (dedup rate, active by severity).\n\
                 4. For the top alerts, replay_events {{\"topics\": [\"system.alerts\"], \"limit\": 50}} to see what fired and resolved around them.\n\
                 Then report: the incidents (alerts grouped by group_id and source), the likely cause of each, who to notify, \
                 and which alerts to acknowledge or silence (give the exact acknowledge_alert / silence_alerts calls, but do not make them)."
            )
        }
        "compliance_evidence_pack" => {
            let framework = arg(args, "framework").unwrap_or("gdpr");
            let start = arg(args, "start").unwrap_or("<start>");
            let end = arg(args, "end").unwrap_or("<end>");
            let tenant = arg(args, "tenant_id")
                .map(|t| format!(", \"tenant_id\": {}", q(t)))
                .unwrap_or_default();
            let export = arg(args, "export_path")
                .map(|p| {
                    format!(
                        "5. audit_export {{\"path\": {}, \"format\": \"jsonl\", \"start_time\": {}, \"end_time\": {}{tenant}}}: the entries themselves.\n",
                        q(p),
                        q(start),
                        q(end)
                    )
                })
                .unwrap_or_default();
            format!(
                "Assemble a {framework} evidence pack for {start} to {end}.\n\
                 1. verify_chain {{}}: the whole trail must verify; any problem is the first finding.\n\
                 2. audit_checkpoint {{}}: a signed checkpoint of the log as verified.\n\
                 3. compliance_report {{\"framework\": {}, \"start_time\": {}, \"end_time\": {}{tenant}}}.\n\
                 4. audit_query {{\"severity\": \"critical\", \"start_time\": {}, \"end_time\": {}{tenant}}}: the critical entries.\n\
                 {export}\
                 Then write the pack's summary: scope, chain status with the checkpoint (tree size, root hash), \
                 the report's figures and findings, erasures, and what an auditor should look at first.",
                q(framework),
                q(start),
                q(end),
                q(start),
                q(end)
            )
        }
        _ => {
            let path = arg(args, "path").unwrap_or(".");
            let output = arg(args, "output_dir")
                .map(|o| format!(", \"output_dir\": {}", q(o)))
                .unwrap_or_default();
            format!(
                "Document the crate at {path}.\n\
                 1. generate_docs {{\"path\": {}{output}}}: the API pages, item counts, coverage and undocumented public items.\n\
                 2. generate_diagram {{\"kind\": \"module_graph\", \"path\": {}}}.\n\
                 3. generate_diagram {{\"kind\": \"type_graph\", \"path\": {}}}.\n\
                 Then summarise the crate's structure (with the two diagrams), its documentation coverage, \
                 and the ten public items most in need of documentation.",
                q(path),
                q(path),
                q(path)
            )
        }
    }
}

impl SmartServer {
    fn served_prompts(&self) -> impl Iterator<Item = &'static PromptSpec> + '_ {
        PROMPTS
            .iter()
            .filter(|p| self.app.config.enabled(p.toolset))
    }

    /// Whether any prompt is served (the capability is advertised then).
    pub(crate) fn has_prompts(&self) -> bool {
        self.served_prompts().next().is_some()
    }

    /// `prompts/list`.
    pub(crate) fn prompt_list(&self) -> Vec<Prompt> {
        self.served_prompts()
            .map(|p| {
                let arguments = p
                    .arguments
                    .iter()
                    .map(|(name, description, required, _)| {
                        PromptArgument::new(*name)
                            .with_description(*description)
                            .with_required(*required)
                    })
                    .collect();
                Prompt::new(p.name, Some(p.description), Some(arguments)).with_title(p.title)
            })
            .collect()
    }

    /// `prompts/get`: the plan as one user message; a missing required
    /// argument is invalid params naming it.
    pub(crate) fn prompt_get(
        &self,
        request: GetPromptRequestParams,
    ) -> Result<GetPromptResult, ErrorData> {
        let spec = self
            .served_prompts()
            .find(|p| p.name == request.name)
            .ok_or_else(|| {
                ErrorData::invalid_params(
                    format!(
                        "unknown prompt {}; prompts/list shows the prompts this server serves",
                        crate::quote::quote(&request.name)
                    ),
                    None,
                )
            })?;
        for (name, _, required, values) in spec.arguments {
            let given = arg(&request.arguments, name);
            if *required && given.is_none() {
                return Err(ErrorData::invalid_params(
                    format!("prompt `{}` needs the argument `{name}`", spec.name),
                    None,
                ));
            }
            if let Some(v) = given
                && !values.is_empty()
                && *name != "regions"
                && !values.contains(&v)
            {
                return Err(ErrorData::invalid_params(
                    format!(
                        "argument `{name}` of prompt `{}` is {}; use one of {}",
                        spec.name,
                        crate::quote::quote(v),
                        values.join(", ")
                    ),
                    None,
                ));
            }
        }
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            plan(spec, &request.arguments),
        )])
        .with_description(spec.description))
    }

    /// `completion/complete`: a prompt argument's closed set, or the known
    /// topics for `events://topics/{topic}`, filtered by the typed prefix.
    pub(crate) async fn completion(
        &self,
        request: CompleteRequestParams,
    ) -> Result<CompleteResult, ErrorData> {
        let ArgumentInfo { name, value, .. } = &request.argument;
        let candidates: Vec<String> = match &request.r#ref {
            Reference::Prompt(p) => self
                .served_prompts()
                .find(|s| s.name == p.name)
                .and_then(|s| s.arguments.iter().find(|a| a.0 == name))
                .map(|a| {
                    // A list argument completes its last item.
                    let (done, last) = match value.rsplit_once(',') {
                        Some((done, last)) if a.0 == "regions" => (format!("{done},"), last),
                        _ => (String::new(), value.as_str()),
                    };
                    a.3.iter()
                        .filter(|v| v.starts_with(last.trim()))
                        .map(|v| format!("{done}{v}"))
                        .collect()
                })
                .unwrap_or_default(),
            Reference::Resource(r) if r.uri.starts_with("events://topics/") && name == "topic" => {
                match &self.app.events {
                    Some(bus) => bus
                        .topics()
                        .await
                        .map(|topics| {
                            topics
                                .into_iter()
                                .map(|t| t.topic)
                                .filter(|t| t.starts_with(value.as_str()))
                                .collect()
                        })
                        .unwrap_or_default(),
                    None => Vec::new(),
                }
            }
            _ => Vec::new(),
        };
        let total = candidates.len();
        let shown: Vec<String> = candidates.into_iter().take(MAX_COMPLETIONS).collect();
        let mut info = CompletionInfo::new(shown)
            .map_err(|e| ErrorData::internal_error(format!("completion: {e}"), None))?;
        info.total = Some(u32::try_from(total).unwrap_or(u32::MAX));
        info.has_more = Some(total > MAX_COMPLETIONS);
        Ok(CompleteResult::new(info))
    }
}

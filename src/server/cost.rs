//! The cost toolset's MCP tools: `cost_report`, `cost_by_service`,
//! `cost_forecast`, `cost_month_over_month`, `cost_commitments`,
//! `cost_anomalies`. Each validates its arguments,
//! calls [`crate::cost`] and returns its typed result; all are read-only.

use chrono::{Duration, NaiveDate, Utc};
use rmcp::model::ProgressNotificationParam;
use rmcp::service::RequestContext;
use rmcp::{Json, RoleServer, tool, tool_router};

use super::args::{Parameters, in_range};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SmartServer;
use super::error::ToolError;
use super::output::{Charted, output_schema};
use crate::cost::anomalies::AnomalyReport;
use crate::cost::charts;
use crate::cost::checks::{CheckId, InsufficientData, Recommendation, Thresholds};
use crate::cost::forecast::Forecast;
use crate::cost::report::{
    ApiCalls, PricingSummary, RegionSelection, ReportRequest, ScanError, Scanned,
};
use crate::cost::spend::{self, GroupAmount, GroupBy, ServiceChange, SpendPeriod};

/// Region names, or "all".
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RegionsArg {
    /// "all".
    All(String),
    /// Region names.
    List(Vec<String>),
}

/// Arguments of `cost_report`. Tuning knobs are prefixed by the check they
/// tune.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostReportArgs {
    /// ["us-east-1", ...] or "all" (default: the home region).
    pub regions: Option<RegionsArg>,
    /// Checks to run (default all).
    #[schemars(extend("items" = {"type": "string", "enum": [
        "idle_ec2", "rightsize_ec2", "stopped_ec2_storage", "unattached_ebs", "gp2_to_gp3",
        "old_snapshots", "unassociated_eip", "idle_rds", "rightsize_rds",
        "idle_load_balancers", "s3_lifecycle", "previous_generation", "idle_nat_gateway",
        "log_group_retention", "io_to_gp3", "rds_extended_support", "old_rds_snapshots"]}))]
    pub checks: Option<Vec<String>>,
    /// Days of CloudWatch history, 1-90 (default 14).
    pub lookback_days: Option<u32>,
    /// idle_ec2: max average CPU % of an idle day (default 10).
    pub idle_cpu_percent: Option<f64>,
    /// idle_ec2: max network MB of an idle day (default 5).
    pub idle_network_mb: Option<f64>,
    /// idle_ec2: idle days needed (default 4).
    pub idle_min_days: Option<u32>,
    /// rightsize_*: downsize below this max daily CPU % (default 20).
    pub rightsize_cpu_percent: Option<f64>,
    /// EC2: days of data needed, else insufficient_data (default 4).
    pub min_datapoints: Option<u32>,
    /// RDS: days of data needed (default 7).
    pub rds_min_datapoints: Option<u32>,
    /// old_*snapshots: minimum age in days (default 90).
    pub snapshot_age_days: Option<u32>,
    /// stopped_ec2_storage: minimum days stopped (default 7).
    pub stopped_days: Option<u32>,
    /// idle_load_balancers: days looked at, 1-90 (default 7).
    pub lb_lookback_days: Option<u32>,
    /// idle_load_balancers: idle below this many requests a day (default 100).
    pub lb_min_requests_per_day: Option<f64>,
    /// idle_nat_gateway: idle below this many GB a day (default 1).
    pub nat_idle_gb_per_day: Option<f64>,
    /// idle_nat_gateway: days of data needed, 1-90 (default 7).
    pub nat_min_datapoints: Option<u32>,
    /// log_group_retention: only groups storing more GB (default 0).
    pub log_min_stored_gb: Option<f64>,
    /// io_to_gp3: max provisioned IOPS, 3000-256000 (default 16000).
    pub gp3_max_iops: Option<i64>,
    /// io_to_gp3: max size GiB, 1-65536 (default 16384).
    pub gp3_max_size_gb: Option<i64>,
    /// Omit recommendations saving less USD a month (default 0).
    pub min_savings: Option<f64>,
    /// Most recommendations returned, largest first, 1-1000; totals cover all (default 100).
    pub limit: Option<usize>,
    /// AWS page size, 5-1000 (default: the API's).
    pub page_size: Option<i32>,
    /// Regions scanned at once, 1-16 (default 4).
    pub max_concurrent_regions: Option<usize>,
}

/// What `cost_report` returns.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CostReport {
    /// The account scanned, or "unknown" when STS could not tell.
    pub account_id: String,
    /// Regions scanned.
    pub regions_scanned: Vec<String>,
    /// Resources looked at, summed over the regions.
    pub scanned: Scanned,
    /// What to do, largest saving first (at most `limit`).
    pub recommendations: Vec<Recommendation>,
    /// Recommendations found in all (before `limit`).
    pub recommendations_total: usize,
    /// Monthly savings in USD over all recommendations, each resource counted
    /// once at its largest saving (recommendations on one resource are
    /// alternatives, not additive).
    pub total_monthly_savings: f64,
    /// total_monthly_savings x 12.
    pub annual_savings: f64,
    /// Resources a metric check could not judge: too few days of data
    /// (new resources, or metrics not published). Never reported as idle.
    pub insufficient_data: Vec<InsufficientData>,
    /// insufficient_data entries in all (before `limit`).
    pub insufficient_data_total: usize,
    /// Regions and checks that failed (AccessDenied, throttling, unreachable
    /// endpoint, missing API); the rest of the report stands.
    pub errors: Vec<ScanError>,
    /// AWS calls made (describe pages, GetMetricData calls and queries).
    pub api_calls: ApiCalls,
    /// Where prices came from.
    pub pricing: PricingSummary,
    /// When the report was generated (RFC 3339, UTC).
    pub generated_at: String,
}

/// Arguments of `cost_by_service`.
// Field docs are the schema's descriptions as agents read them: `<key>` stays verbatim.
#[allow(rustdoc::invalid_html_tags)]
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostByServiceArgs {
    /// First day, YYYY-MM-DD. Default: the first day of last month.
    pub start: Option<String>,
    /// Day after the last (exclusive), YYYY-MM-DD. Default: today.
    pub end: Option<String>,
    /// DAILY or MONTHLY. Default MONTHLY.
    pub granularity: Option<String>,
    /// SERVICE, REGION, LINKED_ACCOUNT or TAG:<key>. Default SERVICE.
    pub group_by: Option<String>,
    /// Also return a PNG chart.
    pub chart: Option<bool>,
}

/// What `cost_by_service` returns.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CostByService {
    /// First day (YYYY-MM-DD).
    pub start: String,
    /// Day after the last (exclusive).
    pub end: String,
    /// DAILY or MONTHLY.
    pub granularity: String,
    /// The grouping used.
    pub group_by: String,
    /// Cost Explorer metric: UnblendedCost.
    pub metric: String,
    /// Total over the whole range, USD.
    pub total: f64,
    /// Total per group over the whole range, largest first.
    pub totals_by_group: Vec<GroupAmount>,
    /// Spend per period with its groups.
    pub periods: Vec<SpendPeriod>,
    /// GetCostAndUsage pages read (NextPageToken followed).
    pub pages: usize,
}

/// Arguments of `cost_forecast`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostForecastArgs {
    /// Days ahead, 1-90 (default 30).
    pub days: Option<u32>,
    /// Also return a PNG chart.
    pub chart: Option<bool>,
}

/// Arguments of `cost_anomalies`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostAnomaliesArgs {
    /// First day, YYYY-MM-DD (default 14 days before end).
    pub start: Option<String>,
    /// Day after the last, YYYY-MM-DD (default today).
    pub end: Option<String>,
    /// Minimum excess over expected spend, USD (default 10).
    pub min_impact: Option<f64>,
    /// Own detection: minimum robust z-score, 1-100 (default 3.5).
    pub min_score: Option<f64>,
    /// Also return a PNG chart.
    pub chart: Option<bool>,
}

/// Arguments of `cost_commitments`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostCommitmentsArgs {
    /// Days of history (default 30).
    #[schemars(extend("enum" = [30, 60]))]
    pub lookback_days: Option<u32>,
    /// Plan term (default "1y").
    pub term: Option<crate::cost::commitments::Term>,
    /// Payment option (default "no_upfront").
    pub payment: Option<crate::cost::commitments::Payment>,
}

/// Arguments of `cost_month_over_month`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonthOverMonthArgs {
    /// Alarm above this growth % (default 20).
    pub threshold_percent: Option<f64>,
    /// Ignore services under this USD in both months (default 1).
    pub min_amount: Option<f64>,
}

/// What `cost_month_over_month` returns.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MonthOverMonth {
    /// The earlier month (YYYY-MM).
    pub previous_month: String,
    /// The later month (YYYY-MM), the last complete one.
    pub current_month: String,
    /// Spend in the earlier month, USD.
    pub previous_total: f64,
    /// Spend in the later month, USD.
    pub current_total: f64,
    /// The threshold used, percent.
    pub threshold_percent: f64,
    /// Services that grew by more than the threshold (or appeared).
    pub alarms: Vec<ServiceChange>,
    /// Every service's change, largest increase first.
    pub services: Vec<ServiceChange>,
}

fn finite(
    field: &str,
    value: Option<f64>,
    default: f64,
    lo: f64,
    hi: f64,
) -> Result<f64, ToolError> {
    let v = value.unwrap_or(default);
    if !v.is_finite() {
        return Err(ToolError::invalid(field, "must be a finite number"));
    }
    in_range(field, Some(v), default, lo, hi)
}

fn is_region_name(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 32
        && r.split('-').count() >= 3
        && r.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Turns `cost_report` arguments into a domain request.
pub fn report_request(
    args: CostReportArgs,
    pricing: crate::cost::settings::PricingSource,
) -> Result<(ReportRequest, usize), ToolError> {
    let regions = match args.regions {
        None => RegionSelection::Home,
        Some(RegionsArg::All(s)) if s == "all" => RegionSelection::All,
        Some(RegionsArg::All(s)) => {
            return Err(ToolError::invalid(
                "regions",
                format!("{s:?} is not accepted; give a list of region names or \"all\""),
            ));
        }
        Some(RegionsArg::List(list)) => {
            if list.is_empty() {
                return Err(ToolError::invalid(
                    "regions",
                    "empty list; give region names such as [\"us-east-1\"] or \"all\"",
                ));
            }
            let mut out: Vec<String> = Vec::new();
            for (i, r) in list.into_iter().enumerate() {
                if !is_region_name(&r) {
                    return Err(ToolError::invalid(
                        format!("regions[{i}]"),
                        format!("{r:?} is not a region name (like \"eu-west-1\")"),
                    ));
                }
                if !out.contains(&r) {
                    out.push(r);
                }
            }
            if out.len() > 64 {
                return Err(ToolError::invalid("regions", "at most 64 regions"));
            }
            RegionSelection::List(out)
        }
    };
    let checks = match args.checks {
        None => CheckId::ALL.to_vec(),
        Some(list) if list.is_empty() => {
            return Err(ToolError::invalid(
                "checks",
                format!("empty list; accepted: {}", CheckId::all_ids()),
            ));
        }
        Some(list) => {
            let mut out = Vec::new();
            for (i, c) in list.iter().enumerate() {
                let Some(id) = CheckId::parse(c) else {
                    return Err(ToolError::invalid(
                        format!("checks[{i}]"),
                        format!("unknown check {c:?}; accepted: {}", CheckId::all_ids()),
                    ));
                };
                if !out.contains(&id) {
                    out.push(id);
                }
            }
            out
        }
    };
    let d = Thresholds::default();
    let thresholds = Thresholds {
        lookback_days: in_range("lookback_days", args.lookback_days, d.lookback_days, 1, 90)?,
        idle_cpu_percent: finite(
            "idle_cpu_percent",
            args.idle_cpu_percent,
            d.idle_cpu_percent,
            0.0,
            100.0,
        )?,
        idle_network_mb: finite(
            "idle_network_mb",
            args.idle_network_mb,
            d.idle_network_mb,
            0.0,
            1e9,
        )?,
        idle_min_days: in_range("idle_min_days", args.idle_min_days, d.idle_min_days, 1, 90)?,
        rightsize_cpu_percent: finite(
            "rightsize_cpu_percent",
            args.rightsize_cpu_percent,
            d.rightsize_cpu_percent,
            0.0,
            100.0,
        )?,
        ec2_min_datapoints: in_range(
            "min_datapoints",
            args.min_datapoints,
            d.ec2_min_datapoints,
            1,
            90,
        )?,
        rds_min_datapoints: in_range(
            "rds_min_datapoints",
            args.rds_min_datapoints,
            d.rds_min_datapoints,
            1,
            90,
        )?,
        snapshot_age_days: in_range(
            "snapshot_age_days",
            args.snapshot_age_days,
            d.snapshot_age_days,
            0,
            36_500,
        )?,
        stopped_days: in_range("stopped_days", args.stopped_days, d.stopped_days, 0, 36_500)?,
        lb_lookback_days: in_range(
            "lb_lookback_days",
            args.lb_lookback_days,
            d.lb_lookback_days,
            1,
            90,
        )?,
        lb_min_requests_per_day: finite(
            "lb_min_requests_per_day",
            args.lb_min_requests_per_day,
            d.lb_min_requests_per_day,
            0.0,
            1e12,
        )?,
        nat_idle_gb_per_day: finite(
            "nat_idle_gb_per_day",
            args.nat_idle_gb_per_day,
            d.nat_idle_gb_per_day,
            0.0,
            1e9,
        )?,
        nat_min_datapoints: in_range(
            "nat_min_datapoints",
            args.nat_min_datapoints,
            d.nat_min_datapoints,
            1,
            90,
        )?,
        log_min_stored_gb: finite(
            "log_min_stored_gb",
            args.log_min_stored_gb,
            d.log_min_stored_gb,
            0.0,
            1e9,
        )?,
        gp3_max_iops: in_range(
            "gp3_max_iops",
            args.gp3_max_iops,
            d.gp3_max_iops,
            3000,
            256_000,
        )?,
        gp3_max_size_gb: in_range(
            "gp3_max_size_gb",
            args.gp3_max_size_gb,
            d.gp3_max_size_gb,
            1,
            65_536,
        )?,
    };
    if thresholds.idle_min_days > thresholds.lookback_days {
        return Err(ToolError::invalid(
            "idle_min_days",
            format!(
                "{} idle days cannot fit in a {}-day lookback; accepted: 1 to lookback_days",
                thresholds.idle_min_days, thresholds.lookback_days
            ),
        ));
    }
    let min_savings = finite("min_savings", args.min_savings, 0.0, 0.0, 1e12)?;
    let limit = in_range("limit", args.limit, 100, 1, 1000)?;
    let page_size = match args.page_size {
        None => None,
        Some(p) => Some(in_range("page_size", Some(p), 1000, 5, 1000)?),
    };
    let max_concurrent_regions = in_range(
        "max_concurrent_regions",
        args.max_concurrent_regions,
        4,
        1,
        16,
    )?;
    Ok((
        ReportRequest {
            regions,
            checks,
            thresholds,
            min_savings,
            page_size,
            max_concurrent_regions,
            pricing,
        },
        limit,
    ))
}

fn parse_day(field: &str, value: &str) -> Result<NaiveDate, ToolError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
        ToolError::invalid(
            field,
            format!("{value:?} is not a date; accepted: YYYY-MM-DD"),
        )
    })
}

#[tool_router(router = cost_router, vis = "pub(crate)")]
impl SmartServer {
    /// Scan AWS regions for waste and return recommendations with monthly savings at list
    /// prices; too little metric history goes to `insufficient_data`, failures to `errors`.
    /// Changes nothing.
    #[tool(
        name = "cost_report",
        annotations(
            title = "AWS cost report",
            read_only_hint = true,
            destructive_hint = false,
            open_world_hint = true
        )
    )]
    pub async fn cost_report(
        &self,
        Parameters(args): Parameters<CostReportArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<CostReport>, ToolError> {
        let (request, limit) = report_request(args, self.app.config.aws.pricing)?;
        let session = self.aws_session().await?;
        let (tx, mut rx) =
            tokio::sync::mpsc::unbounded_channel::<crate::cost::report::ProgressUpdate>();
        let forwarder = ctx.meta.get_progress_token().map(|token| {
            let peer = ctx.peer.clone();
            tokio::spawn(async move {
                while let Some(u) = rx.recv().await {
                    let _ = peer
                        .notify_progress(
                            ProgressNotificationParam::new(token.clone(), f64::from(u.done))
                                .with_total(f64::from(u.total))
                                .with_message(u.message),
                        )
                        .await;
                }
            })
        });
        let live = self.app.cost.live_prices.clone();
        let run = crate::cost::report::run(&session, live, request, forwarder.as_ref().map(|_| tx));
        let report = tokio::select! {
            r = run => r,
            _ = ctx.ct.cancelled() => {
                return Err(ToolError::failed("cost_report was cancelled by the client"));
            }
        };
        if let Some(f) = forwarder {
            // The sender is dropped with the report future: the forwarder
            // drains what is queued, then ends.
            let _ = f.await;
        }
        let recommendations_total = report.recommendations.len();
        let insufficient_data_total = report.insufficient_data.len();
        let mut recommendations = report.recommendations;
        recommendations.truncate(limit);
        let mut insufficient_data = report.insufficient_data;
        insufficient_data.truncate(limit);
        // Within the answer bound: the largest savings stay, and the
        // `_total` fields count what was left out.
        recommendations.truncate(self.budget.prefix(&recommendations, 2000));
        if self.budget.max_tokens().is_some() {
            let used = super::budget::AnswerBudget::tokens_of(&recommendations);
            insufficient_data.truncate(self.budget.prefix(&insufficient_data, used + 2000));
        }
        Ok(Json(CostReport {
            account_id: report.account_id,
            regions_scanned: report.regions_scanned,
            scanned: report.scanned,
            recommendations,
            recommendations_total,
            total_monthly_savings: report.total_monthly_savings,
            annual_savings: report.annual_savings,
            insufficient_data,
            insufficient_data_total,
            errors: report.errors,
            api_calls: report.api_calls,
            pricing: report.pricing,
            generated_at: report.generated_at,
        }))
    }

    /// Spend from Cost Explorer (unblended), grouped by service, region,
    /// account or a tag.
    #[tool(
        name = "cost_by_service",
        output_schema = output_schema::<CostByService>(),
        annotations(
            title = "AWS spend by service",
            read_only_hint = true,
            destructive_hint = false,
            open_world_hint = true
        )
    )]
    pub async fn cost_by_service(
        &self,
        Parameters(args): Parameters<CostByServiceArgs>,
    ) -> Result<Charted<CostByService>, ToolError> {
        let today = Utc::now().date_naive();
        let start = match &args.start {
            Some(s) => parse_day("start", s)?,
            None => spend::month_start(today, 1),
        };
        let end = match &args.end {
            Some(s) => parse_day("end", s)?,
            None => today,
        };
        if end <= start {
            return Err(ToolError::invalid(
                "end",
                format!("must be after start ({start})"),
            ));
        }
        let granularity = match args.granularity.as_deref().unwrap_or("MONTHLY") {
            "DAILY" => aws_sdk_costexplorer::types::Granularity::Daily,
            "MONTHLY" => aws_sdk_costexplorer::types::Granularity::Monthly,
            other => {
                return Err(ToolError::invalid(
                    "granularity",
                    format!("{other:?}; accepted: DAILY, MONTHLY"),
                ));
            }
        };
        let max_days = if granularity == aws_sdk_costexplorer::types::Granularity::Daily {
            92
        } else {
            14 * 31
        };
        if (end - start) > Duration::days(max_days) {
            return Err(ToolError::invalid(
                "end",
                format!(
                    "the range is {} days; at most {max_days} days for {} (keeps the answer readable)",
                    (end - start).num_days(),
                    granularity.as_str()
                ),
            ));
        }
        let group_by_name = args.group_by.as_deref().unwrap_or("SERVICE");
        let group_by = GroupBy::parse(group_by_name).ok_or_else(|| {
            ToolError::invalid(
                "group_by",
                format!("{group_by_name:?}; accepted: SERVICE, REGION, LINKED_ACCOUNT, TAG:<key>"),
            )
        })?;
        let session = self.aws_session().await?;
        let (periods, pages) = spend::fetch_periods(
            &session.cost_explorer(),
            start,
            end,
            granularity.clone(),
            Some(&group_by),
        )
        .await
        .map_err(ToolError::failed)?;
        let totals_by_group = spend::totals_by_group(&periods);
        let total = crate::cost::pricing::cents(periods.iter().map(|p| p.total).sum());
        let periods = spend::rounded(periods);
        let png = match args.chart {
            Some(true) => Some(
                charts::spend(&periods, &group_by.name(), granularity.as_str())
                    .map_err(ToolError::failed)?,
            ),
            _ => None,
        };
        let value = CostByService {
            start: start.to_string(),
            end: end.to_string(),
            granularity: granularity.as_str().to_string(),
            group_by: group_by.name(),
            metric: spend::METRIC.into(),
            total,
            totals_by_group,
            periods,
            pages,
        };
        Ok(Charted { value, png })
    }

    /// Forecast AWS spend with an 80 % interval: Cost Explorer's forecast,
    /// else trend + weekly seasonality over 90 days (`method` says which).
    #[tool(
        name = "cost_forecast",
        output_schema = output_schema::<Forecast>(),
        annotations(
            title = "AWS spend forecast",
            read_only_hint = true,
            destructive_hint = false,
            open_world_hint = true
        )
    )]
    pub async fn cost_forecast(
        &self,
        Parameters(args): Parameters<CostForecastArgs>,
    ) -> Result<Charted<Forecast>, ToolError> {
        let days = in_range("days", args.days, 30, 1, 90)?;
        let chart = args.chart == Some(true);
        let session = self.aws_session().await?;
        let (f, history) = crate::cost::forecast::forecast_with_history(
            &session.cost_explorer(),
            Utc::now().date_naive(),
            days,
            if chart {
                charts::FORECAST_HISTORY_DAYS
            } else {
                0
            },
        )
        .await
        .map_err(ToolError::failed)?;
        let png = if chart {
            Some(charts::forecast(&f, &history).map_err(ToolError::failed)?)
        } else {
            None
        };
        Ok(Charted { value: f, png })
    }

    /// Savings Plans coverage and utilisation, RI coverage, and the Compute
    /// Savings Plan Cost Explorer recommends buying. A failed part is null,
    /// with an entry in `errors`.
    #[tool(
        name = "cost_commitments",
        annotations(
            title = "AWS Savings Plans and reservations",
            read_only_hint = true,
            destructive_hint = false,
            open_world_hint = true
        )
    )]
    pub async fn cost_commitments(
        &self,
        Parameters(args): Parameters<CostCommitmentsArgs>,
    ) -> Result<Json<crate::cost::commitments::Commitments>, ToolError> {
        use crate::cost::commitments::{self, Payment, Term};
        let lookback = args.lookback_days.unwrap_or(30);
        if lookback != 30 && lookback != 60 {
            return Err(ToolError::invalid(
                "lookback_days",
                format!("{lookback} is not accepted; accepted: 30 or 60"),
            ));
        }
        let session = self.aws_session().await?;
        let c = commitments::commitments(
            &session.cost_explorer(),
            Utc::now().date_naive(),
            lookback,
            args.term.unwrap_or(Term::OneYear),
            args.payment.unwrap_or(Payment::NoUpfront),
        )
        .await;
        Ok(Json(c))
    }

    /// Spend spikes: Cost Explorer's anomalies, else own detection per
    /// service against the same weekday's median (`method` says which).
    /// Each is also published as `cost.anomaly` on topic `cost`.
    #[tool(
        name = "cost_anomalies",
        output_schema = output_schema::<AnomalyReport>(),
        annotations(
            title = "AWS spend anomalies",
            read_only_hint = true,
            destructive_hint = false,
            open_world_hint = true
        )
    )]
    pub async fn cost_anomalies(
        &self,
        Parameters(args): Parameters<CostAnomaliesArgs>,
    ) -> Result<Charted<AnomalyReport>, ToolError> {
        use crate::cost::anomalies;
        let today = Utc::now().date_naive();
        let end = match &args.end {
            Some(e) => parse_day("end", e)?,
            None => today,
        };
        let start = match &args.start {
            Some(s) => parse_day("start", s)?,
            None => end - Duration::days(14),
        };
        if start >= end {
            return Err(ToolError::invalid(
                "start",
                format!("{start} is not before end {end}; accepted: a day before end"),
            ));
        }
        if (end - start).num_days() > 366 {
            return Err(ToolError::invalid(
                "start",
                "the range is longer than 366 days; accepted: at most 366 days before end",
            ));
        }
        let min_impact = finite(
            "min_impact",
            args.min_impact,
            anomalies::DEFAULT_MIN_IMPACT,
            0.0,
            1e12,
        )?;
        let min_score = finite(
            "min_score",
            args.min_score,
            anomalies::DEFAULT_MIN_SCORE,
            1.0,
            100.0,
        )?;
        let chart = args.chart == Some(true);
        let session = self.aws_session().await?;
        let (mut report, spend) = anomalies::anomalies_with_spend(
            &session.cost_explorer(),
            start,
            end,
            min_impact,
            min_score,
            chart,
        )
        .await
        .map_err(ToolError::failed)?;
        report.published = report
            .anomalies
            .iter()
            .filter(|a| self.app.publish(anomalies::bus_event(a)))
            .count();
        let png = if chart {
            Some(charts::anomalies(&report, &spend).map_err(ToolError::failed)?)
        } else {
            None
        };
        Ok(Charted { value: report, png })
    }

    /// Spend change per service between the last two complete months, with
    /// an alarm for each service growing over `threshold_percent`.
    #[tool(
        name = "cost_month_over_month",
        annotations(
            title = "AWS month-over-month change",
            read_only_hint = true,
            destructive_hint = false,
            open_world_hint = true
        )
    )]
    pub async fn cost_month_over_month(
        &self,
        Parameters(args): Parameters<MonthOverMonthArgs>,
    ) -> Result<Json<MonthOverMonth>, ToolError> {
        let threshold = finite("threshold_percent", args.threshold_percent, 20.0, 0.0, 1e6)?;
        let min_amount = finite("min_amount", args.min_amount, 1.0, 0.0, 1e12)?;
        let session = self.aws_session().await?;
        let today = Utc::now().date_naive();
        let (earlier, later, end) = (
            spend::month_start(today, 2),
            spend::month_start(today, 1),
            spend::month_start(today, 0),
        );
        let (periods, _) = spend::fetch_periods(
            &session.cost_explorer(),
            earlier,
            end,
            aws_sdk_costexplorer::types::Granularity::Monthly,
            Some(&GroupBy::Service),
        )
        .await
        .map_err(ToolError::failed)?;
        let month = |d: NaiveDate| d.format("%Y-%m").to_string();
        let pick = |m: NaiveDate| -> Vec<GroupAmount> {
            periods
                .iter()
                .filter(|p| p.start.starts_with(&month(m)))
                .flat_map(|p| p.groups.clone())
                .collect()
        };
        let (prev, cur) = (pick(earlier), pick(later));
        let services = spend::compare_months(&prev, &cur, threshold, min_amount);
        let alarms = services.iter().filter(|s| s.alarm).cloned().collect();
        let sum = |g: &[GroupAmount]| crate::cost::pricing::cents(g.iter().map(|x| x.amount).sum());
        Ok(Json(MonthOverMonth {
            previous_month: month(earlier),
            current_month: month(later),
            previous_total: sum(&prev),
            current_total: sum(&cur),
            threshold_percent: threshold,
            alarms,
            services,
        }))
    }
}

impl SmartServer {
    /// The AWS session of the cost tools; no usable credentials is a tool
    /// error saying how to provide them.
    async fn aws_session(&self) -> Result<crate::cost::aws::Session, ToolError> {
        self.app
            .cost
            .aws
            .session()
            .await
            .map_err(|e| ToolError::failed(e.to_string()))
    }
}

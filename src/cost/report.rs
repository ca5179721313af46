//! `cost_report`: scan regions concurrently, run the selected checks, and
//! assemble one report sorted by savings.
//!
//! Design choice: a report never fails because part of the account did. The
//! credentials are checked once up front (the only fatal error), then every
//! region runs as its own task (bounded by a semaphore) in three steps,
//! inventory -> one batched CloudWatch read -> checks, and anything that
//! fails inside a region (AccessDenied, throttling after the SDK's retries,
//! an unreachable endpoint, an API the account lacks) becomes an entry in
//! `errors` naming the region and check. Recommendations on one resource
//! are alternatives (stop it *or* shrink it), so the total counts each
//! resource once, at its largest saving.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};

use super::aws::Session;
use super::checks::{
    self, CheckContext, CheckId, Ec2Metrics, InsufficientData, RdsMetrics, Recommendation,
    RegionMetrics, Thresholds,
};
use super::collect::{self, Wanted};
use super::inventory::RegionInventory;
use super::live_pricing::LivePrices;
use super::metrics::{Daily, SeriesRequest, Stat, Window, fetch_daily};
use super::pricing::{PRICE_TABLE_DATE, PRICE_TABLE_REGION, PRICE_TERMS, Prices, cents};
use super::settings::PricingSource;

/// Which regions to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegionSelection {
    /// The home region only.
    Home,
    /// Every region enabled for the account (DescribeRegions).
    All,
    /// These regions.
    List(Vec<String>),
}

/// What a report is asked to do.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    /// Regions.
    pub regions: RegionSelection,
    /// Checks to run.
    pub checks: Vec<CheckId>,
    /// Thresholds.
    pub thresholds: Thresholds,
    /// Drop recommendations saving less than this per month.
    pub min_savings: f64,
    /// Page size for describe calls (None: each API's default).
    pub page_size: Option<i32>,
    /// Regions scanned at once.
    pub max_concurrent_regions: usize,
    /// Table or live prices.
    pub pricing: PricingSource,
}

/// A progress step for the client.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressUpdate {
    /// Steps done.
    pub done: u32,
    /// Steps in all.
    pub total: u32,
    /// What just finished.
    pub message: String,
}

/// Resources looked at, summed over the regions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct Scanned {
    /// EC2 instances.
    pub instances: usize,
    /// EBS volumes.
    pub volumes: usize,
    /// Snapshots owned by the account.
    pub snapshots: usize,
    /// RDS DB instances.
    pub db_instances: usize,
    /// Elastic IPs.
    pub addresses: usize,
    /// ALBs/NLBs.
    pub load_balancers: usize,
    /// S3 buckets.
    pub buckets: usize,
}

/// A part of the scan that failed; the rest of the report stands.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ScanError {
    /// The region (or `global` for account-wide calls).
    pub region: String,
    /// The check that could not run (or `account` / `regions`).
    pub check: String,
    /// What failed, with the AWS error code when there is one.
    pub message: String,
}

/// How many AWS calls the report made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct ApiCalls {
    /// Describe/list calls, pages included.
    pub describe_calls: usize,
    /// CloudWatch GetMetricData calls, pages included.
    pub get_metric_data_calls: usize,
    /// Metric series requested (one MetricStat query each).
    pub metric_queries: usize,
    /// GetMetricData calls per region.
    pub get_metric_data_calls_by_region: BTreeMap<String, usize>,
    /// Metric queries per region.
    pub metric_queries_by_region: BTreeMap<String, usize>,
}

/// Where prices came from.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PricingSummary {
    /// `table` or `live` (live falls back to the table per type).
    pub source: String,
    /// Date of the embedded table.
    pub table_date: String,
    /// The region the prices are for.
    pub price_region: String,
    /// "list price, on-demand".
    pub terms: String,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Report {
    /// The account scanned (from STS), or `unknown`.
    pub account_id: String,
    /// Regions scanned.
    pub regions_scanned: Vec<String>,
    /// Resources looked at.
    pub scanned: Scanned,
    /// What to do, largest saving first.
    pub recommendations: Vec<Recommendation>,
    /// Monthly savings in USD, each resource counted once at its largest
    /// saving (recommendations on one resource are alternatives).
    pub total_monthly_savings: f64,
    /// `total_monthly_savings` x 12.
    pub annual_savings: f64,
    /// Resources a metric check could not judge (too few days of data).
    pub insufficient_data: Vec<InsufficientData>,
    /// Regions and checks that failed; the rest of the report stands.
    pub errors: Vec<ScanError>,
    /// AWS calls made.
    pub api_calls: ApiCalls,
    /// Price source.
    pub pricing: PricingSummary,
    /// When the report was made (RFC 3339, UTC).
    pub generated_at: String,
}

struct RegionResult {
    region: String,
    inventory: RegionInventory,
    findings: Vec<Recommendation>,
    insufficient: Vec<InsufficientData>,
    errors: Vec<ScanError>,
    describe_calls: usize,
    metric_calls: usize,
    metric_queries: usize,
}

fn wanted(checks: &[CheckId]) -> Wanted {
    let has = |c: CheckId| checks.contains(&c);
    use CheckId::*;
    Wanted {
        instances: has(IdleEc2)
            || has(RightsizeEc2)
            || has(StoppedEc2Storage)
            || has(PreviousGeneration),
        volumes: has(StoppedEc2Storage) || has(UnattachedEbs) || has(Gp2ToGp3),
        snapshots: has(OldSnapshots),
        addresses: has(UnassociatedEip),
        db_instances: has(IdleRds) || has(RightsizeRds) || has(PreviousGeneration),
        load_balancers: has(IdleLoadBalancers),
    }
}

/// Runs a report. `progress`, when given, receives one update per region
/// step and for the account-wide S3 step.
pub async fn run(
    session: &Session,
    live: Arc<LivePrices>,
    request: ReportRequest,
    progress: Option<mpsc::UnboundedSender<ProgressUpdate>>,
) -> Report {
    let now = Utc::now();
    let mut errors = Vec::new();
    let account_id = match session.account_id().await {
        Ok(a) => a,
        Err(e) => {
            errors.push(ScanError {
                region: "global".into(),
                check: "account".into(),
                message: format!("GetCallerIdentity: {e}"),
            });
            "unknown".to_string()
        }
    };
    let regions = match &request.regions {
        RegionSelection::Home => vec![session.home_region.clone()],
        RegionSelection::List(list) => list.clone(),
        RegionSelection::All => match collect::enabled_regions(session).await {
            Ok(r) => r,
            Err(e) => {
                errors.push(ScanError {
                    region: session.home_region.clone(),
                    check: "regions".into(),
                    message: e,
                });
                vec![session.home_region.clone()]
            }
        },
    };
    let s3 = request.checks.contains(&CheckId::S3Lifecycle);
    let region_checks: Vec<CheckId> = request
        .checks
        .iter()
        .copied()
        .filter(|c| *c != CheckId::S3Lifecycle)
        .collect();
    let total_steps = (regions.len() as u32) * 3 + u32::from(s3);
    let step = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let notify = {
        let progress = progress.clone();
        let step = step.clone();
        move |message: String| {
            let done = step.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            if let Some(p) = &progress {
                let _ = p.send(ProgressUpdate {
                    done,
                    total: total_steps,
                    message,
                });
            }
        }
    };

    let request = Arc::new(request);
    let region_checks = Arc::new(region_checks);
    let semaphore = Arc::new(Semaphore::new(request.max_concurrent_regions.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for region in &regions {
        let (session, request, checks, semaphore, notify, account_id, live) = (
            session.clone(),
            request.clone(),
            region_checks.clone(),
            semaphore.clone(),
            notify.clone(),
            account_id.clone(),
            live.clone(),
        );
        let region = region.clone();
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await.ok();
            scan_region(
                &session,
                &region,
                &account_id,
                &request,
                &checks,
                now,
                &notify,
                &live,
            )
            .await
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(r) => results.push(r),
            Err(e) => errors.push(ScanError {
                region: "unknown".into(),
                check: "all".into(),
                message: format!("region task failed: {e}"),
            }),
        }
    }
    results.sort_by(|a, b| a.region.cmp(&b.region));

    let mut scanned = Scanned::default();
    let mut recommendations = Vec::new();
    let mut insufficient_data = Vec::new();
    let mut api = ApiCalls::default();
    for r in results {
        let inv = &r.inventory;
        scanned.instances += inv.instances.as_ref().map_or(0, Vec::len);
        scanned.volumes += inv.volumes.as_ref().map_or(0, Vec::len);
        scanned.snapshots += inv.snapshots.as_ref().map_or(0, Vec::len);
        scanned.addresses += inv.addresses.as_ref().map_or(0, Vec::len);
        scanned.db_instances += inv.db_instances.as_ref().map_or(0, Vec::len);
        scanned.load_balancers += inv.load_balancers.as_ref().map_or(0, Vec::len);
        recommendations.extend(r.findings);
        insufficient_data.extend(r.insufficient);
        errors.extend(r.errors);
        api.describe_calls += r.describe_calls;
        api.get_metric_data_calls += r.metric_calls;
        api.metric_queries += r.metric_queries;
        api.get_metric_data_calls_by_region
            .insert(r.region.clone(), r.metric_calls);
        api.metric_queries_by_region
            .insert(r.region.clone(), r.metric_queries);
    }

    if s3 {
        let (buckets, calls) = collect::buckets(session).await;
        api.describe_calls += calls;
        match buckets {
            Ok(buckets) => {
                scanned.buckets = buckets.len();
                recommendations.extend(checks::s3_lifecycle::run(&buckets).recommendations);
            }
            Err(e) => errors.push(ScanError {
                region: "global".into(),
                check: CheckId::S3Lifecycle.id().into(),
                message: e,
            }),
        }
        notify("s3: lifecycle of every bucket checked".into());
    }

    recommendations.retain(|r| match r.estimated_monthly_savings {
        Some(s) => s >= request.min_savings,
        None => request.min_savings <= 0.0,
    });
    sort_recommendations(&mut recommendations);
    let total = total_savings(&recommendations);
    Report {
        account_id,
        regions_scanned: regions,
        scanned,
        recommendations,
        total_monthly_savings: total,
        annual_savings: cents(total * 12.0),
        insufficient_data,
        errors,
        api_calls: api,
        pricing: PricingSummary {
            source: match request.pricing {
                PricingSource::Table => "table".into(),
                PricingSource::Live => "live".into(),
            },
            table_date: PRICE_TABLE_DATE.into(),
            price_region: PRICE_TABLE_REGION.into(),
            terms: PRICE_TERMS.into(),
        },
        generated_at: now.to_rfc3339(),
    }
}

/// Largest saving first; unknown savings last; ties by check and resource.
pub fn sort_recommendations(recs: &mut [Recommendation]) {
    recs.sort_by(|a, b| {
        let key = |r: &Recommendation| r.estimated_monthly_savings.unwrap_or(f64::NEG_INFINITY);
        key(b)
            .total_cmp(&key(a))
            .then_with(|| a.check.cmp(&b.check))
            .then_with(|| a.resource_ids.cmp(&b.resource_ids))
    });
}

/// The sum over resources of each resource's largest saving.
pub fn total_savings(recs: &[Recommendation]) -> f64 {
    let mut best: HashMap<(String, String), f64> = HashMap::new();
    for r in recs {
        let (Some(s), Some(id)) = (r.estimated_monthly_savings, r.resource_ids.first()) else {
            continue;
        };
        let e = best.entry((r.region.clone(), id.clone())).or_insert(0.0);
        *e = e.max(s);
    }
    cents(best.values().sum())
}

#[allow(clippy::too_many_arguments)]
async fn scan_region(
    session: &Session,
    region: &str,
    account_id: &str,
    request: &ReportRequest,
    checks: &[CheckId],
    now: DateTime<Utc>,
    notify: &(impl Fn(String) + Send + Sync),
    live: &LivePrices,
) -> RegionResult {
    let (inventory, calls) = collect::region_inventory(
        session,
        region,
        account_id,
        wanted(checks),
        request.page_size,
    )
    .await;
    notify(format!("{region}: inventory collected"));

    let t = &request.thresholds;
    let days = t.lookback_days.max(t.lb_lookback_days);
    let window = Window::last_days(now, days);
    let (metrics, metric_calls, metric_queries) =
        region_metrics(session, region, &inventory, checks, window).await;
    notify(format!(
        "{region}: {metric_queries} metric series read in {metric_calls} GetMetricData call(s)"
    ));

    let prices = match request.pricing {
        PricingSource::Table => Prices::table(),
        PricingSource::Live => {
            let mut types: Vec<String> = inventory
                .instances
                .iter()
                .flatten()
                .map(|i| i.instance_type.clone())
                .chain(
                    inventory
                        .instances
                        .iter()
                        .flatten()
                        .filter_map(|i| super::pricing::smaller_ec2_type(&i.instance_type)),
                )
                .chain(
                    inventory
                        .instances
                        .iter()
                        .flatten()
                        .filter_map(|i| super::pricing::current_generation(&i.instance_type)),
                )
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            types.sort();
            Prices::with_live_ec2(live.ec2(session, &types).await)
        }
    };

    let ctx = CheckContext {
        region,
        inventory: &inventory,
        metrics: &metrics,
        prices: &prices,
        thresholds: t,
        window: Window::last_days(now, t.lookback_days),
        now,
    };
    let mut findings = Vec::new();
    let mut insufficient = Vec::new();
    let mut errors = Vec::new();
    for check in checks {
        match checks::run(*check, &ctx) {
            Ok(f) => {
                findings.extend(f.recommendations);
                insufficient.extend(f.insufficient_data);
            }
            Err(message) => errors.push(ScanError {
                region: region.to_string(),
                check: check.id().to_string(),
                message,
            }),
        }
    }
    notify(format!("{region}: {} check(s) run", checks.len()));
    RegionResult {
        region: region.to_string(),
        inventory,
        findings,
        insufficient,
        errors,
        describe_calls: calls.describe,
        metric_calls,
        metric_queries,
    }
}

/// Picks the field of an instance's metrics a series fills.
type Ec2Field = fn(&mut Ec2Metrics) -> &mut Daily;
/// Picks the field of a DB instance's metrics a series fills.
type RdsField = fn(&mut RdsMetrics) -> &mut Daily;

/// Which series a key maps back to.
enum SeriesOf {
    Ec2(String, Ec2Field),
    Rds(String, RdsField),
    Lb(String),
}

async fn region_metrics(
    session: &Session,
    region: &str,
    inventory: &RegionInventory,
    checks: &[CheckId],
    window: Window,
) -> (RegionMetrics, usize, usize) {
    let has = |c: CheckId| checks.contains(&c);
    let mut requests = Vec::new();
    let mut keys = Vec::new();
    if has(CheckId::IdleEc2) || has(CheckId::RightsizeEc2) {
        for i in inventory
            .instances
            .iter()
            .flatten()
            .filter(|i| i.state == "running")
        {
            let series: [(&str, Stat, Ec2Field); 4] = [
                ("CPUUtilization", Stat::Average, |m| &mut m.cpu_avg),
                ("CPUUtilization", Stat::Maximum, |m| &mut m.cpu_max),
                ("NetworkIn", Stat::Sum, |m| &mut m.network_in),
                ("NetworkOut", Stat::Sum, |m| &mut m.network_out),
            ];
            for (metric, stat, field) in series {
                requests.push(SeriesRequest {
                    namespace: "AWS/EC2",
                    metric,
                    dimension: ("InstanceId", i.id.clone()),
                    stat,
                });
                keys.push(SeriesOf::Ec2(i.id.clone(), field));
            }
        }
    }
    if has(CheckId::IdleRds) || has(CheckId::RightsizeRds) {
        for d in inventory
            .db_instances
            .iter()
            .flatten()
            .filter(|d| d.status == "available")
        {
            let series: [(&str, RdsField); 2] = [
                ("DatabaseConnections", |m| &mut m.connections_max),
                ("CPUUtilization", |m| &mut m.cpu_max),
            ];
            for (metric, field) in series {
                requests.push(SeriesRequest {
                    namespace: "AWS/RDS",
                    metric,
                    dimension: ("DBInstanceIdentifier", d.id.clone()),
                    stat: Stat::Maximum,
                });
                keys.push(SeriesOf::Rds(d.id.clone(), field));
            }
        }
    }
    if has(CheckId::IdleLoadBalancers) {
        for lb in inventory.load_balancers.iter().flatten() {
            let (namespace, metric) = match lb.lb_type.as_str() {
                "application" => ("AWS/ApplicationELB", "RequestCount"),
                "network" => ("AWS/NetworkELB", "NewFlowCount"),
                _ => continue,
            };
            requests.push(SeriesRequest {
                namespace,
                metric,
                dimension: ("LoadBalancer", lb.metric_dimension.clone()),
                stat: Stat::Sum,
            });
            keys.push(SeriesOf::Lb(lb.arn.clone()));
        }
    }
    let mut metrics = RegionMetrics::default();
    if requests.is_empty() {
        return (metrics, 0, 0);
    }
    let queries = requests.len();
    match fetch_daily(&session.cloudwatch(region), &requests, window).await {
        Ok(fetched) => {
            for (key, series) in keys.into_iter().zip(fetched.series) {
                match key {
                    SeriesOf::Ec2(id, field) => {
                        *field(metrics.ec2.entry(id).or_default()) = series;
                    }
                    SeriesOf::Rds(id, field) => {
                        *field(metrics.rds.entry(id).or_default()) = series;
                    }
                    SeriesOf::Lb(arn) => {
                        metrics.lb_requests.insert(arn, series);
                    }
                }
            }
            (metrics, fetched.calls, queries)
        }
        Err(e) => {
            metrics.error = Some(e);
            (metrics, 1, queries)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::checks::{Level, Priority};
    use crate::cost::pricing::PricingBasis;

    fn rec(check: &str, id: &str, savings: Option<f64>) -> Recommendation {
        Recommendation {
            check: check.into(),
            title: String::new(),
            description: String::new(),
            priority: Priority::Low,
            resource_type: "ebs_volume".into(),
            resource_ids: vec![id.into()],
            region: "us-east-1".into(),
            estimated_monthly_savings: savings,
            pricing_basis: PricingBasis::table(""),
            action_required: String::new(),
            risk_level: Level::Low,
            implementation_effort: Level::Low,
            evidence: Default::default(),
        }
    }

    #[test]
    fn alternatives_on_one_resource_count_once_at_their_largest_saving() {
        let recs = vec![
            rec("unattached_ebs", "vol-1", Some(10.0)),
            rec("gp2_to_gp3", "vol-1", Some(2.0)),
            rec("gp2_to_gp3", "vol-2", Some(3.5)),
            rec("s3_lifecycle", "bucket", None),
        ];
        assert_eq!(total_savings(&recs), 13.5);
    }

    #[test]
    fn sorting_puts_the_largest_saving_first_and_unknown_last() {
        let mut recs = vec![
            rec("s3_lifecycle", "bucket", None),
            rec("gp2_to_gp3", "vol-2", Some(3.5)),
            rec("unattached_ebs", "vol-1", Some(10.0)),
        ];
        sort_recommendations(&mut recs);
        let order: Vec<&str> = recs.iter().map(|r| r.resource_ids[0].as_str()).collect();
        assert_eq!(order, vec!["vol-1", "vol-2", "bucket"]);
    }
}

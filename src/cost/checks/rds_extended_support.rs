//! `rds_extended_support`: DB instances whose engine major version is past
//! the end of RDS standard support, which AWS bills as Extended Support per
//! vCPU-hour until the instance is upgraded. Saving: the class's vCPUs x
//! 0.100 $/vCPU-hour (the year 1-2 price) x 730; in year 3 AWS charges 0.200,
//! and the recommendation says when the figure is therefore low.
//!
//! Design choice: a small dated table of major versions and their end of
//! standard support, judged against the report's clock (no extra AWS call,
//! and the same answer in a test as in an account); a version not in the
//! table is never reported. Instances created with Extended Support
//! disabled are skipped (AWS upgrades them instead of billing).

use chrono::{Datelike, NaiveDate};
use serde_json::json;

use super::{CheckContext, CheckId, Findings, Level, Rec, table_basis, unpriced};
use crate::cost::pricing::{
    HOURS_PER_MONTH, RDS_EXTENDED_SUPPORT_VCPU_HOUR, RDS_EXTENDED_SUPPORT_VCPU_HOUR_YEAR3,
    rds_vcpus,
};

/// The date the end-of-standard-support table was last brought up to date
/// from AWS's release calendars for RDS for MySQL and PostgreSQL and for
/// Aurora MySQL and PostgreSQL.
pub const SUPPORT_TABLE_DATE: &str = "2026-12-05";

/// (engine, major version, last day of standard support). Versions whose
/// standard support ends later are listed too, so the table does not go
/// stale silently: they are reported from the day after.
const END_OF_STANDARD_SUPPORT: &[(&str, &str, (i32, u32, u32))] = &[
    ("mysql", "5.7", (2024, 2, 29)),
    ("mysql", "8.0", (2026, 7, 31)),
    ("postgres", "11", (2024, 2, 29)),
    ("postgres", "12", (2025, 2, 28)),
    ("postgres", "13", (2026, 2, 28)),
    ("postgres", "14", (2027, 2, 28)),
    ("postgres", "15", (2028, 2, 29)),
    // Aurora MySQL 2 is MySQL 5.7 compatible (`5.7.mysql_aurora.2.11.2`).
    ("aurora-mysql", "5.7", (2024, 10, 31)),
    ("aurora-postgresql", "11", (2024, 2, 29)),
    ("aurora-postgresql", "12", (2025, 2, 28)),
    ("aurora-postgresql", "13", (2026, 2, 28)),
];

/// The major version of an engine version: `5.7` of MySQL `5.7.44`, `12`
/// of PostgreSQL `12.19` (PostgreSQL numbers majors with one component
/// since 10).
pub fn major_version(engine: &str, version: &str) -> Option<String> {
    let mut parts = version.split('.');
    let first = parts.next().filter(|p| !p.is_empty())?;
    match engine {
        "postgres" | "aurora-postgresql" if first.parse::<u32>().is_ok_and(|m| m >= 10) => {
            Some(first.to_string())
        }
        "mysql" | "postgres" | "aurora-mysql" | "aurora-postgresql" => {
            Some(format!("{first}.{}", parts.next()?))
        }
        _ => None,
    }
}

/// The last day of standard support of an engine version, if the table has
/// its major version.
pub fn end_of_standard_support(engine: &str, version: &str) -> Option<NaiveDate> {
    let major = major_version(engine, version)?;
    END_OF_STANDARD_SUPPORT
        .iter()
        .find(|(e, m, _)| *e == engine && *m == major)
        .and_then(|(_, _, (y, mo, d))| NaiveDate::from_ymd_opt(*y, *mo, *d))
}

/// Runs the check over a region.
pub fn run(ctx: &CheckContext<'_>) -> Result<Findings, String> {
    let dbs = ctx.inventory.db_instances.as_ref().map_err(Clone::clone)?;
    let today = ctx.now.date_naive();
    let mut out = Findings::default();
    for d in dbs {
        if d.engine_lifecycle_support.as_deref()
            == Some("open-source-rds-extended-support-disabled")
        {
            continue;
        }
        let Some(end) = end_of_standard_support(&d.engine, &d.engine_version) else {
            continue;
        };
        if today <= end {
            continue;
        }
        let major = major_version(&d.engine, &d.engine_version).unwrap_or_default();
        // Year 1 starts the day after the end of standard support.
        let year = extended_support_year(end, today);
        let (savings, basis, price_note) = match rds_vcpus(&d.class) {
            Some(vcpus) => {
                let note = if year >= 3 {
                    format!(
                        " This is year {year} of Extended Support, which AWS bills at \
                         {RDS_EXTENDED_SUPPORT_VCPU_HOUR_YEAR3} $/vCPU-hour: the figure uses \
                         the year 1-2 price {RDS_EXTENDED_SUPPORT_VCPU_HOUR} and is half of \
                         today's charge."
                    )
                } else {
                    format!(
                        " The figure uses the year 1-2 price ({RDS_EXTENDED_SUPPORT_VCPU_HOUR} \
                         $/vCPU-hour); from year 3 AWS charges \
                         {RDS_EXTENDED_SUPPORT_VCPU_HOUR_YEAR3}."
                    )
                };
                (
                    Some(f64::from(vcpus) * RDS_EXTENDED_SUPPORT_VCPU_HOUR * HOURS_PER_MONTH),
                    table_basis(
                        format!(
                            "{} {vcpus} vCPUs x {RDS_EXTENDED_SUPPORT_VCPU_HOUR} $/vCPU-hour \
                             (Extended Support, year 1-2 price) x 730 h",
                            d.class
                        ),
                        ctx.region,
                    ),
                    note,
                )
            }
            None => (
                None,
                unpriced(&format!("the vCPUs of {}", d.class), ctx.region),
                String::new(),
            ),
        };
        let engine_name = match d.engine.as_str() {
            "postgres" => "PostgreSQL",
            "aurora-postgresql" => "Aurora PostgreSQL",
            "aurora-mysql" => "Aurora MySQL",
            _ => "MySQL",
        };
        out.recommendations.push(
            Rec {
                check: CheckId::RdsExtendedSupport,
                title: format!(
                    "Upgrade {} from {engine_name} {major}: past the end of standard support",
                    d.id
                ),
                description: format!(
                    "{} runs {engine_name} {}; RDS standard support for {major} ended on \
                     {end}, and since then AWS bills Extended Support for every vCPU of the \
                     instance.{price_note}",
                    d.id, d.engine_version
                ),
                resource_type: "rds_instance",
                resource_ids: vec![d.id.clone()],
                region: ctx.region.into(),
                savings,
                basis,
                action: if d.engine.starts_with("aurora-") {
                    format!(
                        "Test the application against a {engine_name} major version in \
                         standard support, then upgrade the cluster of {} (aws rds \
                         modify-db-cluster --db-cluster-identifier <cluster> --engine-version \
                         <version> --allow-major-version-upgrade), e.g. through a blue/green \
                         deployment.",
                        d.id
                    )
                } else {
                    format!(
                        "Test the application against a {engine_name} major version in \
                         standard support, then upgrade (aws rds modify-db-instance \
                         --db-instance-identifier {} --engine-version <version> \
                         --allow-major-version-upgrade), e.g. through a blue/green deployment.",
                        d.id
                    )
                },
                risk: Level::Medium,
                effort: Level::Medium,
                evidence: vec![
                    ("engine", json!(d.engine)),
                    ("engine_version", json!(d.engine_version)),
                    ("major_version", json!(major)),
                    ("end_of_standard_support", json!(end.to_string())),
                    ("extended_support_year", json!(year)),
                    ("class", json!(d.class)),
                    ("vcpus", json!(rds_vcpus(&d.class))),
                    ("multi_az", json!(d.multi_az)),
                    ("support_table_as_of", json!(SUPPORT_TABLE_DATE)),
                ],
            }
            .build(),
        );
    }
    Ok(out)
}

/// 1 in the first twelve months after `end`, 2 in the next twelve, ...
fn extended_support_year(end: NaiveDate, today: NaiveDate) -> i32 {
    let months = (today.year() - end.year()) * 12 + today.month() as i32 - end.month() as i32;
    // `end` is the last day of a month: month m after it is year m / 12 + 1.
    (months - 1).max(0) / 12 + 1
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::{CheckId, RegionMetrics, Thresholds};
    use super::*;
    use crate::cost::inventory::DbInstance;

    fn db(id: &str, engine: &str, version: &str, class: &str) -> DbInstance {
        DbInstance {
            id: id.into(),
            class: class.into(),
            engine: engine.into(),
            multi_az: false,
            status: "available".into(),
            engine_version: version.into(),
            engine_lifecycle_support: None,
        }
    }

    #[test]
    fn major_versions_follow_each_engines_numbering() {
        assert_eq!(major_version("mysql", "5.7.44").as_deref(), Some("5.7"));
        assert_eq!(major_version("mysql", "8.0.35").as_deref(), Some("8.0"));
        assert_eq!(major_version("postgres", "12.19").as_deref(), Some("12"));
        assert_eq!(major_version("postgres", "9.6.24").as_deref(), Some("9.6"));
        assert_eq!(major_version("postgres", ""), None);
        assert_eq!(major_version("oracle-ee", "19.0"), None);
        assert_eq!(
            end_of_standard_support("postgres", "11.22"),
            NaiveDate::from_ymd_opt(2024, 2, 29)
        );
        assert_eq!(end_of_standard_support("postgres", "16.4"), None);
        assert_eq!(
            major_version("aurora-mysql", "5.7.mysql_aurora.2.11.2").as_deref(),
            Some("5.7")
        );
        assert_eq!(
            end_of_standard_support("aurora-mysql", "5.7.mysql_aurora.2.11.2"),
            NaiveDate::from_ymd_opt(2024, 10, 31)
        );
        assert_eq!(
            end_of_standard_support("aurora-postgresql", "13.12"),
            NaiveDate::from_ymd_opt(2026, 2, 28)
        );
        assert_eq!(
            end_of_standard_support("mysql", "8.0.39"),
            NaiveDate::from_ymd_opt(2026, 7, 31)
        );
        assert_eq!(end_of_standard_support("mysql", "8.4.3"), None);
    }

    #[test]
    fn the_year_counts_from_the_day_after_standard_support() {
        let end = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(extended_support_year(end, day(2024, 3, 1)), 1);
        assert_eq!(extended_support_year(end, day(2025, 2, 28)), 1);
        assert_eq!(extended_support_year(end, day(2025, 3, 1)), 2);
        assert_eq!(extended_support_year(end, day(2026, 3, 1)), 3);
        assert_eq!(extended_support_year(end, day(2026, 11, 26)), 3);
    }

    #[test]
    fn versions_past_standard_support_are_priced_per_vcpu() {
        let mut inv = empty_inventory();
        let mut opted_out = db("opted-out", "mysql", "5.7.44", "db.m5.large");
        opted_out.engine_lifecycle_support =
            Some("open-source-rds-extended-support-disabled".into());
        inv.db_instances = Ok(vec![
            db("legacy-mysql", "mysql", "5.7.44", "db.m5.xlarge"),
            db("legacy-pg", "postgres", "12.19", "db.t3.medium"),
            db("current", "postgres", "16.4", "db.m5.large"),
            db("odd-class", "postgres", "11.22", "db.x2g.large"),
            opted_out,
        ]);
        let f = run_with(
            CheckId::RdsExtendedSupport,
            &inv,
            &RegionMetrics::default(),
            &Thresholds::default(),
        )
        .unwrap();
        let found: Vec<(&str, Option<f64>)> = f
            .recommendations
            .iter()
            .map(|r| (r.resource_ids[0].as_str(), r.estimated_monthly_savings))
            .collect();
        // 4 vCPUs x 0.1 x 730 = 292; 2 vCPUs = 146; unknown class: no figure.
        assert_eq!(
            found,
            vec![
                ("legacy-mysql", Some(292.0)),
                ("legacy-pg", Some(146.0)),
                ("odd-class", None)
            ]
        );
        // On 2026-11-26 MySQL 5.7 is in year 3 (0.200 $/vCPU-hour), PostgreSQL 12 in year 2.
        assert!(f.recommendations[0].description.contains("year 3"));
        assert_eq!(f.recommendations[1].evidence["extended_support_year"], 2);
        assert!(f.recommendations[1].description.contains("year 1-2 price"));
    }
}

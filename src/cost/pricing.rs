//! The embedded price table: us-east-1 on-demand Linux list prices, dated,
//! and the arithmetic every savings estimate uses (730 hours a month).
//!
//! Design choice: a lookup never guesses. An instance type, volume type or DB
//! class that is not in the table yields `None`, and the recommendation then
//! says "no price" instead of extrapolating from a neighbour; every figure
//! carries a [`PricingBasis`] naming the unit price, its source and its date,
//! so a reader can redo the multiplication. Prices in other regions differ
//! from us-east-1 by a few percent; the basis says when the us-east-1 figure
//! was used for another region. `--pricing live` overrides instance prices
//! with the Price List API ([`super::live_pricing`]) through [`Prices`].

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::Serialize;

/// Hours in the month every monthly figure uses (AWS's own convention).
pub const HOURS_PER_MONTH: f64 = 730.0;
/// The date the table's figures were taken from the AWS price pages.
pub const PRICE_TABLE_DATE: &str = "2026-11-01";
/// The terms every table price is quoted in.
pub const PRICE_TERMS: &str = "list price, on-demand";
/// The region the table prices are for.
pub const PRICE_TABLE_REGION: &str = "us-east-1";

/// Snapshot storage, $/GB-month (standard tier).
pub const SNAPSHOT_GB_MONTH: f64 = 0.05;
/// A public IPv4 address, $/hour (charged since Feb 2024, in use or not).
pub const PUBLIC_IPV4_HOUR: f64 = 0.005;
/// An Application or Network Load Balancer, $/hour (before capacity units).
pub const LOAD_BALANCER_HOUR: f64 = 0.0225;
/// A NAT gateway, $/hour (before 0.045 $/GB processed).
pub const NAT_GATEWAY_HOUR: f64 = 0.045;
/// CloudWatch Logs storage (archived events), $/GB-month.
pub const LOGS_STORAGE_GB_MONTH: f64 = 0.03;
/// io1/io2 storage, $/GB-month.
pub const IO_GB_MONTH: f64 = 0.125;
/// io1/io2 provisioned IOPS, $/IOPS-month (io2's first tier, up to 32,000).
pub const IO_IOPS_MONTH: f64 = 0.065;
/// gp3 storage, $/GB-month.
pub const GP3_GB_MONTH: f64 = 0.08;
/// gp3 IOPS above the included baseline, $/IOPS-month.
pub const GP3_IOPS_MONTH: f64 = 0.005;
/// IOPS every gp3 volume includes.
pub const GP3_BASELINE_IOPS: i64 = 3000;
/// RDS Extended Support for MySQL/PostgreSQL in years 1-2 after the end of
/// standard support, $/vCPU-hour.
pub const RDS_EXTENDED_SUPPORT_VCPU_HOUR: f64 = 0.100;
/// ... and in year 3, $/vCPU-hour.
pub const RDS_EXTENDED_SUPPORT_VCPU_HOUR_YEAR3: f64 = 0.200;
/// RDS manual DB snapshot storage, $/GB-month.
pub const RDS_SNAPSHOT_GB_MONTH: f64 = 0.095;
/// The GB AWS bills storage and transfer by: 2^30 bytes.
pub const BYTES_PER_GB: f64 = 1_073_741_824.0;

/// EC2 on-demand Linux, $/hour, us-east-1.
const EC2_HOURLY: &[(&str, f64)] = &[
    ("t2.nano", 0.0058),
    ("t2.micro", 0.0116),
    ("t2.small", 0.023),
    ("t2.medium", 0.0464),
    ("t2.large", 0.0928),
    ("t2.xlarge", 0.1856),
    ("t2.2xlarge", 0.3712),
    ("t3.nano", 0.0052),
    ("t3.micro", 0.0104),
    ("t3.small", 0.0208),
    ("t3.medium", 0.0416),
    ("t3.large", 0.0832),
    ("t3.xlarge", 0.1664),
    ("t3.2xlarge", 0.3328),
    ("t3a.nano", 0.0047),
    ("t3a.micro", 0.0094),
    ("t3a.small", 0.0188),
    ("t3a.medium", 0.0376),
    ("t3a.large", 0.0752),
    ("t3a.xlarge", 0.1504),
    ("t3a.2xlarge", 0.3008),
    ("m3.medium", 0.067),
    ("m3.large", 0.133),
    ("m3.xlarge", 0.266),
    ("m3.2xlarge", 0.532),
    ("m4.large", 0.10),
    ("m4.xlarge", 0.20),
    ("m4.2xlarge", 0.40),
    ("m4.4xlarge", 0.80),
    ("m4.10xlarge", 2.00),
    ("m4.16xlarge", 3.20),
    ("m5.large", 0.096),
    ("m5.xlarge", 0.192),
    ("m5.2xlarge", 0.384),
    ("m5.4xlarge", 0.768),
    ("m5.8xlarge", 1.536),
    ("m5.12xlarge", 2.304),
    ("m5.16xlarge", 3.072),
    ("m5.24xlarge", 4.608),
    ("m6i.large", 0.096),
    ("m6i.xlarge", 0.192),
    ("m6i.2xlarge", 0.384),
    ("m6i.4xlarge", 0.768),
    ("m6i.8xlarge", 1.536),
    ("m6i.12xlarge", 2.304),
    ("m6i.16xlarge", 3.072),
    ("m6i.24xlarge", 4.608),
    ("m6i.32xlarge", 6.144),
    ("c4.large", 0.10),
    ("c4.xlarge", 0.199),
    ("c4.2xlarge", 0.398),
    ("c4.4xlarge", 0.796),
    ("c4.8xlarge", 1.591),
    ("c5.large", 0.085),
    ("c5.xlarge", 0.17),
    ("c5.2xlarge", 0.34),
    ("c5.4xlarge", 0.68),
    ("c5.9xlarge", 1.53),
    ("c5.12xlarge", 2.04),
    ("c5.18xlarge", 3.06),
    ("c5.24xlarge", 4.08),
    ("r4.large", 0.133),
    ("r4.xlarge", 0.266),
    ("r4.2xlarge", 0.532),
    ("r4.4xlarge", 1.064),
    ("r4.8xlarge", 2.128),
    ("r4.16xlarge", 4.256),
    ("r5.large", 0.126),
    ("r5.xlarge", 0.252),
    ("r5.2xlarge", 0.504),
    ("r5.4xlarge", 1.008),
    ("r5.8xlarge", 2.016),
    ("r5.12xlarge", 3.024),
    ("r5.16xlarge", 4.032),
    ("r5.24xlarge", 6.048),
];

/// RDS Single-AZ on-demand, $/hour, us-east-1: (engine, class, price).
/// `mysql` also prices `mariadb` (AWS lists the same figures).
const RDS_HOURLY: &[(&str, &str, f64)] = &[
    ("mysql", "db.t2.micro", 0.017),
    ("mysql", "db.t2.small", 0.034),
    ("mysql", "db.t2.medium", 0.068),
    ("mysql", "db.t2.large", 0.136),
    ("mysql", "db.t3.micro", 0.017),
    ("mysql", "db.t3.small", 0.034),
    ("mysql", "db.t3.medium", 0.068),
    ("mysql", "db.t3.large", 0.136),
    ("mysql", "db.t3.xlarge", 0.272),
    ("mysql", "db.t3.2xlarge", 0.544),
    ("mysql", "db.m3.medium", 0.09),
    ("mysql", "db.m3.large", 0.18),
    ("mysql", "db.m3.xlarge", 0.365),
    ("mysql", "db.m4.large", 0.175),
    ("mysql", "db.m4.xlarge", 0.35),
    ("mysql", "db.m4.2xlarge", 0.70),
    ("mysql", "db.m4.4xlarge", 1.40),
    ("mysql", "db.m5.large", 0.171),
    ("mysql", "db.m5.xlarge", 0.342),
    ("mysql", "db.m5.2xlarge", 0.684),
    ("mysql", "db.m5.4xlarge", 1.368),
    ("mysql", "db.r5.large", 0.24),
    ("mysql", "db.r5.xlarge", 0.48),
    ("mysql", "db.r5.2xlarge", 0.96),
    ("postgres", "db.t2.micro", 0.018),
    ("postgres", "db.t2.small", 0.036),
    ("postgres", "db.t2.medium", 0.073),
    ("postgres", "db.t2.large", 0.145),
    ("postgres", "db.t3.micro", 0.018),
    ("postgres", "db.t3.small", 0.036),
    ("postgres", "db.t3.medium", 0.072),
    ("postgres", "db.t3.large", 0.145),
    ("postgres", "db.t3.xlarge", 0.29),
    ("postgres", "db.t3.2xlarge", 0.58),
    ("postgres", "db.m4.large", 0.182),
    ("postgres", "db.m4.xlarge", 0.365),
    ("postgres", "db.m4.2xlarge", 0.73),
    ("postgres", "db.m5.large", 0.178),
    ("postgres", "db.m5.xlarge", 0.356),
    ("postgres", "db.m5.2xlarge", 0.712),
    ("postgres", "db.m5.4xlarge", 1.424),
    ("postgres", "db.r5.large", 0.25),
    ("postgres", "db.r5.xlarge", 0.50),
    ("postgres", "db.r5.2xlarge", 1.00),
];

/// vCPUs of the RDS classes the table prices (every class of `RDS_HOURLY`),
/// for charges billed per vCPU-hour (Extended Support).
const RDS_VCPUS: &[(&str, u32)] = &[
    ("db.t2.micro", 1),
    ("db.t2.small", 1),
    ("db.t2.medium", 2),
    ("db.t2.large", 2),
    ("db.t3.micro", 2),
    ("db.t3.small", 2),
    ("db.t3.medium", 2),
    ("db.t3.large", 2),
    ("db.t3.xlarge", 4),
    ("db.t3.2xlarge", 8),
    ("db.m3.medium", 1),
    ("db.m3.large", 2),
    ("db.m3.xlarge", 4),
    ("db.m4.large", 2),
    ("db.m4.xlarge", 4),
    ("db.m4.2xlarge", 8),
    ("db.m4.4xlarge", 16),
    ("db.m5.large", 2),
    ("db.m5.xlarge", 4),
    ("db.m5.2xlarge", 8),
    ("db.m5.4xlarge", 16),
    ("db.r5.large", 2),
    ("db.r5.xlarge", 4),
    ("db.r5.2xlarge", 8),
];

/// Instance sizes from small to large; "one size smaller" is the nearest
/// smaller size that the family actually has in the table.
const SIZE_ORDER: &[&str] = &[
    "nano", "micro", "small", "medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge",
    "9xlarge", "10xlarge", "12xlarge", "16xlarge", "18xlarge", "24xlarge", "32xlarge",
];

/// Previous-generation families and the current-generation family that
/// replaces them at the same size.
const PREVIOUS_GENERATION: &[(&str, &str)] = &[
    ("t2", "t3"),
    ("m3", "m5"),
    ("m4", "m5"),
    ("c4", "c5"),
    ("r4", "r5"),
    ("db.t2", "db.t3"),
    ("db.m3", "db.m5"),
    ("db.m4", "db.m5"),
];

/// Where a figure came from, so a reader can check it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PricingBasis {
    /// `table` (embedded price table) or `live` (AWS Price List API).
    pub source: String,
    /// Date of the prices used (YYYY-MM-DD).
    pub as_of: String,
    /// Always "list price, on-demand": no discounts, Savings Plans or RIs.
    pub terms: String,
    /// The region whose prices were used (the table has us-east-1 only).
    pub price_region: String,
    /// The unit prices and the arithmetic, e.g. "t3.large 0.0832 $/h x 730 h".
    pub detail: String,
}

impl PricingBasis {
    /// A table-based basis with the given arithmetic.
    pub fn table(detail: impl Into<String>) -> Self {
        PricingBasis {
            source: "table".into(),
            as_of: PRICE_TABLE_DATE.into(),
            terms: PRICE_TERMS.into(),
            price_region: PRICE_TABLE_REGION.into(),
            detail: detail.into(),
        }
    }
}

/// One hourly price and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct HourlyPrice {
    /// USD per hour.
    pub usd: f64,
    /// `table` or `live`.
    pub source: &'static str,
    /// Date of the price.
    pub as_of: String,
}

/// The prices a report uses: the table, plus live instance prices when
/// `--pricing live` fetched them.
#[derive(Debug, Clone, Default)]
pub struct Prices {
    live_ec2: HashMap<String, HourlyPrice>,
}

impl Prices {
    /// The embedded table only.
    pub fn table() -> Self {
        Prices::default()
    }

    /// The table with live EC2 prices laid over it.
    pub fn with_live_ec2(live_ec2: HashMap<String, HourlyPrice>) -> Self {
        Prices { live_ec2 }
    }

    /// On-demand Linux price of an EC2 instance type, if known.
    pub fn ec2_hourly(&self, instance_type: &str) -> Option<HourlyPrice> {
        if let Some(p) = self.live_ec2.get(instance_type) {
            return Some(p.clone());
        }
        table_ec2_hourly(instance_type).map(|usd| HourlyPrice {
            usd,
            source: "table",
            as_of: PRICE_TABLE_DATE.into(),
        })
    }

    /// Single-AZ on-demand price of an RDS class for an engine, if known.
    pub fn rds_hourly(&self, engine: &str, class: &str) -> Option<f64> {
        let engine = rds_price_engine(engine)?;
        RDS_HOURLY
            .iter()
            .find(|(e, c, _)| *e == engine && *c == class)
            .map(|(_, _, p)| *p)
    }

    /// Basis for an EC2 figure: the price's own source and date.
    pub fn ec2_basis(&self, price: &HourlyPrice, region: &str, detail: String) -> PricingBasis {
        PricingBasis {
            source: price.source.into(),
            as_of: price.as_of.clone(),
            terms: PRICE_TERMS.into(),
            price_region: region_note(region),
            detail,
        }
    }
}

/// "us-east-1", or "us-east-1 (used for eu-west-1)" when scanning elsewhere.
pub fn region_note(region: &str) -> String {
    if region == PRICE_TABLE_REGION {
        PRICE_TABLE_REGION.into()
    } else {
        format!("{PRICE_TABLE_REGION} (used for {region})")
    }
}

/// Table price of an EC2 instance type.
pub fn table_ec2_hourly(instance_type: &str) -> Option<f64> {
    EC2_HOURLY
        .iter()
        .find(|(t, _)| *t == instance_type)
        .map(|(_, p)| *p)
}

/// The engine whose prices the table uses for `engine`.
fn rds_price_engine(engine: &str) -> Option<&'static str> {
    match engine {
        "mysql" | "mariadb" => Some("mysql"),
        "postgres" => Some("postgres"),
        _ => None,
    }
}

/// Splits `m5.large` into (`m5`, `large`) and `db.m5.large` into (`db.m5`, `large`).
pub fn split_type(type_name: &str) -> Option<(&str, &str)> {
    let dot = type_name.rfind('.')?;
    let (family, size) = (&type_name[..dot], &type_name[dot + 1..]);
    (!family.is_empty() && !size.is_empty()).then_some((family, size))
}

/// The next smaller EC2 instance type of the same family that the table
/// prices, e.g. `m5.xlarge` -> `m5.large`.
pub fn smaller_ec2_type(instance_type: &str) -> Option<String> {
    smaller_in(instance_type, |t| table_ec2_hourly(t).is_some())
}

/// The next smaller RDS class of the same family priced for `engine`.
pub fn smaller_rds_class(engine: &str, class: &str) -> Option<String> {
    let prices = Prices::table();
    smaller_in(class, |c| prices.rds_hourly(engine, c).is_some())
}

fn smaller_in(type_name: &str, exists: impl Fn(&str) -> bool) -> Option<String> {
    let (family, size) = split_type(type_name)?;
    let pos = SIZE_ORDER.iter().position(|s| *s == size)?;
    SIZE_ORDER[..pos]
        .iter()
        .rev()
        .map(|s| format!("{family}.{s}"))
        .find(|t| exists(t))
}

/// The current-generation replacement of a previous-generation type or class
/// (`m4.large` -> `m5.large`, `db.t2.micro` -> `db.t3.micro`); `None` for a
/// current-generation type.
pub fn current_generation(type_name: &str) -> Option<String> {
    let (family, size) = split_type(type_name)?;
    PREVIOUS_GENERATION
        .iter()
        .find(|(old, _)| *old == family)
        .map(|(_, new)| format!("{new}.{size}"))
}

/// Monthly cost of an EBS volume and the arithmetic, or `None` for an
/// unknown volume type.
pub fn ebs_monthly(
    volume_type: &str,
    size_gb: i64,
    iops: Option<i64>,
    throughput_mbps: Option<i64>,
) -> Option<(f64, String)> {
    let gb = size_gb as f64;
    let simple = |rate: f64| {
        Some((
            gb * rate,
            format!("{volume_type} {size_gb} GB x {rate} $/GB-month"),
        ))
    };
    match volume_type {
        "gp2" => simple(0.10),
        "st1" => simple(0.045),
        "sc1" => simple(0.015),
        "standard" => simple(0.05),
        "gp3" => {
            let extra_iops = (iops.unwrap_or(3000) - 3000).max(0);
            let extra_tp = (throughput_mbps.unwrap_or(125) - 125).max(0);
            let cost = gb * 0.08 + extra_iops as f64 * 0.005 + extra_tp as f64 * 0.04;
            Some((
                cost,
                format!(
                    "gp3 {size_gb} GB x 0.08 $/GB-month + {extra_iops} IOPS over 3000 x 0.005 \
                     + {extra_tp} MB/s over 125 x 0.04"
                ),
            ))
        }
        "io1" | "io2" => {
            let iops = iops.unwrap_or(0).max(0);
            Some((
                gb * 0.125 + iops as f64 * 0.065,
                format!(
                    "{volume_type} {size_gb} GB x 0.125 $/GB-month + {iops} provisioned IOPS x 0.065"
                ),
            ))
        }
        _ => None,
    }
}

/// Monthly saving of moving a gp2 volume to gp3 with the same baseline IOPS
/// (gp2 gives 3 IOPS/GB, at least 100; gp3 includes 3000) and the arithmetic.
pub fn gp2_to_gp3_monthly_saving(size_gb: i64) -> (f64, String) {
    let gb = size_gb as f64;
    let gp2_iops = (3 * size_gb).clamp(100, 16_000);
    let extra_iops = (gp2_iops - 3000).max(0);
    let saving = gb * (0.10 - 0.08) - extra_iops as f64 * 0.005;
    (
        saving,
        format!(
            "{size_gb} GB x (gp2 0.10 - gp3 0.08) $/GB-month - {extra_iops} IOPS over 3000 \
             x 0.005 (to keep gp2's baseline {gp2_iops} IOPS)"
        ),
    )
}

/// vCPUs of an RDS class, if the table has it.
pub fn rds_vcpus(class: &str) -> Option<u32> {
    RDS_VCPUS.iter().find(|(c, _)| *c == class).map(|(_, v)| *v)
}

/// Monthly saving of moving an io1/io2 volume to gp3 with the same size and
/// IOPS, and the arithmetic: (GB x io + IOPS x io IOPS) - (GB x gp3 + IOPS
/// over 3000 x gp3 IOPS).
pub fn io_to_gp3_monthly_saving(volume_type: &str, size_gb: i64, iops: i64) -> (f64, String) {
    let (gb, iops) = (size_gb as f64, iops.max(0));
    let extra = (iops - GP3_BASELINE_IOPS).max(0);
    let io = gb * IO_GB_MONTH + iops as f64 * IO_IOPS_MONTH;
    let gp3 = gb * GP3_GB_MONTH + extra as f64 * GP3_IOPS_MONTH;
    (
        io - gp3,
        format!(
            "({volume_type} {size_gb} GB x {IO_GB_MONTH} $/GB-month + {iops} IOPS x \
             {IO_IOPS_MONTH}) - (gp3 {size_gb} GB x {GP3_GB_MONTH} + {extra} IOPS over \
             {GP3_BASELINE_IOPS} x {GP3_IOPS_MONTH}) = {io:.2} - {gp3:.2}"
        ),
    )
}

/// Rounds a dollar figure to cents, as every reported figure is.
pub fn cents(usd: f64) -> f64 {
    (usd * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_size_smaller_skips_sizes_the_family_lacks() {
        assert_eq!(smaller_ec2_type("m5.xlarge").as_deref(), Some("m5.large"));
        assert_eq!(smaller_ec2_type("m5.large"), None, "m5 has no medium");
        assert_eq!(
            smaller_ec2_type("c5.12xlarge").as_deref(),
            Some("c5.9xlarge")
        );
        assert_eq!(smaller_ec2_type("t3.micro").as_deref(), Some("t3.nano"));
        assert_eq!(smaller_ec2_type("x1e.32xlarge"), None);
        assert_eq!(
            smaller_rds_class("postgres", "db.t3.large").as_deref(),
            Some("db.t3.medium")
        );
    }

    #[test]
    fn previous_generation_maps_to_the_same_size_in_the_new_family() {
        assert_eq!(
            current_generation("m4.xlarge").as_deref(),
            Some("m5.xlarge")
        );
        assert_eq!(current_generation("t2.micro").as_deref(), Some("t3.micro"));
        assert_eq!(
            current_generation("db.m4.large").as_deref(),
            Some("db.m5.large")
        );
        assert_eq!(current_generation("m5.large"), None);
        assert_eq!(current_generation("db.t3.micro"), None);
    }

    #[test]
    fn ebs_prices_include_provisioned_performance() {
        assert_eq!(ebs_monthly("gp2", 100, Some(300), None).unwrap().0, 10.0);
        let (gp3, _) = ebs_monthly("gp3", 100, Some(4000), Some(225)).unwrap();
        assert!((gp3 - (8.0 + 5.0 + 4.0)).abs() < 1e-9);
        let (io1, _) = ebs_monthly("io1", 100, Some(1000), None).unwrap();
        assert!((io1 - (12.5 + 65.0)).abs() < 1e-9);
        assert!(ebs_monthly("magnetic-ish", 10, None, None).is_none());
    }

    #[test]
    fn gp2_to_gp3_keeps_baseline_iops() {
        assert!((gp2_to_gp3_monthly_saving(100).0 - 2.0).abs() < 1e-9);
        // 2000 GB gp2 has 6000 IOPS: gp3 needs 3000 extra at 0.005.
        assert!((gp2_to_gp3_monthly_saving(2000).0 - (40.0 - 15.0)).abs() < 1e-9);
    }

    #[test]
    fn io_to_gp3_keeps_size_and_iops() {
        // 500 GB, 10,000 IOPS: (62.5 + 650) - (40 + 7,000 x 0.005 = 35) = 637.5
        let (saving, detail) = io_to_gp3_monthly_saving("io1", 500, 10_000);
        assert!((saving - 637.5).abs() < 1e-9, "{saving}");
        assert!(detail.contains("7000 IOPS over 3000"), "{detail}");
        // Under gp3's baseline no IOPS are bought.
        let (saving, _) = io_to_gp3_monthly_saving("io2", 100, 2000);
        assert!((saving - (12.5 + 130.0 - 8.0)).abs() < 1e-9);
    }

    #[test]
    fn every_priced_rds_class_has_its_vcpus() {
        for (_, class, _) in RDS_HOURLY {
            assert!(rds_vcpus(class).is_some(), "{class}");
        }
        assert_eq!(rds_vcpus("db.m5.xlarge"), Some(4));
        assert_eq!(rds_vcpus("db.x2g.16xlarge"), None);
    }

    #[test]
    fn unknown_types_have_no_price() {
        let p = Prices::table();
        assert!(p.ec2_hourly("x1e.32xlarge").is_none());
        assert!(p.rds_hourly("oracle-ee", "db.m5.large").is_none());
        assert_eq!(p.rds_hourly("mariadb", "db.t3.micro"), Some(0.017));
    }
}

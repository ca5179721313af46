//! Charts of spend (`chart: true` on `cost_by_service`, `cost_forecast` and
//! `cost_anomalies`): one PNG each, 800 x 450 pixels, readable as it comes
//! (a title that says what and when, axes with units and dates, a legend).
//!
//! Design choice: plotters draws into an RGB buffer and `png` encodes it,
//! with DejaVu Sans compiled in, so a chart looks the same on every machine
//! and needs no system fonts. The legend is drawn in its own panel right of
//! the plot, never over the data. Colours come from a fixed palette in the
//! order of the legend, largest first, so the same answer draws the same
//! picture.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::anomalies::AnomalyReport;
use super::forecast::Forecast;
use super::spend::SpendPeriod;

/// Width of every chart, pixels.
pub const WIDTH: u32 = 800;
/// Height of every chart, pixels.
pub const HEIGHT: u32 = 450;
/// Width of the legend panel right of the plot, pixels.
const LEGEND_WIDTH: u32 = 210;
/// Groups drawn on their own in a spend chart; the rest are one `Other` bar.
const MAX_GROUPS: usize = 7;
/// Services drawn in an anomaly chart.
const MAX_SERVICES: usize = 6;
/// Days of actual spend before an anomaly window: the reference weeks.
pub const ANOMALY_CONTEXT_DAYS: i64 = 7 * super::anomalies::REFERENCE_WEEKS;
/// Days of actual spend drawn before a forecast.
pub const FORECAST_HISTORY_DAYS: i64 = 30;

const FONT: &str = "sans-serif";
/// Tableau 10: distinguishable, and readable by most colour-blind people.
const PALETTE: [RGBColor; 8] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(89, 161, 79),
    RGBColor(225, 87, 89),
    RGBColor(118, 183, 178),
    RGBColor(237, 201, 72),
    RGBColor(176, 122, 161),
    RGBColor(156, 117, 95),
];
const OTHER: RGBColor = RGBColor(186, 176, 172);
const ANOMALY: RGBColor = RGBColor(214, 39, 40);
const GRID: RGBColor = RGBColor(235, 235, 235);

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// One legend line: a swatch and its text.
enum Swatch {
    Box(RGBColor, f64),
    Line(RGBColor),
    Dot(RGBColor),
    /// No swatch: a line of text (e.g. the method).
    Text,
}

/// Spend per period, stacked by group (the largest seven, then `Other`).
pub fn spend(
    periods: &[SpendPeriod],
    group_by: &str,
    granularity: &str,
) -> Result<Vec<u8>, String> {
    let mut totals: BTreeMap<&str, f64> = BTreeMap::new();
    for p in periods {
        for g in &p.groups {
            *totals.entry(g.key.as_str()).or_default() += g.amount;
        }
    }
    let mut ranked: Vec<(&str, f64)> = totals.into_iter().filter(|(_, v)| *v > 0.0).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    let shown: Vec<&str> = ranked.iter().take(MAX_GROUPS).map(|(k, _)| *k).collect();
    let others = ranked.len().saturating_sub(MAX_GROUPS);
    let daily = granularity.eq_ignore_ascii_case("DAILY");
    let labels: Vec<String> = periods
        .iter()
        .map(|p| {
            if daily {
                p.start.get(5..).unwrap_or(&p.start).to_string()
            } else {
                p.start.get(..7).unwrap_or(&p.start).to_string()
            }
        })
        .collect();
    let top = periods.iter().map(|p| p.total).fold(0.0, f64::max);
    let first = periods.first().map(|p| p.start.as_str()).unwrap_or("");
    let last = periods
        .last()
        .and_then(|p| day(&p.end))
        .map(|d| (d - Duration::days(1)).to_string())
        .unwrap_or_default();
    let title = format!(
        "AWS spend by {}, {first} to {last} ({})",
        group_name(group_by),
        granularity.to_ascii_lowercase()
    );
    let mut legend: Vec<(Swatch, String)> = shown
        .iter()
        .enumerate()
        .map(|(i, k)| (Swatch::Box(PALETTE[i % PALETTE.len()], 1.0), short(k)))
        .collect();
    if others > 0 {
        legend.push((Swatch::Box(OTHER, 1.0), format!("Other ({others})")));
    }
    if periods.is_empty() {
        legend.push((Swatch::Box(OTHER, 1.0), "no spend in the range".into()));
    }
    render(&title, &legend, |area| {
        let n = periods.len().max(1) as f64;
        let mut chart = ChartBuilder::on(&area)
            .margin(8)
            .x_label_area_size(42)
            .y_label_area_size(66)
            .build_cartesian_2d(-0.5..n - 0.5, 0.0..nice_top(top))
            .map_err(text)?;
        let x_label = |x: &f64| label_at(&labels, *x);
        let y_label = |y: &f64| usd(*y);
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .disable_x_mesh()
            .x_labels(labels.len().clamp(1, 10))
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .x_desc(if daily { "day (UTC)" } else { "month" })
            .y_desc("USD")
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .draw()
            .map_err(text)?;
        let half = if periods.len() > 40 { 0.45 } else { 0.38 };
        for (i, p) in periods.iter().enumerate() {
            let x = i as f64;
            let mut base = 0.0;
            let mut rest = 0.0;
            for g in &p.groups {
                match shown.iter().position(|k| *k == g.key) {
                    Some(c) => {
                        let top = base + g.amount.max(0.0);
                        let color = PALETTE[c % PALETTE.len()];
                        chart
                            .draw_series(std::iter::once(Rectangle::new(
                                [(x - half, base), (x + half, top)],
                                color.filled(),
                            )))
                            .map_err(text)?;
                        base = top;
                    }
                    None => rest += g.amount.max(0.0),
                }
            }
            if rest > 0.0 {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x - half, base), (x + half, base + rest)],
                        OTHER.filled(),
                    )))
                    .map_err(text)?;
            }
        }
        Ok(())
    })
}

/// Actual daily spend before the forecast, the expected spend per day and
/// its 80 % interval as a band.
pub fn forecast(f: &Forecast, history: &[(NaiveDate, f64)]) -> Result<Vec<u8>, String> {
    let start = day(&f.start).ok_or("the forecast has no start day")?;
    let from = history
        .iter()
        .map(|(d, _)| *d)
        .min()
        .unwrap_or(start)
        .min(start);
    let end = day(&f.end).unwrap_or(start + Duration::days(f.daily.len() as i64));
    let dates: Vec<String> = days_between(from, end);
    let x = |d: NaiveDate| (d - from).num_days() as f64;
    let points: Vec<(f64, f64, f64, f64)> = f
        .daily
        .iter()
        .filter_map(|d| day(&d.date).map(|t| (x(t), d.mean, d.lower_80, d.upper_80)))
        .collect();
    let actual: Vec<(f64, f64)> = history.iter().map(|(d, v)| (x(*d), *v)).collect();
    let top = points
        .iter()
        .map(|p| p.3)
        .chain(actual.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let title = format!(
        "AWS spend forecast, {} to {}: {} (80 %: {} to {})",
        f.start,
        (end - Duration::days(1)),
        usd(f.total),
        usd(f.lower_80),
        usd(f.upper_80)
    );
    let mut legend = Vec::new();
    if !actual.is_empty() {
        legend.push((Swatch::Line(PALETTE[0]), "actual spend".to_string()));
    }
    legend.push((Swatch::Line(PALETTE[1]), "forecast (expected)".into()));
    legend.push((Swatch::Box(PALETTE[1], 0.25), "80 % interval".into()));
    legend.push((Swatch::Text, "method:".into()));
    legend.push((Swatch::Text, f.method.clone()));
    render(&title, &legend, |area| {
        let mut chart = ChartBuilder::on(&area)
            .margin(8)
            .x_label_area_size(42)
            .y_label_area_size(66)
            .build_cartesian_2d(0.0..(dates.len().max(2) - 1) as f64, 0.0..nice_top(top))
            .map_err(text)?;
        let x_label = |v: &f64| label_at(&dates, *v);
        let y_label = |y: &f64| usd(*y);
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_labels(10)
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .x_desc("day (UTC)")
            .y_desc("USD per day")
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .draw()
            .map_err(text)?;
        if !points.is_empty() {
            let band: Vec<(f64, f64)> = points
                .iter()
                .map(|p| (p.0, p.3))
                .chain(points.iter().rev().map(|p| (p.0, p.2)))
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(
                    band,
                    PALETTE[1].mix(0.25).filled(),
                )))
                .map_err(text)?;
            chart
                .draw_series(LineSeries::new(
                    points.iter().map(|p| (p.0, p.1)),
                    PALETTE[1].stroke_width(2),
                ))
                .map_err(text)?;
        }
        if !actual.is_empty() {
            chart
                .draw_series(LineSeries::new(
                    actual.iter().copied(),
                    PALETTE[0].stroke_width(2),
                ))
                .map_err(text)?;
        }
        let today = x(start);
        chart
            .draw_series(LineSeries::new(
                [(today, 0.0), (today, nice_top(top))],
                BLACK.mix(0.35),
            ))
            .map_err(text)?;
        Ok(())
    })
}

/// Daily spend of the services with anomalies (or, when there are none,
/// the largest ones) over the examined window and the weeks before it,
/// each anomaly marked on its days.
pub fn anomalies(
    r: &AnomalyReport,
    daily: &BTreeMap<String, BTreeMap<NaiveDate, f64>>,
) -> Result<Vec<u8>, String> {
    let start = day(&r.start).ok_or("the report has no start day")?;
    let end = day(&r.end).ok_or("the report has no end day")?;
    let from = start - Duration::days(ANOMALY_CONTEXT_DAYS);
    let mut services: Vec<&str> = Vec::new();
    for a in &r.anomalies {
        if services.len() < MAX_SERVICES && !services.contains(&a.service.as_str()) {
            services.push(&a.service);
        }
    }
    if services.is_empty() {
        let mut ranked: Vec<(&str, f64)> = daily
            .iter()
            .map(|(k, s)| (k.as_str(), s.range(start..end).map(|(_, v)| v).sum::<f64>()))
            .filter(|(_, v)| *v > 0.0)
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        services = ranked.iter().take(MAX_SERVICES).map(|(k, _)| *k).collect();
    }
    let dates = days_between(from, end);
    let x = |d: NaiveDate| (d - from).num_days() as f64;
    let lines: Vec<Vec<(f64, f64)>> = services
        .iter()
        .map(|s| {
            let series = daily.get(*s);
            (0..dates.len() as i64)
                .map(|i| {
                    let d = from + Duration::days(i);
                    (
                        i as f64,
                        series.and_then(|m| m.get(&d)).copied().unwrap_or(0.0),
                    )
                })
                .collect()
        })
        .collect();
    let mut marks: Vec<(f64, f64)> = Vec::new();
    for a in &r.anomalies {
        let (Some(s), Some(e)) = (day(&a.start), day(&a.end)) else {
            continue;
        };
        let n = ((e - s).num_days() + 1).max(1);
        let series = daily.get(&a.service);
        for i in 0..n {
            let d = s + Duration::days(i);
            if d < from || d >= end {
                continue;
            }
            let v = series
                .and_then(|m| m.get(&d))
                .copied()
                .unwrap_or(a.actual / n as f64);
            marks.push((x(d), v));
        }
    }
    let top = lines
        .iter()
        .flatten()
        .map(|p| p.1)
        .chain(marks.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let title = format!(
        "AWS spend anomalies, {} to {}: {} found",
        r.start,
        end - Duration::days(1),
        r.anomalies.len()
    );
    let mut legend: Vec<(Swatch, String)> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (Swatch::Line(PALETTE[i % PALETTE.len()]), short(s)))
        .collect();
    legend.push((Swatch::Dot(ANOMALY), "anomaly".into()));
    legend.push((
        Swatch::Box(RGBColor(0, 0, 0), 0.07),
        "examined window".into(),
    ));
    legend.push((Swatch::Text, "method:".into()));
    legend.push((Swatch::Text, r.method.clone()));
    render(&title, &legend, |area| {
        let y_top = nice_top(top);
        let mut chart = ChartBuilder::on(&area)
            .margin(8)
            .x_label_area_size(42)
            .y_label_area_size(66)
            .build_cartesian_2d(0.0..(dates.len().max(2) - 1) as f64, 0.0..y_top)
            .map_err(text)?;
        let x_label = |v: &f64| label_at(&dates, *v);
        let y_label = |y: &f64| usd(*y);
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_labels(10)
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .x_desc("day (UTC)")
            .y_desc("USD per day")
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .draw()
            .map_err(text)?;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x(start) - 0.5, 0.0), (x(end) - 0.5, y_top)],
                BLACK.mix(0.07).filled(),
            )))
            .map_err(text)?;
        for (i, line) in lines.iter().enumerate() {
            chart
                .draw_series(LineSeries::new(
                    line.iter().copied(),
                    PALETTE[i % PALETTE.len()].stroke_width(2),
                ))
                .map_err(text)?;
        }
        chart
            .draw_series(
                marks
                    .iter()
                    .map(|p| Circle::new(*p, 6, ANOMALY.stroke_width(3))),
            )
            .map_err(text)?;
        Ok(())
    })
}

/// Draws the title, the legend panel and (by `plot`) the plot, and encodes
/// the picture as PNG.
fn render(
    title: &str,
    legend: &[(Swatch, String)],
    plot: impl FnOnce(Area<'_>) -> Result<(), String>,
) -> Result<Vec<u8>, String> {
    fonts();
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(text)?;
        let body = root
            .titled(title, (FONT, 17).into_font().style(FontStyle::Bold))
            .map_err(text)?;
        let (left, right) = body.split_horizontally(WIDTH - LEGEND_WIDTH);
        plot(left)?;
        let row = 22;
        for (i, (swatch, label)) in legend.iter().enumerate() {
            let y = 40 + row * i as i32;
            match swatch {
                Swatch::Box(c, alpha) => {
                    right
                        .draw(&Rectangle::new(
                            [(8, y - 6), (22, y + 6)],
                            c.mix(*alpha).filled(),
                        ))
                        .map_err(text)?;
                }
                Swatch::Text => {}
                Swatch::Line(c) => {
                    right
                        .draw(&PathElement::new(vec![(6, y), (24, y)], c.stroke_width(3)))
                        .map_err(text)?;
                }
                Swatch::Dot(c) => {
                    right
                        .draw(&Circle::new((15, y), 5, c.stroke_width(3)))
                        .map_err(text)?;
                }
            }
            let x = if matches!(swatch, Swatch::Text) {
                8
            } else {
                30
            };
            right
                .draw(&Text::new(
                    label.clone(),
                    (x, y - 7),
                    (FONT, 13).into_font().color(&BLACK),
                ))
                .map_err(text)?;
        }
        root.present().map_err(text)?;
    }
    encode(&rgb)
}

fn encode(rgb: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Best);
    let mut writer = encoder.write_header().map_err(text)?;
    writer.write_image_data(rgb).map_err(text)?;
    writer.finish().map_err(text)?;
    Ok(out)
}

/// Registers the embedded font once per process.
fn fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The bytes are DejaVu's own files: they always parse.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

fn text(e: impl std::fmt::Display) -> String {
    format!("could not draw the chart: {e}")
}

fn day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.get(..10).unwrap_or(s), "%Y-%m-%d").ok()
}

/// `MM-DD` of every day from `from` to before `end`, the year only on the
/// first day and on each 1 January.
fn days_between(from: NaiveDate, end: NaiveDate) -> Vec<String> {
    let n = (end - from).num_days().max(1);
    (0..n)
        .map(|i| {
            let d = from + Duration::days(i);
            if i == 0 || d.format("%m-%d").to_string() == "01-01" {
                d.to_string()
            } else {
                d.format("%m-%d").to_string()
            }
        })
        .collect()
}

/// The label of the item at `x`, if `x` falls on one.
fn label_at(labels: &[String], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() > 1e-6 || i < 0.0 {
        return String::new();
    }
    labels.get(i as usize).cloned().unwrap_or_default()
}

/// The top of the y axis: 10 % above the largest value, at least 1 USD.
fn nice_top(max: f64) -> f64 {
    if max.is_finite() && max > 0.0 {
        max * 1.1
    } else {
        1.0
    }
}

/// `$1,234`, `$12.5k`, `$3.2M`, `$0.45`.
fn usd(v: f64) -> String {
    let a = v.abs();
    let sign = if v < 0.0 { "-" } else { "" };
    if a >= 1e6 {
        format!("{sign}${:.1}M", a / 1e6)
    } else if a >= 1e4 {
        format!("{sign}${:.1}k", a / 1e3)
    } else if a >= 10.0 {
        let whole = a.round() as u64;
        let s = whole.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}${out}")
    } else if a == 0.0 {
        "$0".into()
    } else {
        format!("{sign}${a:.2}")
    }
}

fn group_name(group_by: &str) -> String {
    match group_by {
        "SERVICE" => "service".into(),
        "REGION" => "region".into(),
        "LINKED_ACCOUNT" => "account".into(),
        other => other
            .strip_prefix("TAG:")
            .map(|k| format!("tag {k}"))
            .unwrap_or_else(|| other.to_ascii_lowercase()),
    }
}

/// A legend label of at most 26 characters: Cost Explorer's long service
/// names by their usual short ones.
fn short(s: &str) -> String {
    const KNOWN: [(&str, &str); 16] = [
        ("Amazon Elastic Compute Cloud - Compute", "EC2 - Compute"),
        ("EC2 - Other", "EC2 - Other"),
        ("Amazon Relational Database Service", "RDS"),
        ("Amazon Simple Storage Service", "S3"),
        ("Amazon Simple Queue Service", "SQS"),
        ("Amazon Simple Notification Service", "SNS"),
        ("Amazon Elastic Load Balancing", "Elastic Load Balancing"),
        ("Amazon Virtual Private Cloud", "VPC"),
        ("Amazon Elastic Container Service", "ECS"),
        ("Amazon Elastic Container Service for Kubernetes", "EKS"),
        ("Amazon Elastic File System", "EFS"),
        ("Amazon Elastic Block Store", "EBS"),
        ("AWS Key Management Service", "KMS"),
        ("Amazon EC2 Container Registry (ECR)", "ECR"),
        ("Amazon ElastiCache", "ElastiCache"),
        ("AmazonCloudWatch", "CloudWatch"),
    ];
    if let Some((_, short)) = KNOWN.iter().find(|(long, _)| *long == s) {
        return (*short).to_string();
    }
    let s = s
        .strip_prefix("Amazon ")
        .or_else(|| s.strip_prefix("AWS "))
        .unwrap_or(s);
    if s.chars().count() <= 26 {
        s.to_string()
    } else {
        let head: String = s.chars().take(25).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_like_money() {
        assert_eq!(usd(0.456), "$0.46");
        assert_eq!(usd(0.0), "$0");
        assert_eq!(usd(1234.4), "$1,234");
        assert_eq!(usd(12_500.0), "$12.5k");
        assert_eq!(usd(3_210_000.0), "$3.2M");
        assert_eq!(usd(-20.0), "-$20");
    }

    #[test]
    fn labels_only_on_whole_positions() {
        let l = vec!["a".to_string(), "b".to_string()];
        assert_eq!(label_at(&l, 1.0), "b");
        assert_eq!(label_at(&l, 0.5), "");
        assert_eq!(label_at(&l, 2.0), "");
        assert_eq!(
            days_between(day("2026-12-30").unwrap(), day("2027-01-02").unwrap()),
            vec!["2026-12-30", "12-31", "2027-01-01"]
        );
        assert_eq!(
            short("Amazon Elastic Compute Cloud - Compute"),
            "EC2 - Compute"
        );
        assert_eq!(
            short("Amazon Managed Streaming for Apache Kafka"),
            "Managed Streaming for Apa…"
        );
    }
}

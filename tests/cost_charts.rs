//! Charts (#22): `chart: true` on `cost_by_service`, `cost_forecast` and
//! `cost_anomalies` returns the same structured result plus a PNG as MCP
//! image content. Over MCP against the real binary and moto's canned
//! GetCostAndUsage; each test decodes the PNG and checks its size, that it
//! is not blank, and that what it must show is drawn (bars, the forecast
//! band, anomaly markers: each in its own colour).
//!
//! `SMART_SYSTEMS_CHART_DIR=dir` also writes the PNGs there, to look at.

mod common;
mod cost_support;

use std::collections::HashSet;

use base64::Engine;
use chrono::{Datelike, Duration, NaiveDate, Utc};
use common::temp_dir;
use cost_support::{Account, money, new_account, queue_cost_results, start_server};
use serde_json::{Value, json};

/// Chart colours (src/cost/charts.rs): the first two palette colours, the
/// forecast band (orange at 25 % over white) and the anomaly marker.
const BLUE: [u8; 3] = [78, 121, 167];
const ORANGE: [u8; 3] = [242, 142, 43];
const BAND: [u8; 3] = [252, 227, 202];
const RED: [u8; 3] = [214, 39, 40];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A decoded chart.
struct Picture {
    width: u32,
    height: u32,
    bytes: usize,
    rgb: Vec<u8>,
}

impl Picture {
    fn pixels(&self) -> impl Iterator<Item = [u8; 3]> + '_ {
        self.rgb.chunks_exact(3).map(|p| [p[0], p[1], p[2]])
    }

    /// Pixels within 6 of `color` on every channel.
    fn count(&self, color: [u8; 3]) -> usize {
        self.pixels()
            .filter(|p| (0..3).all(|i| p[i].abs_diff(color[i]) <= 6))
            .count()
    }
}

/// The result's image block, checked and decoded; also saved when
/// SMART_SYSTEMS_CHART_DIR is set.
fn picture(result: &Value, name: &str) -> Picture {
    let content = result["content"].as_array().expect("content");
    assert_eq!(content[0]["type"], "text", "{result}");
    let images: Vec<&Value> = content.iter().filter(|c| c["type"] == "image").collect();
    assert_eq!(images.len(), 1, "one image: {content:?}");
    assert_eq!(images[0]["mimeType"], "image/png");
    let png = base64::engine::general_purpose::STANDARD
        .decode(images[0]["data"].as_str().expect("data"))
        .expect("base64");
    if let Ok(dir) = std::env::var("SMART_SYSTEMS_CHART_DIR") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), &png).unwrap();
    }
    let decoder = png::Decoder::new(std::io::Cursor::new(&png));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a frame");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    let p = Picture {
        width: info.width,
        height: info.height,
        bytes: png.len(),
        rgb: buf,
    };
    assert_eq!((p.width, p.height), (800, 450), "readable at 800 px");
    assert!(p.bytes <= 200 * 1024, "{name}: {} bytes", p.bytes);
    let colors: HashSet<[u8; 3]> = p.pixels().collect();
    let ink = p.pixels().filter(|c| *c != [255, 255, 255]).count();
    let share = ink as f64 / (p.width * p.height) as f64;
    assert!(
        colors.len() > 20,
        "{name}: {} colours: blank?",
        colors.len()
    );
    assert!(share > 0.02, "{name}: {share:.3} of the pixels drawn");
    // Text is drawn: dark, anti-aliased glyphs (title, axes, legend).
    assert!(p.count([0, 0, 0]) > 500, "{name}: no text?");
    p
}

fn day_result(d: NaiveDate, groups: &[(&str, f64)]) -> Value {
    json!({
        "TimePeriod": {"Start": d.to_string(), "End": (d + Duration::days(1)).to_string()},
        "Total": {}, "Estimated": false,
        "Groups": groups.iter()
            .map(|(k, a)| json!({"Keys": [k], "Metrics": {"UnblendedCost": money(*a)}}))
            .collect::<Vec<_>>()
    })
}

#[test]
fn spend_by_service_draws_stacked_bars_with_the_rest_as_other() {
    let rt = runtime();
    let account: Account = rt.block_on(new_account());
    let start = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    let names = [
        "Amazon Elastic Compute Cloud - Compute",
        "Amazon Relational Database Service",
        "Amazon Simple Storage Service",
        "AWS Lambda",
        "Amazon CloudWatch",
        "Amazon DynamoDB",
        "Amazon Route 53",
        "AWS Key Management Service",
        "Amazon Simple Queue Service",
    ];
    let days: Vec<Value> = (0..14)
        .map(|t| {
            let groups: Vec<(&str, f64)> = names
                .iter()
                .enumerate()
                .map(|(i, n)| (*n, 200.0 / (i + 1) as f64 + t as f64))
                .collect();
            day_result(start + Duration::days(t), &groups)
        })
        .collect();
    queue_cost_results(
        &account,
        vec![json!({"ResultsByTime": days, "DimensionValueAttributes": []})],
    );
    let tmp = temp_dir();
    let mut s = start_server(&account, &tmp.path().join("data"));
    let args = json!({"start": "2026-11-01", "end": "2026-11-15", "granularity": "DAILY",
                      "chart": true});
    let result = s.call_tool("cost_by_service", args);
    assert_ne!(result["isError"], json!(true), "{result}");
    assert_eq!(
        result["structuredContent"]["periods"]
            .as_array()
            .unwrap()
            .len(),
        14
    );
    let p = picture(&result, "cost_by_service");
    // The largest service (first colour) has the tallest segments; the
    // second is drawn too, and the two smallest go into a grey Other.
    assert!(p.count(BLUE) > 5_000, "{}", p.count(BLUE));
    assert!(p.count(ORANGE) > 2_000, "{}", p.count(ORANGE));
    assert!(p.count([186, 176, 172]) > 200, "no Other bar");

    // Without `chart` (or with false): the same structure, no image.
    for args in [
        json!({"start": "2026-11-01", "end": "2026-11-15", "granularity": "DAILY"}),
        json!({"start": "2026-11-01", "end": "2026-11-15", "granularity": "DAILY", "chart": false}),
    ] {
        let plain = s.call_tool("cost_by_service", args);
        let content = plain["content"].as_array().unwrap();
        assert!(content.iter().all(|c| c["type"] == "text"), "{plain}");
        assert_eq!(plain["structuredContent"], result["structuredContent"]);
    }
    let e = s.call_err("cost_by_service", json!({"chart": "yes"}));
    assert!(e.contains("chart"), "{e}");
    assert!(s.close().success());
}

#[test]
fn the_forecast_chart_shows_history_the_expected_line_and_its_band() {
    let rt = runtime();
    let account = rt.block_on(new_account());
    let today = Utc::now().date_naive();
    // 90 noisy days with a weekly pattern: moto has no GetCostForecast, so
    // the fallback forecasts from them.
    let history: Vec<Value> = (1..=90)
        .rev()
        .map(|back| {
            let d = today - Duration::days(back);
            let weekend = d.weekday().num_days_from_monday() >= 5;
            let v = if weekend { 60.0 } else { 100.0 } + ((back * 37) % 11) as f64 * 2.0;
            json!({
                "TimePeriod": {"Start": d.to_string(), "End": (d + Duration::days(1)).to_string()},
                "Total": {"UnblendedCost": money(v)}, "Estimated": false, "Groups": []
            })
        })
        .collect();
    queue_cost_results(
        &account,
        vec![json!({"ResultsByTime": history, "DimensionValueAttributes": []})],
    );
    let tmp = temp_dir();
    let mut s = start_server(&account, &tmp.path().join("data"));
    let result = s.call_tool("cost_forecast", json!({"days": 30, "chart": true}));
    assert_ne!(result["isError"], json!(true), "{result}");
    let f = &result["structuredContent"];
    assert_eq!(f["method"], "trend_weekly_seasonality", "{f}");
    // Each day has its own 80 % interval around its expected value.
    for d in f["daily"].as_array().unwrap() {
        let (lo, mean, hi) = (
            d["lower_80"].as_f64().unwrap(),
            d["mean"].as_f64().unwrap(),
            d["upper_80"].as_f64().unwrap(),
        );
        assert!(lo < mean && mean < hi, "{d}");
    }
    let p = picture(&result, "cost_forecast");
    assert!(p.count(BLUE) > 300, "actual spend line: {}", p.count(BLUE));
    assert!(p.count(ORANGE) > 300, "forecast line: {}", p.count(ORANGE));
    assert!(p.count(BAND) > 3_000, "interval band: {}", p.count(BAND));
    assert!(s.close().success());
}

#[test]
fn the_anomaly_chart_marks_the_spike_on_its_service() {
    let rt = runtime();
    let account = rt.block_on(new_account());
    let start = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    let history_start = start - Duration::days(28);
    let spike = start + Duration::days(3);
    let days: Vec<Value> = (0..35)
        .map(|t| {
            let d = history_start + Duration::days(t);
            let weekend = d.weekday().num_days_from_monday() >= 5;
            let mut ec2 = if weekend { 20.0 } else { 100.0 } + (t % 3) as f64;
            if d == spike {
                ec2 += 300.0;
            }
            day_result(
                d,
                &[
                    ("Amazon Elastic Compute Cloud - Compute", ec2),
                    ("Amazon Simple Storage Service", 5.0),
                ],
            )
        })
        .collect();
    queue_cost_results(
        &account,
        vec![json!({"ResultsByTime": days, "DimensionValueAttributes": []})],
    );
    let tmp = temp_dir();
    let mut s = start_server(&account, &tmp.path().join("data"));
    let result = s.call_tool(
        "cost_anomalies",
        json!({"start": "2026-11-01", "end": "2026-11-08", "min_impact": 50, "chart": true}),
    );
    assert_ne!(result["isError"], json!(true), "{result}");
    let r = &result["structuredContent"];
    assert_eq!(r["anomalies"].as_array().unwrap().len(), 1, "{r}");
    let p = picture(&result, "cost_anomalies");
    assert!(p.count(BLUE) > 300, "the service's line: {}", p.count(BLUE));
    // One marker on the plot (a ring of about 3 x 2 pi x 6 pixels) and one
    // in the legend.
    assert!(p.count(RED) > 120, "anomaly markers: {}", p.count(RED));
    assert!(s.close().success());
}

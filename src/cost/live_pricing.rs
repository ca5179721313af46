//! `--pricing live`: EC2 on-demand Linux prices from the AWS Price List API
//! (GetProducts, served from us-east-1), cached for the life of the process,
//! with the embedded table as the fallback.
//!
//! Design choice: only the instance types a report actually found are looked
//! up (one GetProducts call each, concurrently bounded), and a failed lookup
//! is cached as "use the table" too, so a report against an account or an
//! emulator without the Price List API costs one failed call per type, once.
//! Prices stay us-east-1 (the table's region) so that live and table figures
//! compare like with like.

use std::collections::HashMap;

use aws_sdk_pricing::types::{Filter, FilterType};
use serde_json::Value;
use tokio::sync::Mutex;

use super::aws::{Session, describe};
use super::pricing::HourlyPrice;

/// The Price List API's name for us-east-1.
const LOCATION: &str = "US East (N. Virginia)";

/// Cache of live prices by instance type (`None`: fall back to the table).
#[derive(Debug, Default)]
pub struct LivePrices {
    cache: Mutex<HashMap<String, Option<HourlyPrice>>>,
    /// Held while fetching, so concurrent regions fetch a type once.
    fetching: Mutex<()>,
}

impl LivePrices {
    /// An empty cache.
    pub fn new() -> Self {
        LivePrices::default()
    }

    /// Live prices for the given instance types (those the API had).
    pub async fn ec2(&self, session: &Session, types: &[String]) -> HashMap<String, HourlyPrice> {
        let _fetching = self.fetching.lock().await;
        let missing: Vec<String> = {
            let cache = self.cache.lock().await;
            types
                .iter()
                .filter(|t| !cache.contains_key(*t))
                .cloned()
                .collect()
        };
        if !missing.is_empty() {
            let client = session.pricing();
            let mut fetched = Vec::new();
            for chunk in missing.chunks(8) {
                let mut set = tokio::task::JoinSet::new();
                for t in chunk {
                    let (client, t) = (client.clone(), t.clone());
                    set.spawn(async move {
                        let price = fetch_ec2(&client, &t).await;
                        if let Err(e) = &price {
                            tracing::info!(instance_type = %t, "live price unavailable, using the table: {e}");
                        }
                        (t, price.ok().flatten())
                    });
                }
                while let Some(Ok(r)) = set.join_next().await {
                    fetched.push(r);
                }
            }
            let mut cache = self.cache.lock().await;
            for (t, p) in fetched {
                cache.insert(t, p);
            }
        }
        let cache = self.cache.lock().await;
        types
            .iter()
            .filter_map(|t| cache.get(t).cloned().flatten().map(|p| (t.clone(), p)))
            .collect()
    }
}

/// One GetProducts call for an instance type's on-demand Linux price.
pub async fn fetch_ec2(
    client: &aws_sdk_pricing::Client,
    instance_type: &str,
) -> Result<Option<HourlyPrice>, String> {
    let term = |field: &str, value: &str| {
        Filter::builder()
            .r#type(FilterType::TermMatch)
            .field(field)
            .value(value)
            .build()
            .map_err(|e| e.to_string())
    };
    let out = client
        .get_products()
        .service_code("AmazonEC2")
        .filters(term("instanceType", instance_type)?)
        .filters(term("location", LOCATION)?)
        .filters(term("operatingSystem", "Linux")?)
        .filters(term("tenancy", "Shared")?)
        .filters(term("preInstalledSw", "NA")?)
        .filters(term("capacitystatus", "Used")?)
        .max_results(10)
        .send()
        .await
        .map_err(|e| format!("GetProducts: {}", describe(&e)))?;
    Ok(out
        .price_list()
        .iter()
        .find_map(|item| parse_on_demand_hourly(item))
        .map(|(usd, as_of)| HourlyPrice {
            usd,
            source: "live",
            as_of,
        }))
}

/// The on-demand USD price per hour and its effective date from one Price
/// List product document (a JSON string), if it has one above zero.
pub fn parse_on_demand_hourly(item: &str) -> Option<(f64, String)> {
    let doc: Value = serde_json::from_str(item).ok()?;
    let on_demand = doc.get("terms")?.get("OnDemand")?.as_object()?;
    for offer in on_demand.values() {
        let as_of = offer
            .get("effectiveDate")
            .and_then(Value::as_str)
            .map(|d| d.chars().take(10).collect::<String>())
            .unwrap_or_default();
        let Some(dims) = offer.get("priceDimensions").and_then(Value::as_object) else {
            continue;
        };
        for dim in dims.values() {
            if dim.get("unit").and_then(Value::as_str) != Some("Hrs") {
                continue;
            }
            let usd = dim
                .get("pricePerUnit")
                .and_then(|p| p.get("USD"))
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<f64>().ok());
            if let Some(usd) = usd.filter(|u| *u > 0.0) {
                return Some((usd, as_of));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    //! moto has no Price List API: these tests replay a real GetProducts
    //! response shape through the real SDK client (aws-smithy-http-client's
    //! StaticReplayClient) and check the request we send and what we parse.
    use super::*;
    use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
    use aws_smithy_types::body::SdkBody;

    const PRODUCT: &str = r#"{"product":{"productFamily":"Compute Instance","attributes":{"instanceType":"m5.large","location":"US East (N. Virginia)","operatingSystem":"Linux"},"sku":"ABC"},"serviceCode":"AmazonEC2","terms":{"OnDemand":{"ABC.JRTCKXETXF":{"priceDimensions":{"ABC.JRTCKXETXF.6YS6EN2CT7":{"unit":"Hrs","endRange":"Inf","description":"$0.096 per On Demand Linux m5.large Instance Hour","appliesTo":[],"rateCode":"ABC.JRTCKXETXF.6YS6EN2CT7","beginRange":"0","pricePerUnit":{"USD":"0.0960000000"}}},"sku":"ABC","effectiveDate":"2026-11-01T00:00:00Z","offerTermCode":"JRTCKXETXF","termAttributes":{}}}},"version":"20261101","publicationDate":"2026-11-01T00:00:00Z"}"#;

    fn client(replay: StaticReplayClient) -> aws_sdk_pricing::Client {
        let conf = aws_sdk_pricing::Config::builder()
            .behavior_version(aws_sdk_pricing::config::BehaviorVersion::latest())
            .region(aws_sdk_pricing::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_pricing::config::Credentials::for_tests())
            .http_client(replay)
            .build();
        aws_sdk_pricing::Client::from_conf(conf)
    }

    #[tokio::test]
    async fn get_products_response_yields_the_hourly_price_and_date() {
        let body = serde_json::json!({"FormatVersion": "aws_v1", "PriceList": [PRODUCT]});
        let replay = StaticReplayClient::new(vec![ReplayEvent::new(
            http::Request::builder()
                .uri("https://api.pricing.us-east-1.amazonaws.com/")
                .body(SdkBody::empty())
                .unwrap(),
            http::Response::builder()
                .status(200)
                .body(SdkBody::from(body.to_string()))
                .unwrap(),
        )]);
        let price = fetch_ec2(&client(replay.clone()), "m5.large")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(price.usd, 0.096);
        assert_eq!(price.as_of, "2026-11-01");
        assert_eq!(price.source, "live");
        let sent = replay.actual_requests().next().unwrap();
        let sent_body = std::str::from_utf8(sent.body().bytes().unwrap()).unwrap();
        assert!(
            sent_body.contains("\"ServiceCode\":\"AmazonEC2\""),
            "{sent_body}"
        );
        assert!(sent_body.contains("m5.large"), "{sent_body}");
    }

    #[tokio::test]
    async fn access_denied_is_an_error_the_caller_falls_back_on() {
        let replay = StaticReplayClient::new(vec![ReplayEvent::new(
            http::Request::builder()
                .uri("https://api.pricing.us-east-1.amazonaws.com/")
                .body(SdkBody::empty())
                .unwrap(),
            http::Response::builder()
                .status(400)
                .header("x-amzn-query-error", "AccessDeniedException;Sender")
                .body(SdkBody::from(
                    r#"{"__type":"AccessDeniedException","message":"not allowed"}"#,
                ))
                .unwrap(),
        )]);
        let err = fetch_ec2(&client(replay), "m5.large").await.unwrap_err();
        assert!(err.contains("AccessDenied"), "{err}");
    }

    #[test]
    fn products_without_an_hourly_price_are_skipped() {
        assert_eq!(parse_on_demand_hourly("{}"), None);
        assert_eq!(parse_on_demand_hourly("not json"), None);
        assert_eq!(
            parse_on_demand_hourly(PRODUCT),
            Some((0.096, "2026-11-01".to_string()))
        );
    }
}

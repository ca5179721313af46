//! Reaching AWS: one shared SDK configuration from the standard credential
//! chain (plus `--aws-profile`, `--aws-region`, `--aws-endpoint-url`), and a
//! client per service and region built from it.
//!
//! Design choice: the configuration is loaded lazily, on the first cost tool
//! call, and kept. Loading resolves profiles and may reach SSO or IMDS, which
//! must not delay the server's start (clients give it ~60 s to initialise),
//! and a server without AWS credentials must still serve every other toolset.
//! Credentials are resolved once up front per call so that "no credentials"
//! is one clear error instead of one error per region and check.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use tokio::sync::OnceCell;

use super::CostError;
use super::settings::AwsSettings;

/// The region used when neither the flag, the environment nor the profile
/// names one; Cost Explorer and the Price List API live there too.
pub const FALLBACK_REGION: &str = "us-east-1";

/// Lazily loaded AWS configuration shared by every cost tool call.
#[derive(Debug)]
pub struct Aws {
    settings: AwsSettings,
    config: OnceCell<SdkConfig>,
}

impl Aws {
    /// Remembers the settings; nothing is loaded yet.
    pub fn new(settings: AwsSettings) -> Self {
        Aws {
            settings,
            config: OnceCell::new(),
        }
    }

    /// The settings this was built with.
    pub fn settings(&self) -> &AwsSettings {
        &self.settings
    }

    /// The SDK configuration, loading it on first use.
    pub async fn config(&self) -> &SdkConfig {
        self.config
            .get_or_init(|| async {
                let mut loader = aws_config::defaults(BehaviorVersion::latest());
                if let Some(profile) = &self.settings.profile {
                    loader = loader.profile_name(profile);
                }
                if let Some(region) = &self.settings.region {
                    loader = loader.region(Region::new(region.clone()));
                }
                if let Some(url) = &self.settings.endpoint_url {
                    loader = loader.endpoint_url(url);
                }
                loader.load().await
            })
            .await
    }

    /// Loads the configuration and checks that credentials can be found:
    /// returns a connected [`Session`] or the one clear missing-credentials
    /// error.
    pub async fn session(&self) -> Result<Session, CostError> {
        use aws_credential_types::provider::ProvideCredentials;
        let config = self.config().await.clone();
        let Some(provider) = config.credentials_provider() else {
            return Err(CostError::NoCredentials(
                "no credentials provider is configured".into(),
            ));
        };
        provider.provide_credentials().await.map_err(|e| {
            let chain = error_chain(&e);
            tracing::debug!("credential chain: {chain}");
            CostError::NoCredentials(chain)
        })?;
        let home_region = config
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| FALLBACK_REGION.to_string());
        Ok(Session {
            config,
            home_region,
            path_style: self.settings.endpoint_url.is_some(),
        })
    }
}

/// A loaded configuration with credentials: builds clients per region.
#[derive(Debug, Clone)]
pub struct Session {
    config: SdkConfig,
    /// Region for global calls and reports that name no regions.
    pub home_region: String,
    path_style: bool,
}

impl Session {
    /// EC2 in `region`.
    pub fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        let conf = aws_sdk_ec2::config::Builder::from(&self.config)
            .region(Region::new(region.to_string()))
            .build();
        aws_sdk_ec2::Client::from_conf(conf)
    }

    /// RDS in `region`.
    pub fn rds(&self, region: &str) -> aws_sdk_rds::Client {
        let conf = aws_sdk_rds::config::Builder::from(&self.config)
            .region(Region::new(region.to_string()))
            .build();
        aws_sdk_rds::Client::from_conf(conf)
    }

    /// CloudWatch in `region`.
    pub fn cloudwatch(&self, region: &str) -> aws_sdk_cloudwatch::Client {
        let conf = aws_sdk_cloudwatch::config::Builder::from(&self.config)
            .region(Region::new(region.to_string()))
            .build();
        aws_sdk_cloudwatch::Client::from_conf(conf)
    }

    /// CloudWatch Logs in `region`.
    pub fn logs(&self, region: &str) -> aws_sdk_cloudwatchlogs::Client {
        let conf = aws_sdk_cloudwatchlogs::config::Builder::from(&self.config)
            .region(Region::new(region.to_string()))
            .build();
        aws_sdk_cloudwatchlogs::Client::from_conf(conf)
    }

    /// ELBv2 in `region`.
    pub fn elbv2(&self, region: &str) -> aws_sdk_elasticloadbalancingv2::Client {
        let conf = aws_sdk_elasticloadbalancingv2::config::Builder::from(&self.config)
            .region(Region::new(region.to_string()))
            .build();
        aws_sdk_elasticloadbalancingv2::Client::from_conf(conf)
    }

    /// S3 addressed through `region` (path-style against an emulator).
    pub fn s3(&self, region: &str) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.config)
            .region(Region::new(region.to_string()))
            .force_path_style(self.path_style)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// STS in the home region (for the account id).
    pub fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.config)
    }

    /// Cost Explorer (a global service served from us-east-1).
    pub fn cost_explorer(&self) -> aws_sdk_costexplorer::Client {
        let conf = aws_sdk_costexplorer::config::Builder::from(&self.config)
            .region(Region::new(FALLBACK_REGION))
            .build();
        aws_sdk_costexplorer::Client::from_conf(conf)
    }

    /// The Price List API (served from us-east-1).
    pub fn pricing(&self) -> aws_sdk_pricing::Client {
        let conf = aws_sdk_pricing::config::Builder::from(&self.config)
            .region(Region::new(FALLBACK_REGION))
            .build();
        aws_sdk_pricing::Client::from_conf(conf)
    }

    /// The account the credentials belong to.
    pub async fn account_id(&self) -> Result<String, String> {
        let out = self
            .sts()
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| describe(&e))?;
        out.account
            .ok_or_else(|| "GetCallerIdentity returned no account".to_string())
    }
}

/// A one-line description of an SDK error: the AWS error code and message
/// when the service answered with one, the HTTP status when it answered
/// without (an emulator's 500, a proxy's page), else the cause chain
/// (connection refused, timeout, ...). Never the raw response.
pub fn describe<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if let (Some(code), message) = (err.code(), err.message()) {
        return match message {
            Some(m) => format!("{code}: {m}"),
            None => code.to_string(),
        };
    }
    match err {
        SdkError::ServiceError(service) => format!(
            "HTTP {} without an AWS error code (the endpoint may not serve this API in this region)",
            service.raw().status().as_u16()
        ),
        SdkError::TimeoutError(_) => "the request timed out".to_string(),
        other => error_chain(other),
    }
}

/// An error and its sources' messages, joined by ": " (repeats skipped).
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

//! AWS collectors through the real `aws-sdk-*` clients: Bedrock application inference
//! profiles (`profiles`), CloudWatch `AWS/Bedrock` usage (`cloudwatch`) and Cost Explorer
//! spend (`cost_explorer`).
//!
//! Credentials, endpoints and retries come from the standard AWS configuration chain
//! (profile, environment, SSO, instance or task role; `AWS_ENDPOINT_URL` and
//! `AWS_ENDPOINT_URL_<SERVICE>`); spendlens only sets the region and tunes the retry and
//! timeout policy: throttling and 5xx are retried with jittered exponential backoff by the
//! SDK's standard retry mode, bounded in attempts and in time.

pub mod cloudwatch;
pub mod cost_explorer;
pub mod profiles;

use super::{default_window, Check, CollectError, Collector, DayRange, Run};
use crate::config::AwsConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_bedrock::error::{DisplayErrorContext, ProvideErrorMetadata};
use std::time::Duration;

/// The minimal IAM policy document for the AWS collectors: every action one of them needs.
pub fn policy() -> String {
    let every_source = AwsConfig {
        regions: vec!["us-east-1".into()],
        profile: None,
        max_attempts: 1,
        profiles: Default::default(),
        cloudwatch: Default::default(),
        cost_explorer: Default::default(),
    };
    let mut actions: Vec<&str> = Vec::new();
    for collector in collectors(&every_source) {
        for action in collector.permissions() {
            if !actions.contains(action) {
                actions.push(action);
            }
        }
    }
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "SpendlensReadOnly",
            "Effect": "Allow",
            "Action": actions,
            "Resource": "*"
        }]
    });
    serde_json::to_string_pretty(&policy).expect("policy serialises")
}

/// SDK configuration for one region: the standard chain plus spendlens' retry and timeouts.
pub(crate) async fn sdk_config(cfg: &AwsConfig, region: &str) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(cfg.max_attempts)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(20)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(30))
                .operation_timeout(Duration::from_secs(120))
                .build(),
        );
    if let Some(p) = &cfg.profile {
        loader = loader.profile_name(p);
    }
    loader.load().await
}

/// Map an SDK error to a collector error: access denied names the IAM action.
pub(crate) fn sdk_error<E>(
    service: &'static str,
    operation: &'static str,
    action: &'static str,
    err: &E,
) -> CollectError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = DisplayErrorContext(err).to_string();
    match err.code() {
        Some(
            "AccessDeniedException"
            | "AccessDenied"
            | "UnauthorizedOperation"
            | "UnauthorizedException"
            | "AuthorizationError",
        ) => CollectError::AccessDenied {
            service,
            action,
            message: err.message().unwrap_or("access denied").to_string(),
        },
        _ => CollectError::Api {
            service,
            operation,
            message,
        },
    }
}

/// Turn a collector call's result into a doctor check line.
pub(crate) fn check<T>(
    action: &'static str,
    scope: String,
    result: Result<T, CollectError>,
) -> Check {
    Check {
        action,
        scope,
        problem: result.err().map(|e| match e {
            CollectError::AccessDenied { message, .. } => format!("denied: {message}"),
            other => other.to_string(),
        }),
        note: None,
    }
}

/// The AWS collectors `cfg` enables: per region its inference profiles, then CloudWatch
/// (which reads them); then Cost Explorer (one global API).
pub(crate) fn collectors(cfg: &AwsConfig) -> Vec<Box<dyn Collector + '_>> {
    let mut out: Vec<Box<dyn Collector + '_>> = Vec::new();
    for region in &cfg.regions {
        if cfg.profiles.enabled {
            out.push(Box::new(profiles::InferenceProfiles { cfg, region }));
        }
        if cfg.cloudwatch.enabled {
            out.push(Box::new(cloudwatch::BedrockMetrics { cfg, region }));
        }
    }
    if cfg.cost_explorer.enabled {
        out.push(Box::new(cost_explorer::CostExplorer { cfg }));
    }
    out
}

/// The window an AWS collector fetches when the run names none: Cost Explorer's lookback.
fn window_of(cfg: &AwsConfig, run: &Run) -> DayRange {
    run.window
        .unwrap_or_else(|| default_window(run.today, cfg.cost_explorer.lookback_days))
}

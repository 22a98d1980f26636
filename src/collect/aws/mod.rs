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

use super::{Check, CollectError, Collector, DayRange, Found, Outcome, Pending, Run};
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
            out.push(Box::new(InRegion::<profiles::InferenceProfiles>::new(
                cfg, region,
            )));
        }
        if cfg.cloudwatch.enabled {
            out.push(Box::new(InRegion::<cloudwatch::BedrockMetrics>::new(
                cfg, region,
            )));
        }
    }
    if cfg.cost_explorer.enabled {
        out.push(Box::new(cost_explorer::CostExplorer { cfg }));
    }
    out
}

/// One region of `[aws]`: what a regional collector (inference profiles, CloudWatch) reads.
#[derive(Clone, Copy)]
pub(crate) struct Regional<'c> {
    pub cfg: &'c AwsConfig,
    pub region: &'c str,
}

impl Regional<'_> {
    /// The SDK configuration of this region.
    async fn sdk(&self) -> SdkConfig {
        sdk_config(self.cfg, self.region).await
    }
}

/// What a source read per AWS region provides (its permissions, checks and fetch);
/// [`InRegion`] makes one region of it a [`Collector`].
pub(crate) trait RegionalSource {
    /// The IAM actions it needs.
    const PERMISSIONS: &'static [&'static str];
    /// The source its rows of `region` are stored under.
    fn source(region: &str) -> String;
    /// One check per permission, in `region`.
    async fn check(sdk: &SdkConfig, region: &str) -> Vec<Check>;
    /// Fetch the run's window in `at.region` and commit it (see [`Collector::collect`]).
    async fn fetch_and_store(
        at: Regional<'_>,
        sdk: SdkConfig,
        run: &Run<'_>,
        found: &mut Found<'_>,
    ) -> Result<String, CollectError>;
}

/// One region of a [`RegionalSource`], as a collector.
pub(crate) struct InRegion<'c, S> {
    at: Regional<'c>,
    kind: std::marker::PhantomData<S>,
}

impl<'c, S> InRegion<'c, S> {
    fn new(cfg: &'c AwsConfig, region: &'c str) -> Self {
        InRegion {
            at: Regional { cfg, region },
            kind: std::marker::PhantomData,
        }
    }
}

impl<S: RegionalSource> Collector for InRegion<'_, S> {
    fn source(&self) -> String {
        S::source(self.at.region)
    }

    fn permissions(&self) -> &'static [&'static str] {
        S::PERMISSIONS
    }

    fn check(&self, _today: chrono::NaiveDate) -> Pending<'_, Vec<Check>> {
        Box::pin(async move { S::check(&self.at.sdk().await, self.at.region).await })
    }

    fn collect<'a>(&'a self, run: &'a Run<'a>, found: &'a mut Found<'_>) -> Outcome<'a> {
        Box::pin(async move { S::fetch_and_store(self.at, self.at.sdk().await, run, found).await })
    }
}

/// The window an AWS collector fetches when the run names none: Cost Explorer's lookback.
fn window_of(cfg: &AwsConfig, run: &Run) -> DayRange {
    run.window_or(cfg.cost_explorer.lookback_days)
}

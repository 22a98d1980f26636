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

use super::{Check, CollectError};
use crate::config::AwsConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_bedrock::error::{DisplayErrorContext, ProvideErrorMetadata};
use std::time::Duration;

/// The IAM actions the AWS collectors need, for `spendlens doctor --policy`.
pub const ACTIONS: &[&str] = &[
    "bedrock:ListInferenceProfiles",
    "bedrock:ListTagsForResource",
    "cloudwatch:GetMetricData",
    "cloudwatch:ListMetrics",
    "ce:GetCostAndUsage",
];

/// The minimal IAM policy document for the AWS collectors.
pub fn policy() -> String {
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "SpendlensReadOnly",
            "Effect": "Allow",
            "Action": ACTIONS,
            "Resource": "*"
        }]
    });
    serde_json::to_string_pretty(&policy).expect("policy serialises")
}

/// SDK configuration for one region: the standard chain plus spendlens' retry and timeouts.
pub async fn sdk_config(cfg: &AwsConfig, region: &str) -> SdkConfig {
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

/// Run every AWS permission check.
pub async fn doctor(cfg: &AwsConfig) -> Vec<Check> {
    let mut checks = Vec::new();
    for region in &cfg.regions {
        let sdk = sdk_config(cfg, region).await;
        if cfg.profiles.enabled {
            checks.extend(profiles::check(&sdk, region).await);
        }
        if cfg.cloudwatch.enabled {
            checks.extend(cloudwatch::check(&sdk, region).await);
        }
    }
    if cfg.cost_explorer.enabled {
        // Cost Explorer is a global API served from us-east-1.
        let sdk = sdk_config(cfg, "us-east-1").await;
        checks.push(cost_explorer::check(&sdk).await);
    }
    checks
}

/// What one source of a collection run did.
#[derive(Debug)]
pub struct SourceRun {
    pub source: String,
    pub result: Result<String, CollectError>,
}

/// Days from `lookback` days ago to yesterday.
pub fn default_window(today: chrono::NaiveDate, lookback: u32) -> super::Window {
    let end = today.pred_opt().unwrap_or(today);
    super::Window {
        start: end - chrono::Duration::days(i64::from(lookback.max(1)) - 1),
        end,
    }
}

/// Collect every enabled AWS source and write each one's result in its own atomic store
/// commit: a source that fails leaves its stored days untouched and does not stop the others.
/// Days from `restate_from` on are fetched again even when stored as final (bills restate
/// recent days).
pub async fn collect(
    cfg: &AwsConfig,
    store: &crate::store::Store,
    lock: &crate::store::StoreLock,
    window: Option<super::Window>,
    today: chrono::NaiveDate,
    restate_from: Option<chrono::NaiveDate>,
    deadline: std::time::Duration,
) -> Vec<SourceRun> {
    use crate::store::Table;
    let window = window.unwrap_or_else(|| default_window(today, cfg.cost_explorer.lookback_days));
    let mut runs = Vec::new();
    for region in &cfg.regions {
        let sdk = sdk_config(cfg, region).await;
        let mut known = Vec::new();
        if cfg.profiles.enabled {
            let result = super::within(deadline, async {
                let found = profiles::list(&sdk, region).await?;
                let frame = profiles::frame(&found, today, region)?;
                store.replace(
                    lock,
                    Table::Profiles,
                    &frame,
                    &[(profiles::source(region), today)],
                )?;
                known = found;
                Ok(format!("{} application inference profile(s)", known.len()))
            })
            .await;
            runs.push(SourceRun {
                source: profiles::source(region),
                result,
            });
        }
        if cfg.cloudwatch.enabled {
            let source = cloudwatch::source(region);
            let result = super::within(deadline, async {
                // Metrics settle within a day; older days are final.
                let settled = today - chrono::Duration::days(2);
                let have = super::skippable(store.final_days(Table::Usage, &source)?, restate_from);
                let wanted: Vec<chrono::NaiveDate> = window.days().filter(|d| !have.contains(d)).collect();
                let (Some(&start), Some(&end)) = (wanted.first(), wanted.last()) else {
                    return Ok("nothing to fetch: every day is final in the store".to_string());
                };
                let usage = cloudwatch::collect(&sdk, region, super::Window { start, end }, &known).await?;
                let clear: Vec<(String, chrono::NaiveDate)> = wanted.iter().map(|d| (source.clone(), *d)).collect();
                let finals = wanted.iter().filter(|d| **d <= settled).map(|d| (source.clone(), *d)).collect();
                store.replace_marking(lock, Table::Usage, &usage.frame, &clear, &finals)?;
                Ok(format!(
                    "{} usage row(s) for {} model id(s) over {} day(s); {} GetMetricData request(s)",
                    usage.frame.height(),
                    usage.model_ids,
                    wanted.len(),
                    usage.requests
                ))
            })
            .await;
            runs.push(SourceRun { source, result });
        }
    }
    if cfg.cost_explorer.enabled {
        let ce = &cfg.cost_explorer;
        let result = super::within(deadline, async {
            let sdk = sdk_config(cfg, "us-east-1").await;
            let have = super::skippable(store.final_days(Table::Cost, cost_explorer::SOURCE)?, restate_from);
            let spend = cost_explorer::collect(&sdk, window, &ce.services, &ce.tag_keys, &have).await?;
            let clear: Vec<(String, chrono::NaiveDate)> =
                spend.days.iter().map(|d| (cost_explorer::SOURCE.to_string(), *d)).collect();
            let finals = spend
                .final_days
                .iter()
                .map(|d| (cost_explorer::SOURCE.to_string(), *d))
                .collect();
            store.replace_marking(lock, Table::Cost, &spend.frame, &clear, &finals)?;
            Ok(format!(
                "{} cost row(s) over {} day(s) ({} final, {} skipped as already final); {} paid request(s) (${:.2})",
                spend.frame.height(),
                spend.days.len(),
                spend.final_days.len(),
                spend.skipped_final,
                spend.paid_requests,
                spend.paid_requests as f64 * 0.01
            ))
        })
        .await;
        runs.push(SourceRun {
            source: cost_explorer::SOURCE.to_string(),
            result,
        });
    }
    runs
}

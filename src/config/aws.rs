//! `[aws]`: Bedrock inference profiles, CloudWatch usage and Cost Explorer spend.

use super::Invalid;
use serde::Deserialize;

/// `[aws]`: Bedrock inference profiles, CloudWatch usage and Cost Explorer spend.
/// Credentials and endpoints come only from the standard AWS chain (profile, environment,
/// SSO, instance or task role; `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// Regions whose Bedrock profiles and CloudWatch metrics are collected.
    pub regions: Vec<String>,
    /// Named profile from ~/.aws/config (default: the chain's choice, e.g. AWS_PROFILE).
    pub profile: Option<String>,
    /// Attempts per request, throttling and 5xx included (the SDK's standard retry mode).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[serde(default)]
    pub profiles: CollectorToggle,
    #[serde(default)]
    pub cloudwatch: CollectorToggle,
    #[serde(default)]
    pub cost_explorer: CostExplorerConfig,
}

fn default_max_attempts() -> u32 {
    5
}

/// `[aws.profiles]` / `[aws.cloudwatch]`: on unless `enabled = false`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CollectorToggle {
    pub enabled: bool,
}

impl Default for CollectorToggle {
    fn default() -> Self {
        CollectorToggle { enabled: true }
    }
}

/// `[aws.cost_explorer]`. Every GetCostAndUsage request costs $0.01.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CostExplorerConfig {
    pub enabled: bool,
    /// Cost allocation tag keys to split spend by (each costs one more request per run).
    pub tag_keys: Vec<String>,
    /// Exact Cost Explorer SERVICE values to keep. Unset (the default), each run finds them
    /// itself: every SERVICE value of the window matching "Bedrock" (`GetDimensionValues`),
    /// so Anthropic, Meta, Mistral and other vendors' models, billed under their own
    /// "… (Amazon Bedrock Edition)" names, are collected with Amazon Bedrock's own.
    pub services: Option<Vec<String>>,
    /// How many days back a run looks for days that are not final yet.
    pub lookback_days: u32,
}

impl Default for CostExplorerConfig {
    fn default() -> Self {
        CostExplorerConfig {
            enabled: true,
            tag_keys: vec!["team".into(), "feature".into()],
            services: None,
            lookback_days: 14,
        }
    }
}

impl AwsConfig {
    /// Regions are region names, attempts in 1..=10, Cost Explorer asks for at most 5 tag
    /// keys and, when `services` is given, at least one.
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        if self.regions.is_empty() {
            return Err(Invalid::new(
                "[aws] `regions` is empty",
                "list the regions you call Bedrock in, e.g. regions = [\"us-east-1\"]",
            ));
        }
        for r in &self.regions {
            if !r
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                || r.is_empty()
            {
                return Err(Invalid::new(
                    format!("[aws] region `{r}` is not a region name"),
                    "regions look like `us-east-1`",
                ));
            }
        }
        if !(1..=10).contains(&self.max_attempts) {
            return Err(Invalid::new(
                format!(
                    "[aws] `max_attempts` = {} is out of range",
                    self.max_attempts
                ),
                "use 1 to 10 attempts",
            ));
        }
        let ce = &self.cost_explorer;
        if ce.tag_keys.len() > 5 {
            return Err(Invalid::new(
                "[aws.cost_explorer] lists more than 5 `tag_keys`",
                "each tag key costs a request per page and run; keep the ones attribution uses",
            ));
        }
        if ce.services.as_ref().is_some_and(Vec::is_empty) {
            return Err(Invalid::new(
                "[aws.cost_explorer] `services` is an empty list",
                "leave `services` out to collect every service matching \"Bedrock\", or list them: services = [\"Amazon Bedrock\", \"Claude 3.5 Sonnet (Amazon Bedrock Edition)\"]",
            ));
        }
        if !(1..=365).contains(&ce.lookback_days) {
            return Err(Invalid::new(
                format!(
                    "[aws.cost_explorer] `lookback_days` = {} is out of range",
                    ce.lookback_days
                ),
                "use 1 to 365 days",
            ));
        }
        Ok(())
    }
}

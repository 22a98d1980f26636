//! `spendlens.toml`: typed, validated once, unknown keys rejected with their name.
//!
//! ```toml
//! [ingest]
//! services = ["bedrock", "vertex ai", "openai"]   # or ["all"]
//!
//! [attribution.tags]                # tag keys per dimension, in priority order
//! team = ["team", "Team", "cost-center"]
//! feature = ["feature", "app"]
//! environment = ["env"]             # any extra dimension
//!
//! [attribution.aliases.team]        # normalised value -> canonical value
//! search-eng = "search"
//!
//! [[attribution.rules]]             # fallbacks when no tag gives a team, first match wins
//! name = "platform-account"
//! match = { sub_account_id = "111122223333" }
//! set = { team = "platform", feature = "shared" }
//!
//! [[attribution.splits]]            # shared costs split by a driver
//! name = "bedrock-provisioned"
//! match = { provider_name = "aws", usage_type = "provisioned" }
//! driver = "usage"                  # or "spend"
//! driver_match = { provider_name = "aws" }
//! ```

use crate::normalise::ServiceFilter;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Columns a rule's `match` may name: the CostRecord string columns plus `resource_group`
/// (derived from an Azure resource id).
pub const MATCHABLE_COLUMNS: &[&str] = &[
    "provider_name",
    "service_name",
    "sub_account_id",
    "region_id",
    "resource_id",
    "resource_group",
    "model",
    "usage_type",
    "charge_category",
    "pricing_category",
    "pricing_detail",
    "consumed_unit",
    "billing_currency",
    "source",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config `{path}`: {cause}\nhint: create it (the README has the configuration reference) or point --config / SPENDLENS_CONFIG at an existing file")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("invalid config `{path}`: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid config `{path}`: {message}\nhint: {hint}")]
    Invalid {
        path: PathBuf,
        message: String,
        hint: String,
    },
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub attribution: AttributionConfig,
    #[serde(default)]
    pub anomalies: AnomalyConfig,
    /// AWS collectors; absent means no AWS collection.
    pub aws: Option<AwsConfig>,
    /// GCP: Vertex AI / Gemini spend from the Cloud Billing export in BigQuery.
    pub gcp: Option<GcpConfig>,
    /// Azure: Azure OpenAI spend from the Cost Management Query API.
    pub azure: Option<AzureConfig>,
    /// Overrides of (or additions to) the shipped list-price catalog, per model id.
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
    #[serde(default)]
    pub advise: AdviseConfig,
    #[serde(default)]
    pub nightly: NightlyConfig,
    #[serde(default)]
    pub collect: CollectConfig,
    /// Things the user should know about the file itself (e.g. a readable secret).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// `[collect]`: limits every collector runs under.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectConfig {
    /// A source still running after this many seconds is stopped and fails (its stored days
    /// stay as they were): nothing hangs a nightly run.
    #[serde(default = "default_deadline")]
    pub deadline_secs: u64,
}

fn default_deadline() -> u64 {
    900
}

impl Default for CollectConfig {
    fn default() -> Self {
        CollectConfig {
            deadline_secs: default_deadline(),
        }
    }
}

/// `[nightly]`: what `spendlens nightly` collects and reports.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NightlyConfig {
    /// Export files or directories (every .csv / .parquet / .json / .jsonl inside) ingested on
    /// every run; relative paths are relative to the config file.
    #[serde(default)]
    pub exports: Vec<PathBuf>,
    /// Cloud bills restate recent days: re-pull the last N days even when stored as final.
    #[serde(default = "default_restate_days")]
    pub restate_days: u32,
    /// Days the nightly report covers, ending at the last day in the store.
    #[serde(default = "default_period_days")]
    pub period_days: u32,
    /// A source whose data ends more than N days before the report's last day is stale.
    #[serde(default = "default_stale_after_days")]
    pub stale_after_days: u32,
}

fn default_restate_days() -> u32 {
    3
}
fn default_period_days() -> u32 {
    30
}
fn default_stale_after_days() -> u32 {
    2
}

impl Default for NightlyConfig {
    fn default() -> Self {
        NightlyConfig {
            exports: Vec::new(),
            restate_days: default_restate_days(),
            period_days: default_period_days(),
            stale_after_days: default_stale_after_days(),
        }
    }
}

impl Config {
    /// Whether any cloud collector ([aws], [gcp], [azure]) is configured.
    pub fn has_collectors(&self) -> bool {
        self.aws.is_some() || self.gcp.is_some() || self.azure.is_some()
    }
}

/// A list price, USD per 1M tokens: an entry of the shipped catalog (`data/prices.toml`) or
/// of `[prices."<model>"]`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    pub cache_read: Option<f64>,
    pub cache_write: Option<f64>,
    /// `top`, `mid` or `small`.
    pub tier: Option<String>,
    /// A cheaper model of the same family that may handle simple traffic.
    pub cheaper: Option<String>,
}

/// `[advise]`: thresholds of `spendlens advise` and the commitments to evaluate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdviseConfig {
    /// Flag billed unit prices this far from list (0.10 = 10%).
    #[serde(default = "default_price_tolerance")]
    pub price_tolerance: f64,
    /// Commitment size = P95 daily throughput × (1 + headroom).
    #[serde(default = "default_headroom")]
    pub headroom: f64,
    /// Tiering hints: at most this many output tokens per request (when requests are known)...
    #[serde(default = "default_tier_output")]
    pub tiering_max_output_tokens_per_request: f64,
    /// ... or at most this share of tokens being output (when they are not).
    #[serde(default = "default_tier_share")]
    pub tiering_max_output_share: f64,
    /// Only hints that save at least this much per 30 days.
    #[serde(default = "default_min_saving")]
    pub min_monthly_saving: f64,
    #[serde(default)]
    pub commitments: Vec<CommitmentConfig>,
}

fn default_price_tolerance() -> f64 {
    0.10
}
fn default_headroom() -> f64 {
    0.20
}
fn default_tier_output() -> f64 {
    400.0
}
fn default_tier_share() -> f64 {
    0.15
}
fn default_min_saving() -> f64 {
    100.0
}

impl Default for AdviseConfig {
    fn default() -> Self {
        AdviseConfig {
            price_tolerance: default_price_tolerance(),
            headroom: default_headroom(),
            tiering_max_output_tokens_per_request: default_tier_output(),
            tiering_max_output_share: default_tier_share(),
            min_monthly_saving: default_min_saving(),
            commitments: Vec::new(),
        }
    }
}

/// A commitment to evaluate: Bedrock Provisioned Throughput model units or Azure PTUs of one
/// model, at the hourly rate and throughput per unit from your quote.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CommitmentConfig {
    pub model: String,
    /// Price of one unit per hour.
    pub hourly_rate: f64,
    /// Tokens per minute one unit sustains (input + output).
    pub tokens_per_minute_per_unit: f64,
}

/// `[gcp]`: the BigQuery billing-export collector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcpConfig {
    /// The export table, `project.dataset.table` (e.g.
    /// `acme-billing.billing_export.gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9`).
    pub billing_table: String,
    /// Project that runs (and pays for) the query jobs; default: the table's project.
    pub project: Option<String>,
    /// Dataset location (e.g. `US`, `EU`), when jobs must run there.
    pub location: Option<String>,
    /// A query that would bill more bytes than this fails instead of running (BigQuery
    /// enforces it too). Default 10 GB.
    #[serde(default = "default_max_bytes")]
    pub maximum_bytes_billed: i64,
    /// Days after a usage day in which the export still adds rows for it; also when a day
    /// becomes final.
    #[serde(default = "default_late_days")]
    pub late_days: u32,
    /// Days collected when no window is given.
    #[serde(default = "default_cloud_lookback")]
    pub lookback_days: u32,
    /// Lower-case substrings of `service.description` to keep.
    #[serde(default = "default_gcp_services")]
    pub services: Vec<String>,
    /// BigQuery API root (default `https://bigquery.googleapis.com`); for tests and
    /// sovereign clouds.
    pub endpoint: Option<String>,
    /// `adc` (Application Default Credentials, the default) or `anonymous` (emulators only).
    #[serde(default = "default_gcp_credentials")]
    pub credentials: String,
}

fn default_max_bytes() -> i64 {
    10_000_000_000
}
fn default_late_days() -> u32 {
    3
}
fn default_cloud_lookback() -> u32 {
    35
}
fn default_gcp_services() -> Vec<String> {
    vec![
        "vertex ai".into(),
        "gemini".into(),
        "generative language".into(),
    ]
}
fn default_gcp_credentials() -> String {
    "adc".into()
}

/// `[azure]`: the Cost Management Query API collector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureConfig {
    /// Cost Management scope, e.g. `/subscriptions/<id>`,
    /// `/subscriptions/<id>/resourceGroups/<name>`,
    /// `/providers/Microsoft.Billing/billingAccounts/<id>`.
    pub scope: String,
    /// Tag keys to group by (the ones attribution reads).
    #[serde(default = "default_azure_tags")]
    pub tag_keys: Vec<String>,
    /// Fill tags a resource lacks from its resource group's tags (one Azure Resource
    /// Manager lookup per run).
    #[serde(default)]
    pub inherit_resource_group_tags: bool,
    /// `ServiceName` values to keep (Azure OpenAI is billed as `Foundry Models`, formerly
    /// `Cognitive Services`; meters are then filtered to OpenAI models).
    #[serde(default = "default_azure_services")]
    pub services: Vec<String>,
    /// Days collected when no window is given.
    #[serde(default = "default_cloud_lookback")]
    pub lookback_days: u32,
    /// Days after which a day's cost is final (Azure restates recent days).
    #[serde(default = "default_late_days")]
    pub late_days: u32,
    /// Azure Resource Manager root (default `https://management.azure.com`); for tests and
    /// sovereign clouds (`https://management.chinacloudapi.cn`, …).
    pub endpoint: Option<String>,
    /// Retries of a throttled (429) or failed (5xx) request, honouring `retry-after`.
    #[serde(default = "default_azure_attempts")]
    pub max_attempts: u32,
    /// Seconds one request may take before it is abandoned (and retried).
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
}

fn default_request_timeout() -> u64 {
    60
}

fn default_azure_tags() -> Vec<String> {
    vec!["team".into(), "feature".into()]
}
fn default_azure_services() -> Vec<String> {
    vec![
        "Foundry Models".into(),
        "Cognitive Services".into(),
        "Azure OpenAI".into(),
    ]
}
fn default_azure_attempts() -> u32 {
    5
}

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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorToggle {
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl Default for CollectorToggle {
    fn default() -> Self {
        CollectorToggle { enabled: true }
    }
}

fn yes() -> bool {
    true
}

/// `[aws.cost_explorer]`. Every GetCostAndUsage request costs $0.01.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostExplorerConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Cost allocation tag keys to split spend by (each costs one more request per run).
    #[serde(default = "default_ce_tags")]
    pub tag_keys: Vec<String>,
    /// Exact Cost Explorer SERVICE values to keep. Bedrock bills Anthropic and other vendors'
    /// models under their own "… (Amazon Bedrock Edition)" names: list them here.
    #[serde(default = "default_ce_services")]
    pub services: Vec<String>,
    /// How many days back a run looks for days that are not final yet.
    #[serde(default = "default_lookback")]
    pub lookback_days: u32,
}

fn default_ce_tags() -> Vec<String> {
    vec!["team".into(), "feature".into()]
}

fn default_ce_services() -> Vec<String> {
    vec!["Amazon Bedrock".into()]
}

fn default_lookback() -> u32 {
    14
}

impl Default for CostExplorerConfig {
    fn default() -> Self {
        CostExplorerConfig {
            enabled: true,
            tag_keys: default_ce_tags(),
            services: default_ce_services(),
            lookback_days: default_lookback(),
        }
    }
}

/// When a day's spend is an anomaly worth an alert. A day is flagged only when its dollar
/// impact *and* its percentage change pass the floors, so a $3 -> $12 day stays quiet and a
/// $300 -> $1,200 day is loud.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnomalyConfig {
    /// Minimum |actual - expected|, in the report currency.
    #[serde(default = "default_min_impact")]
    pub min_impact: f64,
    /// Minimum |impact| / expected (0.25 = 25%).
    #[serde(default = "default_min_impact_pct")]
    pub min_impact_pct: f64,
    /// Minimum robust z-score (impact over the baseline's scaled median absolute deviation).
    #[serde(default = "default_z")]
    pub min_score: f64,
    /// A drop must remove at least this share of expected spend (0.5 = 50%).
    #[serde(default = "default_drop_pct")]
    pub drop_pct: f64,
    /// Day-over-day growth that counts toward a ramp (six of seven days at least this).
    #[serde(default = "default_ramp_growth")]
    pub ramp_daily_growth: f64,
}

fn default_min_impact() -> f64 {
    50.0
}
fn default_min_impact_pct() -> f64 {
    0.25
}
fn default_z() -> f64 {
    3.0
}
fn default_drop_pct() -> f64 {
    0.5
}
fn default_ramp_growth() -> f64 {
    0.10
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            min_impact: default_min_impact(),
            min_impact_pct: default_min_impact_pct(),
            min_score: default_z(),
            drop_pct: default_drop_pct(),
            ramp_daily_growth: default_ramp_growth(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Case-insensitive substrings of service names to keep; `["all"]` keeps everything.
    pub services: Option<Vec<String>>,
}

impl IngestConfig {
    pub fn service_filter(&self) -> ServiceFilter {
        match &self.services {
            None => ServiceFilter::default(),
            Some(list) => ServiceFilter::parse(&list.join(",")),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributionConfig {
    /// Dimension name -> tag keys in priority order. `team` and `feature` always exist.
    #[serde(default = "default_tags")]
    pub tags: BTreeMap<String, Vec<String>>,
    /// Dimension name -> (normalised value -> canonical value).
    #[serde(default)]
    pub aliases: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    pub rules: Vec<Rule>,
    #[serde(default)]
    pub splits: Vec<Split>,
}

fn default_tags() -> BTreeMap<String, Vec<String>> {
    BTreeMap::from([
        ("team".to_string(), vec!["team".to_string()]),
        ("feature".to_string(), vec!["feature".to_string()]),
    ])
}

impl Default for AttributionConfig {
    fn default() -> Self {
        AttributionConfig {
            tags: default_tags(),
            aliases: BTreeMap::new(),
            rules: Vec::new(),
            splits: Vec::new(),
        }
    }
}

impl AttributionConfig {
    /// Dimensions in output order: team, feature, then extra dimensions alphabetically.
    pub fn dimensions(&self) -> Vec<String> {
        let mut dims = vec!["team".to_string(), "feature".to_string()];
        dims.extend(
            self.tags
                .keys()
                .filter(|k| k.as_str() != "team" && k.as_str() != "feature")
                .cloned(),
        );
        dims
    }
}

/// A fallback rule: rows whose columns match `match` get the `set` dimension values.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    #[serde(rename = "match")]
    pub matches: BTreeMap<String, String>,
    pub set: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// Share by consumed quantity (tokens, hours) of each team's allocated usage.
    Usage,
    /// Share by each team's allocated effective cost.
    Spend,
}

/// A shared cost split: rows matching `match` are divided across (team, feature) pairs in
/// proportion to the driver measured on allocated rows matching `driver_match`, per day.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    pub name: String,
    #[serde(rename = "match")]
    pub matches: BTreeMap<String, String>,
    pub driver: Driver,
    #[serde(default)]
    pub driver_match: BTreeMap<String, String>,
}

impl Config {
    /// Load `path`. When `required` is false and the file does not exist, defaults are used.
    pub fn load(path: &Path, required: bool) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(Config::default())
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    cause: source,
                })
            }
        };
        let mut config = Config::parse(&text, path)?;
        config.warnings.extend(secret_warning(path, &text));
        Ok(config)
    }

    /// Parse and validate config text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |message: String, hint: &str| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
            hint: hint.to_string(),
        };
        let dims = self.attribution.dimensions();
        for (dim, keys) in &self.attribution.tags {
            if !is_identifier(dim) {
                return Err(invalid(
                    format!("dimension name `{dim}` in [attribution.tags]"),
                    "dimension names are lower-case letters, digits and `_`",
                ));
            }
            if keys.is_empty() {
                return Err(invalid(
                    format!("[attribution.tags] `{dim}` lists no tag keys"),
                    "list at least one tag key, e.g. `team = [\"team\"]`",
                ));
            }
        }
        for dim in self.attribution.aliases.keys() {
            if !dims.contains(dim) {
                return Err(invalid(
                    format!("[attribution.aliases.{dim}] names an unknown dimension `{dim}`"),
                    &format!("known dimensions: {}", dims.join(", ")),
                ));
            }
        }
        let a = &self.anomalies;
        for (key, value, ok) in [
            ("min_impact", a.min_impact, a.min_impact >= 0.0),
            ("min_impact_pct", a.min_impact_pct, a.min_impact_pct >= 0.0),
            ("min_score", a.min_score, a.min_score >= 0.0),
            (
                "drop_pct",
                a.drop_pct,
                a.drop_pct > 0.0 && a.drop_pct <= 1.0,
            ),
            (
                "ramp_daily_growth",
                a.ramp_daily_growth,
                a.ramp_daily_growth > 0.0,
            ),
        ] {
            if !ok || !value.is_finite() {
                return Err(invalid(
                    format!("[anomalies] `{key}` = {value} is out of range"),
                    "impacts and scores are >= 0; drop_pct is in (0, 1]; ramp_daily_growth is > 0",
                ));
            }
        }
        if let Some(aws) = &self.aws {
            if aws.regions.is_empty() {
                return Err(invalid(
                    "[aws] `regions` is empty".into(),
                    "list the regions you call Bedrock in, e.g. regions = [\"us-east-1\"]",
                ));
            }
            for r in &aws.regions {
                if !r
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    || r.is_empty()
                {
                    return Err(invalid(
                        format!("[aws] region `{r}` is not a region name"),
                        "regions look like `us-east-1`",
                    ));
                }
            }
            if !(1..=10).contains(&aws.max_attempts) {
                return Err(invalid(
                    format!(
                        "[aws] `max_attempts` = {} is out of range",
                        aws.max_attempts
                    ),
                    "use 1 to 10 attempts",
                ));
            }
            let ce = &aws.cost_explorer;
            if ce.tag_keys.len() > 5 {
                return Err(invalid(
                    "[aws.cost_explorer] lists more than 5 `tag_keys`".into(),
                    "each tag key costs a request per page and run; keep the ones attribution uses",
                ));
            }
            if ce.services.is_empty() || !(1..=365).contains(&ce.lookback_days) {
                return Err(invalid(
                    "[aws.cost_explorer] needs at least one service and lookback_days in 1..=365".into(),
                    "services = [\"Amazon Bedrock\", \"Claude 3.5 Sonnet (Amazon Bedrock Edition)\"]",
                ));
            }
        }
        for (model, p) in &self.prices {
            if !(p.input >= 0.0 && p.output >= 0.0 && p.input.is_finite() && p.output.is_finite()) {
                return Err(invalid(
                    format!("[prices.\"{model}\"] has a negative or non-finite price"),
                    "prices are USD per 1M tokens, e.g. input = 3.0, output = 15.0",
                ));
            }
        }
        for c in &self.advise.commitments {
            if !(c.hourly_rate > 0.0 && c.tokens_per_minute_per_unit > 0.0) {
                return Err(invalid(
                    format!("[[advise.commitments]] for `{}` needs a positive hourly_rate and tokens_per_minute_per_unit", c.model),
                    "take both from your provisioned-throughput or PTU quote",
                ));
            }
        }
        let mut names = std::collections::HashSet::new();
        let check_match = |what: &str, name: &str, m: &BTreeMap<String, String>| {
            for column in m.keys() {
                if !MATCHABLE_COLUMNS.contains(&column.as_str()) {
                    return Err(invalid(
                        format!("{what} `{name}` matches on unknown column `{column}`"),
                        &format!("columns: {}", MATCHABLE_COLUMNS.join(", ")),
                    ));
                }
            }
            Ok(())
        };
        for rule in &self.attribution.rules {
            if !names.insert(rule.name.clone()) {
                return Err(invalid(
                    format!("rule name `{}` is used twice", rule.name),
                    "rule and split names must be unique",
                ));
            }
            if rule.matches.is_empty() {
                return Err(invalid(
                    format!("rule `{}` has an empty `match`", rule.name),
                    "a rule with no condition would swallow all unallocated spend",
                ));
            }
            check_match("rule", &rule.name, &rule.matches)?;
            for dim in rule.set.keys() {
                if !dims.contains(dim) {
                    return Err(invalid(
                        format!("rule `{}` sets unknown dimension `{dim}`", rule.name),
                        &format!("known dimensions: {}", dims.join(", ")),
                    ));
                }
            }
            if rule.set.is_empty() {
                return Err(invalid(
                    format!("rule `{}` has an empty `set`", rule.name),
                    "set at least `team`",
                ));
            }
        }
        for split in &self.attribution.splits {
            if !names.insert(split.name.clone()) {
                return Err(invalid(
                    format!("split name `{}` is used twice", split.name),
                    "rule and split names must be unique",
                ));
            }
            if split.matches.is_empty() {
                return Err(invalid(
                    format!("split `{}` has an empty `match`", split.name),
                    "say which shared rows to split, e.g. `match = { usage_type = \"provisioned\" }`",
                ));
            }
            check_match("split", &split.name, &split.matches)?;
            check_match("split", &split.name, &split.driver_match)?;
        }
        if let Some(gcp) = &self.gcp {
            bigquery_table(&gcp.billing_table).map_err(|m| {
                invalid(
                    format!("[gcp] billing_table: {m}"),
                    "write it as `project.dataset.table`, e.g. `acme-billing.billing_export.gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9`",
                )
            })?;
            if !matches!(gcp.credentials.as_str(), "adc" | "anonymous") {
                return Err(invalid(
                    format!("[gcp] credentials = `{}`", gcp.credentials),
                    "use `adc` (Application Default Credentials) or `anonymous` (emulators)",
                ));
            }
            if gcp.maximum_bytes_billed <= 0 {
                return Err(invalid(
                    "[gcp] maximum_bytes_billed must be positive".into(),
                    "the default is 10000000000 (10 GB)",
                ));
            }
        }
        if let Some(azure) = &self.azure {
            azure_scope(&azure.scope).map_err(|m| {
                invalid(
                    format!("[azure] scope: {m}"),
                    "e.g. `/subscriptions/00000000-0000-0000-0000-000000000000` or `/providers/Microsoft.Billing/billingAccounts/1234567`",
                )
            })?;
            for key in &azure.tag_keys {
                if key.is_empty() || key.chars().any(|c| c.is_control() || c == '\'' || c == '"') {
                    return Err(invalid(
                        format!("[azure] tag key `{key}`"),
                        "tag keys are non-empty and hold no quotes or control characters",
                    ));
                }
            }
        }
        for (section, endpoint) in [
            ("gcp", self.gcp.as_ref().and_then(|g| g.endpoint.as_deref())),
            (
                "azure",
                self.azure.as_ref().and_then(|a| a.endpoint.as_deref()),
            ),
        ] {
            if let Some(e) = endpoint {
                if !(e.starts_with("https://")
                    || e.starts_with("http://127.0.0.1")
                    || e.starts_with("http://localhost"))
                {
                    return Err(invalid(
                        format!("[{section}] endpoint `{e}`"),
                        "use https:// (plain http only for a local emulator on 127.0.0.1 or localhost)",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A warning when the file holds something that looks like a secret (a password, token or
/// key assignment, or credentials inside a URL) and other users can read it.
pub fn secret_warning(path: &Path, text: &str) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        if mode & 0o077 == 0 {
            return None;
        }
        // The secret word is a whole part of the key (`webhook_token`, `client_secret`),
        // not a prefix of another word (`tokens_per_minute_per_unit` counts tokens).
        let assignment = regex::Regex::new(
            r"(?im)^\s*#?\s*((?:[a-z0-9_.-]*[_.-])?(?:secret|password|passwd|token|api_?key|private_?key|connection_?string)(?:[_.-][a-z0-9_.-]*)?)\s*=",
        )
        .expect("regex");
        let url = regex::Regex::new(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^@\s]+@").expect("regex");
        let what = assignment
            .captures(text)
            .map(|c| format!("`{}`", &c[1]))
            .or_else(|| {
                url.is_match(text)
                    .then(|| "a URL with a password".to_string())
            })?;
        Some(format!(
            "`{}` holds {what}, which looks like a secret, and other users can read it (mode {:o})\nhint: `chmod 600 {}`, or move the secret to the environment (e.g. SPENDLENS_POSTGRES_URL, SPENDLENS_WEBHOOK_URL, AZURE_CLIENT_SECRET); the value is not shown here",
            path.display(),
            mode & 0o777,
            path.display()
        ))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, text);
        None
    }
}

/// The parts of a BigQuery table name `project.dataset.table`, checked against BigQuery's
/// naming rules, so it can be substituted into SQL (table names cannot be parameters).
pub fn bigquery_table(name: &str) -> Result<(&str, &str, &str), String> {
    let parts: Vec<&str> = name.split('.').collect();
    let [project, dataset, table] = parts[..] else {
        return Err(format!("`{name}` is not `project.dataset.table`"));
    };
    let project_ok = (6..=30).contains(&project.len())
        && project
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && project.starts_with(|c: char| c.is_ascii_lowercase());
    let dataset_ok = !dataset.is_empty()
        && dataset.len() <= 1024
        && dataset
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    let table_ok = !table.is_empty()
        && table.len() <= 1024
        && table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (project_ok, dataset_ok, table_ok) {
        (false, _, _) => Err(format!(
            "project id `{project}` is not a valid GCP project id"
        )),
        (_, false, _) => Err(format!(
            "dataset `{dataset}` may hold only letters, digits and `_`"
        )),
        (_, _, false) => Err(format!(
            "table `{table}` may hold only letters, digits, `_` and `-`"
        )),
        _ => Ok((project, dataset, table)),
    }
}

/// Check an Azure Cost Management scope: a path of ARM segments, no query or fragment.
pub fn azure_scope(scope: &str) -> Result<(), String> {
    let known = [
        "/subscriptions/",
        "/providers/Microsoft.Billing/billingAccounts/",
        "/providers/Microsoft.Management/managementGroups/",
    ];
    if !known.iter().any(|k| scope.starts_with(k)) {
        return Err(format!(
            "`{scope}` is not a subscription, resource group, billing account or management group scope"
        ));
    }
    let ok = scope.len() <= 1024
        && scope.trim_end_matches('/').split('/').skip(1).all(|seg| {
            !seg.is_empty()
                && seg != ".."
                && seg.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '(' | ')')
                })
        });
    if ok {
        Ok(())
    } else {
        Err(format!("`{scope}` holds characters a scope cannot have"))
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !crate::schema::COST_COLUMNS.iter().any(|c| c.name == s)
        && s != "allocation"
}

/// Case-insensitive glob match where `*` matches any run of characters.
pub fn glob_match(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let v: Vec<char> = value.to_lowercase().chars().collect();
    let (mut pi, mut vi, mut star, mut mark) = (0, 0, None, 0);
    while vi < v.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == v[vi] {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("spendlens.toml"))
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        let err = parse("[attribution]\nteam_tags = [\"team\"]\n").unwrap_err();
        assert!(err.to_string().contains("team_tags"), "{err}");
        let err = parse("[ingest]\nservice = [\"all\"]\n").unwrap_err();
        assert!(err.to_string().contains("`service`"), "{err}");
    }

    #[test]
    fn rules_must_name_known_columns_and_dimensions() {
        let err = parse("[[attribution.rules]]\nname='r'\nmatch={account='1'}\nset={team='x'}\n")
            .unwrap_err();
        assert!(
            err.to_string().contains("unknown column `account`"),
            "{err}"
        );
        let err =
            parse("[[attribution.rules]]\nname='r'\nmatch={sub_account_id='1'}\nset={squad='x'}\n")
                .unwrap_err();
        assert!(
            err.to_string().contains("unknown dimension `squad`"),
            "{err}"
        );
    }

    #[test]
    fn extra_dimensions_follow_team_and_feature() {
        let c = parse("[attribution.tags]\nteam=['team']\nenvironment=['env']\n").unwrap();
        assert_eq!(
            c.attribution.dimensions(),
            ["team", "feature", "environment"]
        );
    }

    #[test]
    fn globs() {
        assert!(glob_match(
            "arn:aws:bedrock:*:application-inference-profile/*",
            "ARN:aws:bedrock:us-east-1:1:application-inference-profile/abc"
        ));
        assert!(glob_match("*", ""));
        assert!(!glob_match("1111*", "2222"));
        assert!(glob_match("exact", "EXACT"));
    }
}

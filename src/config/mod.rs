//! `spendlens.toml`: typed, validated once, unknown keys rejected with their name. One
//! module per section, each with its own defaults (through serde) and its own `validate`;
//! [`Config::parse`] runs them all and names the file in the first problem.
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

mod advise;
mod anomalies;
mod attribution;
mod aws;
mod azure;
mod budgets;
mod gcp;
mod ingest;
mod nightly;

pub use advise::{AdviseConfig, CommitmentConfig, Price};
pub use anomalies::{AnomalyConfig, PlannedWindow};
pub(crate) use attribution::glob_match;
pub use attribution::{AttributionConfig, Driver, Rule, Split};
pub use aws::{AwsConfig, CollectorToggle, CostExplorerConfig};
pub use azure::AzureConfig;
pub use budgets::{BudgetConfig, BudgetCost, BudgetPeriod};
pub(crate) use gcp::bigquery_table;
pub use gcp::GcpConfig;
pub use ingest::IngestConfig;
pub use nightly::{CollectConfig, NightlyConfig};

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config `{path}`: {cause}\nhint: create it (docs/configuration.md is the reference) or point --config / SPENDLENS_CONFIG at an existing file")]
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

/// The whole file; a section left out takes its defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub ingest: IngestConfig,
    pub attribution: AttributionConfig,
    pub anomalies: AnomalyConfig,
    /// AWS collectors; absent means no AWS collection.
    pub aws: Option<AwsConfig>,
    /// GCP: Vertex AI / Gemini spend from the Cloud Billing export in BigQuery.
    pub gcp: Option<GcpConfig>,
    /// Azure: Azure OpenAI spend from the Cost Management Query API.
    pub azure: Option<AzureConfig>,
    /// Overrides of (or additions to) the shipped list-price catalog, per model id.
    pub prices: BTreeMap<String, Price>,
    pub advise: AdviseConfig,
    pub nightly: NightlyConfig,
    pub collect: CollectConfig,
    /// `[[budgets]]`: amounts per month, quarter or year for selections of spend.
    pub budgets: Vec<BudgetConfig>,
    /// Things the user should know about the file itself (e.g. a readable secret).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl Config {
    /// Whether any cloud collector ([aws], [gcp], [azure]) is configured.
    pub(crate) fn has_collectors(&self) -> bool {
        self.aws.is_some() || self.gcp.is_some() || self.azure.is_some()
    }

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

    /// Where a TOML error is and what it says — never the offending line itself (it may be
    /// `password = "…"`); quoted values in the message are masked when the key looks secret,
    /// and credentials in URLs always.
    fn parse_message(text: &str, e: &toml::de::Error) -> String {
        let mut message = e.message().trim_end().to_string();
        let Some(span) = e.span() else {
            return crate::output::feeds::redact_url(&message);
        };
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        let source_line = text.lines().nth(line - 1).unwrap_or_default();
        let secretive = regex::Regex::new(r"(?i)(pass|secret|token|key|credential|auth|url)")
            .expect("regex")
            .is_match(source_line.split('=').next().unwrap_or_default());
        if secretive {
            message = regex::Regex::new(r#""[^"]*"|'[^']*'|`[^`]*`"#)
                .expect("regex")
                .replace_all(&message, "\"***\"")
                .to_string();
        }
        format!(
            "line {line}, column {column}: {}",
            crate::output::feeds::redact_url(&message)
        )
    }

    /// Parse and validate config text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: Self::parse_message(text, &e),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    /// Every section's own checks, in the order the file's reference lists them; the first
    /// problem is reported with its hint.
    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let checks = [
            self.attribution.validate_dimensions(),
            self.anomalies.validate(),
            self.aws.as_ref().map_or(Ok(()), AwsConfig::validate),
            advise::validate_prices(&self.prices),
            self.advise.validate(),
            self.attribution.validate_rules(),
            self.gcp.as_ref().map_or(Ok(()), GcpConfig::validate),
            self.azure.as_ref().map_or(Ok(()), AzureConfig::validate),
            budgets::validate(&self.budgets),
        ];
        match checks.into_iter().find_map(Result::err) {
            None => Ok(()),
            Some(Invalid { message, hint }) => Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message,
                hint,
            }),
        }
    }
}

/// A section's validation problem: what is wrong, and what to write instead.
#[derive(Debug)]
pub struct Invalid {
    message: String,
    hint: String,
}

impl Invalid {
    fn new(message: impl Into<String>, hint: impl Into<String>) -> Invalid {
        Invalid {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// An API root is https (plain http only for an emulator on this machine).
fn check_endpoint(section: &str, endpoint: Option<&str>) -> Result<(), Invalid> {
    let Some(e) = endpoint else { return Ok(()) };
    if e.starts_with("https://")
        || e.starts_with("http://127.0.0.1")
        || e.starts_with("http://localhost")
    {
        return Ok(());
    }
    Err(Invalid::new(
        format!("[{section}] endpoint `{e}`"),
        "use https:// (plain http only for a local emulator on 127.0.0.1 or localhost)",
    ))
}

/// Days after a usage day in which a cloud's bill still changes it (`late_days`).
fn default_late_days() -> u32 {
    3
}

/// Days a cloud collector fetches when no window is given (`lookback_days`).
fn default_cloud_lookback() -> u32 {
    35
}

/// A warning when the file holds something that looks like a secret (a password, token or
/// key assignment, or credentials inside a URL) and other users can read it.
pub(crate) fn secret_warning(path: &Path, text: &str) -> Option<String> {
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

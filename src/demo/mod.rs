//! Deterministic demo data: 90 days of LLM spend for a fictional company, written in each
//! provider's real export format, then ingested and reported like any user's files.
//!
//! - AWS: a FOCUS 1.0 export (as AWS Data Exports writes it, with `x_` columns); Bedrock via
//!   application inference profiles tagged team/feature, an untagged sandbox account, and a
//!   Provisioned Throughput commitment shared across teams (split by token usage).
//! - Azure: an MCA cost-details CSV; Azure OpenAI deployments tagged with inconsistent key
//!   casing (`team`, `Team`, `cost-center`), an untagged resource group attributed by a rule,
//!   and a PTU reservation shared across teams (split by spend).
//! - GCP: a billing export in `bq extract` JSON; Vertex AI Gemini in three projects, one
//!   labelled `Search Eng` (aliased to `search`), one unlabelled sandbox, promotional credits.
//!
//! Hidden in it: on day 72 (2026-10-14 with the default end) the search team's `rag-answer`
//! feature moves from Claude 3.5 Haiku to Claude Sonnet 4 with the same token volumes:
//! spend about 4x (3.75x) on that feature with flat traffic. And on day 30 (2026-09-02) the
//! research project's Vertex trial credit ends: its spend steps up by the credit for good.

mod aws;
mod azure;
mod gcp;

use crate::ingest::AzureView;
use aws::aws_export;
use azure::azure_export;
use gcp::gcp_export;

use crate::attribute::Attributor;
use crate::config::Config;
use crate::ingest::IngestOptions;
use crate::normalise::ServiceFilter;
use crate::output::report::{self, Report, ReportOptions};
use crate::store::Store;
use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde_json::json;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub(crate) const DAYS: i64 = 90;
/// Day index (0-based) of the hidden model switch.
pub const SPIKE_DAY: i64 = 72;
/// Day index (0-based) of the first day without the research project's trial credit
/// (2026-09-02 with the default end): its spend steps up by the credit and stays there.
pub const CREDITS_END_DAY: i64 = 30;

pub(crate) const DEMO_CONFIG: &str = r#"# spendlens demo configuration (see docs/configuration.md)
[nightly]
# `spendlens nightly` re-ingests these every run (paths relative to this file).
exports = ["exports"]

[attribution.tags]
team = ["team", "Team", "cost-center"]
feature = ["feature", "app"]

[attribution.aliases.team]
search-eng = "search"

[[attribution.rules]]
name = "legal-resource-group"
match = { resource_group = "rg-legal-*" }
set = { team = "legal", feature = "contract-review" }

[[attribution.splits]]
name = "bedrock-provisioned-throughput"
match = { provider_name = "aws", usage_type = "provisioned" }
driver = "usage"
driver_match = { provider_name = "aws" }

[[attribution.splits]]
name = "azure-ptu-reservation"
match = { provider_name = "azure", usage_type = "provisioned" }
driver = "spend"
driver_match = { provider_name = "azure" }

# Commitments for `spendlens advise` to evaluate. Rates and throughput are illustrative:
# use the figures of your own Provisioned Throughput or PTU quote.
[[advise.commitments]]
model = "amazon.nova-pro"
hourly_rate = 20.0
tokens_per_minute_per_unit = 400000

[[advise.commitments]]
model = "gpt-4o"
hourly_rate = 0.36
tokens_per_minute_per_unit = 2500

[[advise.commitments]]
model = "anthropic.claude-3-5-sonnet"
hourly_rate = 4.0
tokens_per_minute_per_unit = 40000

# Budgets for `spendlens budgets`, the reports and the nightly digest. Amounts are illustrative.
[[budgets]]
name = "llm-total"
amount = 80000
currency = "USD"
period = "month"

[[budgets]]
name = "search"
selector = { team = "search" }
amount = 25000
currency = "USD"
period = "month"
thresholds = [50, 80, 95, 100]

[[budgets]]
name = "research-fiscal-q"
selector = { team = "research" }
amount = 30000
currency = "USD"
period = "quarter"
start_month = 2                # fiscal year from February: Q3 is August to October

[[budgets]]
name = "support-claude"
selector = { team = "support", model = "anthropic.*" }
amount = 24000
currency = "USD"
period = "month"
[budgets.amounts]
"2026-11" = 30000              # a larger amount for November's launch
"#;

/// What the demo produced.
pub struct Demo {
    pub exports: Vec<PathBuf>,
    pub config_path: PathBuf,
    pub data_dir: PathBuf,
    pub report: Report,
}

/// Deterministic noise in [1 - amp, 1 + amp] for (stream, day): a hash, not a sequence, so
/// adding a stream never changes another.
fn noise(stream: &str, day: i64, amp: f64) -> f64 {
    let mut h: u64 = 0x9E37_79B9_7F4A_7C15 ^ (day as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    for b in stream.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01B3);
    }
    h ^= h >> 31;
    h = h.wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^= h >> 29;
    let unit = (h >> 11) as f64 / (1u64 << 53) as f64;
    1.0 + amp * (2.0 * unit - 1.0)
}

/// Traffic multiplier: weekday/weekend shape and a gentle upward trend.
fn traffic(day: NaiveDate, index: i64, weekend_dip: bool) -> f64 {
    let weekly = match day.weekday() {
        Weekday::Sat | Weekday::Sun if weekend_dip => 0.55,
        _ => 1.0,
    };
    weekly * (1.0 + 0.003 * index as f64)
}

/// (stream, account, account name, (model name, product code, price), tokens in, tokens out,
/// tags, inference profile ARN, weekend dip)
type BedrockFeature<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a (&'a str, &'a str, Price),
    f64,
    f64,
    Option<serde_json::Value>,
    String,
    bool,
);
/// (stream, resource group, account, meter prefix, tokens in, out, $/M in, out, tags)
type AzureDeployment<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    f64,
    f64,
    f64,
    f64,
    &'a str,
);
/// (stream, project, labels, model, tokens in, out, cached, $/M in, out, cached)
type VertexWorkload<'a> = (
    &'a str,
    &'a str,
    Vec<(&'a str, &'a str)>,
    &'a str,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
);

struct Price {
    input: f64,
    output: f64,
}

fn per_token(p_per_million: f64) -> f64 {
    p_per_million / 1_000_000.0
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn ts(d: NaiveDate) -> String {
    format!("{} 00:00:00", d.format("%Y-%m-%d"))
}

fn month_bounds(d: NaiveDate) -> (NaiveDate, NaiveDate) {
    let start = d.with_day(1).unwrap();
    let next = if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1).unwrap()
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1).unwrap()
    };
    (start, next)
}

/// Days covered by the demo report: the last 30, so top movers compare against the 30 before.
pub(crate) const REPORT_DAYS: i64 = 30;

/// Why the demo could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{what} `{path}`: {cause}")]
    Io {
        what: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("ingesting the demo exports: {0}")]
    Ingest(#[from] crate::ingest::IngestError),
    #[error(transparent)]
    Report(#[from] crate::output::report::ReportError),
}

/// An I/O error of `what` (creating, writing) on `path`.
fn io<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> DemoError + 'p {
    move |cause| DemoError::Io {
        what,
        path: path.to_path_buf(),
        cause,
    }
}

/// Write the demo exports and config under `dir`, ingest them into `dir/data`, build the
/// report over the last `REPORT_DAYS` days.
pub fn build(dir: &Path, end: NaiveDate) -> Result<Demo, DemoError> {
    let exports_dir = dir.join("exports");
    std::fs::create_dir_all(&exports_dir).map_err(io("creating", &exports_dir))?;
    let days: Vec<NaiveDate> = (0..DAYS)
        .map(|i| end - Duration::days(DAYS - 1 - i))
        .collect();
    let files = [
        ("aws_focus_1.0.csv", aws_export(&days)),
        (
            "azure_cost_details_mca_actualcost.csv",
            azure_export(&days, AzureView::Actual),
        ),
        (
            "azure_cost_details_mca_amortizedcost.csv",
            azure_export(&days, AzureView::Amortized),
        ),
        ("gcp_billing_export.jsonl", gcp_export(&days)),
    ];
    let mut exports = Vec::new();
    for (name, text) in files {
        let path = exports_dir.join(name);
        std::fs::write(&path, text).map_err(io("writing", &path))?;
        exports.push(path);
    }
    let config_path = dir.join("spendlens.toml");
    std::fs::write(&config_path, DEMO_CONFIG).map_err(io("writing", &config_path))?;
    let config = Config::parse(DEMO_CONFIG, &config_path)?;
    let data_dir = dir.join("data");
    let store = Store::new(&data_dir);
    {
        let lock = store.lock()?;
        let outcome = crate::store::ingest_files(
            &store,
            &lock,
            &exports,
            &IngestOptions {
                format: None,
                services: ServiceFilter::default(),
                source: None,
                part_bytes: crate::ingest::PART_BYTES,
                azure_view: None,
                dates: crate::ingest::DateRange::standard(),
            },
        )?;
        if let Some(e) = outcome.failed.into_iter().next() {
            return Err(e.into());
        }
    }
    let report = report::build(
        &store,
        &Attributor::new(&config.attribution),
        &ReportOptions {
            anomalies: config.anomalies.clone(),
            from: Some(end - Duration::days(REPORT_DAYS - 1)),
            to: Some(end),
            currency: None,
            top: 10,
            stale_after_days: config.nightly.stale_after_days,
            daily_series: crate::output::report::DAILY_SERIES,
        },
    )?;
    Ok(Demo {
        exports,
        config_path,
        data_dir,
        report,
    })
}

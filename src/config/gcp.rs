//! `[gcp]`: the BigQuery billing-export collector, and the table-name check that lets its
//! name go into SQL. Keys other than `billing_table` default (per key: the section has a
//! required key, so it cannot default as a whole).

use super::{check_endpoint, Invalid};
use serde::Deserialize;

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
    #[serde(default = "super::default_late_days")]
    pub late_days: u32,
    /// Days collected when no window is given.
    #[serde(default = "super::default_cloud_lookback")]
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

impl GcpConfig {
    /// A valid `project.dataset.table`, known credentials, a positive byte cap, a safe
    /// endpoint.
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        bigquery_table(&self.billing_table).map_err(|m| {
            Invalid::new(
                format!("[gcp] billing_table: {m}"),
                "write it as `project.dataset.table`, e.g. `acme-billing.billing_export.gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9`",
            )
        })?;
        if !matches!(self.credentials.as_str(), "adc" | "anonymous") {
            return Err(Invalid::new(
                format!("[gcp] credentials = `{}`", self.credentials),
                "use `adc` (Application Default Credentials) or `anonymous` (emulators)",
            ));
        }
        if self.maximum_bytes_billed <= 0 {
            return Err(Invalid::new(
                "[gcp] maximum_bytes_billed must be positive",
                "the default is 10000000000 (10 GB)",
            ));
        }
        check_endpoint("gcp", self.endpoint.as_deref())
    }
}

/// The parts of a BigQuery table name `project.dataset.table`, checked against BigQuery's
/// naming rules, so it can be substituted into SQL (table names cannot be parameters).
pub(crate) fn bigquery_table(name: &str) -> Result<(&str, &str, &str), String> {
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

//! GCP: Vertex AI / Gemini spend from the Cloud Billing export in BigQuery, through Google's
//! `google-cloud-bigquery` client (jobs.query / getQueryResults over REST: it polls an
//! unfinished job and follows `pageToken` itself).
//!
//! The SQL is `queries/vertex_daily_costs.sql`: BigQuery groups the export to daily rows and
//! reads only the partitions the window can be in. Every run first makes a dry run, logs its
//! bytes estimate and refuses to go on when it exceeds `maximum_bytes_billed`, which the real
//! query also carries so BigQuery itself enforces the cap. Result rows are shaped like
//! export rows and parsed by the same code as `bq extract` files, under the same source name
//! (`gcp_export:<billing account>`): collecting and ingesting the same bill replace each
//! other's days instead of adding up.

use super::{
    within, Check, CollectError, Collector, DayRange, Found, Outcome, Pending, Run,
    NOTHING_TO_FETCH,
};
use crate::config::GcpConfig;
use crate::ingest::{self, IngestOptions};
use crate::normalise::ServiceFilter;
use crate::store::Table;
use chrono::NaiveDate;
use google_cloud_bigquery::client::BigQuery;
use google_cloud_bigquery_v2::model::{QueryParameter, QueryParameterType, QueryParameterValue};
use polars::prelude::{lit, IntoLazy};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;

const SERVICE: &str = "BigQuery";
const OPERATION: &str = "jobs.query";
/// The production query, `{billing_table}` substituted after validation.
pub const SQL: &str = include_str!("../../queries/vertex_daily_costs.sql");

/// What a collection fetched.
pub struct Spend {
    pub parsed: ingest::Parsed,
    pub days: Vec<NaiveDate>,
    pub final_days: Vec<NaiveDate>,
    pub bytes_estimate: i64,
    pub result_rows: usize,
}

/// The query text for `table` (validated by the config loader).
pub fn sql(table: &str) -> Result<String, CollectError> {
    let (p, d, t) =
        crate::config::bigquery_table(table).map_err(|m| CollectError::BadResponse {
            service: SERVICE,
            operation: "configuration",
            message: m,
        })?;
    Ok(SQL.replace("{billing_table}", &format!("`{p}.{d}.{t}`")))
}

/// Where Application Default Credentials would come from, or `None` when there are none (the
/// client would otherwise wait about a minute for a metadata server before failing).
pub(crate) fn adc_source() -> Option<String> {
    if let Ok(path) = std::env::var("GOOGLE_APPLICATION_CREDENTIALS") {
        return Some(format!("GOOGLE_APPLICATION_CREDENTIALS ({path})"));
    }
    let config_dir = std::env::var_os("CLOUDSDK_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/gcloud")));
    if let Some(file) = config_dir
        .map(|d| d.join("application_default_credentials.json"))
        .filter(|f| f.is_file())
    {
        return Some(format!(
            "gcloud application-default login ({})",
            file.display()
        ));
    }
    if std::env::var_os("GCE_METADATA_HOST").is_some() {
        return Some("GCE_METADATA_HOST".into());
    }
    // On Google Cloud the metadata server answers at once, saying so in a header.
    super::metadata_server_says(
        "/computeMetadata/v1/",
        "Metadata-Flavor: Google",
        "metadata-flavor: google",
    )
    .then(|| "the metadata server".to_string())
}

fn api_error(operation: &'static str, e: impl std::fmt::Display) -> CollectError {
    let message = e.to_string();
    if message.contains("accessDenied")
        || message.contains("PERMISSION_DENIED")
        || message.contains("Access Denied")
        || message.contains(" 403")
    {
        let action = if message.contains("bigquery.jobs.create") {
            "bigquery.jobs.create (role BigQuery Job User on the project that runs the query)"
        } else {
            "bigquery.tables.getData (role BigQuery Data Viewer on the billing export dataset)"
        };
        return CollectError::AccessDenied {
            service: SERVICE,
            action,
            message: first_line(&message),
        };
    }
    CollectError::Api {
        service: SERVICE,
        operation,
        message: first_line(&message),
    }
}

fn first_line(s: &str) -> String {
    s.chars().take(600).collect()
}

async fn client(cfg: &GcpConfig) -> Result<BigQuery, CollectError> {
    let project = job_project(cfg)?;
    let mut builder = BigQuery::builder().with_project_id(project);
    if let Some(e) = &cfg.endpoint {
        builder = builder.with_endpoint(e.trim_end_matches('/'));
    }
    if cfg.credentials == "anonymous" {
        builder = builder
            .with_credentials(google_cloud_auth::credentials::anonymous::Builder::new().build());
    } else if adc_source().is_none() {
        return Err(CollectError::Api {
            service: SERVICE,
            operation: "credentials",
            message: "no Application Default Credentials found\nhint: run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file, or run on Google Cloud with a service account".into(),
        });
    }
    builder.build().await.map_err(|e| CollectError::Api {
        service: SERVICE,
        operation: "client",
        message: e.to_string(),
    })
}

fn job_project(cfg: &GcpConfig) -> Result<String, CollectError> {
    match &cfg.project {
        Some(p) => Ok(p.clone()),
        None => Ok(crate::config::bigquery_table(&cfg.billing_table)
            .map_err(|m| CollectError::BadResponse {
                service: SERVICE,
                operation: "configuration",
                message: m,
            })?
            .0
            .to_string()),
    }
}

fn scalar(name: &str, kind: &str, value: String) -> QueryParameter {
    QueryParameter::new()
        .set_name(name)
        .set_parameter_type(QueryParameterType::new().set_type(kind))
        .set_parameter_value(QueryParameterValue::new().set_value(value))
}

fn parameters(cfg: &GcpConfig, window: DayRange) -> Vec<QueryParameter> {
    vec![
        scalar("start_date", "DATE", window.start.to_string()),
        scalar("end_date", "DATE", window.end.to_string()),
        scalar("late_days", "INT64", cfg.late_days.to_string()),
        QueryParameter::new()
            .set_name("services")
            .set_parameter_type(
                QueryParameterType::new()
                    .set_type("ARRAY")
                    .set_array_type(QueryParameterType::new().set_type("STRING")),
            )
            .set_parameter_value(
                QueryParameterValue::new().set_array_values(
                    cfg.services
                        .iter()
                        .map(|s| QueryParameterValue::new().set_value(s.to_lowercase())),
                ),
            ),
    ]
}

/// Dry-run the production query over `window`: the bytes it would process.
pub(crate) async fn dry_run(
    bq: &BigQuery,
    cfg: &GcpConfig,
    window: DayRange,
) -> Result<i64, CollectError> {
    let mut q = bq
        .query(sql(&cfg.billing_table)?)
        .set_dry_run(true)
        .set_query_parameters(parameters(cfg, window))
        .set_parameter_mode("NAMED");
    if let Some(l) = &cfg.location {
        q = q.set_location(l.clone());
    }
    let handle = q.send().await.map_err(|e| api_error("dry run", e))?;
    let m = handle.metadata();
    Ok(m.total_bytes_processed
        .or_else(|| {
            m.statistics
                .as_ref()
                .and_then(|s| s.query.as_ref())
                .and_then(|q| q.total_bytes_processed)
        })
        .unwrap_or(0))
}

/// Export-shaped JSON of one result row (columns of `queries/vertex_daily_costs.sql`).
fn export_row(get: &dyn Fn(&str) -> Option<String>, row: usize) -> Result<Value, CollectError> {
    let bad = |column: &str, message: String| CollectError::BadResponse {
        service: SERVICE,
        operation: OPERATION,
        message: format!("result row {row}, column `{column}`: {message}"),
    };
    let day = get("usage_date").ok_or_else(|| bad("usage_date", "missing".into()))?;
    let date = NaiveDate::parse_from_str(&day, "%Y-%m-%d")
        .map_err(|e| bad("usage_date", format!("`{day}` is not a date: {e}")))?;
    let labels = |column: &str| -> Result<Value, CollectError> {
        match get(column) {
            None => Ok(json!([])),
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| bad(column, format!("not a JSON label list: {e}"))),
        }
    };
    let credits = get("credits").filter(|c| c.parse::<f64>().map(|v| v != 0.0).unwrap_or(true));
    Ok(json!({
        "billing_account_id": get("billing_account_id"),
        "usage_start_time": format!("{date} 00:00:00 UTC"),
        "usage_end_time": format!("{} 00:00:00 UTC", date + chrono::Duration::days(1)),
        "project": {"id": get("project_id"), "labels": labels("project_labels")?},
        "labels": labels("resource_labels")?,
        "service": {"description": get("service")},
        "sku": {"id": get("sku_id"), "description": get("sku")},
        "location": {"region": get("region")},
        "cost_type": get("cost_type"),
        "currency": get("currency"),
        "invoice": {"month": get("invoice_month")},
        "cost": get("cost"),
        "usage": {"amount": get("usage_amount"), "unit": get("usage_unit")},
        "credits": match credits {
            Some(amount) => json!([{"amount": amount, "type": "credits"}]),
            None => json!([]),
        },
    }))
}

const COLUMNS: &[&str] = &[
    "billing_account_id",
    "usage_date",
    "project_id",
    "service",
    "sku_id",
    "sku",
    "region",
    "project_labels",
    "resource_labels",
    "cost_type",
    "currency",
    "invoice_month",
    "cost",
    "usage_amount",
    "usage_unit",
    "credits",
];

/// Query `window` (days not already final) and parse the result.
pub async fn collect(
    cfg: &GcpConfig,
    window: DayRange,
    have_final: &std::collections::BTreeSet<NaiveDate>,
    today: NaiveDate,
    log: &mut dyn FnMut(String),
) -> Result<Option<Spend>, CollectError> {
    let wanted: Vec<NaiveDate> = window.days().filter(|d| !have_final.contains(d)).collect();
    let (Some(&start), Some(&end)) = (wanted.first(), wanted.last()) else {
        return Ok(None);
    };
    let window = DayRange { start, end };
    let bq = client(cfg).await?;
    let estimate = dry_run(&bq, cfg, window).await?;
    log(format!(
        "dry run: {estimate} byte(s) to process for {start}..{end} (maximum_bytes_billed {})",
        cfg.maximum_bytes_billed
    ));
    if estimate > cfg.maximum_bytes_billed {
        return Err(CollectError::Api {
            service: SERVICE,
            operation: "dry run",
            message: format!(
                "the query would process {estimate} bytes, over maximum_bytes_billed = {}; nothing was run\nhint: raise [gcp] maximum_bytes_billed, or collect a shorter window (--from/--to)",
                cfg.maximum_bytes_billed
            ),
        });
    }
    let mut q = bq
        .query(sql(&cfg.billing_table)?)
        .set_query_parameters(parameters(cfg, window))
        .set_parameter_mode("NAMED")
        .set_maximum_bytes_billed(cfg.maximum_bytes_billed);
    if let Some(l) = &cfg.location {
        q = q.set_location(l.clone());
    }
    let done = q.until_done().await.map_err(|e| api_error(OPERATION, e))?;
    let mut rows = done.read();
    let mut values = Vec::new();
    while let Some(row) = rows.next().await {
        let row = row.map_err(|e| api_error("getQueryResults", e))?;
        let n = values.len() + 1;
        let mut cells = std::collections::HashMap::new();
        for c in COLUMNS {
            // Cells as JSON: BigQuery sends numbers as strings, the client may hand them
            // over as numbers; either way they become text for the export-row parser.
            let v: Value = row.get(*c).map_err(|e| CollectError::BadResponse {
                service: SERVICE,
                operation: OPERATION,
                message: format!("result row {n}, column `{c}`: {e}"),
            })?;
            let v = match v {
                Value::Null => None,
                Value::String(s) => Some(s),
                other => Some(other.to_string()),
            };
            cells.insert(*c, v);
        }
        values.push(export_row(&|c| cells.get(c).cloned().flatten(), n)?);
    }
    let label = PathBuf::from(format!("bigquery:{}", cfg.billing_table));
    let parsed = ingest::parse_gcp_rows(
        &values,
        &label,
        &IngestOptions {
            format: None,
            services: ServiceFilter::parse("all"),
            source: None,
            part_bytes: crate::ingest::PART_BYTES,
            azure_view: None,
            dates: crate::ingest::DateRange::standard(),
        },
    )
    .map_err(|e| CollectError::BadResponse {
        service: SERVICE,
        operation: OPERATION,
        message: e.to_string(),
    })?;
    let settled = today - chrono::Duration::days(i64::from(cfg.late_days) + 1);
    Ok(Some(Spend {
        final_days: wanted.iter().copied().filter(|d| *d <= settled).collect(),
        days: wanted,
        bytes_estimate: estimate,
        result_rows: values.len(),
        parsed,
    }))
}

/// `spendlens doctor`: credentials, then a dry run of the production query over yesterday,
/// which needs both roles (BigQuery Job User on the job project, BigQuery Data Viewer on the
/// export dataset) and says which one is missing.
pub async fn check(cfg: &GcpConfig, today: NaiveDate) -> Vec<Check> {
    let scope = cfg.billing_table.clone();
    let day = today.pred_opt().unwrap_or(today);
    let result = async {
        let bq = client(cfg).await?;
        dry_run(
            &bq,
            cfg,
            DayRange {
                start: day,
                end: day,
            },
        )
        .await
    }
    .await;
    let note = match &result {
        Ok(_) if cfg.credentials == "anonymous" => Some("anonymous credentials"),
        _ => None,
    };
    vec![Check {
        action: "bigquery.jobs.create + tables.getData",
        scope,
        problem: result.err().map(|e| match e {
            CollectError::AccessDenied {
                action, message, ..
            } => {
                format!("missing {action}: {message}")
            }
            other => other.to_string(),
        }),
        note,
    }]
}

/// Source name of the GCP collector: the billing account the export table is named after
/// (`gcp_billing_export[_resource]_v1_<ACCOUNT>`), so collecting and ingesting `bq extract`
/// files of the same account replace each other's days; else the table itself.
pub fn source(table: &str) -> String {
    let name = table.rsplit('.').next().unwrap_or(table);
    let account = name
        .strip_prefix("gcp_billing_export_resource_v1_")
        .or_else(|| name.strip_prefix("gcp_billing_export_v1_"))
        .map(|a| a.replace('_', "-"))
        .filter(|a| a.len() == 20 && a.matches('-').count() == 2);
    match account {
        Some(a) => format!("gcp_export:{a}"),
        None => format!("gcp_bigquery:{table}"),
    }
}

/// The roles a dry run of the export query needs: BigQuery Job User on the job project,
/// BigQuery Data Viewer on the export dataset.
pub(crate) const PERMISSIONS: &[&str] = &["bigquery.jobs.create", "bigquery.tables.getData"];

/// `[gcp]`: Vertex AI / Gemini spend from the billing export table, grouped by BigQuery.
pub(crate) struct BigQueryExport<'c> {
    pub cfg: &'c GcpConfig,
}

impl Collector for BigQueryExport<'_> {
    fn source(&self) -> String {
        source(&self.cfg.billing_table)
    }

    fn permissions(&self) -> &'static [&'static str] {
        PERMISSIONS
    }

    fn check(&self, today: NaiveDate) -> Pending<'_, Vec<Check>> {
        Box::pin(check(self.cfg, today))
    }

    fn collect<'a>(&'a self, run: &'a Run<'a>, found: &'a mut Found<'_>) -> Outcome<'a> {
        Box::pin(self.fetch_and_store(run, found))
    }
}

impl BigQueryExport<'_> {
    /// The window's days not final yet, queried and committed under [`source`] (and under
    /// the billing accounts the rows name, when the table's name says none).
    async fn fetch_and_store(
        &self,
        run: &Run<'_>,
        found: &mut Found<'_>,
    ) -> Result<String, CollectError> {
        let cfg = self.cfg;
        let source = source(&cfg.billing_table);
        let w = run.window_or(cfg.lookback_days);
        let have = run.skippable_days(Table::Cost, &source)?;
        let Some(spend) =
            within(run.deadline, collect(cfg, w, &have, run.today, found.log)).await?
        else {
            return Ok(NOTHING_TO_FETCH.to_string());
        };
        let mut frame = spend.parsed.frame.clone();
        // Rows of another billing account than the table's name says stay under theirs.
        if source.starts_with("gcp_bigquery:") {
            frame = frame
                .lazy()
                .with_column(lit(source.clone()).alias("source"))
                .collect()?;
        }
        let sources: Vec<String> = frame
            .column("source")?
            .str()?
            .iter()
            .flatten()
            .map(str::to_string)
            .chain(std::iter::once(source.clone()))
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect();
        run.commit(
            Table::Cost,
            &frame,
            (&sources, &spend.days),
            spend.final_days.iter().copied(),
            &spend.parsed.read,
        )?;
        Ok(format!(
            "{} cost row(s) from {} result row(s) over {} day(s) ({} final); dry run estimated {} byte(s)",
            frame.height(),
            spend.result_rows,
            spend.days.len(),
            spend.final_days.len(),
            spend.bytes_estimate
        ))
    }
}

//! Azure: Azure OpenAI spend from the Cost Management Query API
//! (`POST {scope}/providers/Microsoft.CostManagement/query`), daily, in both views:
//! `ActualCost` (what is billed) and `AmortizedCost` (reservations such as PTUs spread over
//! their term). The API groups by at most two dimensions per query, so a run asks
//!
//! - per view: cost and quantity by `ResourceId` × `Meter` (the meter names the model, the
//!   token direction and the deployment type), filtered to the configured services;
//! - per configured tag key: amortized cost by `ResourceId` × that tag, which says each
//!   resource's tag value per day.
//!
//! Every answer is paged through `properties.nextLink`; 429 and 5xx are retried after the
//! `retry-after` (or `x-ms-ratelimit-…-retry-after`) the service sends, a bounded number of
//! times. Tags a resource lacks can come from its resource group (one Azure Resource Manager
//! listing per subscription and run). Rows become the cost-details layout and are parsed by
//! the same code as Azure export files, so meters map to models and usage types one way.
//!
//! Authentication is the `azure_identity` crate's: a client secret (`AZURE_TENANT_ID`,
//! `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`), workload identity (`AZURE_FEDERATED_TOKEN_FILE`),
//! a managed identity (`IDENTITY_ENDPOINT` / `MSI_ENDPOINT` or the instance metadata
//! service), else the developer tools (Azure CLI, azd), in that order.

use super::{Check, CollectError, Pager, Window};
use crate::config::AzureConfig;
use crate::ingest::{self, IngestOptions};
use crate::normalise::ServiceFilter;
use azure_core::credentials::TokenCredential;
use chrono::NaiveDate;
use polars::prelude::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

const SERVICE: &str = "Azure Cost Management";
const API_VERSION: &str = "2023-11-01";
const DEFAULT_ENDPOINT: &str = "https://management.azure.com";

/// The role `doctor` asks for when the scope denies a query.
pub const ROLE: &str = "Cost Management Reader";

/// Source name of the collected partitions.
pub fn source(scope: &str) -> String {
    format!("azure_cost_management:{}", scope.trim_matches('/'))
}

fn endpoint(cfg: &AzureConfig) -> String {
    cfg.endpoint
        .as_deref()
        .unwrap_or(DEFAULT_ENDPOINT)
        .trim_end_matches('/')
        .to_string()
}

fn api(operation: &'static str, message: impl Into<String>) -> CollectError {
    CollectError::Api {
        service: SERVICE,
        operation,
        message: message.into(),
    }
}

fn bad(operation: &'static str, message: impl Into<String>) -> CollectError {
    CollectError::BadResponse {
        service: SERVICE,
        operation,
        message: message.into(),
    }
}

/// The credential chain (see the module docs).
pub fn credential() -> Result<Arc<dyn TokenCredential>, CollectError> {
    use azure_identity::*;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let failed = |e: azure_core::Error| api("credentials", e.to_string());
    if let (Some(tenant), Some(client), Some(secret)) = (
        env("AZURE_TENANT_ID"),
        env("AZURE_CLIENT_ID"),
        env("AZURE_CLIENT_SECRET"),
    ) {
        let c =
            ClientSecretCredential::new(&tenant, client, secret.into(), None).map_err(failed)?;
        return Ok(c);
    }
    if env("AZURE_FEDERATED_TOKEN_FILE").is_some() {
        return Ok(WorkloadIdentityCredential::new(None).map_err(failed)?);
    }
    if env("IDENTITY_ENDPOINT").is_some() || env("MSI_ENDPOINT").is_some() || on_azure() {
        return Ok(ManagedIdentityCredential::new(None).map_err(failed)?);
    }
    Ok(DeveloperToolsCredential::new(None).map_err(failed)?)
}

/// The instance metadata service answers at once on Azure, and only there with its JSON.
fn on_azure() -> bool {
    super::metadata_server_says(
        "/metadata/instance?api-version=2021-02-01",
        "Metadata: true",
        "\"compute\"",
    )
}

/// An authenticated JSON client for Azure Resource Manager.
pub struct Arm {
    http: reqwest::Client,
    credential: Arc<dyn TokenCredential>,
    root: String,
    max_attempts: u32,
    /// Requests made (each page and retry counts).
    pub requests: usize,
    pub retries: usize,
}

impl Arm {
    pub fn new(cfg: &AzureConfig) -> Result<Arm, CollectError> {
        Ok(Arm {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(cfg.request_timeout_secs.max(1)))
                .connect_timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| api("client", e.to_string()))?,
            credential: credential()?,
            root: endpoint(cfg),
            max_attempts: cfg.max_attempts.max(1),
            requests: 0,
            retries: 0,
        })
    }

    async fn token(&self) -> Result<String, CollectError> {
        let scope = format!("{}/.default", self.root);
        let scopes = [scope.as_str()];
        let t = self
            .credential
            .get_token(&scopes, None)
            .await
            .map_err(|e| CollectError::Api {
                service: SERVICE,
                operation: "credentials",
                message: format!("{e}\nhint: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for an app registration, use a managed identity, or run `az login`"),
            })?;
        Ok(t.token.secret().to_string())
    }

    /// One request, retried on 429 / 5xx / connection errors after the delay the service
    /// asks for (bounded); `Ok((status, body))` for any other answer.
    async fn send(
        &mut self,
        operation: &'static str,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Value, CollectError> {
        let token = self.token().await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.requests += 1;
            let req = match body {
                Some(b) => self.http.post(url).json(b),
                None => self.http.get(url),
            }
            .bearer_auth(&token);
            let last = attempt >= self.max_attempts;
            let resp = match req.send().await {
                Ok(r) => r,
                Err(_) if !last => {
                    self.retries += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Err(e) => {
                    return Err(api(
                        operation,
                        format!("{} after {attempt} attempt(s)", e.without_url()),
                    ))
                }
            };
            let status = resp.status();
            if (status.as_u16() == 429 || status.is_server_error()) && !last {
                self.retries += 1;
                let wait = retry_after(resp.headers()).unwrap_or_else(|| backoff(attempt));
                tokio::time::sleep(wait.min(Duration::from_secs(60))).await;
                continue;
            }
            // A body cut off mid-way is as transient as a reset connection.
            let text = match resp.text().await {
                Ok(t) => t,
                Err(_) if !last => {
                    self.retries += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Err(e) => return Err(api(operation, e.without_url().to_string())),
            };
            if status.is_success() {
                return serde_json::from_str(&text).map_err(|e| {
                    bad(
                        operation,
                        format!(
                            "not JSON ({e}): {}",
                            text.chars().take(200).collect::<String>()
                        ),
                    )
                });
            }
            let (code, message) = error_of(&text);
            if status.as_u16() == 401
                || status.as_u16() == 403
                || code == "AuthorizationFailed"
                || code == "RBACAccessDenied"
            {
                return Err(CollectError::AccessDenied {
                    service: SERVICE,
                    action: "Microsoft.CostManagement/query/action (role Cost Management Reader on the scope)",
                    message: format!("{code}: {message}"),
                });
            }
            return Err(api(
                operation,
                format!("HTTP {status} after {attempt} attempt(s): {code}: {message}"),
            ));
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 * 2u64.pow(attempt.min(6)))
}

/// The delay a throttled answer asks for, in seconds, from any of the headers Cost
/// Management and ARM use.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    [
        "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after",
        "x-ms-ratelimit-microsoft.costmanagement-entity-retry-after",
        "x-ms-ratelimit-microsoft.costmanagement-tenant-retry-after",
        "x-ms-ratelimit-microsoft.costmanagement-client-retry-after",
        "retry-after",
    ]
    .iter()
    .filter_map(|h| headers.get(*h)?.to_str().ok()?.trim().parse::<f64>().ok())
    .map(|s| Duration::from_secs_f64(s.clamp(0.0, 3600.0)))
    .max()
}

/// `{"error": {"code", "message"}}`, as ARM reports errors.
fn error_of(text: &str) -> (String, String) {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let e = &v["error"];
    (
        e["code"].as_str().unwrap_or("Unknown").to_string(),
        e["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| text.chars().take(200).collect()),
    )
}

/// The Query API body for `view` over `window`, grouped by resource and `second`.
fn query_body(cfg: &AzureConfig, view: &str, window: Window, second: Value) -> Value {
    json!({
        "type": view,
        "timeframe": "Custom",
        "timePeriod": {
            "from": format!("{}T00:00:00+00:00", window.start),
            "to": format!("{}T23:59:59+00:00", window.end),
        },
        "dataset": {
            "granularity": "Daily",
            "aggregation": {
                "totalCost": {"name": "Cost", "function": "Sum"},
                "totalQuantity": {"name": "UsageQuantity", "function": "Sum"},
            },
            "grouping": [{"type": "Dimension", "name": "ResourceId"}, second],
            "filter": {"dimensions": {"name": "ServiceName", "operator": "In", "values": cfg.services}},
        }
    })
}

/// One answer's rows, keyed by column name (case-insensitive lookups by the caller).
struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

impl Table {
    fn index(&self, names: &[&str]) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| names.iter().any(|n| c.eq_ignore_ascii_case(n)))
    }
}

/// Run one query and follow `nextLink` to its end.
async fn query(
    arm: &mut Arm,
    cfg: &AzureConfig,
    body: &Value,
    operation: &'static str,
) -> Result<Table, CollectError> {
    let mut url = format!(
        "{}{}/providers/Microsoft.CostManagement/query?api-version={API_VERSION}",
        arm.root,
        cfg.scope.trim_end_matches('/')
    );
    let mut pager = Pager::default();
    let mut table = Table {
        columns: Vec::new(),
        rows: Vec::new(),
    };
    loop {
        let v = arm.send(operation, &url, Some(body)).await?;
        let props = &v["properties"];
        let columns: Vec<String> = props["columns"]
            .as_array()
            .ok_or_else(|| bad(operation, "the answer has no properties.columns"))?
            .iter()
            .map(|c| c["name"].as_str().unwrap_or("").to_string())
            .collect();
        if table.columns.is_empty() {
            table.columns = columns;
        } else if table.columns != columns {
            return Err(bad(operation, "a later page has different columns"));
        }
        let rows = props["rows"]
            .as_array()
            .ok_or_else(|| bad(operation, "the answer has no properties.rows"))?;
        for r in rows {
            let r = r
                .as_array()
                .ok_or_else(|| bad(operation, "a row is not a list"))?;
            if r.len() != table.columns.len() {
                return Err(bad(
                    operation,
                    format!(
                        "a row has {} cells for {} columns",
                        r.len(),
                        table.columns.len()
                    ),
                ));
            }
            table.rows.push(r.clone());
        }
        match pager.next(props["nextLink"].as_str(), SERVICE, operation)? {
            Some(next) => {
                // nextLink is absolute and must stay on the endpoint we were given.
                if !next.starts_with(&arm.root) {
                    return Err(bad(operation, "nextLink points away from the endpoint"));
                }
                url = next;
            }
            None => return Ok(table),
        }
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn number(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// `UsageDate` as Azure sends it (20261014 as a number, or an ISO date).
fn usage_date(v: &Value) -> Option<NaiveDate> {
    let s = text(v);
    NaiveDate::parse_from_str(&s, "%Y%m%d")
        .or_else(|_| NaiveDate::parse_from_str(s.get(..10).unwrap_or(""), "%Y-%m-%d"))
        .ok()
}

/// Columns every query answer carries.
struct Cols {
    cost: usize,
    quantity: Option<usize>,
    date: usize,
    currency: usize,
    resource: usize,
}

fn cols(t: &Table, operation: &'static str) -> Result<Cols, CollectError> {
    let need = |names: &[&str]| {
        t.index(names).ok_or_else(|| {
            bad(
                operation,
                format!("no `{}` column in {:?}", names[0], t.columns),
            )
        })
    };
    Ok(Cols {
        cost: need(&["Cost", "totalCost", "PreTaxCost", "CostUSD"])?,
        quantity: t.index(&["UsageQuantity", "totalQuantity"]),
        date: need(&["UsageDate"])?,
        currency: need(&["Currency", "BillingCurrency"])?,
        resource: need(&["ResourceId"])?,
    })
}

/// Key of a cost row: day, resource (lower-case: Azure varies its casing), meter, currency.
type Key = (NaiveDate, String, String, String);

#[derive(Default, Clone, Copy)]
struct Amounts {
    actual: f64,
    amortized: f64,
    quantity: f64,
}

/// What a collection fetched.
pub struct Spend {
    pub parsed: ingest::Parsed,
    pub days: Vec<NaiveDate>,
    pub final_days: Vec<NaiveDate>,
    pub requests: usize,
    pub retries: usize,
}

/// Resource group of an ARM resource id, and its subscription.
fn resource_group(resource: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = resource.split('/').collect();
    let sub = parts
        .iter()
        .position(|p| p.eq_ignore_ascii_case("subscriptions"))
        .and_then(|i| parts.get(i + 1))?;
    let rg = parts
        .iter()
        .position(|p| p.eq_ignore_ascii_case("resourcegroups"))
        .and_then(|i| parts.get(i + 1))?;
    Some((sub.to_lowercase(), rg.to_lowercase()))
}

/// Tags of every resource group of `subscription` (lower-case names).
async fn group_tags(
    arm: &mut Arm,
    subscription: &str,
) -> Result<HashMap<String, serde_json::Map<String, Value>>, CollectError> {
    let mut url = format!(
        "{}/subscriptions/{subscription}/resourcegroups?api-version=2021-04-01",
        arm.root
    );
    let mut out = HashMap::new();
    let mut pager = Pager::default();
    loop {
        let v = arm.send("resourceGroups.list", &url, None).await?;
        for g in v["value"].as_array().into_iter().flatten() {
            if let (Some(name), Some(tags)) = (g["name"].as_str(), g["tags"].as_object()) {
                out.insert(name.to_lowercase(), tags.clone());
            }
        }
        match pager.next(v["nextLink"].as_str(), SERVICE, "resourceGroups.list")? {
            Some(next) if next.starts_with(&arm.root) => url = next,
            Some(_) => {
                return Err(bad(
                    "resourceGroups.list",
                    "nextLink points away from the endpoint",
                ))
            }
            None => return Ok(out),
        }
    }
}

/// Collect `window` (days not already final) and parse it.
pub async fn collect(
    cfg: &AzureConfig,
    window: Window,
    have_final: &std::collections::BTreeSet<NaiveDate>,
    today: NaiveDate,
) -> Result<Option<Spend>, CollectError> {
    let wanted: Vec<NaiveDate> = window.days().filter(|d| !have_final.contains(d)).collect();
    let (Some(&start), Some(&end)) = (wanted.first(), wanted.last()) else {
        return Ok(None);
    };
    let window = Window { start, end };
    let mut arm = Arm::new(cfg)?;
    let meter = json!({"type": "Dimension", "name": "Meter"});
    let mut amounts: BTreeMap<Key, Amounts> = BTreeMap::new();
    let mut resource_case: HashMap<String, String> = HashMap::new();
    for view in ["ActualCost", "AmortizedCost"] {
        let op = if view == "ActualCost" {
            "query ActualCost"
        } else {
            "query AmortizedCost"
        };
        let t = query(
            &mut arm,
            cfg,
            &query_body(cfg, view, window, meter.clone()),
            op,
        )
        .await?;
        let c = cols(&t, op)?;
        let m = t
            .index(&["Meter", "MeterName"])
            .ok_or_else(|| bad(op, format!("no `Meter` column in {:?}", t.columns)))?;
        for (i, r) in t.rows.iter().enumerate() {
            let day = usage_date(&r[c.date]).ok_or_else(|| {
                bad(
                    op,
                    format!(
                        "row {}: UsageDate `{}` is not a date",
                        i + 1,
                        text(&r[c.date])
                    ),
                )
            })?;
            let resource = text(&r[c.resource]);
            resource_case
                .entry(resource.to_lowercase())
                .or_insert(resource.clone());
            let key = (
                day,
                resource.to_lowercase(),
                text(&r[m]),
                text(&r[c.currency]),
            );
            let a = amounts.entry(key).or_default();
            let cost = number(&r[c.cost]);
            if view == "ActualCost" {
                a.actual += cost;
                a.quantity += c.quantity.map(|q| number(&r[q])).unwrap_or(0.0);
            } else {
                a.amortized += cost;
                if a.quantity == 0.0 {
                    a.quantity = c.quantity.map(|q| number(&r[q])).unwrap_or(0.0);
                }
            }
        }
    }
    // Tag values per (day, resource): the value carrying the most cost that day.
    let mut tags: HashMap<(NaiveDate, String), serde_json::Map<String, Value>> = HashMap::new();
    for key in &cfg.tag_keys {
        let op = "query tags";
        let body = query_body(
            cfg,
            "AmortizedCost",
            window,
            json!({"type": "TagKey", "name": key}),
        );
        let t = query(&mut arm, cfg, &body, op).await?;
        let c = cols(&t, op)?;
        let (Some(tk), tv) = (t.index(&["TagKey"]), t.index(&["TagValue"])) else {
            return Err(bad(op, format!("no `TagKey` column in {:?}", t.columns)));
        };
        let mut best: HashMap<(NaiveDate, String), (f64, String)> = HashMap::new();
        for r in &t.rows {
            let (Some(day), name) = (usage_date(&r[c.date]), text(&r[tk])) else {
                continue;
            };
            if !name.eq_ignore_ascii_case(key) {
                continue; // rows of resources without the tag
            }
            let value = tv.map(|i| text(&r[i])).unwrap_or_default();
            let e = best
                .entry((day, text(&r[c.resource]).to_lowercase()))
                .or_insert((f64::MIN, String::new()));
            let cost = number(&r[c.cost]).abs();
            if cost > e.0 {
                *e = (cost, value);
            }
        }
        for (k, (_, value)) in best {
            tags.entry(k)
                .or_default()
                .insert(key.clone(), Value::String(value));
        }
    }
    // Resource-group tags fill what a resource lacks.
    let mut inherited: HashMap<(String, String), serde_json::Map<String, Value>> = HashMap::new();
    if cfg.inherit_resource_group_tags {
        let subs: std::collections::BTreeSet<String> = amounts
            .keys()
            .filter_map(|k| resource_group(&k.1).map(|(s, _)| s))
            .collect();
        for sub in subs {
            for (rg, t) in group_tags(&mut arm, &sub).await? {
                inherited.insert((sub.clone(), rg), t);
            }
        }
    }
    let n = amounts.len();
    let mut col_of: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for ((day, resource, meter_name, currency), a) in &amounts {
        let mut t = tags
            .get(&(*day, resource.clone()))
            .cloned()
            .unwrap_or_default();
        if let Some(g) = resource_group(resource).and_then(|k| inherited.get(&k)) {
            for key in &cfg.tag_keys {
                if !t.contains_key(key) {
                    if let Some(v) = g.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
                        t.insert(key.clone(), v.1.clone());
                    }
                }
            }
        }
        let provisioned = crate::normalise::usage_type(meter_name) == "provisioned";
        let shown = resource_case
            .get(resource)
            .cloned()
            .unwrap_or(resource.clone());
        for (name, value) in [
            ("Date", day.to_string()),
            (
                "SubscriptionId",
                resource_group(resource).map(|g| g.0).unwrap_or_default(),
            ),
            ("ResourceId", shown),
            // The query filtered to the configured services but grouped by meter, not by
            // service: OpenAI model meters and provisioned (PTU) meters are Azure OpenAI.
            (
                "MeterCategory",
                if provisioned || crate::normalise::model(meter_name).is_some() {
                    "Azure OpenAI".to_string()
                } else {
                    "Cognitive Services".to_string()
                },
            ),
            ("MeterName", meter_name.clone()),
            ("CostInBillingCurrency", a.actual.to_string()),
            ("AmortizedCost", a.amortized.to_string()),
            ("Quantity", a.quantity.to_string()),
            ("BillingCurrency", currency.clone()),
            // Azure OpenAI token meters are priced per 1,000 tokens (the Query API cannot
            // also group by unit of measure).
            (
                "UnitOfMeasure",
                if meter_name.to_lowercase().ends_with("tokens") {
                    "1K".to_string()
                } else {
                    String::new()
                },
            ),
            ("Tags", Value::Object(t).to_string()),
            ("ChargeType", "Usage".to_string()),
            (
                "PricingModel",
                if provisioned && (a.actual - a.amortized).abs() > 1e-9 {
                    "Reservation".to_string()
                } else {
                    "OnDemand".to_string()
                },
            ),
        ] {
            col_of.entry(name).or_default().push(value);
        }
    }
    let columns: Vec<Column> = col_of
        .into_iter()
        .map(|(name, values)| Column::new(name.into(), values))
        .collect();
    let df = if n == 0 {
        DataFrame::empty()
    } else {
        DataFrame::new(n, columns).map_err(CollectError::Frame)?
    };
    let label = std::path::PathBuf::from(format!("azure:{}", cfg.scope));
    let parsed = if n == 0 {
        ingest::Parsed::empty(&label, ingest::Format::Azure)
    } else {
        ingest::parse_azure_frame(
            df,
            &label,
            &IngestOptions {
                format: None,
                services: ServiceFilter::parse("all"),
                source: Some(source(&cfg.scope)),
                part_bytes: crate::ingest::PART_BYTES,
            },
        )
        .map_err(|e| bad("query", e.to_string()))?
    };
    let settled = today - chrono::Duration::days(i64::from(cfg.late_days) + 1);
    Ok(Some(Spend {
        final_days: wanted.iter().copied().filter(|d| *d <= settled).collect(),
        days: wanted,
        requests: arm.requests,
        retries: arm.retries,
        parsed,
    }))
}

/// `spendlens doctor`: a one-day query on the scope (needs Cost Management Reader).
pub async fn check(cfg: &AzureConfig, today: NaiveDate) -> Vec<Check> {
    let day = today.pred_opt().unwrap_or(today);
    let result = async {
        let mut arm = Arm::new(cfg)?;
        let body = query_body(
            cfg,
            "ActualCost",
            Window {
                start: day,
                end: day,
            },
            json!({"type": "Dimension", "name": "Meter"}),
        );
        query(&mut arm, cfg, &body, "query").await.map(|_| ())
    }
    .await;
    vec![Check {
        action: "Microsoft.CostManagement/query/action",
        scope: cfg.scope.clone(),
        problem: result.err().map(|e| match e {
            CollectError::AccessDenied { message, .. } => {
                format!("missing role {ROLE} on the scope: {message}")
            }
            other => other.to_string(),
        }),
        note: None,
    }]
}

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

mod arm;
mod details;

use arm::Arm;
use details::*;

use super::{
    within, Check, CollectError, Collector, DayRange, Found, Outcome, Pager, Pending, Run,
    NOTHING_TO_FETCH,
};
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
pub(crate) const ROLE: &str = "Cost Management Reader";

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

/// The Query API body for `view` over `window`, grouped by resource and `second`.
fn query_body(cfg: &AzureConfig, view: &str, window: DayRange, second: Value) -> Value {
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

/// Cost rows of both views, keyed by day, resource, meter and currency, and each
/// resource's casing as Azure first wrote it.
#[derive(Default)]
struct Costs {
    amounts: BTreeMap<Key, Amounts>,
    resource_case: HashMap<String, String>,
}

/// Tag values per (day, lower-case resource).
type Tags = HashMap<(NaiveDate, String), serde_json::Map<String, Value>>;

/// Collect `window` (days not already final) and parse it.
pub async fn collect(
    cfg: &AzureConfig,
    window: DayRange,
    have_final: &std::collections::BTreeSet<NaiveDate>,
    today: NaiveDate,
) -> Result<Option<Spend>, CollectError> {
    let Some((window, wanted)) = super::wanted_days(window, have_final) else {
        return Ok(None);
    };
    let mut arm = Arm::new(cfg)?;
    let mut costs = Costs::default();
    for view in ["ActualCost", "AmortizedCost"] {
        view_costs(&mut arm, cfg, window, view, &mut costs).await?;
    }
    let tags = tag_values(&mut arm, cfg, window).await?;
    let inherited = if cfg.inherit_resource_group_tags {
        group_tags_of(&mut arm, &costs.amounts).await?
    } else {
        HashMap::new()
    };
    let parsed = parse(cfg, cost_details(cfg, &costs, &tags, &inherited)?)?;
    let settled = today - chrono::Duration::days(i64::from(cfg.late_days) + 1);
    Ok(Some(Spend {
        final_days: wanted.iter().copied().filter(|d| *d <= settled).collect(),
        days: wanted,
        requests: arm.requests,
        retries: arm.retries,
        parsed,
    }))
}

/// One view's cost and quantity by resource and meter, added into `costs`: the actual
/// view's quantity counts; the amortized view's fills a row the actual view lacks.
async fn view_costs(
    arm: &mut Arm,
    cfg: &AzureConfig,
    window: DayRange,
    view: &str,
    costs: &mut Costs,
) -> Result<(), CollectError> {
    let op = if view == "ActualCost" {
        "query ActualCost"
    } else {
        "query AmortizedCost"
    };
    let meter = json!({"type": "Dimension", "name": "Meter"});
    let t = query(arm, cfg, &query_body(cfg, view, window, meter), op).await?;
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
        costs
            .resource_case
            .entry(resource.to_lowercase())
            .or_insert(resource.clone());
        let key = (
            day,
            resource.to_lowercase(),
            text(&r[m]),
            text(&r[c.currency]),
        );
        let a = costs.amounts.entry(key).or_default();
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
    Ok(())
}

/// Each configured tag key's value per (day, resource): the value carrying the most cost
/// that day.
async fn tag_values(
    arm: &mut Arm,
    cfg: &AzureConfig,
    window: DayRange,
) -> Result<Tags, CollectError> {
    let mut tags: Tags = HashMap::new();
    for key in &cfg.tag_keys {
        let op = "query tags";
        let body = query_body(
            cfg,
            "AmortizedCost",
            window,
            json!({"type": "TagKey", "name": key}),
        );
        let t = query(arm, cfg, &body, op).await?;
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
    Ok(tags)
}

/// Tags of every resource group of the subscriptions the costs name, keyed by
/// (subscription, resource group): they fill tags a resource lacks.
async fn group_tags_of(
    arm: &mut Arm,
    amounts: &BTreeMap<Key, Amounts>,
) -> Result<HashMap<(String, String), serde_json::Map<String, Value>>, CollectError> {
    let subs: std::collections::BTreeSet<String> = amounts
        .keys()
        .filter_map(|k| resource_group(&k.1).map(|(s, _)| s))
        .collect();
    let mut inherited = HashMap::new();
    for sub in subs {
        for (rg, t) in group_tags(arm, &sub).await? {
            inherited.insert((sub.clone(), rg), t);
        }
    }
    Ok(inherited)
}

/// `spendlens doctor`: a one-day query on the scope (needs Cost Management Reader).
pub async fn check(cfg: &AzureConfig, today: NaiveDate) -> Vec<Check> {
    let day = today.pred_opt().unwrap_or(today);
    let result = async {
        let mut arm = Arm::new(cfg)?;
        let body = query_body(
            cfg,
            "ActualCost",
            DayRange {
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

/// The role the Cost Management query needs on the scope.
pub(crate) const PERMISSIONS: &[&str] = &[ROLE];

/// `[azure]`: Azure OpenAI spend of a scope from the Cost Management Query API, both views.
pub struct CostManagement<'c> {
    pub cfg: &'c AzureConfig,
}

impl Collector for CostManagement<'_> {
    fn source(&self) -> String {
        source(&self.cfg.scope)
    }

    fn permissions(&self) -> &'static [&'static str] {
        PERMISSIONS
    }

    fn check(&self, today: NaiveDate) -> Pending<'_, Vec<Check>> {
        Box::pin(check(self.cfg, today))
    }

    fn collect<'a>(&'a self, run: &'a Run<'a>, _found: &'a mut Found<'_>) -> Outcome<'a> {
        Box::pin(self.fetch_and_store(run))
    }
}

impl CostManagement<'_> {
    /// The window's days not final yet, queried and committed under [`source`].
    async fn fetch_and_store(&self, run: &Run<'_>) -> Result<String, CollectError> {
        let cfg = self.cfg;
        let source = source(&cfg.scope);
        let w = run.window_or(cfg.lookback_days);
        let have = run.skippable_days(crate::store::Table::Cost, &source)?;
        let Some(spend) = within(run.deadline, collect(cfg, w, &have, run.today)).await? else {
            return Ok(NOTHING_TO_FETCH.to_string());
        };
        run.commit(
            crate::store::Table::Cost,
            &spend.parsed.frame,
            (std::slice::from_ref(&source), &spend.days),
            spend.final_days.iter().copied(),
            &spend.parsed.read,
        )?;
        Ok(format!(
            "{} cost row(s) over {} day(s) ({} final); {} request(s), {} retried",
            spend.parsed.frame.height(),
            spend.days.len(),
            spend.final_days.len(),
            spend.requests,
            spend.retries
        ))
    }
}

//! Cost Explorer `GetCostAndUsage` -> CostRecords for Bedrock spend.
//!
//! Each request costs $0.01, and a request may group by at most two dimensions. The plan:
//!
//! 1. `SERVICE × USAGE_TYPE` (one request per page): what was spent on which model (the
//!    service name carries it for model-vendor editions) and for which kind of usage (the
//!    usage type carries region, token direction, provisioned throughput);
//! 2. `SERVICE × TAG:<key>` for each configured tag key (one request per key and page): how
//!    each service's spend divides between tag values.
//!
//! The services are the config's `services`, or else every SERVICE value of the window that
//! matches "Bedrock" (`GetDimensionValues`, one more paid request per page): vendors' models
//! on Bedrock are billed under their own names ("Claude 3.5 Sonnet (Amazon Bedrock
//! Edition)"), which a fixed list would miss.
//!
//! Each (day, service, usage type) amount is then split across tag values in the proportions
//! of step 2, keys assumed independent within a service and day; parts add back to the
//! amount exactly, so totals reconcile to the cent. Days Cost Explorer no longer marks as
//! estimated are stored as final and never asked for again.

use super::sdk_error;
use crate::collect::{
    runs, within, Check, CollectError, Collector, DayRange, Found, Outcome, Pager, Pending, Run,
};
use crate::config::AwsConfig;
use crate::normalise;
use crate::schema::{self, COST_COLUMNS};
use crate::store::ledger::{merge, ReadTotal};
use crate::store::Table;
use aws_config::SdkConfig;
use aws_sdk_costexplorer::types::{
    DateInterval, Dimension, DimensionValues, Expression, Granularity, GroupDefinition,
    GroupDefinitionType,
};
use chrono::{Datelike, NaiveDate};
use polars::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const SERVICE: &str = "ce";
const OPERATION: &str = "GetCostAndUsage";
const ACTION: &str = "ce:GetCostAndUsage";
const DISCOVER: &str = "GetDimensionValues";
const DISCOVER_ACTION: &str = "ce:GetDimensionValues";
/// What every service billing Bedrock usage has in its Cost Explorer name.
const BEDROCK_SEARCH: &str = "Bedrock";
const METRICS: [&str; 3] = ["UnblendedCost", "AmortizedCost", "UsageQuantity"];

/// The source name Cost Explorer spend is stored under.
pub(crate) const SOURCE: &str = "aws_cost_explorer";

/// One group of one day: amounts by metric.
#[derive(Debug, Clone, Default)]
struct Amounts {
    billed: f64,
    effective: f64,
    quantity: f64,
    currency: Option<String>,
    unit: Option<String>,
}

/// Rows of one query: (day, first key, second key) -> amounts, and whether each day is final.
#[derive(Default)]
struct QueryResult {
    groups: BTreeMap<(NaiveDate, String, String), Amounts>,
    estimated: BTreeMap<NaiveDate, bool>,
}

fn parse_day(s: &str) -> Result<NaiveDate, CollectError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| CollectError::BadResponse {
        service: SERVICE,
        operation: OPERATION,
        message: format!("time period start `{s}` is not a date"),
    })
}

fn amount(
    metrics: Option<&std::collections::HashMap<String, aws_sdk_costexplorer::types::MetricValue>>,
    name: &str,
) -> Result<(f64, Option<String>), CollectError> {
    let Some(m) = metrics.and_then(|m| m.get(name)) else {
        return Ok((0.0, None));
    };
    let raw = m.amount().unwrap_or("0");
    let v: f64 = raw.parse().map_err(|_| CollectError::BadResponse {
        service: SERVICE,
        operation: OPERATION,
        message: format!("{name} amount `{raw}` is not a number"),
    })?;
    if !v.is_finite() {
        return Err(CollectError::BadResponse {
            service: SERVICE,
            operation: OPERATION,
            message: format!("{name} amount `{raw}` is not finite"),
        });
    }
    Ok((v, m.unit().map(str::to_string)))
}

/// Run one grouped query over `window`, all pages. Returns the result and the requests made.
async fn query(
    client: &aws_sdk_costexplorer::Client,
    window: DayRange,
    services: &[String],
    group_by: [GroupDefinition; 2],
) -> Result<(QueryResult, usize), CollectError> {
    let period = period_of(window, OPERATION)?;
    let filter = Expression::builder()
        .dimensions(
            DimensionValues::builder()
                .key(Dimension::Service)
                .set_values(Some(services.to_vec()))
                .build(),
        )
        .build();
    let mut out = QueryResult::default();
    let mut pager = Pager::default();
    let mut token = None;
    let mut requests = 0;
    loop {
        let mut req = client
            .get_cost_and_usage()
            .time_period(period.clone())
            .granularity(Granularity::Daily)
            .filter(filter.clone())
            .group_by(group_by[0].clone())
            .group_by(group_by[1].clone())
            .set_next_page_token(token);
        for m in METRICS {
            req = req.metrics(m);
        }
        let page = req
            .send()
            .await
            .map_err(|e| sdk_error(SERVICE, OPERATION, ACTION, &e))?;
        requests += 1;
        for r in page.results_by_time() {
            let day = parse_day(
                r.time_period()
                    .map(aws_sdk_costexplorer::types::DateInterval::start)
                    .unwrap_or_default(),
            )?;
            *out.estimated.entry(day).or_insert(false) |= r.estimated();
            for g in r.groups() {
                let keys = g.keys();
                let k1 = keys.first().cloned().unwrap_or_default();
                let k2 = keys.get(1).cloned().unwrap_or_default();
                let (billed, currency) = amount(g.metrics(), "UnblendedCost")?;
                let (effective, _) = amount(g.metrics(), "AmortizedCost")?;
                let (quantity, unit) = amount(g.metrics(), "UsageQuantity")?;
                let e = out.groups.entry((day, k1, k2)).or_default();
                e.billed += billed;
                e.effective += effective;
                e.quantity += quantity;
                e.currency = e.currency.take().or(currency);
                e.unit = e.unit.take().or(unit.filter(|u| u != "N/A"));
            }
        }
        token = pager.next(page.next_page_token(), SERVICE, OPERATION)?;
        if token.is_none() {
            return Ok((out, requests));
        }
    }
}

/// Cost Explorer's period for `window`: its first day to the day after its last.
fn period_of(window: DayRange, operation: &'static str) -> Result<DateInterval, CollectError> {
    DateInterval::builder()
        .start(window.start.to_string())
        .end(window.end.succ_opt().unwrap_or(window.end).to_string())
        .build()
        .map_err(|e| CollectError::BadResponse {
            service: SERVICE,
            operation,
            message: e.to_string(),
        })
}

/// Every SERVICE value billed in `window` whose name matches "Bedrock", all pages, sorted;
/// and the requests made.
async fn bedrock_services(
    client: &aws_sdk_costexplorer::Client,
    window: DayRange,
) -> Result<(Vec<String>, usize), CollectError> {
    let period = period_of(window, DISCOVER)?;
    let mut found = BTreeSet::new();
    let mut pager = Pager::default();
    let mut token = None;
    let mut requests = 0;
    loop {
        let page = client
            .get_dimension_values()
            .time_period(period.clone())
            .dimension(Dimension::Service)
            .context(aws_sdk_costexplorer::types::Context::CostAndUsage)
            .search_string(BEDROCK_SEARCH)
            .set_next_page_token(token)
            .send()
            .await
            .map_err(|e| sdk_error(SERVICE, DISCOVER, DISCOVER_ACTION, &e))?;
        requests += 1;
        found.extend(
            page.dimension_values()
                .iter()
                .filter_map(|v| v.value())
                .filter(|v| !v.is_empty())
                .map(str::to_string),
        );
        token = pager.next(page.next_page_token(), SERVICE, DISCOVER)?;
        if token.is_none() {
            return Ok((found.into_iter().collect(), requests));
        }
    }
}

fn dimension(key: Dimension) -> GroupDefinition {
    GroupDefinition::builder()
        .r#type(GroupDefinitionType::Dimension)
        .key(key.as_str())
        .build()
}

fn tag(key: &str) -> GroupDefinition {
    GroupDefinition::builder()
        .r#type(GroupDefinitionType::Tag)
        .key(key)
        .build()
}

/// (day, service) -> each tag value with its share of that service's spend.
type Shares = BTreeMap<(NaiveDate, String), Vec<(String, f64)>>;

/// What a Cost Explorer collection fetched.
pub struct Spend {
    pub frame: DataFrame,
    /// The services asked for: the configured ones, or those found matching "Bedrock".
    pub services: Vec<String>,
    /// Days fetched (each now replaced in the store), and which of them are final.
    pub days: Vec<NaiveDate>,
    pub final_days: BTreeSet<NaiveDate>,
    pub paid_requests: usize,
    pub skipped_final: usize,
    /// Cost Explorer's own amounts per day and currency, before the split across tags.
    pub read: Vec<ReadTotal>,
}

/// Split `amount` in proportion to `shares` (which sum to 1); the largest share absorbs the
/// rounding so the parts add back to `amount` exactly.
fn split(amount: f64, shares: &[f64]) -> Vec<f64> {
    let mut parts: Vec<f64> = shares.iter().map(|s| amount * s).collect();
    if let Some((imax, _)) = shares.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)) {
        let others: f64 = parts
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != imax)
            .map(|(_, p)| p)
            .sum();
        parts[imax] = amount - others;
    }
    parts
}

/// Collect the days of `window` that `final_days` (already stored as final) does not cover,
/// for `services` (`None`: every service matching "Bedrock" in those days).
pub async fn collect(
    sdk: &SdkConfig,
    window: DayRange,
    services: Option<&[String]>,
    tag_keys: &[String],
    final_days: &BTreeSet<NaiveDate>,
) -> Result<Spend, CollectError> {
    let client = aws_sdk_costexplorer::Client::new(sdk);
    let wanted: Vec<NaiveDate> = window.days().filter(|d| !final_days.contains(d)).collect();
    let skipped_final = window.days().count() - wanted.len();
    let mut paid = 0;
    let services = match services {
        Some(listed) => listed.to_vec(),
        None if wanted.is_empty() => Vec::new(),
        None => {
            let span = DayRange {
                start: wanted[0],
                end: wanted[wanted.len() - 1],
            };
            let (found, n) = bedrock_services(&client, span).await?;
            paid += n;
            found
        }
    };
    // Nothing billed under a Bedrock name: no days to replace (an empty answer must not
    // wipe days stored before).
    let wanted = if services.is_empty() {
        Vec::new()
    } else {
        wanted
    };
    let services = &services[..];
    let mut base = QueryResult::default();
    // tag key -> (day, service, tag value) -> effective (or billed) amount
    let mut by_tag: Vec<BTreeMap<(NaiveDate, String, String), Amounts>> =
        vec![BTreeMap::new(); tag_keys.len()];
    for run in runs(&wanted) {
        let (r, n) = query(
            &client,
            run,
            services,
            [
                dimension(Dimension::Service),
                dimension(Dimension::UsageType),
            ],
        )
        .await?;
        paid += n;
        base.groups.extend(r.groups);
        base.estimated.extend(r.estimated);
        for (k, key) in tag_keys.iter().enumerate() {
            let (r, n) = query(
                &client,
                run,
                services,
                [dimension(Dimension::Service), tag(key)],
            )
            .await?;
            paid += n;
            by_tag[k].extend(r.groups);
        }
    }

    let shares: Vec<Shares> = tag_keys
        .iter()
        .zip(&by_tag)
        .map(|(key, groups)| tag_shares(key, groups))
        .collect();
    let frame = split_by_tags(&base, tag_keys, &shares)?;
    let read = read_totals(&base);
    let final_days: BTreeSet<NaiveDate> = base
        .estimated
        .iter()
        .filter(|(_, est)| !**est)
        .map(|(d, _)| *d)
        .collect();
    Ok(Spend {
        frame,
        services: services.to_vec(),
        days: wanted,
        final_days,
        paid_requests: paid,
        skipped_final,
        read,
    })
}

/// The amounts as Cost Explorer answered them, per day and currency (its months are the
/// invoice's): what `reconcile` compares the stored rows with.
fn read_totals(base: &QueryResult) -> Vec<ReadTotal> {
    merge(base.groups.iter().map(|((day, _, _), a)| ReadTotal {
        source: SOURCE.to_string(),
        day: *day,
        period: day.format("%Y-%m").to_string(),
        currency: a.currency.clone().unwrap_or_else(|| "USD".into()),
        billed: a.billed,
        effective: a.effective,
        skipped_billed: 0.0,
        skipped_effective: 0.0,
        rows: 1,
        correction_billed: 0.0,
        correction_effective: 0.0,
    }))
}

/// Shares of one tag key's values per (day, service), from its amounts; a day whose
/// amounts are negative or zero is one share without the tag.
fn tag_shares(key: &str, groups: &BTreeMap<(NaiveDate, String, String), Amounts>) -> Shares {
    let mut per: BTreeMap<(NaiveDate, String), Vec<(String, f64)>> = BTreeMap::new();
    for ((day, service, raw), a) in groups {
        // Group keys read `team$search`; `team$` is spend without the tag.
        let value = raw
            .strip_prefix(&format!("{key}$"))
            .unwrap_or(raw)
            .to_string();
        let weight = if a.effective != 0.0 {
            a.effective
        } else {
            a.billed
        };
        per.entry((*day, service.clone()))
            .or_default()
            .push((value, weight));
    }
    per.into_iter()
        .map(|(k, values)| {
            let total: f64 = values.iter().map(|(_, w)| w).sum();
            let normalised = if total > 0.0 && values.iter().all(|(_, w)| *w >= 0.0) {
                values.into_iter().map(|(v, w)| (v, w / total)).collect()
            } else {
                vec![(String::new(), 1.0)]
            };
            (k, normalised)
        })
        .collect()
}

/// Each (day, service, usage type) amount split across every combination of tag values,
/// by the product of their shares; the parts add back to the amount exactly.
fn split_by_tags(
    base: &QueryResult,
    tag_keys: &[String],
    shares: &[Shares],
) -> Result<DataFrame, CollectError> {
    let mut rows = Rows::default();
    for ((day, service, usage_type), a) in &base.groups {
        // Every combination of tag values, with the product of their shares.
        let mut combos: Vec<(serde_json::Map<String, serde_json::Value>, f64)> =
            vec![(Default::default(), 1.0)];
        for (key, key_shares) in tag_keys.iter().zip(shares) {
            let values = key_shares
                .get(&(*day, service.clone()))
                .cloned()
                .unwrap_or_else(|| vec![(String::new(), 1.0)]);
            combos = combos
                .into_iter()
                .flat_map(|(tags, s)| {
                    values.iter().map(move |(v, vs)| {
                        let mut t = tags.clone();
                        if !v.is_empty() {
                            t.insert(key.clone(), serde_json::Value::String(v.clone()));
                        }
                        (t, s * vs)
                    })
                })
                .collect();
        }
        let weights: Vec<f64> = combos.iter().map(|(_, s)| *s).collect();
        let billed = split(a.billed, &weights);
        let effective = split(a.effective, &weights);
        let quantity = split(a.quantity, &weights);
        for (i, (tags, _)) in combos.iter().enumerate() {
            rows.push(
                *day,
                service,
                usage_type,
                a,
                billed[i],
                effective[i],
                quantity[i],
                tags,
            );
        }
    }
    rows.frame()
}

#[derive(Default)]
struct Rows {
    days: Vec<NaiveDate>,
    service: Vec<String>,
    region: Vec<Option<String>>,
    model: Vec<Option<String>>,
    usage_type: Vec<String>,
    pricing: Vec<String>,
    detail: Vec<Option<String>>,
    quantity: Vec<Option<f64>>,
    unit: Vec<Option<String>>,
    billed: Vec<f64>,
    effective: Vec<f64>,
    currency: Vec<String>,
    tags: Vec<String>,
}

impl Rows {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        day: NaiveDate,
        service: &str,
        usage_type: &str,
        a: &Amounts,
        billed: f64,
        effective: f64,
        quantity: f64,
        tags: &serde_json::Map<String, serde_json::Value>,
    ) {
        let hint = format!("{service} | {usage_type}");
        let kind = normalise::usage_type(&hint);
        self.days.push(day);
        self.service.push(service.to_string());
        self.region
            .push(normalise::aws_usage_type_region(usage_type).map(str::to_string));
        self.model.push(normalise::model(&hint));
        self.usage_type.push(kind.to_string());
        self.pricing.push(
            if kind == "provisioned" {
                "Committed"
            } else {
                "Standard"
            }
            .to_string(),
        );
        self.detail
            .push(normalise::pricing_detail(&hint).map(str::to_string));
        let tokens = kind.ends_with("_tokens");
        self.quantity.push(Some(quantity));
        self.unit.push(if tokens {
            Some("tokens".into())
        } else {
            a.unit.clone()
        });
        self.billed.push(billed);
        self.effective.push(effective);
        self.currency
            .push(a.currency.clone().unwrap_or_else(|| "USD".into()));
        self.tags
            .push(serde_json::Value::Object(tags.clone()).to_string());
    }

    fn frame(self) -> Result<DataFrame, CollectError> {
        let n = self.days.len();
        let next: Vec<NaiveDate> = self
            .days
            .iter()
            .map(|d| d.succ_opt().unwrap_or(*d))
            .collect();
        let df = schema::frame_of(
            COST_COLUMNS,
            vec![
                schema::day_column("charge_period_start", &self.days)?,
                schema::day_column("charge_period_end", &next)?,
                Column::new("provider_name".into(), vec!["aws"; n]),
                Column::new("service_name".into(), self.service),
                Column::new("sub_account_id".into(), vec![None::<String>; n]),
                Column::new("region_id".into(), self.region),
                Column::new("resource_id".into(), vec![None::<String>; n]),
                Column::new("model".into(), self.model),
                Column::new("usage_type".into(), self.usage_type),
                Column::new("charge_category".into(), vec!["Usage"; n]),
                Column::new("pricing_category".into(), self.pricing),
                Column::new("pricing_detail".into(), self.detail),
                Column::new("consumed_quantity".into(), self.quantity),
                Column::new("consumed_unit".into(), self.unit),
                Column::new("billed_cost".into(), self.billed),
                Column::new("effective_cost".into(), self.effective),
                Column::new("billing_currency".into(), self.currency),
                // Cost Explorer's months are the invoice's.
                schema::day_column(
                    "billing_period_start",
                    &self
                        .days
                        .iter()
                        .map(|d| d.with_day(1).unwrap_or(*d))
                        .collect::<Vec<_>>(),
                )?,
                Column::new("tags".into(), self.tags),
                Column::new("source".into(), vec![SOURCE; n]),
            ],
        )?;
        schema::validate_cost(&df).map_err(|e| CollectError::BadResponse {
            service: SERVICE,
            operation: OPERATION,
            message: e.to_string(),
        })?;
        Ok(df)
    }
}

/// Permission check: one ungrouped request for yesterday (costs $0.01).
pub async fn check(sdk: &SdkConfig) -> Check {
    let client = aws_sdk_costexplorer::Client::new(sdk);
    let today = chrono::Utc::now().date_naive();
    let yesterday = today.pred_opt().unwrap_or(today);
    let result = match DateInterval::builder()
        .start(yesterday.to_string())
        .end(today.to_string())
        .build()
    {
        Ok(period) => client
            .get_cost_and_usage()
            .time_period(period)
            .granularity(Granularity::Daily)
            .metrics("UnblendedCost")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error(SERVICE, OPERATION, ACTION, &e)),
        Err(e) => Err(CollectError::BadResponse {
            service: SERVICE,
            operation: OPERATION,
            message: e.to_string(),
        }),
    };
    let mut c = super::check(ACTION, "account".into(), result);
    c.note = Some("one paid request ($0.01)");
    c
}

/// The IAM actions Cost Explorer's spend needs (finding the Bedrock services, then their
/// spend).
pub(crate) const PERMISSIONS: &[&str] = &[DISCOVER_ACTION, ACTION];

/// `[aws.cost_explorer]`: Bedrock spend by service, usage type and tag, for the account
/// (one global API served from us-east-1); days no longer estimated are final.
pub(crate) struct CostExplorer<'c> {
    pub cfg: &'c AwsConfig,
}

impl Collector for CostExplorer<'_> {
    fn source(&self) -> String {
        SOURCE.to_string()
    }

    fn permissions(&self) -> &'static [&'static str] {
        PERMISSIONS
    }

    fn check(&self, _today: NaiveDate) -> Pending<'_, Vec<Check>> {
        Box::pin(async move {
            let sdk = super::sdk_config(self.cfg, "us-east-1").await;
            vec![check(&sdk).await]
        })
    }

    fn collect<'a>(&'a self, run: &'a Run<'a>, _found: &'a mut Found<'_>) -> Outcome<'a> {
        Box::pin(within(run.deadline, self.fetch_and_store(run)))
    }
}

impl CostExplorer<'_> {
    /// The window's days not final yet, fetched and committed under [`SOURCE`].
    async fn fetch_and_store(&self, run: &Run<'_>) -> Result<String, CollectError> {
        let ce = &self.cfg.cost_explorer;
        let window = super::window_of(self.cfg, run);
        let sdk = super::sdk_config(self.cfg, "us-east-1").await;
        let have = run.skippable_days(Table::Cost, SOURCE)?;
        let spend = collect(&sdk, window, ce.services.as_deref(), &ce.tag_keys, &have).await?;
        run.commit(
            Table::Cost,
            &spend.frame,
            (&[SOURCE.to_string()], &spend.days),
            spend.final_days.iter().copied(),
            &spend.read,
        )?;
        let asked = if ce.services.is_some() {
            "configured"
        } else {
            "found matching \"Bedrock\""
        };
        Ok(format!(
            "{} service(s) {asked}: {}; {} cost row(s) over {} day(s) ({} final, {} skipped as already final); {} paid request(s) (${:.2})",
            spend.services.len(),
            spend.services.join(", "),
            spend.frame.height(),
            spend.days.len(),
            spend.final_days.len(),
            spend.skipped_final,
            spend.paid_requests,
            spend.paid_requests as f64 * 0.01
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_add_back_exactly() {
        let parts = split(0.1 + 0.2, &[1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]);
        assert!((parts.iter().sum::<f64>() - (0.1 + 0.2)).abs() < 1e-15);
        assert_eq!(split(5.0, &[1.0]), vec![5.0]);
    }
}

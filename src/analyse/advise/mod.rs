//! Unit economics and the advice that follows from them: cost per 1K tokens and per request
//! by team, feature and model; billed prices checked against the list-price catalog; spend
//! estimated from usage the bill does not cover yet; commitment (Provisioned Throughput /
//! PTU) break-even and sizing; model-tiering hints.
//!
//! Every figure here is an estimate from the stored data and says so: what it assumes is
//! carried in the output next to the number.

mod commitments;
mod prices;
mod tiering;

pub use commitments::commitment;

use crate::coded::CompensatedSum;
pub use crate::config::Price;
use crate::config::{AdviseConfig, CommitmentConfig};
use crate::schema::without_categoricals;
use chrono::NaiveDate;
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The built-in catalog, shipped as a data file with its source and date.
pub(crate) const BUILTIN_CATALOG: &str = include_str!("../../../data/prices.toml");

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub source: String,
    pub as_of: String,
    pub batch_factor: f64,
    pub regional_premium: f64,
    pub models: BTreeMap<String, Price>,
}

impl Catalog {
    /// The shipped catalog with the config's overrides applied.
    pub fn load(overrides: &BTreeMap<String, Price>) -> Catalog {
        let mut c: Catalog =
            toml::from_str(BUILTIN_CATALOG).expect("the shipped catalog parses (tested)");
        for (model, o) in overrides {
            // An override sets the prices; what it leaves out keeps the shipped value.
            let shipped = c.models.remove(model);
            let keep = |f: fn(&Price) -> Option<f64>| shipped.as_ref().and_then(f);
            let merged = Price {
                cache_read: o.cache_read.or(keep(|p| p.cache_read)),
                cache_write: o.cache_write.or(keep(|p| p.cache_write)),
                tier: o
                    .tier
                    .clone()
                    .or(shipped.as_ref().and_then(|p| p.tier.clone())),
                cheaper: o
                    .cheaper
                    .clone()
                    .or(shipped.as_ref().and_then(|p| p.cheaper.clone())),
                ..o.clone()
            };
            c.models.insert(model.clone(), merged);
        }
        c
    }

    /// List price per token of one usage type of a model (cache types fall back to input).
    pub(crate) fn per_token(&self, model: &str, usage_type: &str) -> Option<f64> {
        let p = self.models.get(model)?;
        let per_m = match usage_type {
            "input_tokens" => p.input,
            "output_tokens" => p.output,
            "cache_read_tokens" => p.cache_read.unwrap_or(p.input),
            "cache_write_tokens" => p.cache_write.unwrap_or(p.input),
            _ => return None,
        };
        Some(per_m / 1e6)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UnitCost {
    pub team: String,
    pub feature: String,
    pub model: String,
    pub tokens: f64,
    pub effective_cost: f64,
    pub per_1k_tokens: Option<f64>,
    pub per_1k_input_tokens: Option<f64>,
    pub per_1k_output_tokens: Option<f64>,
    pub per_1k_cache_read_tokens: Option<f64>,
    /// From usage records (CloudWatch invocations); null where there are none.
    pub requests: Option<f64>,
    pub per_request: Option<f64>,
    /// Change of cost per 1K tokens, last 7 days of the period vs the 7 before.
    pub per_1k_tokens_trend_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PriceCheck {
    pub model: String,
    pub usage_type: String,
    /// `batch` or `regional` when that list price (discounted or marked up) was used.
    pub pricing_detail: Option<String>,
    pub tokens: f64,
    pub billed_per_1m: f64,
    pub catalog_per_1m: f64,
    pub difference_pct: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Estimate {
    pub date: NaiveDate,
    pub model: String,
    pub tokens: f64,
    /// Usage × list price: what the bill will likely say once it arrives.
    pub estimated_cost: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CommitmentAdvice {
    pub model: String,
    /// `buy`, `stay_on_demand`, `keep`, `reduce`, or `no_usage_data` (a commitment billed with no
    /// measured usage: its utilisation is unknown, not 0%).
    pub action: String,
    pub units: Option<u32>,
    pub utilisation: Option<f64>,
    pub break_even_utilisation: Option<f64>,
    pub on_demand_cost_per_day: f64,
    pub commitment_cost_per_day: f64,
    /// Positive: what the action saves per 30 days.
    pub monthly_saving: f64,
    pub throttles: f64,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TieringHint {
    pub team: String,
    pub feature: String,
    pub model: String,
    pub cheaper_model: String,
    pub tokens_per_day: f64,
    pub output_share: f64,
    pub output_tokens_per_request: Option<f64>,
    pub monthly_cost: f64,
    pub monthly_cost_on_cheaper: f64,
    pub monthly_saving: f64,
    pub assumptions: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CatalogInfo {
    pub source: String,
    pub as_of: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Advice {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub currency: String,
    pub catalog: CatalogInfo,
    pub unit_costs: Vec<UnitCost>,
    pub price_checks: Vec<PriceCheck>,
    pub estimates: Vec<Estimate>,
    pub commitments: Vec<CommitmentAdvice>,
    pub tiering: Vec<TieringHint>,
}

fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f + 0.0
}

fn per_1k(cost: f64, tokens: f64) -> Option<f64> {
    (tokens > 0.0).then(|| round(cost / tokens * 1000.0, 6))
}

/// Token rows of `costs` (attributed) in `start..=end` with a model.
fn token_rows(costs: LazyFrame, start: NaiveDate, end: NaiveDate) -> LazyFrame {
    costs.filter(
        super::between(start, end)
            .and(crate::schema::is_token_usage())
            .and(col("model").is_not_null()),
    )
}

fn quantity() -> Expr {
    col("consumed_quantity").fill_null(lit(0.0))
}

/// Requests (and throttles) by (team, feature, model) from attributed usage records.
fn requests(
    usage: Option<&DataFrame>,
    start: NaiveDate,
    end: NaiveDate,
) -> PolarsResult<BTreeMap<Key, (f64, f64)>> {
    let mut out = BTreeMap::new();
    let Some(usage) = usage else {
        return Ok(out);
    };
    let df = usage
        .clone()
        .lazy()
        .filter(super::between(start, end).and(col("model").is_not_null()))
        .group_by([col("team"), col("feature"), col("model")])
        .agg([
            col("invocations").fill_null(lit(0.0)).sum(),
            col("throttles").fill_null(lit(0.0)).sum(),
        ])
        .collect()?;
    let s = |n: &str| df.column(n).and_then(|c| c.str());
    let (t, f, m) = (s("team")?, s("feature")?, s("model")?);
    let inv = df.column("invocations")?.f64()?;
    let thr = df.column("throttles")?.f64()?;
    for i in 0..df.height() {
        out.insert(
            (
                t.get(i).unwrap_or_default().to_string(),
                f.get(i).unwrap_or_default().to_string(),
                m.get(i).unwrap_or_default().to_string(),
            ),
            (inv.get(i).unwrap_or(0.0), thr.get(i).unwrap_or(0.0)),
        );
    }
    Ok(out)
}

/// Per (team, feature, model): cost, tokens, by token type, last 7 days and the 7 before.
#[derive(Default)]
struct Acc {
    cost: f64,
    tokens: f64,
    by_type: BTreeMap<String, (f64, f64)>,
    recent: (f64, f64),
    before: (f64, f64),
}

impl Acc {
    fn add(&mut self, other: Acc) {
        self.cost += other.cost;
        self.tokens += other.tokens;
        for (usage, (c, t)) in other.by_type {
            let by_type = self.by_type.entry(usage).or_default();
            by_type.0 += c;
            by_type.1 += t;
        }
        self.recent.0 += other.recent.0;
        self.recent.1 += other.recent.1;
        self.before.0 += other.before.0;
        self.before.1 += other.before.1;
    }
}

/// (team, feature, model)
type Key = (String, String, String);
/// (model, usage type, pricing detail) -> (billed cost, tokens) of usage charges.
type Billed = BTreeMap<(String, String, String), (f64, f64)>;

/// Token rows of `costs` in `start..=end` summed per (team, feature, model), by usage type
/// and with the last 7 days and the 7 before them apart.
fn accumulate(
    costs: &DataFrame,
    start: NaiveDate,
    end: NaiveDate,
) -> PolarsResult<BTreeMap<Key, Acc>> {
    let recent_from = (end - chrono::Duration::days(6)).max(start);
    let day = |d: NaiveDate| lit(crate::schema::day_number(d));
    // 0: the last 7 days, 1: the 7 before them, 2: earlier.
    let week = when(crate::schema::day_number_expr().gt_eq(day(recent_from)))
        .then(lit(0i32))
        .when(crate::schema::day_number_expr().gt_eq(day(recent_from - chrono::Duration::days(7))))
        .then(lit(1i32))
        .otherwise(lit(2i32));
    let keys = ["team", "feature", "model", "usage_type", "__week"];
    let summed = super::sliced_sums(
        costs,
        |rows| {
            token_rows(rows, start, end).select([
                col("team"),
                col("feature"),
                col("model"),
                col("usage_type"),
                week.clone().alias("__week"),
                col("effective_cost"),
                quantity().alias("tokens"),
            ])
        },
        &keys,
        &["effective_cost", "tokens"],
    )?;
    // Each (team, feature, model) is coded by the summed rows' dictionary codes and its text
    // made once, for its first row; the rows' sums meet by index.
    let keys = ["team", "feature", "model"]
        .iter()
        .map(|c| summed.column(c))
        .collect::<PolarsResult<Vec<_>>>()?;
    let (firsts, key_of_row) = crate::coded::code_columns(&keys)?;
    let texts = without_categoricals(summed.select(["team", "feature", "model", "usage_type"])?)?;
    let text = |n: &str| -> PolarsResult<Vec<Option<&str>>> {
        Ok(texts.column(n)?.str()?.iter().collect())
    };
    let (team, feature, model, usage) = (
        text("team")?,
        text("feature")?,
        text("model")?,
        text("usage_type")?,
    );
    let num = |n: &str| -> PolarsResult<Vec<f64>> {
        Ok(summed
            .column(n)?
            .f64()?
            .iter()
            .map(|v| v.unwrap_or(0.0))
            .collect())
    };
    let (cost, tokens) = (num("effective_cost")?, num("tokens")?);
    let weeks = summed.column("__week")?.i32()?;
    // (cost, tokens) summed with compensation, as the rows were: a key's sums by usage type
    // and week add up to its total to the cent.
    type Both = (CompensatedSum, CompensatedSum);
    let add = |both: &mut Both, c: f64, t: f64| {
        both.0.add(c);
        both.1.add(t);
    };
    let mut sums: Vec<(Both, BTreeMap<&str, Both>, [Both; 2])> =
        firsts.iter().map(|_| Default::default()).collect();
    for (row, (key, week)) in key_of_row.into_no_null_iter().zip(weeks.iter()).enumerate() {
        let (c, t) = (cost[row], tokens[row]);
        let (all, by_type, weeks) = &mut sums[key as usize];
        add(all, c, t);
        add(
            by_type.entry(usage[row].unwrap_or_default()).or_default(),
            c,
            t,
        );
        if let Some(w @ (0 | 1)) = week {
            add(&mut weeks[w as usize], c, t);
        }
    }
    let totals = |(c, t): Both| (c.total(), t.total());
    // Null and empty text are one key (as shown).
    let name = |v: &[Option<&str>], row: usize| v[row].unwrap_or_default().to_string();
    let mut acc: BTreeMap<Key, Acc> = BTreeMap::new();
    for (row, (all, by_type, [recent, before])) in firsts.into_iter().zip(sums) {
        let key = (name(&team, row), name(&feature, row), name(&model, row));
        let (cost, tokens) = totals(all);
        acc.entry(key).or_default().add(Acc {
            cost,
            tokens,
            by_type: by_type
                .into_iter()
                .map(|(usage, both)| (usage.to_string(), totals(both)))
                .collect(),
            recent: totals(recent),
            before: totals(before),
        });
    }
    Ok(acc)
}

fn unit_cost(key: &Key, a: &Acc, requests: Option<f64>) -> UnitCost {
    let (team, feature, model) = key;
    let typed = |k: &str| a.by_type.get(k).and_then(|(c, t)| per_1k(*c, *t));
    let trend = match (
        per_1k(a.recent.0, a.recent.1),
        per_1k(a.before.0, a.before.1),
    ) {
        (Some(now), Some(before)) if before > 0.0 => Some(round((now - before) / before, 4)),
        _ => None,
    };
    UnitCost {
        team: team.clone(),
        feature: feature.clone(),
        model: model.clone(),
        tokens: a.tokens.round(),
        effective_cost: round(a.cost, 2),
        per_1k_tokens: per_1k(a.cost, a.tokens),
        per_1k_input_tokens: typed("input_tokens"),
        per_1k_output_tokens: typed("output_tokens"),
        per_1k_cache_read_tokens: typed("cache_read_tokens"),
        requests: requests.map(f64::round),
        per_request: requests.filter(|r| *r > 0.0).map(|r| round(a.cost / r, 6)),
        per_1k_tokens_trend_pct: trend,
    }
}

/// Unit costs by (team, feature, model) over `start..=end`, largest spend first.
pub fn unit_costs(
    costs: &DataFrame,
    usage: Option<&DataFrame>,
    start: NaiveDate,
    end: NaiveDate,
) -> PolarsResult<Vec<UnitCost>> {
    let acc = accumulate(costs, start, end)?;
    let reqs = requests(usage, start, end)?;
    let mut out: Vec<UnitCost> = acc
        .iter()
        .map(|(k, a)| unit_cost(k, a, reqs.get(k).map(|(r, _)| *r)))
        .collect();
    out.sort_by(|a, b| {
        b.effective_cost
            .total_cmp(&a.effective_cost)
            .then(a.team.cmp(&b.team))
    });
    Ok(out)
}

/// All advice over `start..=end` of attributed `costs` (and attributed usage records).
pub fn advise(
    costs: &DataFrame,
    usage: Option<&DataFrame>,
    start: NaiveDate,
    end: NaiveDate,
    currency: &str,
    catalog: &Catalog,
    cfg: &AdviseConfig,
) -> PolarsResult<Advice> {
    let days = ((end - start).num_days() + 1) as f64;
    let reqs = requests(usage, start, end)?;
    let acc = accumulate(costs, start, end)?;
    let mut unit_costs = Vec::new();
    let mut tiering = Vec::new();
    for (key, a) in &acc {
        let requests = reqs.get(key).map(|(r, _)| *r);
        unit_costs.push(unit_cost(key, a, requests));
        tiering.extend(tiering::hint(key, a, requests, days, catalog, cfg));
    }
    unit_costs.sort_by(|a, b| {
        b.effective_cost
            .total_cmp(&a.effective_cost)
            .then(a.team.cmp(&b.team))
    });
    tiering.sort_by(|a, b| b.monthly_saving.total_cmp(&a.monthly_saving));
    let price_checks = prices::checks(&prices::billed_usage(costs, start, end)?, catalog, cfg);
    let estimates = prices::estimates(costs, usage, catalog)?;
    let commitments = commitments::advise_all(costs, usage, &acc, &reqs, start, end, catalog, cfg)?;
    Ok(Advice {
        start,
        end,
        currency: currency.to_string(),
        catalog: CatalogInfo {
            source: catalog.source.clone(),
            as_of: catalog.as_of.clone(),
        },
        unit_costs,
        price_checks,
        estimates,
        commitments,
        tiering,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::load(&BTreeMap::new())
    }

    #[test]
    fn the_shipped_catalog_parses_and_names_its_source() {
        let c = catalog();
        assert!(!c.source.is_empty() && !c.as_of.is_empty());
        assert_eq!(
            c.per_token("anthropic.claude-3-5-haiku", "output_tokens"),
            Some(4.0 / 1e6)
        );
        // Cached input falls back to the input price where the catalog has none.
        assert_eq!(
            c.per_token("anthropic.claude-3-haiku", "cache_read_tokens"),
            Some(0.25 / 1e6)
        );
        for (name, p) in &c.models {
            if let Some(cheaper) = &p.cheaper {
                let q = &c.models[cheaper];
                assert!(
                    q.input < p.input && q.output < p.output,
                    "{name} -> {cheaper} is not cheaper"
                );
            }
        }
    }

    #[test]
    fn overrides_replace_list_prices() {
        let o = BTreeMap::from([(
            "gpt-4o".to_string(),
            Price {
                input: 2.0,
                output: 8.0,
                cache_read: None,
                cache_write: None,
                tier: None,
                cheaper: None,
            },
        )]);
        let c = Catalog::load(&o);
        assert_eq!(c.per_token("gpt-4o", "input_tokens"), Some(2.0 / 1e6));
        assert_eq!(c.models["gpt-4o"].cheaper.as_deref(), Some("gpt-4o-mini"));
    }

    fn pt() -> CommitmentConfig {
        CommitmentConfig {
            model: "m".into(),
            hourly_rate: 20.0,
            tokens_per_minute_per_unit: 10_000.0,
        }
    }

    #[test]
    fn break_even_and_sizing_by_hand() {
        // One unit: 14.4M tokens/day capacity for $480/day. At $0.0001/token on demand the
        // full unit is worth $1,440/day, so break-even is 480 / 1440 = 1/3.
        let steady = vec![10_000_000.0; 30];
        let a = commitment(&pt(), &steady, 1e-4, 0.0, 0.0, 0.2);
        // P95 = 10M/day = 6,944 tpm; +20% = 8,333 tpm -> 1 unit; 10M / 14.4M = 69% utilisation.
        assert_eq!(a.units, Some(1));
        assert!((a.break_even_utilisation.unwrap() - 1.0 / 3.0).abs() < 1e-4);
        assert!((a.utilisation.unwrap() - 10.0 / 14.4).abs() < 1e-4);
        assert_eq!(a.action, "buy");
        // On demand 10M x $0.0001 = $1,000/day vs $480: saves $520/day.
        assert!((a.monthly_saving - 520.0 * 30.0).abs() < 0.01);
        // A tenth of the traffic: 7% utilisation, stay on demand.
        let light = vec![1_000_000.0; 30];
        assert_eq!(
            commitment(&pt(), &light, 1e-4, 0.0, 0.0, 0.2).action,
            "stay_on_demand"
        );
        // ... unless on-demand calls are being throttled.
        assert_eq!(
            commitment(&pt(), &light, 1e-4, 0.0, 12.0, 0.2).action,
            "buy"
        );
    }

    #[test]
    fn an_underused_commitment_is_flagged() {
        let a = commitment(&pt(), &vec![1_000_000.0; 30], 1e-4, 480.0, 0.0, 0.2);
        assert_eq!(a.action, "reduce");
        assert!((a.utilisation.unwrap() - 100.0 / 480.0).abs() < 1e-4);
        assert!((a.monthly_saving - 380.0 * 30.0).abs() < 0.01);
    }

    #[test]
    fn a_commitment_without_measured_usage_is_not_read_as_idle() {
        let a = commitment(&pt(), &vec![0.0; 30], 1e-4, 480.0, 0.0, 0.2);
        assert_eq!(a.action, "no_usage_data");
        assert_eq!(a.utilisation, None);
        assert_eq!(a.monthly_saving, 0.0);
    }
}

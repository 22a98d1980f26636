//! Unit economics and the advice that follows from them: cost per 1K tokens and per request
//! by team, feature and model; billed prices checked against the list-price catalog; spend
//! estimated from usage the bill does not cover yet; commitment (Provisioned Throughput /
//! PTU) break-even and sizing; model-tiering hints.
//!
//! Every figure here is an estimate from the stored data and says so: what it assumes is
//! carried in the output next to the number.

use crate::coded::CompensatedSum;
pub use crate::config::Price;
use crate::config::{AdviseConfig, CommitmentConfig};
use crate::schema::without_categoricals;
use chrono::NaiveDate;
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The built-in catalog, shipped as a data file with its source and date.
pub const BUILTIN_CATALOG: &str = include_str!("../../data/prices.toml");

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
    pub fn per_token(&self, model: &str, usage_type: &str) -> Option<f64> {
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
    /// `buy`, `stay_on_demand`, `keep` or `reduce`.
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

/// Daily token totals of one model (usage records where present, else billed quantities),
/// over every day of the period (days without tokens count as 0).
fn daily_tokens(
    costs: &DataFrame,
    usage: Option<&DataFrame>,
    model: &str,
    start: NaiveDate,
    end: NaiveDate,
) -> PolarsResult<Vec<f64>> {
    let n = (end - start).num_days() as usize + 1;
    let mut out = vec![0.0; n];
    let from_usage = usage
        .map(|u| {
            u.clone()
                .lazy()
                .filter(super::between(start, end).and(col("model").eq(lit(model.to_string()))))
                .with_column(
                    (col("input_tokens").fill_null(lit(0.0))
                        + col("output_tokens").fill_null(lit(0.0)))
                    .alias("__tokens"),
                )
                .group_by([crate::schema::day_number_expr().alias("__day")])
                .agg([col("__tokens").sum()])
                .collect()
        })
        .transpose()?
        .filter(|df| df.height() > 0);
    let df = match from_usage {
        Some(df) => df,
        None => costs
            .clone()
            .lazy()
            .filter(
                super::between(start, end)
                    .and(col("model").eq(lit(model.to_string())))
                    .and(crate::schema::is_token_usage()),
            )
            .group_by([crate::schema::day_number_expr().alias("__day")])
            .agg([col("consumed_quantity")
                .fill_null(lit(0.0))
                .sum()
                .alias("__tokens")])
            .collect()?,
    };
    let start_day = crate::schema::day_number(start);
    let days = df.column("__day")?.i32()?;
    let tokens = df.column("__tokens")?.f64()?;
    for (d, t) in days.iter().zip(tokens.iter()) {
        if let (Some(d), Some(t)) = (d, t) {
            let i = (d - start_day) as usize;
            if i < n {
                out[i] += t;
            }
        }
    }
    Ok(out)
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let rank = (p * (v.len() - 1) as f64).round() as usize;
    v[rank.min(v.len() - 1)]
}

/// Commitment advice for one configured model: size from P95 daily throughput plus headroom,
/// break-even utilisation against on-demand at the model's blended list price.
pub fn commitment(
    c: &CommitmentConfig,
    daily_tokens: &[f64],
    blended_per_token: f64,
    existing_cost_per_day: f64,
    throttles: f64,
    headroom: f64,
) -> CommitmentAdvice {
    let days = daily_tokens.len().max(1) as f64;
    let mean = daily_tokens.iter().sum::<f64>() / days;
    let on_demand = mean * blended_per_token;
    let unit_capacity = c.tokens_per_minute_per_unit * 1440.0;
    let unit_cost = c.hourly_rate * 24.0;
    let break_even =
        (blended_per_token > 0.0).then(|| unit_cost / (unit_capacity * blended_per_token));
    if existing_cost_per_day > 0.0 {
        // A commitment is in place: does what it serves pay for it?
        let utilisation = on_demand / existing_cost_per_day;
        let (action, reason) = if utilisation >= 1.0 {
            ("keep", format!("the tokens it serves would cost {on_demand:.2}/day on demand, more than its {existing_cost_per_day:.2}/day"))
        } else {
            ("reduce", format!("it costs {existing_cost_per_day:.2}/day but the tokens it serves would cost {on_demand:.2}/day on demand: resize or let it lapse"))
        };
        return CommitmentAdvice {
            model: c.model.clone(),
            action: action.into(),
            units: None,
            utilisation: Some(round(utilisation, 4)),
            break_even_utilisation: break_even.map(|b| round(b, 4)),
            on_demand_cost_per_day: round(on_demand, 2),
            commitment_cost_per_day: round(existing_cost_per_day, 2),
            monthly_saving: round(((existing_cost_per_day - on_demand) * 30.0).max(0.0), 2),
            throttles,
            reason,
        };
    }
    let peak_tpm = percentile(daily_tokens, 0.95) / 1440.0;
    let units = ((peak_tpm * (1.0 + headroom)) / c.tokens_per_minute_per_unit)
        .ceil()
        .max(1.0) as u32;
    let cost = units as f64 * unit_cost;
    let utilisation = mean / (units as f64 * unit_capacity);
    let saving = (on_demand - cost) * 30.0;
    let pays = break_even.is_some_and(|b| utilisation >= b);
    let (action, reason) = if pays {
        ("buy", format!("{units} unit(s) sized at P95 throughput + {:.0}% headroom would run at {:.0}% utilisation, above the {:.0}% break-even", headroom * 100.0, utilisation * 100.0, break_even.unwrap_or(0.0) * 100.0))
    } else if throttles > 0.0 {
        ("buy", format!("on-demand calls were throttled {throttles:.0} times; {units} unit(s) would guarantee capacity at {:.0}% utilisation (break-even {:.0}%), costing more than on demand", utilisation * 100.0, break_even.unwrap_or(0.0) * 100.0))
    } else {
        (
            "stay_on_demand",
            format!(
                "{units} unit(s) would run at {:.0}% utilisation, below the {:.0}% break-even",
                utilisation * 100.0,
                break_even.unwrap_or(0.0) * 100.0
            ),
        )
    };
    CommitmentAdvice {
        model: c.model.clone(),
        action: action.into(),
        units: Some(units),
        utilisation: Some(round(utilisation, 4)),
        break_even_utilisation: break_even.map(|b| round(b, 4)),
        on_demand_cost_per_day: round(on_demand, 2),
        commitment_cost_per_day: round(cost, 2),
        monthly_saving: round(saving.max(0.0), 2),
        throttles,
        reason,
    }
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

/// Billed cost and tokens of usage charges per (model, usage type, pricing detail), for the
/// catalog check (credits excluded: they are not a price).
fn billed_usage(costs: &DataFrame, start: NaiveDate, end: NaiveDate) -> PolarsResult<Billed> {
    let keys = ["model", "usage_type", "pricing_detail"];
    let df = super::sliced_sums(
        costs,
        |rows| {
            token_rows(rows, start, end)
                .filter(crate::schema::equals(col("charge_category"), "Usage"))
                .select([
                    col("model"),
                    col("usage_type"),
                    col("pricing_detail"),
                    col("billed_cost"),
                    quantity().alias("tokens"),
                ])
        },
        &keys,
        &["billed_cost", "tokens"],
    )
    .and_then(without_categoricals)?;
    let s = |n: &str| df.column(n).and_then(|c| c.str());
    let f = |n: &str| df.column(n).and_then(|c| c.f64());
    let (model, usage, detail) = (s("model")?, s("usage_type")?, s("pricing_detail")?);
    let (billed_cost, tokens) = (f("billed_cost")?, f("tokens")?);
    let mut billed: Billed = BTreeMap::new();
    for i in 0..df.height() {
        let b = billed
            .entry((
                model.get(i).unwrap_or_default().to_string(),
                usage.get(i).unwrap_or_default().to_string(),
                detail.get(i).unwrap_or_default().to_string(),
            ))
            .or_default();
        b.0 += billed_cost.get(i).unwrap_or(0.0);
        b.1 += tokens.get(i).unwrap_or(0.0);
    }
    Ok(billed)
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
    let billed = billed_usage(costs, start, end)?;
    let mut unit_costs = Vec::new();
    let mut tiering = Vec::new();
    for (key, a) in &acc {
        let (team, feature, model) = key;
        let requests = reqs.get(key).map(|(r, _)| *r);
        unit_costs.push(unit_cost(key, a, requests));

        // Tiering: a top-tier model doing short, output-light work.
        let Some(price) = catalog.models.get(model) else {
            continue;
        };
        let (Some("top"), Some(cheaper)) = (price.tier.as_deref(), price.cheaper.as_deref()) else {
            continue;
        };
        let output = a
            .by_type
            .get("output_tokens")
            .map(|(_, t)| *t)
            .unwrap_or(0.0);
        let output_share = if a.tokens > 0.0 {
            output / a.tokens
        } else {
            0.0
        };
        let per_request_output = requests.filter(|r| *r > 0.0).map(|r| output / r);
        let simple = match per_request_output {
            Some(o) => o <= cfg.tiering_max_output_tokens_per_request,
            None => output_share <= cfg.tiering_max_output_share,
        };
        if !simple {
            continue;
        }
        let cheaper_cost: Option<f64> = a
            .by_type
            .iter()
            .map(|(k, (_, t))| catalog.per_token(cheaper, k).map(|p| p * t))
            .sum();
        let Some(cheaper_cost) = cheaper_cost else {
            continue;
        };
        let monthly = a.cost / days * 30.0;
        let monthly_cheaper = cheaper_cost / days * 30.0;
        if monthly - monthly_cheaper < cfg.min_monthly_saving {
            continue;
        }
        tiering.push(TieringHint {
            team: team.clone(),
            feature: feature.clone(),
            model: model.clone(),
            cheaper_model: cheaper.to_string(),
            tokens_per_day: (a.tokens / days).round(),
            output_share: round(output_share, 4),
            output_tokens_per_request: per_request_output.map(|o| round(o, 1)),
            monthly_cost: round(monthly, 2),
            monthly_cost_on_cheaper: round(monthly_cheaper, 2),
            monthly_saving: round(monthly - monthly_cheaper, 2),
            assumptions: format!(
                "estimate: the same token volumes at {cheaper}'s list price ({}); {}; check quality on a sample before switching",
                catalog.as_of,
                match per_request_output {
                    Some(o) => format!("{o:.0} output tokens per request suggests short, structured tasks"),
                    None => format!("output is {:.0}% of tokens (no request counts to judge task length)", output_share * 100.0),
                }
            ),
        });
    }
    unit_costs.sort_by(|a, b| {
        b.effective_cost
            .total_cmp(&a.effective_cost)
            .then(a.team.cmp(&b.team))
    });
    tiering.sort_by(|a, b| b.monthly_saving.total_cmp(&a.monthly_saving));

    let mut price_checks = Vec::new();
    for ((model, usage, detail), (cost, tokens)) in &billed {
        let Some(list) = catalog.per_token(model, usage) else {
            continue;
        };
        // Batch inference is billed at a discount, regional endpoints at a premium.
        let list = match detail.as_str() {
            "batch" => list * catalog.batch_factor,
            "regional" | "data_zone" => list * (1.0 + catalog.regional_premium),
            _ => list,
        };
        if *tokens <= 0.0 || list <= 0.0 {
            continue;
        }
        let actual = cost / tokens;
        let diff = (actual - list) / list;
        if diff.abs() > cfg.price_tolerance {
            price_checks.push(PriceCheck {
                model: model.clone(),
                usage_type: usage.clone(),
                pricing_detail: (!detail.is_empty()).then(|| detail.clone()),
                tokens: tokens.round(),
                billed_per_1m: round(actual * 1e6, 4),
                catalog_per_1m: round(list * 1e6, 4),
                difference_pct: round(diff, 4),
            });
        }
    }

    let estimates = estimates(costs, usage, catalog)?;

    let mut commitments = Vec::new();
    for c in &cfg.commitments {
        let tokens = daily_tokens(costs, usage, &c.model, start, end)?;
        // Blended list price with the model's own input/output mix in the period.
        let (mut list_cost, mut list_tokens) = (0.0, 0.0);
        for (_, a) in acc.iter().filter(|(k, _)| k.2 == c.model) {
            for (usage, (_, tokens)) in &a.by_type {
                if let Some(p) = catalog.per_token(&c.model, usage) {
                    list_cost += p * tokens;
                    list_tokens += tokens;
                }
            }
        }
        let blended = if list_tokens > 0.0 {
            list_cost / list_tokens
        } else {
            catalog.per_token(&c.model, "input_tokens").unwrap_or(0.0)
        };
        let existing = provisioned_cost(costs, &c.model, start, end)? / days;
        let throttles: f64 = reqs
            .iter()
            .filter(|(k, _)| k.2 == c.model)
            .map(|(_, (_, t))| t)
            .sum();
        commitments.push(commitment(
            c,
            &tokens,
            blended,
            existing,
            throttles,
            cfg.headroom,
        ));
    }

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

fn provisioned_cost(
    costs: &DataFrame,
    model: &str,
    start: NaiveDate,
    end: NaiveDate,
) -> PolarsResult<f64> {
    let df = costs
        .clone()
        .lazy()
        .filter(
            super::between(start, end)
                .and(col("model").eq(lit(model.to_string())))
                .and(col("usage_type").eq(lit("provisioned"))),
        )
        .select([col("effective_cost").sum()])
        .collect()?;
    Ok(df.column("effective_cost")?.f64()?.get(0).unwrap_or(0.0))
}

/// Usage on days after the last billed day of its provider, priced from the catalog.
fn estimates(
    costs: &DataFrame,
    usage: Option<&DataFrame>,
    catalog: &Catalog,
) -> PolarsResult<Vec<Estimate>> {
    let Some(usage) = usage else {
        return Ok(Vec::new());
    };
    let last_billed = costs
        .clone()
        .lazy()
        .group_by([col("provider_name")])
        .agg([col("charge_period_start")
            .max()
            .cast(DataType::Date)
            .cast(DataType::Int32)
            .alias("__last")])
        .collect()
        .and_then(without_categoricals)?;
    let df = usage
        .clone()
        .lazy()
        .join(
            last_billed.lazy(),
            [col("provider_name")],
            [col("provider_name")],
            JoinArgs::new(JoinType::Left),
        )
        .with_column(crate::schema::day_number_expr().alias("__day"))
        .filter(
            col("model")
                .is_not_null()
                .and(col("__last").is_null().or(col("__day").gt(col("__last")))),
        )
        .group_by([col("__day"), col("model")])
        .agg([
            col("input_tokens").fill_null(lit(0.0)).sum(),
            col("output_tokens").fill_null(lit(0.0)).sum(),
            col("cache_read_tokens").fill_null(lit(0.0)).sum(),
            col("cache_write_tokens").fill_null(lit(0.0)).sum(),
        ])
        .sort(["__day", "model"], SortMultipleOptions::default())
        .collect()?;
    let day = df.column("__day")?.i32()?;
    let model = df.column("model")?.str()?;
    let kinds = [
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
    ];
    let values: Vec<&Float64Chunked> = kinds
        .iter()
        .map(|k| df.column(k).and_then(|c| c.f64()))
        .collect::<PolarsResult<_>>()?;
    let mut out = Vec::new();
    for i in 0..df.height() {
        let (Some(d), Some(m)) = (day.get(i), model.get(i)) else {
            continue;
        };
        let mut cost = 0.0;
        let mut tokens = 0.0;
        let mut priced = false;
        for (k, v) in kinds.iter().zip(&values) {
            let t = v.get(i).unwrap_or(0.0);
            tokens += t;
            if let Some(p) = catalog.per_token(m, k) {
                cost += p * t;
                priced = true;
            }
        }
        if priced && tokens > 0.0 {
            out.push(Estimate {
                date: crate::schema::date_of_day_number(d),
                model: m.to_string(),
                tokens: tokens.round(),
                estimated_cost: round(cost, 2),
            });
        }
    }
    Ok(out)
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
}

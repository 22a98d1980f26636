//! Budgets: a selection's spend against its amount for the period under way, the forecast
//! to the period's end with its interval ([`forecast`]), the thresholds crossed (by spend,
//! or by forecast and on which day), and the values that grew most against the same days
//! before the period.

mod alerts;
mod all;
pub mod forecast;

pub use alerts::{fresh_alerts, BudgetAlert};
pub use all::{evaluate_all, BudgetProblem, Evaluated};

use super::anomalies::Incident;
use super::{AnalyseError, Dimension, Pick};
use crate::attribute::Attributor;
use crate::config::{BudgetConfig, BudgetCost, BudgetPeriod, PlannedWindow};
use crate::store::Store;
use chrono::{Datelike, Duration, NaiveDate};
use polars::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    #[error("budget `{budget}`: its selector matches no spend in the store{within}\nhint: check the values with `spendlens report --format json` (by_team, by_model, …)")]
    NoMatch { budget: String, within: String },
    #[error("budget `{budget}` is in {wanted}, but the store holds its selection in {found}\nhint: give the budget in the currency its spend is billed in; spendlens never converts currencies")]
    Currency {
        budget: String,
        wanted: String,
        found: String,
    },
    #[error(transparent)]
    Analyse(#[from] AnalyseError),
    #[error("budget query failed: {0}")]
    Polars(#[from] PolarsError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetState {
    Ok,
    Warning,
    ForecastOver,
    Over,
}

impl BudgetState {
    pub fn name(self) -> &'static str {
        match self {
            BudgetState::Ok => "ok",
            BudgetState::Warning => "warning",
            BudgetState::ForecastOver => "forecast_over",
            BudgetState::Over => "over",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CrossedBy {
    Actual,
    Forecast,
}

/// A threshold reached: by spend on `day`, or by the forecast on `day`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Crossing {
    pub threshold: f64,
    pub day: NaiveDate,
    pub kind: CrossedBy,
}

/// A value beneath the budget whose spend grew most against the same number of days before
/// the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contributor {
    pub dimension: String,
    pub value: String,
    pub spent: f64,
    pub previous: f64,
    pub change: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodBounds {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

/// One day of a budget's period: spend to date through the last stored day, then the
/// forecast running total with its 80% interval (the cone a chart draws).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetDay {
    pub date: NaiveDate,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast_low: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast_high: Option<f64>,
}

/// One budget on day `at`.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetStatus {
    pub name: String,
    pub selector: BTreeMap<String, String>,
    pub period: PeriodBounds,
    pub at: NaiveDate,
    pub currency: String,
    pub cost: BudgetCost,
    pub amount: f64,
    pub spent: f64,
    /// Spend expected by the period's end, and its 80% interval.
    pub forecast: f64,
    pub forecast_low: f64,
    pub forecast_high: f64,
    pub used_pct: f64,
    pub forecast_pct: f64,
    pub status: BudgetState,
    pub crossed: Vec<Crossing>,
    pub days_left: i64,
    pub contributors: Vec<Contributor>,
    /// What the forecast knows or does not (a known change it starts from, a planned window
    /// ahead it cannot size).
    pub notes: Vec<String>,
    /// The period day by day, from its first stored day: spend to date, then forecast.
    pub cumulative: Vec<BudgetDay>,
}

/// The first and last day of `budget`'s period holding `at` (calendar months; quarters and
/// years counted from `start_month`).
pub fn period_of(budget: &BudgetConfig, at: NaiveDate) -> (NaiveDate, NaiveDate) {
    let months = budget.period.months() as i32;
    let index = at.year() * 12 + at.month0() as i32;
    let offset = match budget.period {
        BudgetPeriod::Month => 0,
        _ => (at.month0() as i32 - (budget.start_month as i32 - 1)).rem_euclid(months),
    };
    let month = |i: i32| NaiveDate::from_ymd_opt(i.div_euclid(12), i.rem_euclid(12) as u32 + 1, 1);
    let start = month(index - offset).expect("a month");
    let end = month(index - offset + months).expect("a month") - Duration::days(1);
    (start, end)
}

/// The rows `selector` picks: dimensions by value (`*` globs), `allocation` by its column.
pub fn selector_filter(selector: &BTreeMap<String, String>) -> Expr {
    let dims: Vec<(Dimension, String)> = selector
        .iter()
        .filter_map(|(k, v)| {
            let dim = match k.as_str() {
                "team" => Dimension::Team,
                "feature" => Dimension::Feature,
                "provider" => Dimension::Provider,
                "model" => Dimension::Model,
                "account" => Dimension::Account,
                _ => return None,
            };
            Some((dim, v.clone()))
        })
        .collect();
    let mut filter = super::investigate::selection_filter(&dims);
    if let Some(pattern) = selector.get("allocation") {
        let re = crate::schema::glob_regex(pattern);
        filter = filter.and(
            crate::schema::text(col("allocation"))
                .str()
                .contains(lit(re), true),
        );
    }
    filter
}

/// What [`evaluate`] needs besides the budget: the store, attribution, the incidents (with
/// their verdicts) and planned windows of the config.
pub struct Context<'a> {
    pub store: &'a Store,
    pub attributor: &'a Attributor,
    pub incidents: &'a [Incident],
    pub planned: &'a [PlannedWindow],
}

/// `budget` on day `at`. Spend counts through the store's last day when `at` is later (a
/// period with no data yet has spent nothing); the forecast runs from that day to the
/// period's end, and only its days within the period count.
pub fn evaluate(
    ctx: &Context,
    budget: &BudgetConfig,
    at: NaiveDate,
) -> Result<BudgetStatus, BudgetError> {
    let (start, end) = period_of(budget, at);
    let (first, last) = super::bounds(ctx.store)?
        .ok_or_else(|| AnalyseError::Empty(ctx.store.dir().display().to_string()))?;
    let through = at.min(last).max(first);
    let horizon = (end - through).num_days().max(0) as usize;
    let elapsed = (at - start).num_days() + 1;
    let history = forecast::LEVEL_DAYS as i64;
    let from = (start - Duration::days(elapsed))
        .min(through - Duration::days(history))
        .max(first);
    let window = load(ctx, budget, from, through)?;
    let cost = budget.cost.column();
    let x = daily(&window, cost, from, through)?;
    let index = |d: NaiveDate| (d - from).num_days().max(0) as usize;
    let spent_days: &[f64] = if through >= start {
        &x[index(start).min(x.len())..]
    } else {
        &[]
    };
    let spent: f64 = spent_days.iter().sum();
    let (since, mut notes) = known_changes(ctx, budget, through, (start, end));
    let f = forecast::forecast(&x, from, horizon, since.map_or(0, index));
    // Forecast days before the period (data ending before it began) are not its spend.
    let skip = (start - through).num_days().max(1) as usize - 1;
    let (ahead, share) = within_period(&f, skip);
    let amount = budget.amount_for(&format!("{:04}-{:02}", start.year(), start.month()));
    // Spend counted from the period's first day the store holds (a period that began
    // before the store's first day counts from that day).
    let counted_from = start.max(from);
    let crossed = crossings(
        budget,
        amount,
        (counted_from, through.max(counted_from - Duration::days(1))),
        spent_days,
        &ahead,
    );
    let forecast_total = spent + f.expected * share;
    let cumulative = running_totals(
        counted_from,
        spent_days,
        &ahead,
        &forecast::cone(&x, from, horizon, since.map_or(0, index))[skip.min(horizon)..],
    );
    let status = state(spent, forecast_total, amount, &crossed);
    let compared = held_notes(&mut notes, spent_days, (first, last), (start, through));
    let round = |v: f64| (v * 100.0).round() / 100.0 + 0.0;
    let pct = |v: f64| (v / amount * 1e4).round() / 100.0 + 0.0;
    Ok(BudgetStatus {
        name: budget.name.clone(),
        selector: budget.selector.clone(),
        period: PeriodBounds { start, end },
        at,
        currency: budget.currency.clone(),
        cost: budget.cost,
        amount,
        spent: round(spent),
        forecast: round(forecast_total),
        forecast_low: round(spent + f.low * share),
        forecast_high: round(spent + f.high * share),
        used_pct: pct(spent),
        forecast_pct: pct(forecast_total),
        status,
        crossed,
        days_left: (end - at).num_days().max(0),
        contributors: if compared {
            contributors(&window, budget, cost, (start, through))?
        } else {
            Vec::new()
        },
        notes,
        cumulative,
    })
}

/// The forecast's days after the first `skip` (those before the period), and their share
/// of the forecast's expected spend.
fn within_period(f: &forecast::Forecast, skip: usize) -> (Vec<f64>, f64) {
    let ahead: Vec<f64> = f.daily.iter().skip(skip).copied().collect();
    let share = if f.expected > 0.0 {
        ahead.iter().sum::<f64>() / f.expected
    } else {
        0.0
    };
    (ahead, share)
}

/// The period's running totals: `spent` day by day from `first`, then the forecast days
/// `ahead` with their interval (`cone`: low and high as fractions of the expected running
/// total, day by day).
fn running_totals(
    first: NaiveDate,
    spent: &[f64],
    ahead: &[f64],
    cone: &[(f64, f64)],
) -> Vec<BudgetDay> {
    let round = |v: f64| (v * 100.0).round() / 100.0 + 0.0;
    let mut total = 0.0;
    let mut days: Vec<BudgetDay> = spent
        .iter()
        .enumerate()
        .map(|(i, v)| {
            total += v;
            BudgetDay {
                date: first + Duration::days(i as i64),
                spent: Some(round(total)),
                forecast: None,
                forecast_low: None,
                forecast_high: None,
            }
        })
        .collect();
    let base = total;
    let mut expected = 0.0;
    let next = first + Duration::days(spent.len() as i64);
    for (i, (v, (low, high))) in ahead.iter().zip(cone).enumerate() {
        expected += v;
        days.push(BudgetDay {
            date: next + Duration::days(i as i64),
            spent: None,
            forecast: Some(round(base + expected)),
            forecast_low: Some(round(base + expected * low)),
            forecast_high: Some(round(base + expected * high)),
        });
    }
    days
}

/// `over` (spent the amount), `forecast_over`, `warning` (a threshold reached by spend) or
/// `ok`.
fn state(spent: f64, forecast: f64, amount: f64, crossed: &[Crossing]) -> BudgetState {
    if spent >= amount {
        BudgetState::Over
    } else if forecast >= amount {
        BudgetState::ForecastOver
    } else if crossed.iter().any(|c| c.kind == CrossedBy::Actual) {
        BudgetState::Warning
    } else {
        BudgetState::Ok
    }
}

/// Notes on what the store holds for the budget (stored days `first..=last`, the period so
/// far `start..=through`): no spend yet; no days before the period to compare contributors
/// with. Whether contributors can be compared.
fn held_notes(
    notes: &mut Vec<String>,
    spent_days: &[f64],
    (first, last): (NaiveDate, NaiveDate),
    (start, through): (NaiveDate, NaiveDate),
) -> bool {
    if spent_days.iter().all(|v| *v == 0.0) {
        notes.push(format!(
            "no spend stored for this period yet (the store ends on {last})"
        ));
    }
    if start < first && through >= first {
        notes.push(format!(
            "spend counted from {first}, the store's first day (the period began on {start})"
        ));
    }
    // Contributors compare the period so far with as many days before it.
    let days = (through - start).num_days() + 1;
    let compared = start - Duration::days(days) >= first;
    if !compared && through >= start {
        notes.push(format!(
            "no contributors: the store starts on {first}, after the {days} days before the period they are compared with"
        ));
    }
    compared
}

/// The budget's attributed rows of `from..=at` in its currency; an error naming the budget
/// when its selector matches nothing, or only spend in another currency.
fn load(
    ctx: &Context,
    budget: &BudgetConfig,
    from: NaiveDate,
    at: NaiveDate,
) -> Result<DataFrame, BudgetError> {
    let pick = |currency: &str| {
        super::load_window_where(
            ctx.store,
            ctx.attributor,
            Some(from),
            Some(at),
            Some(currency),
            0,
            Pick {
                rows: Some(selector_filter(&budget.selector)),
                ..Pick::default()
            },
        )
    };
    let found = |frame: &DataFrame| frame.height() > 0;
    match pick(&budget.currency) {
        Ok(w) if found(&w.frame) => return Ok(w.frame),
        Ok(_) | Err(AnalyseError::NoSuchCurrency { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let held: Vec<String> = stored_currencies(ctx.store)?
        .into_iter()
        .filter(|c| *c != budget.currency)
        .filter(|c| pick(c).is_ok_and(|w| found(&w.frame)))
        .collect();
    if held.is_empty() {
        return Err(BudgetError::NoMatch {
            budget: budget.name.clone(),
            within: format!(" from {from} to {at}"),
        });
    }
    Err(BudgetError::Currency {
        budget: budget.name.clone(),
        wanted: budget.currency.clone(),
        found: held.join(", "),
    })
}

/// Every currency the store's cost partitions hold.
fn stored_currencies(store: &Store) -> Result<Vec<String>, AnalyseError> {
    let manifest = store.manifest()?;
    let mut found: Vec<String> = manifest
        .partitions
        .values()
        .flat_map(|p| p.sums.iter().map(|s| s.currency.clone()))
        .collect();
    found.sort();
    found.dedup();
    Ok(found)
}

/// Daily sums of `cost` from `from` to `at` (a day without rows is 0).
fn daily(frame: &DataFrame, cost: &str, from: NaiveDate, at: NaiveDate) -> PolarsResult<Vec<f64>> {
    let mut x = vec![0.0; (at - from).num_days() as usize + 1];
    let df = frame
        .clone()
        .lazy()
        .group_by([crate::schema::day_number_expr().alias("__day")])
        .agg([col(cost).sum()])
        .collect()?;
    let first = crate::schema::day_number(from);
    for (d, v) in df
        .column("__day")?
        .i32()?
        .iter()
        .zip(df.column(cost)?.f64()?.iter())
    {
        if let (Some(d), Some(v)) = (d, v) {
            if let Some(slot) = usize::try_from(d - first).ok().and_then(|i| x.get_mut(i)) {
                *slot += v;
            }
        }
    }
    Ok(x)
}

/// Whether an incident concerns the budget's selection: one of its series is within the
/// selector (an empty selector takes every incident).
fn concerns(i: &Incident, selector: &BTreeMap<String, String>) -> bool {
    let series = std::iter::once((&i.headline.dimension, &i.headline.value))
        .chain(i.members.iter().map(|m| (&m.dimension, &m.value)));
    let glob = crate::config::glob_match;
    series.into_iter().any(|(dim, value)| {
        let pinned: Vec<(&str, &str)> = match dim.as_str() {
            "team_feature" => value
                .split_once('/')
                .map(|(t, f)| vec![("team", t), ("feature", f)])
                .unwrap_or_default(),
            "total" => Vec::new(),
            d => vec![(d, value.as_str())],
        };
        selector
            .iter()
            .all(|(k, pattern)| pinned.iter().any(|(d, v)| d == k && glob(pattern, v)))
    })
}

/// The day the forecast's level starts from — the start of the latest acknowledged
/// incident of the selection still under way on `at` (a known change) — and notes on
/// planned windows in the rest of the period, whose size the forecast cannot know.
fn known_changes(
    ctx: &Context,
    budget: &BudgetConfig,
    at: NaiveDate,
    (_, end): (NaiveDate, NaiveDate),
) -> (Option<NaiveDate>, Vec<String>) {
    let since = ctx
        .incidents
        .iter()
        .filter(|i| i.acknowledgement.is_some() && i.end >= at && i.start <= at)
        .filter(|i| i.start > at - Duration::days(forecast::LEVEL_DAYS as i64))
        .filter(|i| concerns(i, &budget.selector))
        .max_by_key(|i| i.start);
    let mut notes = Vec::new();
    if let Some(i) = since {
        notes.push(format!(
            "forecast from the level since {} (incident {} acknowledged as {})",
            i.start,
            i.id,
            i.acknowledgement.as_ref().map_or("", |a| a.verdict.name())
        ));
    }
    for w in ctx.planned.iter().filter(|w| w.to > at && w.from <= end) {
        notes.push(format!(
            "planned window `{}` ({} to {}) falls in the rest of the period: its change is not in the forecast",
            w.name, w.from, w.to
        ));
    }
    (since.map(|i| i.start), notes)
}

/// Each threshold reached: the first day spend (`spent`, from `start`) reached it, else the
/// first forecast day (`ahead`, from the day after `at`) the running total reaches it.
fn crossings(
    budget: &BudgetConfig,
    amount: f64,
    (start, at): (NaiveDate, NaiveDate),
    spent: &[f64],
    ahead: &[f64],
) -> Vec<Crossing> {
    let mut thresholds = budget.thresholds.clone();
    thresholds.sort_by(f64::total_cmp);
    let mut out = Vec::new();
    for t in thresholds {
        let level = t / 100.0 * amount;
        let mut total = 0.0;
        let actual = spent.iter().position(|v| {
            total += v;
            total >= level
        });
        let crossing = match actual {
            Some(i) => Some((start + Duration::days(i as i64), CrossedBy::Actual)),
            None => ahead
                .iter()
                .position(|v| {
                    total += v;
                    total >= level
                })
                .map(|i| (at + Duration::days(i as i64 + 1), CrossedBy::Forecast)),
        };
        if let Some((day, kind)) = crossing {
            out.push(Crossing {
                threshold: t,
                day,
                kind,
            });
        }
    }
    out
}

/// The three values beneath the budget (of the dimensions its selector leaves open) whose
/// spend grew most over the period so far against the same number of days before it.
fn contributors(
    frame: &DataFrame,
    budget: &BudgetConfig,
    cost: &str,
    (start, at): (NaiveDate, NaiveDate),
) -> PolarsResult<Vec<Contributor>> {
    let days = (at - start).num_days() + 1;
    let before = (start - Duration::days(days), start - Duration::days(1));
    let mut out = Vec::new();
    for (name, dim) in [
        ("team", Dimension::Team),
        ("feature", Dimension::Feature),
        ("model", Dimension::Model),
        ("provider", Dimension::Provider),
        ("account", Dimension::Account),
    ] {
        if budget.selector.contains_key(name) {
            continue;
        }
        let df = frame
            .clone()
            .lazy()
            .with_columns([
                crate::schema::text(dim.expr()).alias("__value"),
                when(super::between(start, at))
                    .then(col(cost))
                    .otherwise(lit(0.0))
                    .alias("__now"),
                when(super::between(before.0, before.1))
                    .then(col(cost))
                    .otherwise(lit(0.0))
                    .alias("__before"),
            ])
            .group_by([col("__value")])
            .agg([col("__now").sum(), col("__before").sum()])
            .collect()?;
        let values = crate::schema::text_values(df.column("__value")?)?;
        let now = df.column("__now")?.f64()?;
        let prev = df.column("__before")?.f64()?;
        for ((v, n), p) in values.iter().zip(now.iter()).zip(prev.iter()) {
            let (n, p) = (n.unwrap_or(0.0), p.unwrap_or(0.0));
            let round = |v: f64| (v * 100.0).round() / 100.0 + 0.0;
            out.push(Contributor {
                dimension: name.into(),
                value: v.unwrap_or_default().to_string(),
                spent: round(n),
                previous: round(p),
                change: round(n - p),
            });
        }
    }
    out.retain(|c| c.change > 0.0);
    out.sort_by(|a, b| b.change.total_cmp(&a.change).then(a.value.cmp(&b.value)));
    out.truncate(3);
    Ok(out)
}

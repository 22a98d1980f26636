//! The spend report: totals, tag coverage, spend by provider / team / team×feature / model /
//! allocation method, and top movers against the previous period of the same length.
//!
//! Built from the attributed cost lake; written as Markdown (a digest that fits Slack or
//! e-mail), JSON (the contract other tools read: `schema_version` says which) or CSV.
//! Money is never summed across currencies: a report is in exactly one currency.

use crate::analyse::{self, anomalies, Dimension};
use crate::attribute::{Attributor, UNALLOCATED};
use crate::config::AnomalyConfig;
use crate::store::Store;
use chrono::{Duration, NaiveDate};
use polars::prelude::*;
use serde::Serialize;
use std::fmt::Write as _;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Analyse(#[from] crate::analyse::AnalyseError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("report query failed: {0}")]
    Polars(#[from] PolarsError),
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Period {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Period {
    fn days(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }
    fn previous(&self) -> Period {
        let len = Duration::days(self.days());
        Period {
            start: self.start - len,
            end: self.end - len,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    pub effective_cost: f64,
    pub billed_cost: f64,
    pub allocated_cost: f64,
    pub unallocated_cost: f64,
    /// Allocated share of effective cost (0..1); null when the total is not positive.
    pub tag_coverage: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProviderRow {
    pub provider_name: String,
    pub effective_cost: f64,
    pub billed_cost: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TeamRow {
    pub team: String,
    pub effective_cost: f64,
    pub share: Option<f64>,
    /// The same team over the previous period, and the change against it (null: new spend).
    pub previous_effective_cost: f64,
    pub change_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TeamFeatureRow {
    pub team: String,
    pub feature: String,
    pub effective_cost: f64,
    pub previous_effective_cost: f64,
    pub change_pct: Option<f64>,
}

/// Spend of one day at the grain the dashboards chart and filter.
#[derive(Debug, Clone, Serialize)]
pub struct DailyRow {
    pub date: NaiveDate,
    pub provider_name: String,
    pub team: String,
    pub feature: String,
    pub model: Option<String>,
    pub effective_cost: f64,
}

/// The period's last day against what it usually costs.
#[derive(Debug, Clone, Serialize)]
pub struct LatestDay {
    pub date: NaiveDate,
    pub effective_cost: f64,
    /// Median of the same weekday over the previous four weeks (the anomaly baseline); null
    /// with less than a week of history.
    pub expected: Option<f64>,
    pub change: Option<f64>,
    pub change_pct: Option<f64>,
    pub reference_days: Vec<NaiveDate>,
    /// Mean of the seven days before it.
    pub trailing_7_day_average: f64,
}

/// Month to date and where the month is heading.
#[derive(Debug, Clone, Serialize)]
pub struct MonthToDate {
    /// `YYYY-MM` of the period's last day.
    pub month: String,
    pub through: NaiveDate,
    pub days_elapsed: u32,
    pub days_in_month: u32,
    pub month_to_date: f64,
    /// Month to date plus, for each remaining day, the mean of the same weekday over the last
    /// four weeks.
    pub forecast: f64,
    /// The whole previous month, when the report loaded all of it.
    pub previous_month: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelRow {
    pub model: Option<String>,
    pub effective_cost: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AllocationRow {
    pub allocation: String,
    pub effective_cost: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mover {
    pub dimension: String,
    pub value: String,
    pub effective_cost: f64,
    pub previous_effective_cost: f64,
    pub change: f64,
    /// Null when the previous period had no spend (new spend).
    pub change_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub period: Period,
    pub previous_period: Period,
    pub currency: String,
    pub totals: Totals,
    pub by_provider: Vec<ProviderRow>,
    pub by_team: Vec<TeamRow>,
    pub by_team_feature: Vec<TeamFeatureRow>,
    pub by_model: Vec<ModelRow>,
    pub by_allocation: Vec<AllocationRow>,
    pub top_movers: Vec<Mover>,
    pub latest_day: Option<LatestDay>,
    pub month: Option<MonthToDate>,
    /// Where each source's data ends, its last collection, and whether it is stale.
    pub sources: Vec<crate::store::SourceStatus>,
    /// Daily spend by provider, team, feature and model over the period (what dashboards
    /// chart; sums to `totals.effective_cost`).
    pub daily: Vec<DailyRow>,
    /// Cost per 1K tokens (and per request where usage records count requests) by team,
    /// feature and model, with the trend of the period's last week.
    pub unit_costs: Vec<analyse::advise::UnitCost>,
    /// Anomalies on the period's days, most recent and largest first.
    pub anomalies: Vec<anomalies::Anomaly>,
}

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    pub anomalies: AnomalyConfig,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub currency: Option<String>,
    pub top: usize,
    /// A source whose data ends more than this many days before the report's last day is
    /// stale.
    pub stale_after_days: u32,
    /// Series kept whole in the daily rows (0: all); see [`DAILY_SERIES`].
    pub daily_series: usize,
}

/// Default number of (provider, team, feature, model) series the daily rows keep whole. A
/// year of 2,500 team/feature pairs on 30 models is millions of rows no dashboard can chart;
/// beyond the largest series of the period, each team's other spend is folded into one
/// `(other)` feature and model per provider, so every total, team and provider stays exact.
pub const DAILY_SERIES: usize = 250;

/// What folded daily rows carry as feature and model.
pub const OTHER: &str = "(other)";

/// Money rounded to 1e-6 so JSON carries no float noise; sums are taken before rounding.
fn money(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

fn in_period(p: &Period) -> Expr {
    analyse::between(p.start, p.end)
}

pub(crate) fn strings(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<String>>> {
    Ok(crate::schema::text_values(df.column(name)?)?
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

pub(crate) fn floats(df: &DataFrame, name: &str) -> PolarsResult<Vec<f64>> {
    Ok(df
        .column(name)?
        .f64()?
        .iter()
        .map(|v| v.unwrap_or(0.0))
        .collect())
}

/// Sum effective cost by `keys`, largest first (ties by key, so output is stable).
fn rollup(lf: &LazyFrame, keys: &[&str]) -> PolarsResult<DataFrame> {
    let mut sort_cols = vec!["effective_cost".to_string()];
    sort_cols.extend(keys.iter().map(|k| k.to_string()));
    let mut desc = vec![true];
    desc.extend(keys.iter().map(|_| false));
    lf.clone()
        .group_by(keys.iter().map(|k| col(*k)).collect::<Vec<_>>())
        .agg([col("effective_cost").sum(), col("billed_cost").sum()])
        .sort(
            sort_cols,
            SortMultipleOptions::default()
                .with_order_descending_multi(desc)
                .with_nulls_last(true),
        )
        .collect()
}

/// Build the report from the store.
pub fn build(
    store: &Store,
    attributor: &Attributor,
    opts: &ReportOptions,
) -> Result<Report, ReportError> {
    // The previous period for movers, and a baseline's history before that. A period
    // without `--to` ends on the store's last day (not at the end of time: that read the
    // whole history for a report of the last week).
    let last_day = match opts.to {
        Some(to) => Some(to),
        None => store
            .cost_days(NaiveDate::MIN, NaiveDate::MAX, attributor.fingerprint())?
            .last()
            .map(|d| d.day),
    };
    let extra_before = match (opts.from, last_day) {
        (Some(from), Some(last)) => (last - from).num_days().clamp(0, 3660),
        _ => 3660,
    } + 1
        + analyse::HISTORY_DAYS;
    let t = crate::timing::phase("report: load window");
    let window = analyse::load_window(
        store,
        attributor,
        opts.from,
        opts.to,
        opts.currency.as_deref(),
        extra_before,
    )?;
    let load_start = window.start - Duration::days(extra_before);
    let period = Period {
        start: window.start,
        end: window.end,
    };
    let previous = period.previous();
    let currency = window.currency.clone();
    drop(t);
    let t = crate::timing::phase("report: anomaly frame");
    let sums = window.sums()?;
    let anomaly_frame =
        anomalies::Frame::new(window.frame.clone())?.map(|f| f.with_sums(sums.clone()));
    drop(t);
    // Unit costs and the daily rows each go over every row on one core: side by side.
    let t = crate::timing::phase("report: unit costs and daily rows");
    let (unit_costs, all_daily) = crate::timing::both(
        || -> Result<_, ReportError> {
            let _t = crate::timing::phase("report: unit costs");
            let usage = analyse::load_usage(store, attributor, period.start, period.end)?;
            Ok(analyse::advise::unit_costs(
                &window.frame,
                usage.as_ref(),
                period.start,
                period.end,
            )?)
        },
        || {
            let _t = crate::timing::phase("report: daily rows");
            daily_rows(&window.frame, &period, opts.daily_series)
        },
    );
    let (unit_costs, all_daily) = (unit_costs?, all_daily?);
    drop(t);
    let t = crate::timing::phase("report: totals and breakdowns");
    // Totals and breakdowns sum the window's sums by dimension, not its rows.
    let sums = &sums;
    let by = |keys: &[&str], p: &Period| -> PolarsResult<LazyFrame> {
        let lf = sums
            .by(keys)
            .ok_or_else(|| PolarsError::ComputeError(format!("no sums by {keys:?}").into()))?;
        Ok(lf.filter(in_period(p)))
    };
    let breakdown = |keys: &[&str]| rollup(&by(keys, &period)?, keys);

    let totals_df = by(&["team"], &period)?
        .select([
            col("effective_cost").sum().alias("effective_cost"),
            col("billed_cost").sum().alias("billed_cost"),
            col("effective_cost")
                .filter(col("team").neq(lit(UNALLOCATED)))
                .sum()
                .alias("allocated_cost"),
            col("effective_cost")
                .filter(col("team").eq(lit(UNALLOCATED)))
                .sum()
                .alias("unallocated_cost"),
        ])
        .collect()?;
    let get =
        |n: &str| -> PolarsResult<f64> { Ok(totals_df.column(n)?.f64()?.get(0).unwrap_or(0.0)) };
    let effective = get("effective_cost")?;
    let allocated = get("allocated_cost")?;
    let totals = Totals {
        effective_cost: money(effective),
        billed_cost: money(get("billed_cost")?),
        allocated_cost: money(allocated),
        unallocated_cost: money(get("unallocated_cost")?),
        tag_coverage: (effective > 0.0).then(|| (allocated / effective * 1e4).round() / 1e4),
    };

    let df = breakdown(&["provider_name"])?;
    let by_provider = strings(&df, "provider_name")?
        .into_iter()
        .zip(floats(&df, "effective_cost")?)
        .zip(floats(&df, "billed_cost")?)
        .map(|((p, e), b)| ProviderRow {
            provider_name: p.unwrap_or_default(),
            effective_cost: money(e),
            billed_cost: money(b),
        })
        .collect();
    let before_team = previous_by(&by(&["team"], &previous)?, &["team"])?;
    let df = breakdown(&["team"])?;
    let by_team = strings(&df, "team")?
        .into_iter()
        .zip(floats(&df, "effective_cost")?)
        .map(|(t, e)| {
            let team = t.unwrap_or_default();
            let before = before_team.get(&[team.clone()][..]).copied().unwrap_or(0.0);
            TeamRow {
                share: (effective > 0.0).then(|| (e / effective * 1e4).round() / 1e4),
                previous_effective_cost: money(before),
                change_pct: change_pct(e, before),
                team,
                effective_cost: money(e),
            }
        })
        .collect();
    let before_feature = previous_by(&by(&["team", "feature"], &previous)?, &["team", "feature"])?;
    let df = breakdown(&["team", "feature"])?;
    let by_team_feature = strings(&df, "team")?
        .into_iter()
        .zip(strings(&df, "feature")?)
        .zip(floats(&df, "effective_cost")?)
        .map(|((t, f), e)| {
            let key = [t.unwrap_or_default(), f.unwrap_or_default()];
            let before = before_feature.get(&key[..]).copied().unwrap_or(0.0);
            let [team, feature] = key;
            TeamFeatureRow {
                team,
                feature,
                effective_cost: money(e),
                previous_effective_cost: money(before),
                change_pct: change_pct(e, before),
            }
        })
        .collect();
    let df = breakdown(&["model"])?;
    let by_model = strings(&df, "model")?
        .into_iter()
        .zip(floats(&df, "effective_cost")?)
        .map(|(m, e)| ModelRow {
            model: m,
            effective_cost: money(e),
        })
        .collect();
    let df = breakdown(&["allocation"])?;
    let by_allocation = strings(&df, "allocation")?
        .into_iter()
        .zip(floats(&df, "effective_cost")?)
        .map(|(a, e)| AllocationRow {
            allocation: a.unwrap_or_default(),
            effective_cost: money(e),
        })
        .collect();

    drop(t);
    let t = crate::timing::phase("report: movers");
    let top_movers = movers(&by, &period, &previous, opts.top.max(1))?;
    drop(t);
    let t = crate::timing::phase("report: daily totals");
    let (period_start, period_end) = (period.start, period.end);
    let totals_by_day = day_totals(&all_daily);
    let latest_day = latest_day(&totals_by_day, period_end);
    let month = month_to_date(&totals_by_day, period_end, load_start);
    let daily = all_daily
        .into_iter()
        .filter(|r| r.date >= period_start && r.date <= period_end)
        .collect();
    drop(t);
    let sources = store.source_status(period_end, opts.stale_after_days)?;
    let _t = crate::timing::phase("report: anomalies");
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        period,
        previous_period: previous,
        currency,
        totals,
        by_provider,
        by_team,
        by_team_feature,
        by_model,
        by_allocation,
        top_movers,
        latest_day,
        month,
        sources,
        daily,
        unit_costs,
        anomalies: match anomaly_frame {
            Some(frame) => anomalies::detect(
                &frame,
                Dimension::DETECTED,
                period_start,
                period_end,
                &opts.anomalies,
            )?,
            None => Vec::new(),
        },
    })
}

fn change_pct(now: f64, before: f64) -> Option<f64> {
    (before.abs() > 1e-9).then(|| ((now - before) / before * 1e4).round() / 1e4)
}

/// Effective cost of the previous period by `keys`.
fn previous_by(
    prior: &LazyFrame,
    keys: &[&str],
) -> PolarsResult<std::collections::HashMap<Vec<String>, f64>> {
    let df = rollup(prior, keys)?;
    let columns: Vec<Vec<Option<String>>> = keys
        .iter()
        .map(|k| strings(&df, k))
        .collect::<PolarsResult<_>>()?;
    Ok(floats(&df, "effective_cost")?
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let key = columns
                .iter()
                .map(|c| c[i].clone().unwrap_or_default())
                .collect();
            (key, v)
        })
        .collect())
}

/// Daily effective cost by provider, team, feature and model, in date order: the
/// `max_series` largest series of `period` whole (0: all), each team's other spend folded
/// per provider into feature and model [`OTHER`].
fn daily_rows(
    attributed: &DataFrame,
    period: &Period,
    max_series: usize,
) -> PolarsResult<Vec<DailyRow>> {
    let keys = ["provider_name", "team", "feature", "model"];
    let by = |day: bool| -> Vec<Expr> {
        day.then(|| col("__day"))
            .into_iter()
            .chain(keys.iter().map(|k| col(*k)))
            .collect()
    };
    // Each row's series is coded once (the four columns' dictionary codes): the period's
    // totals by series, the choice of the largest and each row's day sum are then lookups
    // by index, where a group-by and a join on the four columns ran over every row.
    let columns = keys
        .iter()
        .map(|k| attributed.column(k))
        .collect::<PolarsResult<Vec<_>>>()?;
    let (firsts, series_of_row) = crate::coded::code_columns(&columns)?;
    let day_of_row = attributed
        .clone()
        .lazy()
        .select([crate::schema::day_number_expr().alias("__day")])
        .collect()?;
    let day_of_row = day_of_row.column("__day")?.i32()?;
    let cost_of_row = attributed.column("effective_cost")?.f64()?;
    let rows = || {
        series_of_row
            .into_no_null_iter()
            .zip(day_of_row.iter())
            .zip(cost_of_row.iter())
            .filter_map(|((s, d), c)| Some((s as usize, d?, c)))
    };
    let (first, last) = (
        crate::schema::day_number(period.start),
        crate::schema::day_number(period.end),
    );
    let mut total: Vec<Option<f64>> = vec![None; firsts.len()];
    for (s, d, c) in rows() {
        if d >= first && d <= last {
            *total[s].get_or_insert(0.0) += c.unwrap_or(0.0);
        }
    }
    // The period's largest series whole (ties by first appearance), every other one folded
    // into its provider and team: a series' row index is its own or its fold's.
    let mut kept = vec![max_series == 0; firsts.len()];
    if max_series > 0 {
        let mut ranked: Vec<(usize, f64)> = total
            .iter()
            .enumerate()
            .filter_map(|(s, t)| Some((s, (*t)?)))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        for (s, _) in ranked.into_iter().take(max_series) {
            kept[s] = true;
        }
    }
    // Each series' names (from its first row), and each output series: the series naming
    // it and whether it is a fold.
    let firsts = IdxCa::from_vec(
        PlSmallStr::EMPTY,
        firsts.into_iter().map(|r| r as IdxSize).collect(),
    );
    let names = attributed.select(keys)?.take(&firsts)?;
    let provider = crate::schema::text_values(names.column("provider_name")?)?;
    let team = crate::schema::text_values(names.column("team")?)?;
    let mut folds: PlHashMap<(Option<&str>, Option<&str>), usize> = PlHashMap::new();
    let mut named: Vec<(IdxSize, bool)> = Vec::new();
    let mut out_of_series: Vec<usize> = Vec::with_capacity(names.height());
    for (s, &whole) in kept.iter().enumerate() {
        out_of_series.push(if whole {
            named.push((s as IdxSize, false));
            named.len() - 1
        } else {
            *folds
                .entry((provider.get(s), team.get(s)))
                .or_insert_with(|| {
                    named.push((s as IdxSize, true));
                    named.len() - 1
                })
        });
    }
    let mut sums: PlHashMap<(i32, usize), f64> = PlHashMap::new();
    for (s, d, c) in rows() {
        *sums.entry((d, out_of_series[s])).or_insert(0.0) += c.unwrap_or(0.0);
    }
    let (mut day, mut name_row, mut folded, mut cost) = (vec![], vec![], vec![], vec![]);
    for ((d, out), c) in sums {
        let (series, fold) = named[out];
        day.push(d);
        name_row.push(series);
        folded.push(fold);
        cost.push(c);
    }
    let mut grouped = names.take(&IdxCa::from_vec(PlSmallStr::EMPTY, name_row))?;
    grouped.with_column(Column::new("__day".into(), day))?;
    grouped.with_column(Column::new("__folded".into(), folded))?;
    grouped.with_column(Column::new("effective_cost".into(), cost))?;
    let fold = |name: &str| {
        when(col("__folded"))
            .then(lit(OTHER).cast(crate::schema::categorical()))
            .otherwise(col(name))
            .alias(name)
    };
    // A kept series could be named like a fold (a feature and model called `(other)`): one
    // more group-by over these few rows makes them one.
    let grouped = grouped
        .lazy()
        .with_columns([fold("feature"), fold("model")])
        .group_by(by(true))
        .agg([col("effective_cost").sum()]);
    let df = grouped
        .sort(
            ["__day", "provider_name", "team", "feature", "model"],
            SortMultipleOptions::default().with_nulls_last(true),
        )
        .collect()?;
    let days: Vec<i32> = df
        .column("__day")?
        .i32()?
        .iter()
        .map(|d| d.unwrap_or(0))
        .collect();
    let rows = days
        .into_iter()
        .zip(strings(&df, "provider_name")?)
        .zip(strings(&df, "team")?)
        .zip(strings(&df, "feature")?)
        .zip(strings(&df, "model")?)
        .zip(floats(&df, "effective_cost")?);
    Ok(rows
        .map(|(((((day, p), t), f), m), cost)| DailyRow {
            date: crate::schema::date_of_day_number(day),
            provider_name: p.unwrap_or_default(),
            team: t.unwrap_or_default(),
            feature: f.unwrap_or_default(),
            model: m,
            effective_cost: money(cost),
        })
        .collect())
}

fn day_totals(rows: &[DailyRow]) -> std::collections::BTreeMap<NaiveDate, f64> {
    let mut out = std::collections::BTreeMap::new();
    for r in rows {
        *out.entry(r.date).or_insert(0.0) += r.effective_cost;
    }
    out
}

/// The series of daily totals from `start` to `end`, zero on days without spend.
fn series(
    totals: &std::collections::BTreeMap<NaiveDate, f64>,
    start: NaiveDate,
    end: NaiveDate,
) -> Vec<f64> {
    start
        .iter_days()
        .take_while(|d| *d <= end)
        .map(|d| totals.get(&d).copied().unwrap_or(0.0))
        .collect()
}

fn latest_day(
    totals: &std::collections::BTreeMap<NaiveDate, f64>,
    day: NaiveDate,
) -> Option<LatestDay> {
    let first = *totals.keys().next()?;
    let start = first.min(day - Duration::days(28));
    let x = series(totals, start, day);
    let t = x.len() - 1;
    let first_spend = x.iter().position(|v| *v != 0.0);
    let base = anomalies::baseline(&x, t, first_spend).filter(|b| !b.reference.is_empty());
    let actual = x[t];
    let week: Vec<f64> = x[t.saturating_sub(7)..t].to_vec();
    Some(LatestDay {
        date: day,
        effective_cost: money(actual),
        expected: base.as_ref().map(|b| money(b.expected)),
        change: base.as_ref().map(|b| money(actual - b.expected)),
        change_pct: base.as_ref().and_then(|b| change_pct(actual, b.expected)),
        reference_days: base
            .map(|b| {
                b.reference
                    .iter()
                    .map(|&i| start + Duration::days(i as i64))
                    .collect()
            })
            .unwrap_or_default(),
        trailing_7_day_average: money(week.iter().sum::<f64>() / week.len().max(1) as f64),
    })
}

fn month_to_date(
    totals: &std::collections::BTreeMap<NaiveDate, f64>,
    through: NaiveDate,
    loaded_from: NaiveDate,
) -> Option<MonthToDate> {
    use chrono::Datelike;
    let first_data = *totals.keys().next()?;
    let month_start = through.with_day(1)?;
    let next_month = (month_start + Duration::days(32)).with_day(1)?;
    let days_in_month = (next_month - month_start).num_days() as u32;
    let mtd: f64 = series(totals, month_start, through).iter().sum();
    // Same-weekday means over the last four weeks (only days the store has data from).
    let from = (through - Duration::days(27)).max(first_data);
    let mut by_weekday = [(0.0, 0u32); 7];
    for d in from.iter_days().take_while(|d| *d <= through) {
        let w = d.weekday().num_days_from_monday() as usize;
        by_weekday[w].0 += totals.get(&d).copied().unwrap_or(0.0);
        by_weekday[w].1 += 1;
    }
    let (all_sum, all_n) = by_weekday
        .iter()
        .fold((0.0, 0), |(s, n), (v, c)| (s + v, n + c));
    let overall = all_sum / f64::from(all_n.max(1));
    let rest: f64 = (through + Duration::days(1))
        .iter_days()
        .take_while(|d| *d < next_month)
        .map(|d| {
            let (v, n) = by_weekday[d.weekday().num_days_from_monday() as usize];
            if n > 0 {
                v / f64::from(n)
            } else {
                overall
            }
        })
        .sum();
    let previous_start = (month_start - Duration::days(1)).with_day(1)?;
    Some(MonthToDate {
        month: format!("{:04}-{:02}", through.year(), through.month()),
        through,
        days_elapsed: through.day(),
        days_in_month,
        month_to_date: money(mtd),
        forecast: money(mtd + rest),
        previous_month: (loaded_from <= previous_start).then(|| {
            money(
                series(totals, previous_start, month_start - Duration::days(1))
                    .iter()
                    .sum(),
            )
        }),
    })
}

/// Largest absolute changes in effective cost against the previous period, across the
/// provider, team, team/feature and model dimensions.
fn movers(
    by: &dyn Fn(&[&str], &Period) -> PolarsResult<LazyFrame>,
    period: &Period,
    previous: &Period,
    top: usize,
) -> PolarsResult<Vec<Mover>> {
    let dims = [
        ("provider", Dimension::Provider),
        ("team", Dimension::Team),
        ("team/feature", Dimension::TeamFeature),
        ("model", Dimension::Model),
    ];
    let mut out = Vec::new();
    for (name, dim) in dims {
        let agg = |p: &Period, alias: &str| -> PolarsResult<LazyFrame> {
            Ok(dim.sum_by(by(dim.columns(), p)?, &[], "value", alias))
        };
        let joined = agg(period, "now")?
            .join(
                agg(previous, "before")?,
                [col("value")],
                [col("value")],
                JoinArgs::new(JoinType::Full).with_coalesce(JoinCoalesce::CoalesceColumns),
            )
            .with_columns([
                col("now").fill_null(lit(0.0)),
                col("before").fill_null(lit(0.0)),
            ])
            .collect()?;
        for ((v, now), before) in strings(&joined, "value")?
            .into_iter()
            .zip(floats(&joined, "now")?)
            .zip(floats(&joined, "before")?)
        {
            let change = now - before;
            if change.abs() < 0.005 {
                continue;
            }
            out.push(Mover {
                dimension: name.to_string(),
                value: v.unwrap_or_default(),
                effective_cost: money(now),
                previous_effective_cost: money(before),
                change: money(change),
                change_pct: (before.abs() > 1e-9).then(|| (change / before * 1e4).round() / 1e4),
            });
        }
    }
    out.sort_by(|a, b| {
        b.change
            .abs()
            .total_cmp(&a.change.abs())
            .then_with(|| a.dimension.cmp(&b.dimension))
            .then_with(|| a.value.cmp(&b.value))
    });
    out.truncate(top);
    Ok(out)
}

/// One line saying why: the top root causes, the decomposition, and any cross-series note.
pub fn explanation(a: &anomalies::Anomaly) -> String {
    let mut parts: Vec<String> = a
        .root_causes
        .iter()
        .take(2)
        .map(|r| format!("{} {} {:+.2}", r.dimension, r.value, r.impact))
        .collect();
    if let Some(d) = &a.decomposition {
        parts.push(format!(
            "volume {:+.2}, mix {:+.2}, rate {:+.2}, other {:+.2}",
            d.volume, d.mix, d.rate, d.other
        ));
    }
    if let Some(n) = &a.note {
        parts.push(n.clone());
    }
    parts.join("; ")
}

/// Escape a cloud-provided string for a Markdown table cell.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

pub(crate) fn amount(v: f64) -> String {
    let neg = v < 0.0;
    let cents = (v.abs() * 100.0).round() as u64;
    let (whole, frac) = (cents / 100, cents % 100);
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{}{grouped}.{frac:02}", if neg { "-" } else { "" })
}

/// A change as `+12.3%`, or `new` when there was nothing before.
pub(crate) fn signed_pct(v: Option<f64>) -> String {
    v.map(|p| format!("{:+.1}%", p * 100.0))
        .unwrap_or_else(|| "new".into())
}

fn pct(v: Option<f64>) -> String {
    match v {
        Some(v) => format!("{:.1}%", v * 100.0),
        None => "—".into(),
    }
}

impl Report {
    /// Markdown digest.
    pub fn to_markdown(&self) -> String {
        let c = &self.currency;
        let t = &self.totals;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# spendlens report: {} to {}\n",
            self.period.start, self.period.end
        );
        let _ = writeln!(
            s,
            "Effective cost **{} {c}** (billed {} {c}); allocated {} {c}, unallocated {} {c}; tag coverage **{}**.\n",
            amount(t.effective_cost),
            amount(t.billed_cost),
            amount(t.allocated_cost),
            amount(t.unallocated_cost),
            pct(t.tag_coverage)
        );
        if let Some(d) = &self.latest_day {
            let _ = writeln!(
                s,
                "- **{}**: {} {c}{}; trailing 7-day average {} {c}.",
                d.date,
                amount(d.effective_cost),
                match (d.expected, d.change_pct) {
                    (Some(e), Some(p)) => format!(
                        " ({:+.1}% vs the usual {} {c} on that weekday)",
                        p * 100.0,
                        amount(e)
                    ),
                    (Some(e), None) => format!(" (usually {} {c} on that weekday)", amount(e)),
                    _ => String::new(),
                },
                amount(d.trailing_7_day_average)
            );
        }
        if let Some(m) = &self.month {
            let _ = writeln!(
                s,
                "- **{}** to date ({} of {} days): {} {c}; forecast for the month **{} {c}**{}.",
                m.month,
                m.days_elapsed,
                m.days_in_month,
                amount(m.month_to_date),
                amount(m.forecast),
                m.previous_month
                    .map(|p| format!(" (previous month {} {c})", amount(p)))
                    .unwrap_or_default()
            );
        }
        for src in self.sources.iter().filter(|x| x.stale) {
            let _ = writeln!(
                s,
                "- ⚠ source {} is **stale** since {}{}{}.",
                md(&src.source),
                md(src.stale_since.as_deref().unwrap_or("?")),
                src.last_day
                    .map(|d| format!("; its data ends {d}"))
                    .unwrap_or_default(),
                src.error
                    .as_deref()
                    .map(|e| format!("; last error: {}", md(e.lines().next().unwrap_or(e))))
                    .unwrap_or_default()
            );
        }
        if self.latest_day.is_some() || self.month.is_some() {
            s.push('\n');
        }
        let _ = writeln!(
            s,
            "## By provider\n\n| provider | effective {c} | billed {c} |\n|---|---:|---:|"
        );
        for r in &self.by_provider {
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                md(&r.provider_name),
                amount(r.effective_cost),
                amount(r.billed_cost)
            );
        }
        let _ = writeln!(
            s,
            "\n## By team\n\n| team | effective {c} | share | previous period {c} | change |\n|---|---:|---:|---:|---:|"
        );
        for r in &self.by_team {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                md(&r.team),
                amount(r.effective_cost),
                pct(r.share),
                amount(r.previous_effective_cost),
                signed_pct(r.change_pct)
            );
        }
        let _ = writeln!(
            s,
            "\n## By team and feature\n\n| team | feature | effective {c} | previous period {c} | change |\n|---|---|---:|---:|---:|"
        );
        for r in &self.by_team_feature {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                md(&r.team),
                md(&r.feature),
                amount(r.effective_cost),
                amount(r.previous_effective_cost),
                signed_pct(r.change_pct)
            );
        }
        let _ = writeln!(s, "\n## By model\n\n| model | effective {c} |\n|---|---:|");
        for r in &self.by_model {
            let _ = writeln!(
                s,
                "| {} | {} |",
                md(r.model.as_deref().unwrap_or("(no model)")),
                amount(r.effective_cost)
            );
        }
        let _ = writeln!(
            s,
            "\n## How spend was allocated\n\n| allocation | effective {c} |\n|---|---:|"
        );
        for r in &self.by_allocation {
            let _ = writeln!(
                s,
                "| {} | {} |",
                md(&r.allocation),
                amount(r.effective_cost)
            );
        }
        let _ = writeln!(
            s,
            "\n## Top movers vs {} to {}\n\n| dimension | value | now {c} | before {c} | change {c} | change |\n|---|---|---:|---:|---:|---:|",
            self.previous_period.start, self.previous_period.end
        );
        for m in &self.top_movers {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                m.dimension,
                md(&m.value),
                amount(m.effective_cost),
                amount(m.previous_effective_cost),
                amount(m.change),
                signed_pct(m.change_pct)
            );
        }
        let _ = writeln!(
            s,
            "\n## Unit costs\n\n| team | feature | model | {c} | per 1K tokens | per 1K input | per 1K output | per request | trend (last 7 days) |\n|---|---|---|---:|---:|---:|---:|---:|---:|"
        );
        let price = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "—".into());
        for u in self.unit_costs.iter().take(10) {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                md(&u.team),
                md(&u.feature),
                md(&u.model),
                amount(u.effective_cost),
                price(u.per_1k_tokens),
                price(u.per_1k_input_tokens),
                price(u.per_1k_output_tokens),
                price(u.per_request),
                u.per_1k_tokens_trend_pct
                    .map(|p| format!("{:+.1}%", p * 100.0))
                    .unwrap_or_else(|| "—".into())
            );
        }
        let _ = writeln!(s, "\n## Anomalies\n");
        if self.anomalies.is_empty() {
            let _ = writeln!(s, "None flagged.");
        } else {
            let shown = self.anomalies.len().min(15);
            let _ = writeln!(
                s,
                "{} flagged{}.\n\n| date | dimension | value | kind | severity | actual {c} | expected {c} | impact {c} | change | why |\n|---|---|---|---|---|---:|---:|---:|---:|---|",
                self.anomalies.len(),
                if shown < self.anomalies.len() { format!(", the {shown} largest shown") } else { String::new() }
            );
            let mut largest: Vec<&anomalies::Anomaly> = self.anomalies.iter().collect();
            largest.sort_by(|a, b| {
                b.impact
                    .abs()
                    .total_cmp(&a.impact.abs())
                    .then(b.date.cmp(&a.date))
            });
            for a in largest.into_iter().take(shown) {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    a.date,
                    a.dimension,
                    md(&a.value),
                    a.kind.name(),
                    a.severity.name(),
                    amount(a.actual),
                    amount(a.expected),
                    amount(a.impact),
                    signed_pct(a.impact_pct),
                    md(&explanation(a)),
                );
            }
        }
        s
    }

    /// A short Markdown digest for chat and e-mail: the headline numbers, teams that moved,
    /// the largest anomalies with their causes, stale sources.
    pub fn to_digest(&self) -> String {
        let full = self.to_markdown();
        // The headline is the report's opening (title, totals, latest day, month, stale).
        let head = full.split("\n## ").next().unwrap_or("").trim_end();
        let c = &self.currency;
        let mut s = format!("{head}\n");
        let mut teams: Vec<&TeamRow> = self.by_team.iter().collect();
        teams.sort_by(|a, b| {
            (b.effective_cost - b.previous_effective_cost)
                .abs()
                .total_cmp(&(a.effective_cost - a.previous_effective_cost).abs())
        });
        let _ = writeln!(s, "\n*Teams that moved most (vs the previous period)*");
        for t in teams.iter().take(5) {
            let _ = writeln!(
                s,
                "- {}: {} {c} ({})",
                md(&t.team),
                amount(t.effective_cost),
                signed_pct(t.change_pct)
            );
        }
        let mut largest: Vec<&anomalies::Anomaly> = self.anomalies.iter().collect();
        largest.sort_by(|a, b| b.impact.abs().total_cmp(&a.impact.abs()));
        let _ = writeln!(s, "\n*Anomalies* ({} in the period)", self.anomalies.len());
        for a in largest.iter().take(5) {
            let _ = writeln!(
                s,
                "- {} {} {} {} {}: {} {c} vs {} expected ({}); {}",
                a.date,
                a.dimension,
                md(&a.value),
                a.severity.name(),
                a.kind.name(),
                amount(a.actual),
                amount(a.expected),
                signed_pct(a.impact_pct),
                md(&explanation(a))
            );
        }
        s
    }

    /// JSON (the stable contract; see `schema_version`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises")
    }

    /// CSV: one line per rollup row, `section` saying which rollup.
    pub fn to_csv(&self) -> String {
        let mut s = String::from(
            "section,provider_name,team,feature,model,allocation,effective_cost,currency\n",
        );
        let mut line = |section: &str, p: &str, t: &str, f: &str, m: &str, a: &str, v: f64| {
            let cells = [section, p, t, f, m, a].map(csv_cell);
            let _ = writeln!(s, "{},{},{}", cells.join(","), v, csv_cell(&self.currency));
        };
        line("total", "", "", "", "", "", self.totals.effective_cost);
        line("allocated", "", "", "", "", "", self.totals.allocated_cost);
        line(
            "unallocated",
            "",
            "",
            "",
            "",
            "",
            self.totals.unallocated_cost,
        );
        for r in &self.by_provider {
            line(
                "provider",
                &r.provider_name,
                "",
                "",
                "",
                "",
                r.effective_cost,
            );
        }
        for r in &self.by_team {
            line("team", "", &r.team, "", "", "", r.effective_cost);
        }
        for r in &self.by_team_feature {
            line(
                "team_feature",
                "",
                &r.team,
                &r.feature,
                "",
                "",
                r.effective_cost,
            );
        }
        for r in &self.by_model {
            line(
                "model",
                "",
                "",
                "",
                r.model.as_deref().unwrap_or(""),
                "",
                r.effective_cost,
            );
        }
        for r in &self.by_allocation {
            line(
                "allocation",
                "",
                "",
                "",
                "",
                &r.allocation,
                r.effective_cost,
            );
        }
        s
    }
}

/// Quote a CSV cell when needed; neutralise leading formula characters for spreadsheets.
fn csv_cell(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@']) && v.parse::<f64>().is_err() {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_group_thousands_and_round_to_cents() {
        assert_eq!(amount(1234567.891), "1,234,567.89");
        assert_eq!(amount(-2.61), "-2.61");
        assert_eq!(amount(0.004), "0.00");
    }

    #[test]
    fn hostile_strings_are_escaped() {
        assert_eq!(md("a|b<script>"), "a\\|b\\<script\\>");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("plain"), "plain");
    }
}

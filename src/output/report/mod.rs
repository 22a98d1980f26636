//! The spend report: totals, tag coverage, spend by provider / team / team×feature / model /
//! allocation method, and top movers against the previous period of the same length.
//!
//! Built from the attributed cost lake; written as Markdown (a digest that fits Slack or
//! e-mail), JSON (the contract other tools read: `schema_version` says which) or CSV.
//! Money is never summed across currencies: a report is in exactly one currency.

mod csv_table;
mod daily;
mod markdown;
pub(crate) use markdown::status_text;

use daily::{daily_rows, day_totals, latest_day, month_to_date};

use crate::analyse::{self, anomalies, Dimension};
use crate::attribute::{Attributor, UNALLOCATED};
use crate::config::AnomalyConfig;
use crate::store::Store;
use chrono::{Duration, NaiveDate};
use polars::prelude::*;
use serde::Serialize;
use std::fmt::Write as _;

pub(crate) use crate::output::SCHEMA_VERSION;

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
    /// Months of the period for which an Azure source holds one of its two cost views only:
    /// which is missing and what stood in for it (see `store::views`).
    pub cost_views: Vec<crate::store::views::UnpairedView>,
    /// Per source, billing period and currency of the period's days: the source's own
    /// totals as read against what is stored and counted (`spendlens reconcile` adds
    /// attribution; here the attributed figures are the report's totals).
    pub reconciliation: Vec<analyse::reconcile::Reconciliation>,
    /// Daily spend by provider, team, feature and model over the period (what dashboards
    /// chart; sums to `totals.effective_cost`).
    pub daily: Vec<DailyRow>,
    /// Cost per 1K tokens (and per request where usage records count requests) by team,
    /// feature and model, with the trend of the period's last week.
    pub unit_costs: Vec<analyse::advise::UnitCost>,
    /// Incidents under way on the period's days (each change once, with its member series
    /// and status), most recent and largest first.
    pub incidents: Vec<anomalies::Incident>,
    /// The flagged series incidents are made of, one row per series and event (most
    /// recent and largest first).
    pub anomalies: Vec<anomalies::Anomaly>,
    /// Every `[[budgets]]` entry on the period's last day, each in its own currency (see
    /// [`Report::with_budgets`]).
    pub budgets: Vec<analyse::budgets::BudgetStatus>,
    /// Budgets that could not be evaluated, each with the error naming it.
    pub budget_errors: Vec<analyse::budgets::BudgetProblem>,
    /// Threshold crossings announced for the first time by this run (`nightly` only: other
    /// commands announce nothing).
    pub budget_alerts: Vec<analyse::budgets::BudgetAlert>,
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
    /// Series kept whole in the daily rows (0: all); see `DAILY_SERIES`.
    pub daily_series: usize,
}

/// The months overlapping `period` with one Azure cost view only.
fn unpaired_views(
    pairing: &crate::store::views::Pairing,
    period: &Period,
) -> Vec<crate::store::views::UnpairedView> {
    let (first, last) = (
        period.start.format("%Y-%m").to_string(),
        period.end.format("%Y-%m").to_string(),
    );
    pairing
        .unpaired()
        .into_iter()
        .filter(|v| v.month >= first && v.month <= last)
        .collect()
}

/// Default number of (provider, team, feature, model) series the daily rows keep whole. A
/// year of 2,500 team/feature pairs on 30 models is millions of rows no dashboard can chart;
/// beyond the largest series of the period, each team's other spend is folded into one
/// `(other)` feature and model per provider, so every total, team and provider stays exact.
pub(crate) const DAILY_SERIES: usize = 250;

/// What folded daily rows carry as feature and model.
pub(crate) const OTHER: &str = "(other)";

/// Money rounded to 1e-6 so JSON carries no float noise; sums are taken before rounding.
fn rounded(v: f64) -> f64 {
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
    sort_cols.extend(keys.iter().map(std::string::ToString::to_string));
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
    let t = crate::timing::phase("report: load window");
    let (window, load_start) = load(store, attributor, opts)?;
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
    let (unit_costs, all_daily) =
        unit_costs_and_daily_rows(store, attributor, &window, &period, opts.daily_series)?;
    let t = crate::timing::phase("report: totals and breakdowns");
    // Totals and breakdowns sum the window's sums by dimension, not its rows.
    let by = |keys: &[&str], p: &Period| -> PolarsResult<LazyFrame> {
        let lf = sums
            .by(keys)
            .ok_or_else(|| PolarsError::ComputeError(format!("no sums by {keys:?}").into()))?;
        Ok(lf.filter(in_period(p)))
    };
    let breakdowns = Breakdowns::sum(&by, &period, &previous)?;
    drop(t);
    let t = crate::timing::phase("report: movers");
    let top_movers = movers(&by, &period, &previous, opts.top.max(1))?;
    drop(t);
    let t = crate::timing::phase("report: daily totals");
    let totals_by_day = day_totals(&all_daily);
    let latest_day = latest_day(&totals_by_day, period.end);
    let month = month_to_date(&totals_by_day, period.end, load_start);
    let daily = all_daily
        .into_iter()
        .filter(|r| r.date >= period.start && r.date <= period.end)
        .collect();
    drop(t);
    let sources = store.source_status(period.end, opts.stale_after_days)?;
    // One read of the manifest for both: the views it holds and the totals recorded in it.
    let manifest = store.manifest()?;
    let pairing = crate::store::views::Pairing::of(&manifest);
    let cost_views = unpaired_views(&pairing, &period);
    let reconciliation =
        analyse::reconcile::recorded(&manifest, &pairing, period.start, period.end);
    let _t = crate::timing::phase("report: anomalies");
    let anomalies::Detection {
        anomalies,
        mut incidents,
    } = match anomaly_frame {
        Some(frame) => anomalies::detect_incidents(
            &frame,
            Dimension::DETECTED,
            period.start,
            period.end,
            &opts.anomalies,
        )?,
        None => anomalies::Detection::default(),
    };
    anomalies::incidents::judge(&mut incidents, &manifest.acks, &opts.anomalies.planned);
    let Breakdowns {
        totals,
        by_provider,
        by_team,
        by_team_feature,
        by_model,
        by_allocation,
    } = breakdowns;
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
        cost_views,
        reconciliation,
        daily,
        unit_costs,
        incidents,
        anomalies,
        budgets: Vec::new(),
        budget_errors: Vec::new(),
        budget_alerts: Vec::new(),
    })
}

impl Report {
    /// The report with every budget of `config` evaluated on its last day (the report's
    /// incidents stand for its currency's; other currencies are detected anew).
    pub fn with_budgets(
        mut self,
        config: &crate::config::Config,
        store: &Store,
        attributor: &Attributor,
    ) -> Result<Report, analyse::budgets::BudgetError> {
        let found = analyse::budgets::evaluate_all(
            config,
            store,
            attributor,
            self.period.end,
            Some((&self.currency, &self.incidents)),
        )?;
        self.budgets = found.statuses;
        self.budget_errors = found.problems;
        Ok(self)
    }
}

/// The attributed window the report reads, and the first day loaded. Besides the period it
/// holds the previous period (for movers) and a baseline's history before that. A period
/// without `--to` ends on the store's last day (not at the end of time: that read the whole
/// history for a report of the last week).
fn load(
    store: &Store,
    attributor: &Attributor,
    opts: &ReportOptions,
) -> Result<(analyse::CostWindow, NaiveDate), ReportError> {
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
    let window = analyse::load_window(
        store,
        attributor,
        opts.from,
        opts.to,
        opts.currency.as_deref(),
        extra_before,
    )?;
    let load_start = window.start - Duration::days(extra_before);
    Ok((window, load_start))
}

/// Unit costs and the daily rows: each goes over every row on one core, so side by side.
fn unit_costs_and_daily_rows(
    store: &Store,
    attributor: &Attributor,
    window: &analyse::CostWindow,
    period: &Period,
    daily_series: usize,
) -> Result<(Vec<analyse::advise::UnitCost>, Vec<DailyRow>), ReportError> {
    let _t = crate::timing::phase("report: unit costs and daily rows");
    let (unit_costs, all_daily) = crate::parallel::both(
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
            daily_rows(&window.frame, period, daily_series)
        },
    );
    Ok((unit_costs?, all_daily?))
}

/// A period's sums by dimension, filtered to a period (see [`build`]).
type SumsBy<'a> = dyn Fn(&[&str], &Period) -> PolarsResult<LazyFrame> + 'a;

/// The period's totals and its spend by provider, team, team × feature, model and
/// allocation method.
struct Breakdowns {
    totals: Totals,
    by_provider: Vec<ProviderRow>,
    by_team: Vec<TeamRow>,
    by_team_feature: Vec<TeamFeatureRow>,
    by_model: Vec<ModelRow>,
    by_allocation: Vec<AllocationRow>,
}

impl Breakdowns {
    fn sum(by: &SumsBy, period: &Period, previous: &Period) -> PolarsResult<Breakdowns> {
        let breakdown = |keys: &[&str]| rollup(&by(keys, period)?, keys);
        let (totals, effective) = totals(by, period)?;
        let df = breakdown(&["provider_name"])?;
        let by_provider = strings(&df, "provider_name")?
            .into_iter()
            .zip(floats(&df, "effective_cost")?)
            .zip(floats(&df, "billed_cost")?)
            .map(|((p, e), b)| ProviderRow {
                provider_name: p.unwrap_or_default(),
                effective_cost: rounded(e),
                billed_cost: rounded(b),
            })
            .collect();
        let by_team = teams(by, period, previous, effective)?;
        let by_team_feature = team_features(by, period, previous)?;
        let df = breakdown(&["model"])?;
        let by_model = strings(&df, "model")?
            .into_iter()
            .zip(floats(&df, "effective_cost")?)
            .map(|(m, e)| ModelRow {
                model: m,
                effective_cost: rounded(e),
            })
            .collect();
        let df = breakdown(&["allocation"])?;
        let by_allocation = strings(&df, "allocation")?
            .into_iter()
            .zip(floats(&df, "effective_cost")?)
            .map(|(a, e)| AllocationRow {
                allocation: a.unwrap_or_default(),
                effective_cost: rounded(e),
            })
            .collect();
        Ok(Breakdowns {
            totals,
            by_provider,
            by_team,
            by_team_feature,
            by_model,
            by_allocation,
        })
    }
}

/// The period's totals, and its effective cost unrounded (shares are taken of it).
fn totals(by: &SumsBy, period: &Period) -> PolarsResult<(Totals, f64)> {
    let totals_df = by(&["team"], period)?
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
        effective_cost: rounded(effective),
        billed_cost: rounded(get("billed_cost")?),
        allocated_cost: rounded(allocated),
        unallocated_cost: rounded(get("unallocated_cost")?),
        tag_coverage: (effective > 0.0).then(|| (allocated / effective * 1e4).round() / 1e4),
    };
    Ok((totals, effective))
}

/// Spend per team, its share of `effective` and its change against the previous period.
fn teams(
    by: &SumsBy,
    period: &Period,
    previous: &Period,
    effective: f64,
) -> PolarsResult<Vec<TeamRow>> {
    let before_team = previous_by(&by(&["team"], previous)?, &["team"])?;
    let df = rollup(&by(&["team"], period)?, &["team"])?;
    Ok(strings(&df, "team")?
        .into_iter()
        .zip(floats(&df, "effective_cost")?)
        .map(|(t, e)| {
            let team = t.unwrap_or_default();
            let before = before_team.get(&[team.clone()][..]).copied().unwrap_or(0.0);
            TeamRow {
                share: (effective > 0.0).then(|| (e / effective * 1e4).round() / 1e4),
                previous_effective_cost: rounded(before),
                change_pct: analyse::change_ratio(e, before),
                team,
                effective_cost: rounded(e),
            }
        })
        .collect())
}

/// Spend per team and feature, with its change against the previous period.
fn team_features(
    by: &SumsBy,
    period: &Period,
    previous: &Period,
) -> PolarsResult<Vec<TeamFeatureRow>> {
    let keys = ["team", "feature"];
    let before_feature = previous_by(&by(&keys, previous)?, &keys)?;
    let df = rollup(&by(&keys, period)?, &keys)?;
    Ok(strings(&df, "team")?
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
                effective_cost: rounded(e),
                previous_effective_cost: rounded(before),
                change_pct: analyse::change_ratio(e, before),
            }
        })
        .collect())
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

/// Largest absolute changes in effective cost against the previous period, across the
/// provider, team, team/feature and model dimensions.
fn movers(by: &SumsBy, period: &Period, previous: &Period, top: usize) -> PolarsResult<Vec<Mover>> {
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
                effective_cost: rounded(now),
                previous_effective_cost: rounded(before),
                change: rounded(change),
                change_pct: analyse::change_ratio(now, before),
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
    // Over a previous period with no spend every value would be "new": say nothing instead
    // (the Markdown says there is no previous data).
    if out.iter().all(|m| m.previous_effective_cost == 0.0) {
        out.clear();
    }
    Ok(out)
}

/// One line saying why: the top root causes, the decomposition, and any cross-series note.
pub(crate) fn explanation(a: &anomalies::Anomaly) -> String {
    why(&a.root_causes, a.decomposition.as_ref(), a.note.as_deref())
}

/// [`explanation`] of an incident, with the other series it moved.
pub(crate) fn incident_explanation(i: &anomalies::Incident) -> String {
    let mut s = why(&i.root_causes, i.decomposition.as_ref(), i.note.as_deref());
    if !i.members.is_empty() {
        let named: Vec<String> = i
            .members
            .iter()
            .take(3)
            .map(|m| format!("{} {}", m.dimension, m.value))
            .collect();
        let more = i.members.len().saturating_sub(3);
        let _ = write!(
            s,
            "; also flagged: {}{}",
            named.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    s
}

fn why(
    causes: &[anomalies::RootCause],
    decomposition: Option<&anomalies::Decomposition>,
    note: Option<&str>,
) -> String {
    let mut parts: Vec<String> = causes
        .iter()
        .take(2)
        .map(|r| format!("{} {} {:+.2}", r.dimension, r.value, r.impact))
        .collect();
    if let Some(d) = decomposition {
        let terms: Vec<String> = [
            ("volume", d.volume),
            ("mix", d.mix),
            ("rate", d.rate),
            ("credits", d.credits),
            ("other", d.other),
        ]
        .iter()
        .filter(|(name, v)| *v != 0.0 || *name == "volume")
        .map(|(name, v)| format!("{name} {v:+.2}"))
        .collect();
        parts.push(terms.join(", "));
    }
    if let Some(n) = note {
        parts.push(n.to_string());
    }
    parts.join("; ")
}

impl Report {
    /// JSON (the stable contract; see `schema_version`).
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises")
    }
}

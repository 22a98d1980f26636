//! Anomalies in daily effective cost, each with its explanation.
//!
//! A *series* is the daily effective cost of one value of one dimension (the total, a
//! provider, a team, a team/feature pair, a model, an account, a resource). Each day is
//! compared with a baseline from the series' own trailing history:
//!
//! - the baseline is the median of the same weekday over the previous four weeks (as many as
//!   exist; at least a week of history is needed), so a quiet weekend is not a drop and the
//!   spike being looked for cannot drag its own baseline up;
//! - its scale is 1.4826 × the median absolute deviation of those days (at least 10% of the
//!   baseline), giving a robust z-score;
//! - a day is flagged only when the dollar impact *and* the percentage change pass the
//!   configured floors (and the score passes its floor): `spike`, `drop`, `ramp` (six of the
//!   last seven days each grew by the ramp rate), or `new` (spend where the series had none).
//!
//! Each anomaly carries root causes (the change split across child dimensions, against the
//! same reference days, ranked by dollars) and, where token quantities exist, a
//! volume / mix / rate decomposition that sums, with the non-token change, to the impact.

use super::sums::Sums;
use super::Dimension;
use crate::config::AnomalyConfig;
use crate::schema::text_values;
use chrono::NaiveDate;
use polars::prelude::*;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Spike,
    Drop,
    Ramp,
    New,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Spike => "spike",
            Kind::Drop => "drop",
            Kind::Ramp => "ramp",
            Kind::New => "new",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// By dollar impact in multiples of the alert floor: 2x medium, 5x high, 20x critical.
    pub fn of(impact: f64, min_impact: f64) -> Severity {
        let r = impact.abs() / min_impact.max(1e-9);
        if r >= 20.0 {
            Severity::Critical
        } else if r >= 5.0 {
            Severity::High
        } else if r >= 2.0 {
            Severity::Medium
        } else {
            Severity::Low
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RootCause {
    pub dimension: String,
    pub value: String,
    pub actual: f64,
    pub expected: f64,
    pub impact: f64,
}

/// Change in spend split into volume (more or fewer tokens at the old average price), mix
/// (a different blend of models and token types) and rate (different prices per token), plus
/// `other` for spend that is not billed per token (provisioned capacity, credits, fees).
/// `volume + mix + rate + other` = the anomaly's impact.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Decomposition {
    pub volume: f64,
    pub mix: f64,
    pub rate: f64,
    pub other: f64,
    pub tokens_expected: f64,
    pub tokens_actual: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Anomaly {
    pub date: NaiveDate,
    pub dimension: String,
    pub value: String,
    pub kind: Kind,
    pub actual: f64,
    pub expected: f64,
    pub impact: f64,
    /// Null when nothing was expected (new spend).
    pub impact_pct: Option<f64>,
    /// Robust z-score; null for new spend.
    pub score: Option<f64>,
    pub severity: Severity,
    /// Consecutive days flagged with this kind from `date` on (1 for a one-day spike).
    pub duration_days: usize,
    pub root_causes: Vec<RootCause>,
    /// Null where the series has no token quantities.
    pub decomposition: Option<Decomposition>,
    /// A cross-series reading, e.g. a team's spend moving to `unallocated` (a lost tag).
    pub note: Option<String>,
}

/// A day's baseline: what was expected and from which days.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    pub expected: f64,
    /// Indices of the reference days the expectation came from (empty: no prior spend).
    pub reference: Vec<usize>,
    pub scale: f64,
}

/// Days of history needed before a day is judged (other than as new spend).
pub const MIN_HISTORY: usize = 7;

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Baseline for day `t` of the series `x`, whose first non-zero day is `first` (if any).
/// `None` when there is too little history to judge.
pub fn baseline(x: &[f64], t: usize, first: Option<usize>) -> Option<Baseline> {
    let Some(first) = first.filter(|f| *f < t) else {
        return Some(Baseline {
            expected: 0.0,
            reference: Vec::new(),
            scale: 0.0,
        });
    };
    let start = first.max(t.saturating_sub(28));
    if t - start < MIN_HISTORY {
        return None;
    }
    let reference: Vec<usize> = (1..=4)
        .filter_map(|w| t.checked_sub(7 * w))
        .filter(|&i| i >= start)
        .collect();
    let mut values: Vec<f64> = reference.iter().map(|&i| x[i]).collect();
    let expected = median(&mut values);
    let mut deviations: Vec<f64> = values.iter().map(|v| (v - expected).abs()).collect();
    let mad = median(&mut deviations);
    let scale = (1.4826 * mad).max(0.1 * expected.abs()).max(1.0);
    Some(Baseline {
        expected,
        reference,
        scale,
    })
}

/// Six of the seven days ending at `t` each grew by at least `growth` over the day before.
fn ramping(x: &[f64], t: usize, growth: f64) -> bool {
    if t < 7 {
        return false;
    }
    (t - 6..=t)
        .filter(|&i| x[i - 1] > 0.0 && x[i] / x[i - 1] - 1.0 >= growth)
        .count()
        >= 6
}

/// A flagged day of one series, before it is explained.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    /// First day of the event.
    pub index: usize,
    pub kind: Kind,
    pub baseline: Baseline,
    pub actual: f64,
    pub score: Option<f64>,
    /// Consecutive days the series stayed flagged with this kind (a level shift is one event,
    /// not an alert a day until the baseline catches up).
    pub days: usize,
}

/// Judge days `from..=to` (indices) of series `x`; consecutive days of the same kind are one
/// event, reported on its first day.
pub fn flag_series(x: &[f64], from: usize, to: usize, cfg: &AnomalyConfig) -> Vec<Flag> {
    let mut flags: Vec<Flag> = Vec::new();
    for f in flag_days(x, from, to, cfg) {
        match flags.last_mut() {
            Some(last) if last.kind == f.kind && last.index + last.days == f.index => {
                last.days += 1
            }
            // The first days of a ramp look like spikes until a week of growth shows.
            Some(last)
                if last.kind == Kind::Spike
                    && f.kind == Kind::Ramp
                    && last.index + last.days == f.index =>
            {
                last.kind = Kind::Ramp;
                last.days += 1;
            }
            _ => flags.push(f),
        }
    }
    flags
}

fn flag_days(x: &[f64], from: usize, to: usize, cfg: &AnomalyConfig) -> Vec<Flag> {
    let first = x.iter().position(|v| *v != 0.0);
    let mut flags = Vec::new();
    for t in from..=to.min(x.len().saturating_sub(1)) {
        let Some(b) = baseline(x, t, first) else {
            continue;
        };
        let actual = x[t];
        let impact = actual - b.expected;
        if b.expected <= 0.0 {
            // Spend on the store's first days is not "new": the data just starts there.
            if t < MIN_HISTORY {
                continue;
            }
            if actual >= cfg.min_impact && (b.reference.is_empty() || impact >= cfg.min_impact) {
                flags.push(Flag {
                    index: t,
                    kind: Kind::New,
                    baseline: b,
                    actual,
                    score: None,
                    days: 1,
                });
            }
            continue;
        }
        let pct = impact / b.expected;
        let score = impact / b.scale;
        let rising = impact >= cfg.min_impact && pct >= cfg.min_impact_pct;
        let ramp_now = ramping(x, t, cfg.ramp_daily_growth);
        let kind = if rising && ramp_now {
            Some(Kind::Ramp)
        } else if rising && !ramp_now && score >= cfg.min_score {
            Some(Kind::Spike)
        } else if impact <= -cfg.min_impact && pct <= -cfg.drop_pct && score <= -cfg.min_score {
            Some(Kind::Drop)
        } else {
            None
        };
        if let Some(kind) = kind {
            flags.push(Flag {
                index: t,
                kind,
                baseline: b,
                actual,
                score: Some(score),
                days: 1,
            });
        }
    }
    flags
}

pub use crate::schema::{date_of_day_number as date_of_day, day_number as day_of_date};

/// Attributed cost rows with a `__day` (Int32 day number) column, sorted by day and cached
/// for the many small queries explanations make.
pub struct Frame {
    pub lf: LazyFrame,
    pub first_day: i32,
    pub last_day: i32,
    df: DataFrame,
    /// Row range of each day in `df` (sorted by day): (offset, length), by day index.
    day_rows: Vec<(usize, usize)>,
    /// The rows' sums by dimension, when known: series are read from them.
    sums: Option<Sums>,
}

impl Frame {
    pub fn new(attributed: DataFrame) -> PolarsResult<Option<Frame>> {
        Frame::spanning(attributed, None)
    }

    /// [`Frame::new`] whose series run over at least the days `span` (first, last), even
    /// where the rows (say, of one selection) start later or end sooner.
    pub fn spanning(
        attributed: DataFrame,
        span: Option<(NaiveDate, NaiveDate)>,
    ) -> PolarsResult<Option<Frame>> {
        let mut df = attributed
            .lazy()
            .with_column(crate::schema::day_number_expr().alias("__day"))
            .collect()?;
        // Rows read from the daily rollups already come in day order: sort (a full copy)
        // only when they do not.
        if !df.column("__day")?.i32()?.iter().is_sorted() {
            df = df.sort(
                ["__day"],
                SortMultipleOptions::default().with_maintain_order(true),
            )?;
        }
        let days = df.column("__day")?.i32()?.clone();
        let span = span.map(|(a, b)| (day_of_date(a), day_of_date(b)));
        let (first_day, last_day) = match (days.min(), days.max(), span) {
            (Some(a), Some(b), Some((c, d))) => (a.min(c), b.max(d)),
            (Some(a), Some(b), None) => (a, b),
            (None, None, Some((c, d))) if c <= d => (c, d),
            _ => return Ok(None),
        };
        let mut day_rows = vec![(0, 0); (last_day - first_day + 1) as usize];
        for (i, d) in days.iter().enumerate() {
            if let Some(d) = d {
                let r = &mut day_rows[(d - first_day) as usize];
                if r.1 == 0 {
                    r.0 = i;
                }
                r.1 += 1;
            }
        }
        Ok(Some(Frame {
            lf: df.clone().lazy(),
            first_day,
            last_day,
            df,
            day_rows,
            sums: None,
        }))
    }

    /// This frame with `sums` of exactly its rows ([`super::Window::sums`]): whole series
    /// are summed from them instead of from the rows.
    pub fn with_sums(mut self, sums: Sums) -> Frame {
        self.sums = Some(sums);
        self
    }

    /// The rows of the given day numbers that `filter` picks: each day's slice of the sorted
    /// frame filtered on its own (no copy of whole days), so an explanation reads a few
    /// days, not the whole history.
    pub fn on_days(&self, days: &[i32], filter: Expr) -> PolarsResult<LazyFrame> {
        let parts: Vec<LazyFrame> = self
            .day_slices(days)
            .into_iter()
            .map(|(_, rows)| {
                self.df
                    .slice(rows.start as i64, rows.len())
                    .lazy()
                    .filter(filter.clone())
            })
            .collect();
        if parts.is_empty() {
            return Ok(self.df.clear().lazy());
        }
        concat(parts, UnionArgs::default())
    }

    /// The rows of each of `days` (day numbers) that has any, once each: (day, row range).
    fn day_slices(&self, days: &[i32]) -> Vec<(i32, std::ops::Range<usize>)> {
        let mut seen = std::collections::BTreeSet::new();
        days.iter()
            .filter(|&&d| d >= self.first_day && d <= self.last_day && seen.insert(d))
            .map(|&d| {
                let (offset, len) = self.day_rows[(d - self.first_day) as usize];
                (d, offset..offset + len)
            })
            .filter(|(_, rows)| !rows.is_empty())
            .collect()
    }

    /// Every row's value of `dim`, coded: each row's key (by the dimension's columns'
    /// dictionary codes, no string per row) and each key's value as [`Dimension::expr`]
    /// names it (a null account and `(none)` are two keys of one value).
    fn keyed(&self, dim: Dimension) -> PolarsResult<(IdxCa, StringChunked)> {
        let columns = dim
            .columns()
            .iter()
            .map(|c| self.df.column(c))
            .collect::<PolarsResult<Vec<_>>>()?;
        let (firsts, rows) = if columns.is_empty() {
            let height = self.df.height();
            let rows = IdxCa::from_vec(PlSmallStr::EMPTY, vec![0; height]);
            ((height > 0).then_some(0).into_iter().collect(), rows)
        } else {
            crate::coded::code_columns(&columns)?
        };
        let firsts: Vec<IdxSize> = firsts.into_iter().map(|r| r as IdxSize).collect();
        let values = self
            .df
            .take(&IdxCa::from_vec(PlSmallStr::EMPTY, firsts))?
            .lazy()
            .select([crate::schema::text(dim.expr()).alias("__value")])
            .collect()?;
        Ok((rows, text_values(values.column("__value")?)?))
    }

    pub fn days(&self) -> usize {
        (self.last_day - self.first_day + 1) as usize
    }

    /// Dense daily effective cost of every value of `dim` (optionally within `filter`).
    pub fn series(
        &self,
        dim: Dimension,
        filter: Option<Expr>,
    ) -> PolarsResult<Vec<(String, Vec<f64>)>> {
        let lf = match (filter, &self.sums) {
            (Some(f), _) => self.lf.clone().filter(f),
            (None, Some(sums)) => sums.by(dim.columns()).unwrap_or_else(|| self.lf.clone()),
            (None, None) => self.lf.clone(),
        };
        // Summed by the dimension's own columns (codes) and day; values that name the same
        // series (a null account and `(none)`) meet in the map, not in a second group-by
        // and a sort of a million strings.
        let keys: Vec<Expr> = dim
            .columns()
            .iter()
            .chain(&["__day"])
            .map(|c| col(*c))
            .collect();
        let df = lf
            .group_by(keys)
            .agg([col("effective_cost").sum()])
            .select([
                crate::schema::text(dim.expr()).alias("__value"),
                col("__day"),
                col("effective_cost"),
            ])
            .collect()?;
        let values = text_values(df.column("__value")?)?;
        let days = df.column("__day")?.i32()?.clone();
        let costs = df.column("effective_cost")?.f64()?.clone();
        let mut by_value: HashMap<&str, Vec<f64>> = HashMap::new();
        for ((v, d), c) in values.iter().zip(days.iter()).zip(costs.iter()) {
            let (Some(v), Some(d)) = (v, d) else { continue };
            let x = by_value.entry(v).or_insert_with(|| vec![0.0; self.days()]);
            x[(d - self.first_day) as usize] += c.unwrap_or(0.0);
        }
        let mut out: Vec<(String, Vec<f64>)> = by_value
            .into_iter()
            .map(|(v, x)| (v.to_string(), x))
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Day `t` and the baseline's reference days, as day numbers: what a flag is compared on.
    fn compared_days(&self, t: usize, baseline: &Baseline) -> Vec<i32> {
        std::iter::once(t)
            .chain(baseline.reference.iter().copied())
            .map(|i| self.first_day + i as i32)
            .collect()
    }

    /// The rows of `filter` on day `t` and on the baseline's reference days: what the root
    /// causes and the decomposition of one flag compare (read once for both), marked as the
    /// rows of flag 0 (`__flag`) and whether they are of day `t` (`__now`).
    pub fn compared(&self, filter: Expr, t: usize, baseline: &Baseline) -> PolarsResult<DataFrame> {
        self.on_days(&self.compared_days(t, baseline), filter)?
            .with_columns([
                col("__day")
                    .eq(lit(self.first_day + t as i32))
                    .alias("__now"),
                lit(0u32).cast(IDX_DTYPE).alias("__flag"),
            ])
            .collect()
    }

    /// Cost per child value on the flagged day and averaged over the reference days, scaled so the
    /// children's expected values add up to `expected`, from the [`Frame::compared`] rows.
    pub fn root_causes(
        &self,
        compared: &DataFrame,
        children: &[Dimension],
        baseline: &Baseline,
        reference_total: f64,
    ) -> PolarsResult<Vec<RootCause>> {
        let one = [Scale::of(baseline, reference_total)];
        let mut by_flag = self.root_causes_by_flag(compared, children, &one)?;
        Ok(by_flag.swap_remove(0))
    }

    /// [`Frame::root_causes`] of many flags at once: `compared` holds each flag's rows
    /// marked with its number (`__flag`) and `__now`, and `scales` each flag's scale, by
    /// number. One group-by per child dimension for all of them, on the child's own columns
    /// (dictionary codes); the few sums are named afterwards and added up where two keys
    /// name one value (a null account and `(none)`).
    fn root_causes_by_flag(
        &self,
        compared: &DataFrame,
        children: &[Dimension],
        scales: &[Scale],
    ) -> PolarsResult<Vec<Vec<RootCause>>> {
        let today = col("__now");
        let rows = compared
            .clone()
            .lazy()
            .with_columns([
                when(today.clone())
                    .then(col("effective_cost"))
                    .otherwise(lit(0.0))
                    .alias("actual"),
                when(today)
                    .then(lit(0.0))
                    .otherwise(col("effective_cost"))
                    .alias("reference"),
            ])
            .collect()?;
        // Every key column coded once for all children (by dictionary codes), then each
        // child's sums grouped by the codes.
        let codes = crate::coded::code_named(
            &rows,
            std::iter::once("__flag")
                .chain(children.iter().flat_map(|c| c.columns().iter().copied())),
        )?;
        let mut causes: Vec<Vec<RootCause>> = vec![Vec::new(); scales.len()];
        for child in children {
            let keys: Vec<&str> = std::iter::once("__flag")
                .chain(child.columns().iter().copied())
                .collect();
            let summed = crate::coded::sum_by(&rows, &keys, &codes, &["actual", "reference"])?;
            // Values two keys name alike (a null account and `(none)`) summed once more.
            let df = summed
                .lazy()
                .with_column(crate::schema::text(child.expr()).alias("__child"))
                .group_by([col("__flag"), col("__child")])
                .agg([col("actual").sum(), col("reference").sum()])
                .collect()?;
            let flag = df.column("__flag")?.idx()?;
            let values = text_values(df.column("__child")?)?;
            let actual = df.column("actual")?.f64()?;
            let reference = df.column("reference")?.f64()?;
            // (impact in the flag's direction, value, actual, expected) of each flag's
            // causes: all of them, or the largest few in its direction, best first.
            let mut kept: Vec<Vec<(f64, &str, f64, f64)>> = vec![Vec::new(); scales.len()];
            for (((f, v), a), r) in flag
                .iter()
                .zip(values.iter())
                .zip(actual.iter())
                .zip(reference.iter())
            {
                let f = f.unwrap_or_default() as usize;
                let Some(scale) = scales.get(f) else {
                    continue;
                };
                let a = a.unwrap_or(0.0);
                let e = r.unwrap_or(0.0) / scale.n_ref * scale.k;
                let cause = (round(a - e) * scale.sign, v.unwrap_or_default(), a, e);
                let list = &mut kept[f];
                if scale.sign == 0.0 {
                    list.push(cause);
                } else if cause.0 > LEAST_CAUSE {
                    // As `anomaly` orders them: larger first, then by value.
                    let at = list
                        .partition_point(|c| c.0 > cause.0 || (c.0 == cause.0 && c.1 < cause.1));
                    if at < MOST_CAUSES {
                        list.insert(at, cause);
                        list.truncate(MOST_CAUSES);
                    }
                }
            }
            for (f, list) in kept.into_iter().enumerate() {
                causes[f].extend(list.into_iter().map(|(_, v, a, e)| RootCause {
                    dimension: child.name().to_string(),
                    value: v.to_string(),
                    actual: round(a),
                    expected: round(e),
                    impact: round(a - e),
                }));
            }
        }
        Ok(causes)
    }

    /// Volume / mix / rate decomposition of the change from the (scaled) reference days to
    /// the flagged day, over token-billed segments (model × usage type), from the
    /// [`Frame::compared`] rows.
    pub fn decompose(
        &self,
        compared: &DataFrame,
        baseline: &Baseline,
        reference_total: f64,
    ) -> PolarsResult<Option<Decomposition>> {
        let one = [Scale::of(baseline, reference_total)];
        let mut by_flag = self.decompose_by_flag(compared, &one)?;
        Ok(by_flag.swap_remove(0))
    }

    /// [`Frame::decompose`] of many flags at once (see [`Frame::root_causes_by_flag`]):
    /// summed by the model and usage type columns themselves, named afterwards.
    fn decompose_by_flag(
        &self,
        compared: &DataFrame,
        scales: &[Scale],
    ) -> PolarsResult<Vec<Option<Decomposition>>> {
        let rows = compared
            .clone()
            .lazy()
            .select([
                col("__flag"),
                col("__now"),
                col("consumed_quantity")
                    .fill_null(lit(0.0))
                    .gt(lit(0.0))
                    .alias("__counted"),
                col("model"),
                col("usage_type"),
                col("effective_cost").alias("cost"),
                col("consumed_quantity").fill_null(lit(0.0)).alias("qty"),
            ])
            .collect()?;
        let keys = ["__flag", "__now", "__counted", "model", "usage_type"];
        let codes = crate::coded::code_named(&rows, keys)?;
        let df = crate::coded::sum_by(&rows, &keys, &codes, &["cost", "qty"])?
            .lazy()
            .with_columns([
                crate::schema::is_token_usage()
                    .and(col("__counted"))
                    .alias("__token"),
                crate::schema::text(Dimension::Model.expr()).alias("__model"),
            ])
            .collect()?;
        let flag = df.column("__flag")?.idx()?;
        let now = df.column("__now")?.bool()?;
        let is_token = df.column("__token")?.bool()?;
        let model = text_values(df.column("__model")?)?;
        let usage = text_values(df.column("usage_type")?)?;
        let cost = df.column("cost")?.f64()?;
        let qty = df.column("qty")?.f64()?;
        let mut mixes: Vec<Option<Mix>> = (0..scales.len()).map(|_| None).collect();
        for i in 0..df.height() {
            let f = flag.get(i).unwrap_or_default() as usize;
            let Some(scale) = scales.get(f) else {
                continue;
            };
            let m = mixes[f].get_or_insert_with(Mix::default);
            let is_now = now.get(i).unwrap_or(false);
            let c = cost.get(i).unwrap_or(0.0);
            if !is_token.get(i).unwrap_or(false) {
                if is_now {
                    m.other1 += c;
                } else {
                    m.other0 += c / scale.n_ref * scale.k;
                }
                continue;
            }
            let key = (
                model.get(i).unwrap_or_default().to_string(),
                usage.get(i).unwrap_or_default().to_string(),
            );
            let q = qty.get(i).unwrap_or(0.0);
            let e = m.segments.entry(key).or_insert([0.0; 4]);
            if is_now {
                e[2] += c;
                e[3] += q;
            } else {
                e[0] += c / scale.n_ref * scale.k;
                e[1] += q / scale.n_ref * scale.k;
            }
        }
        Ok(mixes
            .into_iter()
            .map(|m| m.and_then(|m| m.decomposition()))
            .collect())
    }
}

/// How a flag's reference days scale to its expected value: each reference day's cost
/// divided by the number of reference days and multiplied by `k` (expected / mean of the
/// reference days).
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    k: f64,
    n_ref: f64,
    /// The direction of the flag's change (+1 or -1) when only the causes an anomaly lists
    /// are wanted (see [`anomaly`]); 0 for every cause.
    sign: f64,
}

impl Scale {
    pub fn of(baseline: &Baseline, reference_total: f64) -> Scale {
        Scale {
            k: if reference_total > 0.0 {
                baseline.expected / reference_total
            } else {
                0.0
            },
            n_ref: baseline.reference.len().max(1) as f64,
            sign: 0.0,
        }
    }

    /// The scale of an anomaly's flag (series `x`): only the causes [`anomaly`] could list
    /// are kept, each child dimension's largest few in the flag's direction.
    fn of_flag(flag: &Flag, x: &[f64]) -> Scale {
        let b = &flag.baseline;
        Scale {
            sign: direction(flag.actual - b.expected),
            ..Scale::of(b, reference_mean(x, b))
        }
    }
}

/// +1 for a rise (or no change), -1 for a fall.
fn direction(impact: f64) -> f64 {
    if impact >= 0.0 {
        1.0
    } else {
        -1.0
    }
}

/// Root causes an anomaly lists, at most, each moving its value more than half a cent in
/// the anomaly's direction.
const MOST_CAUSES: usize = 5;
const LEAST_CAUSE: f64 = 0.005;

/// Token segments (model, usage type) -> (cost before, tokens before, cost now, tokens now),
/// the before side scaled; and the cost of everything else before and now.
#[derive(Default)]
struct Mix {
    segments: HashMap<(String, String), [f64; 4]>,
    other0: f64,
    other1: f64,
}

impl Mix {
    fn decomposition(&self) -> Option<Decomposition> {
        let (segments, other0, other1) = (&self.segments, self.other0, self.other1);
        let q0: f64 = segments.values().map(|s| s[1]).sum();
        let q1: f64 = segments.values().map(|s| s[3]).sum();
        if q0 <= 0.0 && q1 <= 0.0 {
            return None;
        }
        let c0: f64 = segments.values().map(|s| s[0]).sum();
        let c1: f64 = segments.values().map(|s| s[2]).sum();
        let (volume, mix, rate) = if q0 <= 0.0 {
            (c1 - c0, 0.0, 0.0)
        } else {
            let p0 = c0 / q0;
            let mut mix = 0.0;
            let mut rate = 0.0;
            for s in segments.values() {
                let p1 = if s[3] > 0.0 { s[2] / s[3] } else { 0.0 };
                // A segment absent before is priced at today's rate: its arrival is mix.
                let p0_seg = if s[1] > 0.0 { s[0] / s[1] } else { p1 };
                let s0 = s[1] / q0;
                let s1 = if q1 > 0.0 { s[3] / q1 } else { 0.0 };
                mix += q1 * (s1 - s0) * p0_seg;
                rate += q1 * s1 * (p1 - p0_seg);
            }
            ((q1 - q0) * p0, mix, rate)
        };
        Some(Decomposition {
            volume: round(volume),
            mix: round(mix),
            rate: round(rate),
            other: round(other1 - other0),
            tokens_expected: q0.round(),
            tokens_actual: q1.round(),
        })
    }
}

/// Cents, without a negative zero.
fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0 + 0.0
}

/// Events of series `x` under way on any day `lo..=hi`. Judging starts four weeks early so an
/// event already running is reported once, from its first day, not again as if it began on
/// the first day of the range.
pub fn events(x: &[f64], lo: usize, hi: usize, cfg: &AnomalyConfig) -> Vec<Flag> {
    flag_series(x, lo.saturating_sub(28), hi, cfg)
        .into_iter()
        .filter(|f| f.index + f.days > lo)
        .collect()
}

/// The window columns detection and explanations read: the day, the money and tokens, and
/// every dimension's columns.
pub fn columns() -> Vec<&'static str> {
    let mut names = vec![
        "charge_period_start",
        "billing_currency",
        "effective_cost",
        "consumed_quantity",
        "usage_type",
    ];
    for c in Dimension::ALL.iter().flat_map(|d| d.columns()) {
        if !names.contains(c) {
            names.push(c);
        }
    }
    names
}

/// Find and explain anomalies on days `from..=to` (inclusive) across `dims`.
pub fn detect(
    frame: &Frame,
    dims: &[Dimension],
    from: NaiveDate,
    to: NaiveDate,
    cfg: &AnomalyConfig,
) -> PolarsResult<Vec<Anomaly>> {
    let lo = (day_of_date(from) - frame.first_day).max(0) as usize;
    let hi = day_of_date(to) - frame.first_day;
    if hi < 0 {
        return Ok(Vec::new());
    }
    let hi = hi as usize;
    let t = crate::timing::phase("anomalies: series and flags");
    // Each dimension's series judged on its own core (thousands of resource series).
    let mut flagged: Vec<(Dimension, String, Vec<f64>, Vec<Flag>)> = Vec::new();
    for judged in crate::timing::on_all_cores(dims, |&dim| -> PolarsResult<Vec<_>> {
        Ok(frame
            .series(dim, None)?
            .into_iter()
            .filter_map(|(value, x)| {
                let flags = events(&x, lo, hi, cfg);
                (!flags.is_empty()).then_some((dim, value, x, flags))
            })
            .collect())
    }) {
        flagged.extend(judged?);
    }
    // Explanations are independent small queries (a few days each): run them on every core.
    let jobs: Vec<(usize, &Flag)> = flagged
        .iter()
        .enumerate()
        .flat_map(|(i, (_, _, _, flags))| flags.iter().map(move |f| (i, f)))
        .collect();
    drop(t);
    let _t = crate::timing::phase("anomalies: explanations");
    // Flags of one dimension on the same day against the same reference days form a group;
    // each dimension's groups are explained together, the dimensions on every core.
    let mut together: std::collections::BTreeMap<
        Dimension,
        std::collections::BTreeMap<_, Vec<usize>>,
    > = Default::default();
    for (j, &(i, flag)) in jobs.iter().enumerate() {
        let key = (flag.index, flag.baseline.reference.clone());
        together
            .entry(flagged[i].0)
            .or_default()
            .entry(key)
            .or_default()
            .push(j);
    }
    let dims: Vec<(Dimension, Vec<Vec<usize>>)> = together
        .into_iter()
        .map(|(dim, groups)| (dim, groups.into_values().collect()))
        .collect();
    let mut out = Vec::with_capacity(jobs.len());
    for explained in crate::timing::on_all_cores(&dims, |(dim, groups)| {
        let groups: Vec<Vec<(&str, &[f64], &Flag)>> = groups
            .iter()
            .map(|group| {
                group
                    .iter()
                    .map(|&j| {
                        let (i, flag) = jobs[j];
                        let (_, value, x, _) = &flagged[i];
                        (value.as_str(), x.as_slice(), flag)
                    })
                    .collect()
            })
            .collect();
        explain_together(frame, *dim, &groups, cfg)
    }) {
        out.extend(explained?);
    }
    link_lost_tags(&mut out);
    out.sort_by(|a, b| {
        b.date
            .cmp(&a.date)
            .then(b.impact.abs().total_cmp(&a.impact.abs()))
            .then(a.dimension.cmp(&b.dimension))
            .then(a.value.cmp(&b.value))
    });
    Ok(out)
}

/// Turn a flag of the series `dim` = `value` into an anomaly with root causes and
/// decomposition.
pub fn explain(
    frame: &Frame,
    dim: Dimension,
    value: &str,
    x: &[f64],
    flag: Flag,
    cfg: &AnomalyConfig,
) -> PolarsResult<Anomaly> {
    let filter = dim.matches(value);
    explain_selection(
        frame,
        filter,
        dim.children(),
        dim.name(),
        value,
        x,
        flag,
        cfg,
    )
}

/// Explain a flag of the series of rows matching `filter`, by `children`.
#[allow(clippy::too_many_arguments)]
pub fn explain_selection(
    frame: &Frame,
    filter: Expr,
    children: &[Dimension],
    dimension: &str,
    value: &str,
    x: &[f64],
    flag: Flag,
    cfg: &AnomalyConfig,
) -> PolarsResult<Anomaly> {
    let b = &flag.baseline;
    let reference_total = reference_mean(x, b);
    let compared = frame.compared(filter, flag.index, b)?;
    let causes = frame.root_causes(&compared, children, b, reference_total)?;
    let decomposition = frame.decompose(&compared, b, reference_total)?;
    Ok(anomaly(
        frame,
        (dimension, value),
        flag,
        causes,
        decomposition,
        cfg,
    ))
}

/// Every flag of `dim`, explained together: `groups` holds the flags of each day (flags on
/// the same day against the same reference days). Each row's value of `dim` is coded once;
/// a group's rows on its compared days are then picked by looking their key up in a table
/// of the group's flags (no expression per group, no string per row) and gathered in one
/// frame, marked with their flag's number; one group-by per child dimension and one for the
/// decomposition serve them all. The same answers as [`explain`] on each.
fn explain_together(
    frame: &Frame,
    dim: Dimension,
    groups: &[Vec<(&str, &[f64], &Flag)>],
    cfg: &AnomalyConfig,
) -> PolarsResult<Vec<Anomaly>> {
    const NO_FLAG: IdxSize = IdxSize::MAX;
    let (row_keys, key_values) = frame.keyed(dim)?;
    let row_keys = row_keys.rechunk();
    let row_keys = row_keys.cont_slice()?;
    let mut keys_of: HashMap<&str, Vec<usize>> = HashMap::new();
    for (key, value) in key_values.iter().enumerate() {
        if let Some(value) = value {
            keys_of.entry(value).or_default().push(key);
        }
    }
    let mut flag_of_key = vec![NO_FLAG; key_values.len()];
    let (mut rows, mut flag_of_row, mut now) = (Vec::new(), Vec::new(), Vec::new());
    let mut flags: Vec<(&str, &Flag)> = Vec::new();
    let mut scales = Vec::new();
    for group in groups {
        let Some((_, _, first)) = group.first() else {
            continue;
        };
        let keys = |value: &str| keys_of.get(value).map(Vec::as_slice).unwrap_or_default();
        for (value, x, flag) in group {
            for &key in keys(value) {
                flag_of_key[key] = flags.len() as IdxSize;
            }
            flags.push((value, flag));
            scales.push(Scale::of_flag(flag, x));
        }
        let today = frame.first_day + first.index as i32;
        for (day, range) in frame.day_slices(&frame.compared_days(first.index, &first.baseline)) {
            for row in range {
                let flag = flag_of_key[row_keys[row] as usize];
                if flag != NO_FLAG {
                    rows.push(row as IdxSize);
                    flag_of_row.push(flag);
                    now.push(day == today);
                }
            }
        }
        for (value, _, _) in group {
            for &key in keys(value) {
                flag_of_key[key] = NO_FLAG;
            }
        }
    }
    if flags.is_empty() {
        return Ok(Vec::new());
    }
    // Only the columns the causes and the decomposition read.
    let mut read: Vec<&str> = vec!["effective_cost", "consumed_quantity", "model", "usage_type"];
    for c in dim.children().iter().flat_map(|c| c.columns()) {
        if !read.contains(c) {
            read.push(c);
        }
    }
    let mut compared = frame
        .df
        .select(read)?
        .take(&IdxCa::from_vec(PlSmallStr::EMPTY, rows))?;
    compared.with_column(Column::new("__flag".into(), flag_of_row))?;
    compared.with_column(Column::new("__now".into(), now))?;
    let causes = frame.root_causes_by_flag(&compared, dim.children(), &scales)?;
    let decompositions = frame.decompose_by_flag(&compared, &scales)?;
    Ok(flags
        .into_iter()
        .zip(causes)
        .zip(decompositions)
        .map(|(((value, flag), causes), decomposition)| {
            anomaly(
                frame,
                (dim.name(), value),
                flag.clone(),
                causes,
                decomposition,
                cfg,
            )
        })
        .collect())
}

/// A flag's impact (actual less expected), in cents, as its anomaly states it.
pub fn impact(flag: &Flag) -> f64 {
    round(flag.actual - flag.baseline.expected)
}

/// Mean cost of the reference days of series `x`.
fn reference_mean(x: &[f64], b: &Baseline) -> f64 {
    if b.reference.is_empty() {
        0.0
    } else {
        b.reference.iter().map(|&i| x[i]).sum::<f64>() / b.reference.len() as f64
    }
}

/// The anomaly of `flag` on (dimension, value): the largest root causes in the direction of
/// the change first (at most five), with its decomposition.
fn anomaly(
    frame: &Frame,
    (dimension, value): (&str, &str),
    flag: Flag,
    mut causes: Vec<RootCause>,
    decomposition: Option<Decomposition>,
    cfg: &AnomalyConfig,
) -> Anomaly {
    let b = &flag.baseline;
    let change = flag.actual - b.expected;
    // Largest contributions in the direction of the anomaly first.
    let sign = direction(change);
    causes.retain(|c| c.impact * sign > LEAST_CAUSE);
    causes.sort_by(|a, b| {
        (b.impact * sign)
            .total_cmp(&(a.impact * sign))
            .then(a.dimension.cmp(&b.dimension))
            .then(a.value.cmp(&b.value))
    });
    causes.truncate(MOST_CAUSES);
    Anomaly {
        date: date_of_day(frame.first_day + flag.index as i32),
        dimension: dimension.to_string(),
        value: value.to_string(),
        kind: flag.kind,
        actual: round(flag.actual),
        expected: round(b.expected),
        impact: impact(&flag),
        impact_pct: (b.expected > 0.0).then(|| (change / b.expected * 1e4).round() / 1e4),
        score: flag.score.map(|s| (s * 100.0).round() / 100.0),
        severity: Severity::of(change, cfg.min_impact),
        duration_days: flag.days,
        root_causes: causes,
        decomposition,
        note: None,
    }
}

/// A team (or team/feature) whose spend drops while `unallocated` rises on the same day by
/// a large part of it (30% to 150%: shared-cost splits move the rest to other teams) has
/// most likely lost its tag: say so on both anomalies.
fn link_lost_tags(anomalies: &mut [Anomaly]) {
    let unallocated = crate::attribute::UNALLOCATED;
    let rises: Vec<(NaiveDate, f64, usize)> = anomalies
        .iter()
        .enumerate()
        .filter(|(_, a)| a.dimension == "team" && a.value == unallocated && a.impact > 0.0)
        .map(|(i, a)| (a.date, a.impact, i))
        .collect();
    for i in 0..anomalies.len() {
        let a = &anomalies[i];
        let team_level = a.dimension == "team" || a.dimension == "team_feature";
        if !team_level || a.kind != Kind::Drop || a.value.starts_with(unallocated) {
            continue;
        }
        let lost = -a.impact;
        if let Some(&(_, _, j)) = rises
            .iter()
            .find(|(d, rise, _)| *d == a.date && *rise >= 0.3 * lost && *rise <= 1.5 * lost)
        {
            let who = a.value.clone();
            anomalies[i].note = Some(format!(
                "spend moved from `{who}` to `unallocated` on the same day: a tag removed or renamed?"
            ));
            let note = anomalies[j].note.get_or_insert_with(String::new);
            if !note.is_empty() {
                note.push_str("; ");
            }
            note.push_str(&format!(
                "`{who}` lost about as much on the same day: a tag removed or renamed?"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> AnomalyConfig {
        AnomalyConfig::default()
    }

    /// Four weeks of weekday 300 / weekend 165 with ±5% wobble, then `last`.
    fn weekly(last: f64) -> Vec<f64> {
        let mut x: Vec<f64> = (0..35)
            .map(|i| {
                let base = if i % 7 >= 5 { 165.0 } else { 300.0 };
                base * (1.0 + 0.05 * ((i * 37 % 11) as f64 / 10.0 - 0.5))
            })
            .collect();
        x.push(last);
        x
    }

    /// Six weeks of four accounts (two teams, two models, input and output tokens each, on
    /// two resources); on the last day accounts 0 and 1 jump 4x with a different team and
    /// model mix, and account 2 drops. The fourth account is named null one day and
    /// `(none)` the next (one series), as are its resources (one root cause); the others
    /// share eight resources, more than an anomaly lists. Costs are whole dollars, so sums
    /// are exact in any order.
    fn accounts() -> Frame {
        let (mut day, mut account, mut resource, mut team, mut model, mut usage) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        let (mut cost, mut qty) = (vec![], vec![]);
        let first = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        for d in 0..42i64 {
            for a in 0..4i64 {
                for (t, m, u) in [
                    (0, 0, "input_tokens"),
                    (0, 1, "output_tokens"),
                    (1, 0, "input_tokens"),
                    (1, 1, "output_tokens"),
                ] {
                    for r in 0..2i64 {
                        let base = (25 + (d * 37 + a * 13 + t * 5 + m * 3 + r * 7) % 11) as f64;
                        let factor = match (d, a, t, m) {
                            (41, 0, 1, _) => 6.0,
                            (41, 0, 0, _) => 2.0,
                            (41, 1, _, 1) => 7.0,
                            (41, 2, _, _) => 0.25,
                            // Another day's flag: explained in the same batch, against its own
                            // reference days.
                            (38, 3, _, _) => 5.0,
                            (39, 0, _, _) => 4.0,
                            _ => 1.0,
                        };
                        day.push(first + chrono::Duration::days(d));
                        let none = |null: bool| (!null).then(|| "(none)".to_string());
                        if a == 3 {
                            account.push(none(d % 2 == 0));
                            resource.push(none(r == 0));
                        } else {
                            account.push(Some(format!("acct-{a}")));
                            resource.push(Some(format!("res-{t}{m}{r}")));
                        }
                        team.push(format!("team-{t}"));
                        model.push(format!("model-{m}"));
                        usage.push(u);
                        cost.push(base * factor);
                        qty.push(base * factor * 1000.0);
                    }
                }
            }
        }
        let n = day.len();
        let df = DataFrame::new(
            n,
            vec![
                crate::schema::day_column("charge_period_start", &day).unwrap(),
                Column::new("provider_name".into(), vec!["aws"; n]),
                Column::new("sub_account_id".into(), account),
                Column::new("region_id".into(), vec!["us-east-1"; n]),
                Column::new("resource_id".into(), resource),
                Column::new("team".into(), team),
                Column::new("feature".into(), vec!["chat"; n]),
                Column::new("model".into(), model),
                Column::new("usage_type".into(), usage),
                Column::new("billed_cost".into(), cost.clone()),
                Column::new("effective_cost".into(), cost),
                Column::new("consumed_quantity".into(), qty),
                Column::new("billing_currency".into(), vec!["USD"; n]),
                Column::new("allocation".into(), vec!["tag"; n]),
            ],
        )
        .unwrap();
        let df = crate::schema::categoricals(
            df.lazy()
                .with_column(col("charge_period_start").cast(crate::schema::timestamp()))
                .collect()
                .unwrap(),
        )
        .unwrap();
        let sums = super::super::sums::of(df.clone().lazy()).unwrap();
        Frame::new(df).unwrap().unwrap().with_sums(Sums(sums))
    }

    #[test]
    fn flags_explained_together_are_explained_as_one_at_a_time() {
        let frame = accounts();
        let last = date_of_day(frame.last_day);
        let from = last - chrono::Duration::days(6);
        let found = detect(&frame, &[Dimension::Account], from, last, &cfg()).unwrap();
        let flagged: Vec<(String, &str)> = found
            .iter()
            .map(|a| (a.date.to_string(), a.value.as_str()))
            .collect();
        let on_last: Vec<&str> = flagged
            .iter()
            .filter(|(d, _)| *d == last.to_string())
            .map(|(_, v)| *v)
            .collect();
        assert!(
            ["acct-0", "acct-1", "acct-2"]
                .iter()
                .all(|a| on_last.contains(a)),
            "three accounts on one day (explained together): {flagged:?}"
        );
        let day_38 = (date_of_day(frame.first_day) + chrono::Duration::days(38)).to_string();
        let day_39 = (date_of_day(frame.first_day) + chrono::Duration::days(39)).to_string();
        assert!(
            flagged.contains(&(day_38, "(none)")) && flagged.contains(&(day_39, "acct-0")),
            "and others on other days, one a value also flagged on the last: {flagged:?}"
        );
        let (lo, hi) = (frame.days() - 7, frame.days() - 1);
        let mut compared = 0;
        for (value, x) in frame.series(Dimension::Account, None).unwrap() {
            for flag in events(&x, lo, hi, &cfg()) {
                let alone = explain(&frame, Dimension::Account, &value, &x, flag, &cfg()).unwrap();
                let together = found
                    .iter()
                    .find(|a| a.value == value && a.date == alone.date)
                    .unwrap();
                compared += 1;
                assert!(!alone.root_causes.is_empty() && alone.decomposition.is_some());
                if value == "(none)" {
                    // Null and `(none)` rows are one series and one cause.
                    let resources: Vec<_> = alone
                        .root_causes
                        .iter()
                        .filter(|c| c.dimension == "resource")
                        .collect();
                    assert!(
                        resources.len() == 1 && resources[0].value == "(none)",
                        "{alone:?}"
                    );
                    assert!(
                        (resources[0].actual - alone.actual).abs() < 0.01,
                        "{alone:?}"
                    );
                }
                assert_eq!(
                    serde_json::to_value(together).unwrap(),
                    serde_json::to_value(&alone).unwrap(),
                    "{value}"
                );
            }
        }
        assert_eq!(compared, found.len());
    }

    #[test]
    fn a_quiet_weekly_pattern_raises_nothing() {
        let x = weekly(300.0);
        assert!(flag_series(&x, 7, 35, &cfg()).is_empty());
    }

    #[test]
    fn a_4x_day_is_a_spike_and_a_3_to_12_day_is_not() {
        let x = weekly(1200.0);
        let flags = flag_series(&x, 35, 35, &cfg());
        assert_eq!(flags.len(), 1);
        assert_eq!(flags[0].kind, Kind::Spike);
        assert!((flags[0].baseline.expected - 300.0).abs() < 20.0);
        // Same shape, a hundredth of the money: below the dollar floor.
        let small: Vec<f64> = x.iter().map(|v| v / 100.0).collect();
        assert!(flag_series(&small, 35, 35, &cfg()).is_empty());
    }

    #[test]
    fn a_vanishing_series_is_a_drop_and_first_spend_is_new() {
        let x = weekly(0.0);
        assert_eq!(flag_series(&x, 35, 35, &cfg())[0].kind, Kind::Drop);
        let mut y = vec![0.0; 20];
        y.push(400.0);
        let flags = flag_series(&y, 0, 20, &cfg());
        assert_eq!(flags.len(), 1);
        assert_eq!(flags[0].kind, Kind::New);
        assert_eq!(flags[0].baseline.expected, 0.0);
    }

    #[test]
    fn a_week_of_20_percent_growth_is_one_ramp() {
        let mut x = vec![300.0; 21];
        for _ in 0..9 {
            let last = *x.last().unwrap();
            x.push(last * 1.2);
        }
        let flags = flag_series(&x, 21, x.len() - 1, &cfg());
        let ramps: Vec<_> = flags.iter().filter(|f| f.kind == Kind::Ramp).collect();
        assert_eq!(ramps.len(), 1, "{flags:?}");
        assert!(
            flags.iter().all(|f| f.kind != Kind::Spike),
            "a ramp is not also a run of spikes: {flags:?}"
        );
    }

    #[test]
    fn a_level_shift_is_one_event_with_its_duration() {
        let mut x = weekly(300.0);
        x.truncate(35);
        x.extend([450.0; 10]);
        let flags = flag_series(&x, 35, x.len() - 1, &cfg());
        assert_eq!(flags.len(), 1, "{flags:?}");
        assert_eq!(flags[0].index, 35);
        assert!(flags[0].days >= 3, "{flags:?}");
    }

    #[test]
    fn no_judgement_without_a_week_of_history() {
        let mut x = vec![300.0; 5];
        x.push(3000.0);
        assert!(flag_series(&x, 0, 5, &cfg()).is_empty());
    }

    #[test]
    fn severity_grows_with_dollars() {
        assert_eq!(Severity::of(60.0, 50.0), Severity::Low);
        assert_eq!(Severity::of(-120.0, 50.0), Severity::Medium);
        assert_eq!(Severity::of(900.0, 50.0), Severity::High);
        assert_eq!(Severity::of(5000.0, 50.0), Severity::Critical);
    }
}

//! `spendlens investigate`: one selection of spend (any dimensions, glob values), its daily
//! series, a focus day against its baseline, the top movers beneath it, unit costs before and
//! after, and the volume / mix / rate decomposition.

use super::anomalies::{self, Anomaly, Baseline, Decomposition, Frame, RootCause};
use super::sums::Sums;
use super::{AnalyseError, CostWindow, Dimension, Pick};
use crate::attribute::Attributor;
use crate::config::AnomalyConfig;
use crate::schema::{text, text_values};
use crate::store::Store;
use chrono::NaiveDate;
use polars::prelude::*;
use serde::Serialize;

/// A selection: each (dimension, pattern) must match; `*` in a pattern matches anything.
#[derive(Debug, Clone, Serialize)]
pub struct Selector {
    pub dimension: String,
    pub value: String,
}

impl Selector {
    /// Parse `dimension=value`.
    pub fn parse(s: &str) -> Result<(Dimension, String), String> {
        let (d, v) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}` is not DIMENSION=VALUE"))?;
        let dim = Dimension::parse(d.trim()).ok_or_else(|| {
            format!(
                "unknown dimension `{d}` (one of: {})",
                Dimension::ALL
                    .iter()
                    .map(|d| d.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        Ok((dim, v.trim().to_string()))
    }
}

/// A selection as the user wrote it: `team=search, model=gpt-4o`.
pub(crate) fn describe(selection: &[(Dimension, String)]) -> String {
    selection
        .iter()
        .map(|(d, v)| format!("{}={v}", d.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rows a selection (every selector at once) picks out of attributed costs.
pub(crate) fn selection_filter(selection: &[(Dimension, String)]) -> Expr {
    selection
        .iter()
        .fold(lit(true), |acc, (d, p)| acc.and(selector_expr(*d, p)))
}

fn selector_expr(dim: Dimension, pattern: &str) -> Expr {
    if pattern.contains('*') {
        let re = crate::schema::glob_regex(pattern);
        text(dim.expr()).str().contains(lit(re), true)
    } else {
        dim.matches(pattern)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DayCost {
    pub date: NaiveDate,
    pub effective_cost: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Focus {
    pub date: NaiveDate,
    pub actual: f64,
    /// Null when the selection has too little history before the focus day.
    pub expected: Option<f64>,
    pub impact: Option<f64>,
    pub impact_pct: Option<f64>,
    /// The reference days the expectation came from.
    pub reference_days: Vec<NaiveDate>,
}

/// Unit costs over a set of days. Per-request costs need request counts, which come from
/// usage records (CloudWatch); until a collector provides them they are null.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct UnitCosts {
    pub tokens: f64,
    pub per_1k_tokens: Option<f64>,
    pub per_1k_input_tokens: Option<f64>,
    pub per_1k_output_tokens: Option<f64>,
    pub per_1k_cache_read_tokens: Option<f64>,
    pub per_request: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Investigation {
    pub selection: Vec<Selector>,
    pub currency: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub total: f64,
    pub daily: Vec<DayCost>,
    pub focus: Focus,
    /// Change on the focus day by child dimension, largest first (either sign).
    pub movers: Vec<RootCause>,
    pub unit_costs_before: Option<UnitCosts>,
    pub unit_costs_after: UnitCosts,
    pub decomposition: Option<Decomposition>,
    /// Anomalies of the selection's own daily series within the period.
    pub anomalies: Vec<Anomaly>,
}

fn unit_costs(frame: &Frame, filter: Expr, days: &[i32]) -> PolarsResult<Option<UnitCosts>> {
    if days.is_empty() {
        return Ok(None);
    }
    let df = frame
        .on_days(days, filter.and(crate::schema::is_token_usage()))?
        .group_by([col("usage_type")])
        .agg([
            col("effective_cost").sum(),
            col("consumed_quantity").fill_null(lit(0.0)).sum(),
        ])
        .collect()?;
    let usage = text_values(df.column("usage_type")?)?;
    let cost = df.column("effective_cost")?.f64()?.clone();
    let qty = df.column("consumed_quantity")?.f64()?.clone();
    let get = |kind: Option<&str>| -> (f64, f64) {
        let mut c = 0.0;
        let mut q = 0.0;
        for i in 0..df.height() {
            if kind.is_none_or(|k| usage.get(i) == Some(k)) {
                c += cost.get(i).unwrap_or(0.0);
                q += qty.get(i).unwrap_or(0.0);
            }
        }
        (c, q)
    };
    let per_1k = |(c, q): (f64, f64)| (q > 0.0).then(|| (c / q * 1000.0 * 1e6).round() / 1e6);
    let (_, tokens) = get(None);
    Ok(Some(UnitCosts {
        tokens: (tokens / days.len() as f64).round(),
        per_1k_tokens: per_1k(get(None)),
        per_1k_input_tokens: per_1k(get(Some("input_tokens"))),
        per_1k_output_tokens: per_1k(get(Some("output_tokens"))),
        per_1k_cache_read_tokens: per_1k(get(Some("cache_read_tokens"))),
        per_request: None,
    }))
}

/// A selection whose daily series the stored sums hold: a single selector, without `*`, on
/// a dimension some grouping set is kept by. Its investigation reads the series from the
/// sums and rows only on the days it looks at (`Plan::days`).
pub fn summed(selection: &[(Dimension, String)]) -> Option<(Dimension, &str)> {
    let [(dim, value)] = selection else {
        return None;
    };
    let kept = super::sums::set_by(dim.columns()).is_some();
    (kept && !dim.columns().is_empty() && !value.contains('*')).then_some((*dim, value.as_str()))
}

/// The daily effective cost of `dim` = `value` over `days` days from day number `first_day`,
/// summed from `sums`; `None` when no sum matches (as no row would).
pub(crate) fn series_from_sums(
    sums: &Sums,
    dim: Dimension,
    value: &str,
    first_day: i32,
    days: usize,
) -> PolarsResult<Option<Vec<f64>>> {
    let Some(rows) = sums.by(dim.columns()) else {
        return Ok(None);
    };
    let df = rows
        .filter(dim.matches(value))
        .group_by([col("__day")])
        .agg([col("effective_cost").sum()])
        .collect()?;
    if df.height() == 0 {
        return Ok(None);
    }
    let mut x = vec![0.0; days];
    let day = df.column("__day")?.i32()?;
    let cost = df.column("effective_cost")?.f64()?;
    for (d, c) in day.iter().zip(cost.iter()) {
        if let (Some(d), Some(c)) = (d, c) {
            if let Some(v) = usize::try_from(d - first_day)
                .ok()
                .and_then(|i| x.get_mut(i))
            {
                *v += c;
            }
        }
    }
    Ok(Some(x))
}

/// The window an investigation of `selection` over `from..=to` reads (the selection's
/// attributed rows, with [`super::HISTORY_DAYS`] of history), and the selection's daily
/// series when it was read from the stored sums ([`summed`]; without shared-cost splits,
/// which divide rows after the sums): the rows are then read only on the days of its
/// `Plan` (`at` as [`investigate`] takes it).
#[allow(clippy::too_many_arguments)]
pub fn load(
    store: &Store,
    attributor: &Attributor,
    selection: &[(Dimension, String)],
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    currency: Option<&str>,
    at: Option<NaiveDate>,
    cfg: &AnomalyConfig,
) -> Result<(CostWindow, Option<Vec<f64>>), AnalyseError> {
    let history = super::HISTORY_DAYS;
    let rows = |days| Pick {
        rows: Some(selection_filter(selection)),
        columns: None,
        days,
        sums: None,
    };
    let read_all =
        || super::load_window_where(store, attributor, from, to, currency, history, rows(None));
    let Some((dim, value)) = summed(selection).filter(|_| !attributor.has_splits()) else {
        return Ok((read_all()?, None));
    };
    // The selection's sums alone first (no column of the rows).
    let sums_only = Pick {
        rows: None,
        columns: Some(Vec::new()),
        days: None,
        sums: super::sums::set_by(dim.columns()).map(|set| set.and(dim.matches(value))),
    };
    let mut window =
        super::load_window_where(store, attributor, from, to, currency, history, sums_only)?;
    let (Some(sums), Some((first, last))) = (window.stored_sums(), window.loaded) else {
        return Ok((read_all()?, None));
    };
    let first_day = anomalies::day_of_date(first);
    let days = (last - first).num_days() as usize + 1;
    let Some(x) = series_from_sums(&sums, dim, value, first_day, days)? else {
        return Err(AnalyseError::NoMatch(describe(selection)));
    };
    let plan = Plan::of(&x, first_day, (window.start, window.end), at, cfg);
    let days = plan
        .days()
        .into_iter()
        .map(|i| first + chrono::Duration::days(i as i64))
        .collect();
    let (start, end) = (Some(window.start), Some(window.end));
    let picked = super::load_window_where(
        store,
        attributor,
        start,
        end,
        Some(&window.currency),
        history,
        rows(Some(days)),
    )?;
    window.frame = picked.frame;
    Ok((window, Some(x)))
}

/// What an investigation of series `x` (day 0 is day number `first_day`) over
/// `start..=end` looks at: the period's indices, the selection's events, the focus day (`at`,
/// else the largest event, else the period's last day) and its baseline.
pub(crate) struct Plan {
    pub lo: usize,
    pub hi: usize,
    pub events: Vec<anomalies::Flag>,
    pub focus: usize,
    pub baseline: Option<Baseline>,
}

impl Plan {
    pub fn of(
        x: &[f64],
        first_day: i32,
        (start, end): (NaiveDate, NaiveDate),
        at: Option<NaiveDate>,
        cfg: &AnomalyConfig,
    ) -> Plan {
        let idx = |d: NaiveDate| {
            (anomalies::day_of_date(d) - first_day).clamp(0, x.len() as i32 - 1) as usize
        };
        let (lo, hi) = (idx(start), idx(end));
        let events = anomalies::events(x, lo, hi, cfg);
        let focus = match at {
            Some(d) => idx(d),
            None => events
                .iter()
                .max_by(|a, b| {
                    anomalies::impact(a)
                        .abs()
                        .total_cmp(&anomalies::impact(b).abs())
                })
                // An event that began before the period is looked at on the period's first day.
                .map(|f| f.index.max(lo))
                .unwrap_or(hi),
        };
        let first = x.iter().position(|v| *v != 0.0);
        let baseline = anomalies::baseline(x, focus, first).filter(|b| !b.reference.is_empty());
        Plan {
            lo,
            hi,
            events,
            focus,
            baseline,
        }
    }

    /// The days (indices into the series) whose rows the investigation reads: each event's
    /// and the focus day, with their reference days.
    pub fn days(&self) -> std::collections::BTreeSet<usize> {
        let flagged = self.events.iter().map(|f| (f.index, &f.baseline.reference));
        let focus = std::iter::once(self.focus).chain(
            self.baseline
                .iter()
                .flat_map(|b| b.reference.iter().copied()),
        );
        flagged
            .flat_map(|(i, r)| std::iter::once(i).chain(r.iter().copied()))
            .chain(focus)
            .collect()
    }
}

/// Investigate the selection over `start..=end` of `frame` (which should hold history before
/// `start` for baselines). `at` picks the focus day; by default the selection's largest
/// anomaly in the period, else its last day. `usage` (attributed UsageRecords) gives request
/// counts for per-request costs. `series`, when given, is the selection's daily series over
/// the frame's days (from the sums, see [`summed`]): the frame then needs rows only on the
/// days of its `Plan`.
#[allow(clippy::too_many_arguments)]
pub fn investigate(
    frame: &Frame,
    selection: &[(Dimension, String)],
    start: NaiveDate,
    end: NaiveDate,
    at: Option<NaiveDate>,
    currency: &str,
    cfg: &AnomalyConfig,
    usage: Option<&DataFrame>,
    series: Option<Vec<f64>>,
) -> Result<Investigation, AnalyseError> {
    let filter = selection_filter(selection);
    let described = || describe(selection);
    let x = selection_series(frame, selection, &filter, series)?;
    let plan = Plan::of(&x, frame.first_day, (start, end), at, cfg);
    let (lo, hi) = (plan.lo, plan.hi);
    let selected: Vec<Dimension> = selection.iter().map(|(d, _)| *d).collect();
    let children: Vec<Dimension> = Dimension::ALL
        .iter()
        .copied()
        .filter(|d| *d != Dimension::Total && !selected.contains(d))
        .collect();
    let found = plan
        .events
        .into_iter()
        .map(|f| {
            anomalies::explain_selection(
                frame,
                filter.clone(),
                &children,
                "selection",
                &described(),
                &x,
                f,
                cfg,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (t, baseline) = (plan.focus, plan.baseline);
    let reference_total = baseline
        .as_ref()
        .map(|b| b.reference.iter().map(|&i| x[i]).sum::<f64>() / b.reference.len() as f64)
        .unwrap_or(0.0);
    let (movers, decomposition) = match &baseline {
        Some(b) => movers_at(frame, filter.clone(), t, b, &children, reference_total)?,
        None => (Vec::new(), None),
    };
    let day = |i: usize| frame.first_day + i as i32;
    let reference_days: Vec<i32> = baseline
        .as_ref()
        .map(|b| b.reference.iter().map(|&i| day(i)).collect())
        .unwrap_or_default();
    let mut unit_costs_before = unit_costs(frame, filter.clone(), &reference_days)?;
    let mut unit_costs_after = unit_costs(frame, filter.clone(), &[day(t)])?.unwrap_or_default();
    // Usage records have no usage type, so a selection by usage type has no request count.
    if let Some(usage) = usage.filter(|_| !selected.contains(&Dimension::UsageType)) {
        let requests = |days: &[i32]| requests_on(usage, &filter, days);
        let after = requests(&[day(t)])?;
        if after > 0.0 {
            unit_costs_after.per_request = Some((x[t] / after * 1e6).round() / 1e6);
        }
        if let Some(before) = unit_costs_before.as_mut() {
            let n = reference_days.len().max(1) as f64;
            let reqs = requests(&reference_days)? / n;
            if reqs > 0.0 {
                before.per_request = Some((reference_total / reqs * 1e6).round() / 1e6);
            }
        }
    }
    let round = |v: f64| (v * 100.0).round() / 100.0;
    let expected = baseline.as_ref().map(|b| b.expected);
    Ok(Investigation {
        selection: selection
            .iter()
            .map(|(d, v)| Selector {
                dimension: d.name().into(),
                value: v.clone(),
            })
            .collect(),
        currency: currency.to_string(),
        start,
        end,
        total: round(x[lo..=hi].iter().sum()),
        daily: (lo..=hi)
            .map(|i| DayCost {
                date: anomalies::date_of_day(day(i)),
                effective_cost: round(x[i]),
            })
            .collect(),
        focus: Focus {
            date: anomalies::date_of_day(day(t)),
            actual: round(x[t]),
            expected: expected.map(round),
            impact: expected.map(|e| round(x[t] - e)),
            impact_pct: expected.and_then(|e| super::change_ratio(x[t], e)),
            reference_days: reference_days
                .iter()
                .map(|d| anomalies::date_of_day(*d))
                .collect(),
        },
        movers,
        unit_costs_before,
        unit_costs_after,
        decomposition,
        anomalies: found,
    })
}

/// The selection's daily series: `series` when given, else summed from the frame; no
/// spend at all is an error naming the selection.
fn selection_series(
    frame: &Frame,
    selection: &[(Dimension, String)],
    filter: &Expr,
    series: Option<Vec<f64>>,
) -> Result<Vec<f64>, AnalyseError> {
    let x = match series {
        Some(x) => Some(x),
        None => frame
            .series(Dimension::Total, Some(filter.clone()))?
            .into_iter()
            .next()
            .map(|(_, x)| x),
    };
    x.ok_or_else(|| {
        AnalyseError::NoMatch(if selection.is_empty() {
            "the period".into()
        } else {
            describe(selection)
        })
    })
}

/// For each selector without a `*` whose value the period does not hold, the value it
/// holds nearest in spelling (`team=serch` → `team=search`): what "did you mean" says when a
/// selection matches nothing.
pub fn nearest_values(
    store: &crate::store::Store,
    attributor: &crate::attribute::Attributor,
    selection: &[(Dimension, String)],
    (from, to): (Option<NaiveDate>, Option<NaiveDate>),
    currency: Option<&str>,
) -> Result<Vec<(Dimension, String)>, AnalyseError> {
    let mut out = Vec::new();
    for (dim, value) in selection.iter().filter(|(_, v)| !v.contains('*')) {
        let pick = Pick {
            columns: Some(dim.columns().to_vec()),
            ..Pick::default()
        };
        let window = super::load_window_where(store, attributor, from, to, currency, 0, pick)?;
        let held = window
            .frame
            .lazy()
            .select([crate::schema::text(dim.expr()).alias("__value")])
            .unique(None, UniqueKeepStrategy::Any)
            .collect()?;
        let wanted = value.to_lowercase();
        let values = crate::schema::text_values(held.column("__value")?)?;
        let nearest = values
            .iter()
            .flatten()
            .map(|v| (edit_distance(&wanted, &v.to_lowercase()), v.to_string()))
            .filter(|(d, v)| *d > 0 && *d <= (v.chars().count() / 3).max(2))
            .min();
        if let Some((_, v)) = nearest {
            out.push((*dim, v));
        }
    }
    Ok(out)
}

/// Levenshtein distance between two strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The ten largest movers beneath the selection on day `t` against its baseline, and the
/// day's volume / mix / rate decomposition.
fn movers_at(
    frame: &Frame,
    filter: Expr,
    t: usize,
    b: &Baseline,
    children: &[Dimension],
    reference_total: f64,
) -> PolarsResult<(Vec<RootCause>, Option<Decomposition>)> {
    let compared = frame.compared(filter, t, b)?;
    let mut m = frame.root_causes(&compared, children, b, reference_total)?;
    m.retain(|c| c.impact.abs() >= 0.01);
    m.sort_by(|a, b| {
        b.impact
            .abs()
            .total_cmp(&a.impact.abs())
            .then(a.dimension.cmp(&b.dimension))
            .then(a.value.cmp(&b.value))
    });
    m.truncate(10);
    Ok((m, frame.decompose(&compared, b, reference_total)?))
}

/// Requests (CloudWatch invocations) of the selection on `days`: per-request costs divide
/// the selection's cost by them.
fn requests_on(usage: &DataFrame, filter: &Expr, days: &[i32]) -> PolarsResult<f64> {
    let df = usage
        .clone()
        .lazy()
        .with_column(crate::schema::day_number_expr().alias("__day"))
        .filter(filter.clone().and(super::on_days(days.iter().copied())))
        .select([col("invocations").fill_null(lit(0.0)).sum()])
        .collect()?;
    Ok(df.column("invocations")?.f64()?.get(0).unwrap_or(0.0))
}

/// A team (or team/feature) selection's drop matched by `unallocated` rising the same day
/// by 30% to 150% of what the team lost reads as a lost tag, as `anomalies` reads it: the
/// drop's note names it, so `investigate --team X` says why X's spend went.
pub fn name_lost_tags(
    store: &Store,
    attributor: &Attributor,
    inv: &mut Investigation,
    cfg: &AnomalyConfig,
) -> Result<(), AnalyseError> {
    let unallocated = crate::attribute::UNALLOCATED;
    let by_team = inv.selection.iter().any(|s| s.dimension == "team")
        && inv
            .selection
            .iter()
            .all(|s| (s.dimension == "team" || s.dimension == "feature") && !s.value.contains('*'))
        && !inv
            .selection
            .iter()
            .any(|s| s.value.starts_with(unallocated));
    if !by_team
        || !inv
            .anomalies
            .iter()
            .any(|a| a.kind == anomalies::Kind::Drop)
    {
        return Ok(());
    }
    let selection = [(Dimension::Team, unallocated.to_string())];
    let (start, end, currency) = (Some(inv.start), Some(inv.end), Some(inv.currency.as_str()));
    let (window, series) = match load(
        store, attributor, &selection, start, end, currency, None, cfg,
    ) {
        Ok(found) => found,
        Err(AnalyseError::NoMatch(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    let Some(frame) = Frame::spanning(window.frame, window.loaded)? else {
        return Ok(());
    };
    let filter = selection_filter(&selection);
    let x = selection_series(&frame, &selection, &filter, series)?;
    let first = x.iter().position(|v| *v != 0.0);
    for a in inv
        .anomalies
        .iter_mut()
        .filter(|a| a.kind == anomalies::Kind::Drop)
    {
        let t = anomalies::day_of_date(a.date) - frame.first_day;
        let Some(t) = usize::try_from(t).ok().filter(|t| *t < x.len()) else {
            continue;
        };
        let expected = anomalies::baseline(&x, t, first).map_or(0.0, |b| b.expected);
        let (rise, lost) = (x[t] - expected, -a.impact);
        if anomalies::moved_to_unallocated(lost, rise) {
            a.note = Some(format!(
                "tag lost: `{unallocated}` rose {rise:.2} the same day as this spend went ({lost:.2}): a tag removed or renamed? (`anomalies` reads it as a tag_lost incident)"
            ));
        }
    }
    Ok(())
}

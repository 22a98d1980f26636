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

mod baseline;
mod causes;
mod cells;
mod frame;
pub mod incidents;
mod span;

pub(crate) use baseline::median;
pub use baseline::*;
use causes::*;
pub use frame::*;
pub use incidents::{Incident, IncidentKind, Status};
pub use span::detect_span;

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
/// (a different blend of models and token types) and rate (different prices per token),
/// `credits` (credits starting, ending or changing: rows charged as `Credit`) and `other`
/// for the rest of the spend that is not billed per token (provisioned capacity, fees).
/// `volume + mix + rate + credits + other` = the anomaly's impact.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Decomposition {
    pub volume: f64,
    pub mix: f64,
    pub rate: f64,
    pub credits: f64,
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

pub(crate) use crate::schema::{date_of_day_number as date_of_day, day_number as day_of_date};

/// The window columns detection and explanations read: the day, the money and tokens, and
/// every dimension's columns.
pub fn columns() -> Vec<&'static str> {
    let mut names = vec![
        "charge_period_start",
        "billing_currency",
        "effective_cost",
        "consumed_quantity",
        "usage_type",
        "charge_category",
    ];
    for c in Dimension::ALL.iter().flat_map(|d| d.columns()) {
        if !names.contains(c) {
            names.push(c);
        }
    }
    names
}

/// What detection found: each flagged series' rows (`--series`) and the incidents they
/// form.
#[derive(Default)]
pub struct Detection {
    pub anomalies: Vec<Anomaly>,
    pub incidents: Vec<Incident>,
}

/// Series without a value (`(none)`: spend with no account or resource) are no series of
/// their own: their spend is in every other dimension's series.
fn has_value(value: &str) -> bool {
    value != "(none)"
}

/// Find and explain anomalies on days `from..=to` (inclusive) across `dims`, one row per
/// flagged series.
#[cfg(test)]
pub(crate) fn detect(
    frame: &Frame,
    dims: &[Dimension],
    from: NaiveDate,
    to: NaiveDate,
    cfg: &AnomalyConfig,
) -> PolarsResult<Vec<Anomaly>> {
    let flagged = flag_all(frame, dims, from, to, cfg)?;
    explain_all(frame, &flagged, cfg)
}

/// [`detect`], and the flags grouped into incidents (see [`incidents`]).
pub(crate) fn detect_incidents(
    frame: &Frame,
    dims: &[Dimension],
    from: NaiveDate,
    to: NaiveDate,
    cfg: &AnomalyConfig,
) -> PolarsResult<Detection> {
    let flagged = flag_all(frame, dims, from, to, cfg)?;
    let anomalies = explain_all(frame, &flagged, cfg)?;
    let _t = crate::timing::phase("anomalies: incidents");
    let series: incidents::SeriesOf = flagged
        .into_iter()
        .map(|(dim, value, x, _)| ((dim.name().to_string(), value), x))
        .collect();
    let incidents = incidents::group(frame, &anomalies, &series, cfg)?;
    Ok(Detection {
        anomalies,
        incidents,
    })
}

/// A flagged series: its dimension, value, daily cost and flags.
type Flagged = (Dimension, String, Vec<f64>, Vec<Flag>);

/// Every series of `dims` with a flag under way on days `from..=to`.
fn flag_all(
    frame: &Frame,
    dims: &[Dimension],
    from: NaiveDate,
    to: NaiveDate,
    cfg: &AnomalyConfig,
) -> PolarsResult<Vec<Flagged>> {
    let lo = (day_of_date(from) - frame.first_day).max(0) as usize;
    let hi = day_of_date(to) - frame.first_day;
    if hi < 0 {
        return Ok(Vec::new());
    }
    let hi = hi as usize;
    let _t = crate::timing::phase("anomalies: series and flags");
    // Each dimension's series judged on its own core (thousands of resource series).
    let mut flagged: Vec<Flagged> = Vec::new();
    for judged in crate::parallel::on_all_cores(dims, |&dim| -> PolarsResult<Vec<_>> {
        Ok(frame
            .series(dim, None)?
            .into_iter()
            .filter(|(value, _)| has_value(value))
            .filter_map(|(value, x)| {
                let flags = events(&x, lo, hi, cfg);
                (!flags.is_empty()).then_some((dim, value, x, flags))
            })
            .collect())
    }) {
        flagged.extend(judged?);
    }
    Ok(flagged)
}

/// Every flag of `flagged`, explained: most recent and largest first.
fn explain_all(
    frame: &Frame,
    flagged: &[Flagged],
    cfg: &AnomalyConfig,
) -> PolarsResult<Vec<Anomaly>> {
    // Explanations are independent small queries (a few days each): run them on every core.
    let jobs: Vec<(usize, &Flag)> = flagged
        .iter()
        .enumerate()
        .flat_map(|(i, (_, _, _, flags))| flags.iter().map(move |f| (i, f)))
        .collect();
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
    for explained in crate::parallel::on_all_cores(&dims, |(dim, groups)| {
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

/// Explain a flag of the series of rows matching `filter`, by `children`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn explain_selection(
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
    let mut read: Vec<&str> = vec![
        "effective_cost",
        "consumed_quantity",
        "model",
        "usage_type",
        "charge_category",
    ];
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
        impact_pct: super::change_ratio(flag.actual, b.expected),
        score: flag.score.map(|s| (s * 100.0).round() / 100.0),
        severity: Severity::of(change, cfg.min_impact),
        duration_days: flag.days,
        root_causes: causes,
        decomposition,
        note: None,
    }
}

/// Whether `unallocated` rising by `rise` the day a team lost `lost` reads as that team's
/// tag gone: 30% to 150% of it (shared-cost splits move the rest to other teams). The one
/// rule `--series` notes, `tag_lost` incidents and `investigate` all apply.
pub(crate) fn moved_to_unallocated(lost: f64, rise: f64) -> bool {
    rise >= 0.3 * lost && rise <= 1.5 * lost
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
            .find(|(d, rise, _)| *d == a.date && moved_to_unallocated(lost, *rise))
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

    /// A flag of the series `dim` = `value` explained on its own (as detection explains
    /// flags together), for comparing the two.
    fn explain(
        frame: &Frame,
        dim: Dimension,
        value: &str,
        x: &[f64],
        flag: Flag,
        cfg: &AnomalyConfig,
    ) -> PolarsResult<Anomaly> {
        explain_selection(
            frame,
            dim.matches(value),
            dim.children(),
            dim.name(),
            value,
            x,
            flag,
            cfg,
        )
    }

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
                Column::new("charge_category".into(), vec!["Usage"; n]),
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
            flagged.contains(&(day_39, "acct-0")),
            "and others on other days, one a value also flagged on the last: {flagged:?}"
        );
        // Spend with no account jumps on day 38, but `(none)` is no series of its own.
        assert!(
            !flagged.iter().any(|(d, v)| *d == day_38 || *v == "(none)"),
            "{flagged:?}"
        );
        let (lo, hi) = (frame.days() - 7, frame.days() - 1);
        let mut compared = 0;
        for (value, x) in frame.series(Dimension::Account, None).unwrap() {
            for flag in events(&x, lo, hi, &cfg()) {
                let alone = explain(&frame, Dimension::Account, &value, &x, flag, &cfg()).unwrap();
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
                    continue;
                }
                let together = found
                    .iter()
                    .find(|a| a.value == value && a.date == alone.date)
                    .unwrap();
                compared += 1;
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

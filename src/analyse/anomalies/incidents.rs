//! Incidents: the flags one change raises across series, as one alert.
//!
//! A 4x day on one feature flags its team, its model, its account, its inference profile
//! and its provider; a person on call wants one line. Flags are grouped by the money they
//! share (`Cells`): on one day, a flag joins another when most of what it moved moved in
//! the other's cells too (and, for the broad series — the total, a provider, an account —
//! the other way round as well, so two unrelated changes under one provider stay two). A
//! flag on a later day joins an incident still under way when its money moved in the
//! incident's series. A team's drop matched by `unallocated` rising the same day is one
//! `tag_lost` incident.
//!
//! Each incident is told by its *headline*: the most specific member series whose impact
//! accounts for at least 80% of the change, whose causes and decomposition it carries. It
//! lasts until the headline series is back at its baseline (the weekdays before the
//! incident, or its own moving baseline once that has absorbed a new level; a lost tag
//! until the spend comes back).

use super::cells::Cells;
use super::*;

/// Share of a flag's moved money another series must hold for the two to be one change.
const LINK: f64 = 0.5;
/// Share of the change a headline's impact must account for.
const HEADLINE_SHARE: f64 = 0.8;

/// A series, by dimension and value.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SeriesRef {
    pub dimension: String,
    pub value: String,
}

/// A series flagged as part of an incident, on the day it was flagged.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Member {
    pub dimension: String,
    pub value: String,
    pub date: NaiveDate,
    pub kind: Kind,
    pub impact: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    Spike,
    Drop,
    Ramp,
    New,
    /// A team's spend moved to `unallocated`: a tag removed or renamed.
    TagLost,
}

impl IncidentKind {
    fn of(kind: Kind) -> IncidentKind {
        match kind {
            Kind::Spike => IncidentKind::Spike,
            Kind::Drop => IncidentKind::Drop,
            Kind::Ramp => IncidentKind::Ramp,
            Kind::New => IncidentKind::New,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            IncidentKind::TagLost => "tag_lost",
            IncidentKind::Spike => "spike",
            IncidentKind::Drop => "drop",
            IncidentKind::Ramp => "ramp",
            IncidentKind::New => "new",
        }
    }
}

/// Whether anyone has said what an incident is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Open,
    Acked,
}

/// One change, however many series it moved.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    /// Stable across runs over the same data: the start day and a hash of the headline
    /// series and kind.
    pub id: String,
    pub start: NaiveDate,
    /// Last day of the incident (the last day of the data when it is still under way).
    pub end: NaiveDate,
    pub duration_days: usize,
    pub headline: SeriesRef,
    /// The other series the change flagged.
    pub members: Vec<Member>,
    pub kind: IncidentKind,
    pub severity: Severity,
    /// The headline series' cost, expectation and change on the start day.
    pub actual: f64,
    pub expected: f64,
    pub impact: f64,
    pub impact_pct: Option<f64>,
    pub root_causes: Vec<RootCause>,
    pub decomposition: Option<Decomposition>,
    pub note: Option<String>,
    pub status: Status,
    /// The verdict that acknowledged it (`anomalies ack`, or a planned window).
    pub acknowledgement: Option<crate::store::acks::Ack>,
}

/// Every flagged series' daily cost, by (dimension name, value).
pub(crate) type SeriesOf = HashMap<(String, String), Vec<f64>>;

/// An incident being built: its flags (indices into the anomalies), headline and extent
/// (day indices).
struct Draft {
    members: Vec<usize>,
    headline: usize,
    start: usize,
    end: usize,
    kind: IncidentKind,
    /// The money that moved, where it is not the headline's change (a lost tag).
    moved: Option<f64>,
}

/// Group `anomalies` (flags of the series in `series`, on `frame`'s days) into incidents,
/// latest first.
pub(crate) fn group(
    frame: &Frame,
    anomalies: &[Anomaly],
    series: &SeriesOf,
    cfg: &AnomalyConfig,
) -> PolarsResult<Vec<Incident>> {
    let index = |a: &Anomaly| (day_of_date(a.date) - frame.first_day) as usize;
    let mut by_day: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (i, a) in anomalies.iter().enumerate() {
        by_day.entry(index(a)).or_default().push(i);
    }
    let days: Vec<(usize, Vec<usize>)> = by_day.into_iter().collect();
    let series_of = |i: usize| series_of_flag(&anomalies[i]);
    // Each day's cells are read on their own (the days on every core); the flags are then
    // grouped day by day, in order, as an incident under way can take in a later day's.
    let cells = crate::parallel::on_all_cores(&days, |(t, flags)| {
        let flagged: Vec<(Dimension, &str)> = flags.iter().map(|&i| series_of(i)).collect();
        Cells::of_day(frame, *t, &flagged)
    });
    let mut drafts: Vec<Draft> = Vec::new();
    for ((t, flags), cells) in days.iter().zip(cells) {
        let (t, cells) = (*t, cells?);
        let mut fresh = Vec::new();
        for &i in flags {
            let (dim, value) = series_of(i);
            let mine = cells.select(dim, value);
            let way = direction(anomalies[i].impact);
            let under_way = drafts.iter_mut().find(|d| {
                d.start < t
                    && t <= d.end
                    && d.members
                        .iter()
                        .any(|&m| cells.share(&mine, series_of(m), way) >= LINK)
            });
            match under_way {
                Some(draft) => draft.members.push(i),
                None => fresh.push((i, mine)),
            }
        }
        let mut today = components(&cells, anomalies, &fresh)
            .into_iter()
            .map(|members| draft(&cells, anomalies, &fresh, members, t, series))
            .collect::<Vec<_>>();
        merge_lost_tags(&mut today, anomalies, series);
        drafts.extend(today);
    }
    let mut out: Vec<Incident> = drafts
        .into_iter()
        .map(|d| incident(frame, anomalies, d, cfg))
        .collect();
    out.sort_by(|a, b| {
        b.start
            .cmp(&a.start)
            .then(b.impact.abs().total_cmp(&a.impact.abs()))
            .then(a.id.cmp(&b.id))
    });
    Ok(out)
}

/// The series a flag is of, by dimension and value.
fn series_of_flag(a: &Anomaly) -> (Dimension, &str) {
    let dim = Dimension::parse(&a.dimension).unwrap_or(Dimension::Total);
    (dim, a.value.as_str())
}

/// Broad series: one of them alone does not tie two changes under it together.
fn broad(dimension: &str) -> bool {
    matches!(dimension, "total" | "provider" | "account")
}

/// The flags of one day (`fresh`: anomaly index and cells) in groups that share a change.
fn components(
    cells: &Cells,
    anomalies: &[Anomaly],
    fresh: &[(usize, Vec<usize>)],
) -> Vec<Vec<usize>> {
    let n = fresh.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let within = |a: usize, b: usize| {
        let way = direction(anomalies[fresh[a].0].impact);
        cells.share(&fresh[a].1, series_of_flag(&anomalies[fresh[b].0]), way) >= LINK
    };
    for a in 0..n {
        for b in a + 1..n {
            let (ab, ba) = (within(a, b), within(b, a));
            let broad_a = broad(&anomalies[fresh[a].0].dimension);
            let broad_b = broad(&anomalies[fresh[b].0].dimension);
            // One held in the other (the other specific), or each in the other.
            if (ab && (ba || !broad_b)) || (ba && !broad_a) {
                let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
                parent[ra] = rb;
            }
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for a in 0..n {
        let r = root(&mut parent, a);
        groups.entry(r).or_default().push(a);
    }
    groups.into_values().collect()
}

/// Order of specificity among series of equal reach: a feature before its profile, its
/// team, its model; the broad series last.
fn specificity(dimension: &str) -> usize {
    [
        "team_feature",
        "resource",
        "team",
        "model",
        "account",
        "provider",
        "total",
    ]
    .iter()
    .position(|d| *d == dimension)
    .unwrap_or(7)
}

/// The draft of one group of a day's flags (`members`, positions in `fresh`) on day `t`.
fn draft(
    cells: &Cells,
    anomalies: &[Anomaly],
    fresh: &[(usize, Vec<usize>)],
    members: Vec<usize>,
    t: usize,
    series: &SeriesOf,
) -> Draft {
    let selections: Vec<&[usize]> = members.iter().map(|&m| fresh[m].1.as_slice()).collect();
    let net = cells.net(&selections);
    let way = direction(net);
    let largest = members
        .iter()
        .map(|&m| anomalies[fresh[m].0].impact * way)
        .fold(0.0, f64::max);
    let target = HEADLINE_SHARE * largest.min(net.abs());
    let best = members
        .iter()
        .filter(|&&m| anomalies[fresh[m].0].impact * way >= target)
        .min_by_key(|&&m| {
            let a = &anomalies[fresh[m].0];
            (fresh[m].1.len(), specificity(&a.dimension))
        })
        .or_else(|| {
            members.iter().max_by(|&&a, &&b| {
                let (a, b) = (&anomalies[fresh[a].0], &anomalies[fresh[b].0]);
                a.impact.abs().total_cmp(&b.impact.abs())
            })
        })
        .copied()
        .unwrap_or(members[0]);
    let headline = fresh[best].0;
    let h = &anomalies[headline];
    let days = series
        .get(&(h.dimension.clone(), h.value.clone()))
        .map(|x| extent(x, t, h.actual - h.expected, false, h.duration_days))
        .unwrap_or(h.duration_days);
    Draft {
        members: members.iter().map(|&m| fresh[m].0).collect(),
        headline,
        start: t,
        end: t + days.max(1) - 1,
        kind: IncidentKind::of(h.kind),
        moved: None,
    }
}

/// A team (or team/feature) dropping while `unallocated` rises the same day by a large part
/// of it (30% to 150%: shared-cost splits move the rest to other teams) has most likely lost
/// its tag: the two drafts become one `tag_lost` incident, told by the team, lasting while
/// its spend stays away, rated by the money that moved.
fn merge_lost_tags(today: &mut Vec<Draft>, anomalies: &[Anomaly], series: &SeriesOf) {
    let unallocated = crate::attribute::UNALLOCATED;
    let rise_of = |d: &Draft| {
        d.members
            .iter()
            .map(|&m| &anomalies[m])
            .filter(|a| a.dimension == "team" && a.value == unallocated && a.impact > 0.0)
            .map(|a| a.impact)
            .next()
    };
    let mut i = 0;
    while i < today.len() {
        let h = &anomalies[today[i].headline];
        let team_level = h.dimension == "team" || h.dimension == "team_feature";
        if !team_level || h.kind != Kind::Drop || h.value.starts_with(unallocated) {
            i += 1;
            continue;
        }
        let lost = -h.impact;
        let rise = (0..today.len())
            .find(|&j| j != i && rise_of(&today[j]).is_some_and(|r| moved_to_unallocated(lost, r)));
        if let Some(j) = rise {
            let other = today.remove(j);
            let i = if j < i { i - 1 } else { i };
            let moved = lost.max(rise_of(&other).unwrap_or(0.0));
            let d = &mut today[i];
            d.members.extend(other.members);
            d.kind = IncidentKind::TagLost;
            d.moved = Some(moved);
            let h = &anomalies[d.headline];
            if let Some(x) = series.get(&(h.dimension.clone(), h.value.clone())) {
                d.end = d.start + extent(x, d.start, h.impact, true, h.duration_days) - 1;
            }
        }
        i += 1;
    }
}

/// Days an incident of series `x` starting on day `start` with `change` lasts: at least its
/// `flagged` days, then until the series is back within half the change of the weekdays
/// before the start, or (unless the spend is `lost`) of its own moving baseline, which
/// absorbs a new level within a few weeks.
pub(crate) fn extent(x: &[f64], start: usize, change: f64, lost: bool, flagged: usize) -> usize {
    let tolerance = 0.5 * change.abs();
    let first = x.iter().position(|v| *v != 0.0);
    let mut days = flagged.max(1);
    for t in start + days..x.len() {
        let back = (x[t] - before(x, start, t)).abs() < tolerance;
        let absorbed = !lost
            && baseline(x, t, first)
                .is_some_and(|b| !b.reference.is_empty() && (x[t] - b.expected).abs() < tolerance);
        if back || absorbed {
            break;
        }
        days = t - start + 1;
    }
    days
}

/// Median of the same weekday as day `t` over the four weeks before `start`.
fn before(x: &[f64], start: usize, t: usize) -> f64 {
    let mut s = t as i64;
    while s >= start as i64 {
        s -= 7;
    }
    let mut values: Vec<f64> = (0..4)
        .map(|k| s - 7 * k)
        .filter(|&d| d >= 0)
        .map(|d| x[d as usize])
        .collect();
    baseline::median(&mut values)
}

/// The incident a draft describes.
fn incident(frame: &Frame, anomalies: &[Anomaly], d: Draft, cfg: &AnomalyConfig) -> Incident {
    let h = &anomalies[d.headline];
    let start = date_of_day(frame.first_day + d.start as i32);
    let end = date_of_day(frame.first_day + (d.end as i32).min(frame.last_day - frame.first_day));
    let note = match d.kind {
        IncidentKind::TagLost => Some(format!(
            "spend moved from `{}` to `{}`: a tag removed or renamed?",
            h.value,
            crate::attribute::UNALLOCATED
        )),
        _ => h.note.clone(),
    };
    let members = d
        .members
        .iter()
        .filter(|&&m| m != d.headline)
        .map(|&m| {
            let a = &anomalies[m];
            Member {
                dimension: a.dimension.clone(),
                value: a.value.clone(),
                date: a.date,
                kind: a.kind,
                impact: a.impact,
            }
        })
        .collect();
    Incident {
        id: incident_id(start, &h.dimension, &h.value, d.kind),
        start,
        end,
        duration_days: (end - start).num_days() as usize + 1,
        headline: SeriesRef {
            dimension: h.dimension.clone(),
            value: h.value.clone(),
        },
        members,
        kind: d.kind,
        severity: Severity::of(d.moved.unwrap_or(h.impact), cfg.min_impact),
        actual: h.actual,
        expected: h.expected,
        impact: h.impact,
        impact_pct: h.impact_pct,
        root_causes: h.root_causes.clone(),
        decomposition: h.decomposition.clone(),
        note,
        status: Status::Open,
        acknowledgement: None,
    }
}

/// `YYYY-MM-DD-xxxxxx`: the start day and six hex digits of an FNV-1a hash of the headline
/// and kind, the same whenever the same data is read.
pub fn incident_id(start: NaiveDate, dimension: &str, value: &str, kind: IncidentKind) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in format!("{dimension}={value}|{}", kind.name()).bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{start}-{:06x}", h & 0xff_ffff)
}

/// Mark the incidents someone has spoken for: a verdict recorded for the id (while it
/// covers the incident's days), else a planned window of the config in which the incident
/// starts and whose selector names its headline or a member.
pub fn judge(
    incidents: &mut [Incident],
    acks: &std::collections::BTreeMap<String, crate::store::acks::Ack>,
    planned: &[crate::config::PlannedWindow],
) {
    for i in incidents {
        let recorded = acks.get(&i.id).filter(|a| a.covers(i.end)).cloned();
        let names = |w: &crate::config::PlannedWindow| {
            w.names(&i.headline.dimension, &i.headline.value)
                || i.members.iter().any(|m| w.names(&m.dimension, &m.value))
        };
        let window = planned
            .iter()
            .find(|w| w.from <= i.start && i.start <= w.to && names(w))
            .map(|w| crate::store::acks::Ack {
                verdict: w.verdict,
                note: w.reason.clone(),
                until: None,
                at: String::new(),
                by: format!("planned window `{}`", w.name),
            });
        i.acknowledgement = recorded.or(window);
        i.status = match i.acknowledgement {
            Some(_) => Status::Acked,
            None => Status::Open,
        };
    }
}

/// One series' incidents over its whole length, as `group` forms them for one series:
/// each flag starts an incident unless it starts while the previous one is still under way
/// (a level shift flagged again on a later day). (start, last day, kind), day indices.
pub fn series_incidents(x: &[f64], cfg: &AnomalyConfig) -> Vec<(usize, usize, Kind)> {
    let mut out: Vec<(usize, usize, Kind)> = Vec::new();
    if x.is_empty() {
        return out;
    }
    for f in flag_series(x, 0, x.len() - 1, cfg) {
        if out.last().is_some_and(|&(_, end, _)| f.index <= end) {
            continue;
        }
        let days = extent(x, f.index, f.actual - f.baseline.expected, false, f.days);
        out.push((f.index, f.index + days - 1, f.kind));
    }
    out
}

//! How good the anomaly detector is, measured: the detector run over labelled series and
//! scored for precision, recall, detection delay and false incidents per series per 90
//! days, by kind of event. Three sets:
//!
//! - [`synthetic`]: generated series with planted spikes, ramps, drops, new spend, lost tags
//!   and credits ending, over weekly seasonality, month-end effects, holidays and noise;
//! - [`nab`]: the Numenta Anomaly Benchmark's NYC taxi series, summed to days, against its
//!   labelled windows;
//! - [`demo`]: the demo's planted events through the whole pipeline (ingest, attribution,
//!   incidents): each must be exactly one incident.
//!
//! `spendlens-bench eval` prints the tables; a test asserts the targets on a small fixed
//! evaluation (quality is tested; speed is only measured).

pub mod demo;
pub mod forecast;
pub mod nab;
pub mod synthetic;

use crate::analyse::anomalies::incidents::series_incidents;
use crate::config::AnomalyConfig;
use std::fmt::Write as _;

/// A labelled event of a series: its kind and days (indices, inclusive).
#[derive(Debug, Clone)]
pub struct Label {
    pub kind: &'static str,
    pub start: usize,
    pub end: usize,
    /// A change an alert is wanted for. `false` for changes a person expects (a holiday):
    /// an incident on one is neither a hit nor a false alarm, and its "recall" says how
    /// often one is raised.
    pub alert: bool,
    /// A planted spike at least 3x above its floors (the recall target's population).
    pub strong_spike: bool,
}

/// A daily series and its labelled events.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub name: String,
    pub x: Vec<f64>,
    pub labels: Vec<Label>,
}

/// Scores of one kind of event: how many were planted and found, and what the detector
/// raised on the series planted with it (noise-only series are the kind `noise`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KindScore {
    pub kind: &'static str,
    pub labels: usize,
    pub found: usize,
    /// Mean days from the event's first day to its incident's first day.
    pub mean_delay: Option<f64>,
    /// Series whose event is of this kind, their days judged, the incidents raised on them
    /// (other than on expected changes) and those on no labelled event.
    pub series: usize,
    pub judged_days: usize,
    pub incidents: usize,
    pub false_incidents: usize,
}

impl KindScore {
    pub fn recall(&self) -> Option<f64> {
        (self.labels > 0).then(|| self.found as f64 / self.labels as f64)
    }

    /// Incidents that started on a labelled event, of all raised on this kind's series.
    pub fn precision(&self) -> Option<f64> {
        (self.incidents > 0)
            .then(|| (self.incidents - self.false_incidents) as f64 / self.incidents as f64)
    }

    /// False incidents per series per 90 days judged, on this kind's series.
    pub fn false_per_90_days(&self) -> Option<f64> {
        (self.judged_days > 0).then(|| self.false_incidents as f64 * 90.0 / self.judged_days as f64)
    }
}

/// Scores of one set of series.
#[derive(Debug, Clone, PartialEq)]
pub struct SetScore {
    pub set: String,
    pub series: usize,
    pub days: usize,
    /// By kind of event (and `noise`, the series with none).
    pub by_kind: Vec<KindScore>,
    /// Incidents raised (other than on expected changes), and those that started on no
    /// labelled event.
    pub incidents: usize,
    pub false_incidents: usize,
    /// Days judged (each series' days after its first week of history).
    pub judged_days: usize,
    /// Recall on planted spikes at least 3x above the floors.
    pub strong_spike_recall: Option<f64>,
    /// False incidents per series per 90 days on series with no event at all.
    pub noise_false_per_90_days: Option<f64>,
}

impl SetScore {
    /// Incidents that started on a labelled event, of all incidents raised.
    pub fn precision(&self) -> Option<f64> {
        (self.incidents > 0)
            .then(|| (self.incidents - self.false_incidents) as f64 / self.incidents as f64)
    }

    /// False incidents per series per 90 days judged.
    pub fn false_per_90_days(&self) -> f64 {
        if self.judged_days == 0 {
            return 0.0;
        }
        self.false_incidents as f64 * 90.0 / self.judged_days as f64
    }
}

/// Days a persistent change stays "the same event": as long as the baseline takes to take
/// in a new level (four weeks of the same weekday).
pub const SETTLE_DAYS: usize = 28;

/// What the detector did on one series: incidents counted (not on an expected change),
/// those on no event, and for each label the delay to the incident that found it.
struct Tally {
    incidents: usize,
    false_incidents: usize,
    judged_days: usize,
    delays: Vec<Option<usize>>,
}

fn tally(s: &Labelled, cfg: &AnomalyConfig) -> Tally {
    let found = series_incidents(&s.x, cfg);
    // An incident is on an event when it starts from the day before it to two days after
    // it ends; one on an expected change (a holiday) is neither hit nor false.
    let on = |start: usize, alert: bool| {
        s.labels
            .iter()
            .any(|l| l.alert == alert && start + 1 >= l.start && start <= l.end + 2)
    };
    let counted: Vec<usize> = found
        .iter()
        .map(|(start, _, _)| *start)
        .filter(|&start| on(start, true) || !on(start, false))
        .collect();
    let delays = s
        .labels
        .iter()
        .map(|l| {
            found
                .iter()
                .find(|(start, _, _)| *start + 1 >= l.start && *start <= l.end)
                .map(|(start, _, _)| start.saturating_sub(l.start))
        })
        .collect();
    Tally {
        incidents: counted.len(),
        false_incidents: counted.iter().filter(|&&start| !on(start, true)).count(),
        judged_days: s
            .x
            .len()
            .saturating_sub(crate::analyse::anomalies::MIN_HISTORY),
        delays,
    }
}

/// The entry of `kind` in `kinds`, added when missing.
fn kind_entry<'a>(kinds: &'a mut Vec<KindScore>, kind: &'static str) -> &'a mut KindScore {
    match kinds.iter().position(|k| k.kind == kind) {
        Some(i) => &mut kinds[i],
        None => {
            kinds.push(KindScore {
                kind,
                ..KindScore::default()
            });
            kinds.last_mut().expect("pushed")
        }
    }
}

/// Run the detector over every series of `set` and score it against the labels.
pub fn score(set: &str, series: &[Labelled], cfg: &AnomalyConfig) -> SetScore {
    let mut kinds: Vec<KindScore> = Vec::new();
    let (mut strong, mut strong_found) = (0, 0);
    for s in series {
        let t = tally(s, cfg);
        let own = s
            .labels
            .iter()
            .find(|l| l.alert)
            .map_or("noise", |l| l.kind);
        let k = kind_entry(&mut kinds, own);
        k.series += 1;
        k.judged_days += t.judged_days;
        k.incidents += t.incidents;
        k.false_incidents += t.false_incidents;
        for (l, delay) in s.labels.iter().zip(&t.delays) {
            let k = kind_entry(&mut kinds, l.kind);
            k.labels += 1;
            if let Some(delay) = delay {
                let n = k.found as f64;
                k.mean_delay = Some((k.mean_delay.unwrap_or(0.0) * n + *delay as f64) / (n + 1.0));
                k.found += 1;
            }
            if l.strong_spike {
                strong += 1;
                strong_found += usize::from(delay.is_some());
            }
        }
    }
    SetScore {
        set: set.to_string(),
        series: series.len(),
        days: series.iter().map(|s| s.x.len()).max().unwrap_or(0),
        incidents: kinds.iter().map(|k| k.incidents).sum(),
        false_incidents: kinds.iter().map(|k| k.false_incidents).sum(),
        judged_days: kinds.iter().map(|k| k.judged_days).sum(),
        strong_spike_recall: (strong > 0).then(|| strong_found as f64 / strong as f64),
        noise_false_per_90_days: kinds
            .iter()
            .find(|k| k.kind == "noise")
            .and_then(KindScore::false_per_90_days),
        by_kind: kinds,
    }
}

/// The scores as Markdown tables: one row per kind of event (and `noise`, the series with
/// none) of each set, then one per set.
pub fn table(scores: &[SetScore]) -> String {
    let pct = |v: Option<f64>| v.map_or("—".into(), |v| format!("{:.1}%", v * 100.0));
    let num = |v: Option<f64>, digits: usize| v.map_or("—".into(), |v| format!("{v:.digits$}"));
    let mut s = String::from(
        "| set | kind | series | events | found | recall | mean delay (days) | incidents on its series | precision | false / series / 90 days |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for set in scores {
        for k in &set.by_kind {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                set.set,
                k.kind,
                k.series,
                k.labels,
                k.found,
                pct(k.recall()),
                num(k.mean_delay, 2),
                k.incidents,
                pct(k.precision()),
                num(k.false_per_90_days(), 3)
            );
        }
    }
    s.push_str(
        "\n| set | series | incidents | false incidents | precision | false / series / 90 days | on noise-only series | recall, spikes ≥ 3x |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for set in scores {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {:.3} | {} | {} |",
            set.set,
            set.series,
            set.incidents,
            set.false_incidents,
            pct(set.precision()),
            set.false_per_90_days(),
            num(set.noise_false_per_90_days, 3),
            pct(set.strong_spike_recall)
        );
    }
    s
}

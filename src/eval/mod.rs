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

/// Scores of one kind of event.
#[derive(Debug, Clone, PartialEq)]
pub struct KindScore {
    pub kind: &'static str,
    pub labels: usize,
    pub found: usize,
    /// Mean days from the event's first day to its incident's first day.
    pub mean_delay: Option<f64>,
}

impl KindScore {
    pub fn recall(&self) -> Option<f64> {
        (self.labels > 0).then(|| self.found as f64 / self.labels as f64)
    }
}

/// Scores of one set of series.
#[derive(Debug, Clone, PartialEq)]
pub struct SetScore {
    pub set: String,
    pub series: usize,
    pub days: usize,
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

/// Run the detector over every series of `set` and score it against the labels.
pub fn score(set: &str, series: &[Labelled], cfg: &AnomalyConfig) -> SetScore {
    let mut kinds: Vec<KindScore> = Vec::new();
    let (mut incidents, mut false_incidents, mut judged) = (0, 0, 0);
    let (mut strong, mut strong_found) = (0, 0);
    let (mut noise_false, mut noise_days) = (0, 0);
    for s in series {
        let found = series_incidents(&s.x, cfg);
        judged +=
            s.x.len()
                .saturating_sub(crate::analyse::anomalies::MIN_HISTORY);
        // An incident is on an event when it starts from the day before it to two days
        // after it ends; one on an expected change (a holiday) is neither hit nor false.
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
        let unlabelled = counted.iter().filter(|&&start| !on(start, true)).count();
        incidents += counted.len();
        false_incidents += unlabelled;
        if s.labels.iter().all(|l| !l.alert) {
            noise_false += unlabelled;
            noise_days +=
                s.x.len()
                    .saturating_sub(crate::analyse::anomalies::MIN_HISTORY);
        }
        for l in &s.labels {
            let hit = found
                .iter()
                .find(|(start, _, _)| *start + 1 >= l.start && *start <= l.end);
            let k = match kinds.iter_mut().find(|k| k.kind == l.kind) {
                Some(k) => k,
                None => {
                    kinds.push(KindScore {
                        kind: l.kind,
                        labels: 0,
                        found: 0,
                        mean_delay: None,
                    });
                    kinds.last_mut().expect("pushed")
                }
            };
            k.labels += 1;
            if let Some((start, _, _)) = hit {
                let delay = start.saturating_sub(l.start) as f64;
                let n = k.found as f64;
                k.mean_delay = Some((k.mean_delay.unwrap_or(0.0) * n + delay) / (n + 1.0));
                k.found += 1;
            }
            if l.strong_spike {
                strong += 1;
                strong_found += usize::from(hit.is_some());
            }
        }
    }
    SetScore {
        set: set.to_string(),
        series: series.len(),
        days: series.iter().map(|s| s.x.len()).max().unwrap_or(0),
        by_kind: kinds,
        incidents,
        false_incidents,
        judged_days: judged,
        strong_spike_recall: (strong > 0).then(|| strong_found as f64 / strong as f64),
        noise_false_per_90_days: (noise_days > 0)
            .then(|| noise_false as f64 * 90.0 / noise_days as f64),
    }
}

/// The scores as a Markdown table, one row per kind of event and one per set.
pub fn table(scores: &[SetScore]) -> String {
    let pct = |v: Option<f64>| v.map_or("—".into(), |v| format!("{:.1}%", v * 100.0));
    let mut s = String::from(
        "| set | series | kind | events | found | recall | mean delay (days) |\n|---|---:|---|---:|---:|---:|---:|\n",
    );
    for set in scores {
        for k in &set.by_kind {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} |",
                set.set,
                set.series,
                k.kind,
                k.labels,
                k.found,
                pct(k.recall()),
                k.mean_delay.map_or("—".into(), |d| format!("{d:.2}"))
            );
        }
    }
    s.push_str(
        "\n| set | incidents | false incidents | precision | false / series / 90 days | on noise-only series | recall, spikes ≥ 3x |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for set in scores {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.3} | {} | {} |",
            set.set,
            set.incidents,
            set.false_incidents,
            pct(set.precision()),
            set.false_per_90_days(),
            set.noise_false_per_90_days
                .map_or("—".into(), |v| format!("{v:.3}")),
            pct(set.strong_spike_recall)
        );
    }
    s
}

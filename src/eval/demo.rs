//! The demo's planted events through the whole pipeline (its exports ingested, attributed,
//! detected and grouped as `spendlens anomalies` does): each must be exactly one incident,
//! and anything else raised is counted as a false incident.

use crate::analyse::anomalies::Incident;
use crate::attribute::Attributor;
use crate::config::Config;
use crate::demo::{CREDITS_END_DAY, DAYS, SPIKE_DAY};
use crate::output::report::{self, ReportOptions};
use crate::store::Store;
use chrono::{Duration, NaiveDate};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum DemoEvalError {
    #[error(transparent)]
    Demo(#[from] crate::demo::DemoError),
    #[error(transparent)]
    Report(#[from] report::ReportError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Analyse(#[from] crate::analyse::AnalyseError),
    #[error("the demo evaluation's query failed: {0}")]
    Polars(#[from] polars::prelude::PolarsError),
}

/// A planted event and the incidents that report it.
#[derive(Debug, Clone)]
pub struct PlantedEvent {
    pub name: &'static str,
    pub day: NaiveDate,
    /// The team/feature the event is planted on.
    pub series: &'static str,
    /// Ids of the incidents starting within a day of it that name the series.
    pub incidents: Vec<String>,
}

/// The demo's events and the incidents that match none of them.
#[derive(Debug, Clone)]
pub struct DemoScore {
    pub events: Vec<PlantedEvent>,
    pub other_incidents: Vec<String>,
    pub days: usize,
}

/// Build the demo (ending `end`) under `dir` and detect over all its days.
pub fn run(dir: &Path, end: NaiveDate) -> Result<DemoScore, DemoEvalError> {
    let demo = crate::demo::build(dir, end)?;
    let config = Config::load(&demo.config_path, true)?;
    let first = end - Duration::days(DAYS - 1);
    let full = report::build(
        &Store::new(&demo.data_dir),
        &Attributor::new(&config.attribution),
        &ReportOptions {
            anomalies: config.anomalies.clone(),
            from: Some(first),
            to: Some(end),
            top: 1,
            ..ReportOptions::default()
        },
    )?;
    let mut events = vec![
        PlantedEvent {
            name: "model switch: rag-answer from Haiku to Sonnet 4 (about 4x)",
            day: first + Duration::days(SPIKE_DAY),
            series: "search/rag-answer",
            incidents: Vec::new(),
        },
        PlantedEvent {
            name: "trial credit ended on the research project",
            day: first + Duration::days(CREDITS_END_DAY),
            series: "research/eval-harness",
            incidents: Vec::new(),
        },
    ];
    let mut other = Vec::new();
    for i in &full.incidents {
        match events.iter_mut().find(|e| reports(i, e)) {
            Some(e) => e.incidents.push(i.id.clone()),
            None => other.push(i.id.clone()),
        }
    }
    Ok(DemoScore {
        events,
        other_incidents: other,
        days: DAYS as usize,
    })
}

/// Whether incident `i` starts within a day of event `e` and names its team/feature.
fn reports(i: &Incident, e: &PlantedEvent) -> bool {
    let near = (i.start - e.day).num_days().abs() <= 1;
    let names = std::iter::once((&i.headline.dimension, &i.headline.value))
        .chain(i.members.iter().map(|m| (&m.dimension, &m.value)))
        .any(|(d, v)| d == "team_feature" && v == e.series);
    near && names
}

impl DemoScore {
    /// The score as a Markdown table.
    pub fn table(&self) -> String {
        let mut s = String::from("| demo event | day | incidents | ids |\n|---|---|---:|---|\n");
        for e in &self.events {
            s.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                e.name,
                e.day,
                e.incidents.len(),
                e.incidents.join(", ")
            ));
        }
        s.push_str(&format!(
            "| anything else ({} days) | — | {} | {} |\n",
            self.days,
            self.other_incidents.len(),
            self.other_incidents.join(", ")
        ));
        s
    }
}

/// The demo built under `dir` (by [`run`]) as daily series for the forecast backtest: the
/// total and each team's effective cost.
pub fn daily_series(dir: &Path) -> Result<Vec<super::forecast::DailySeries>, DemoEvalError> {
    use polars::prelude::*;
    let config = Config::load(&dir.join("spendlens.toml"), true)?;
    let store = Store::new(dir.join("data"));
    let window = crate::analyse::load_window(
        &store,
        &Attributor::new(&config.attribution),
        None,
        None,
        None,
        0,
    )?;
    let first = window.loaded.map_or(window.start, |(a, _)| a);
    let days = (window.end - first).num_days() as usize + 1;
    let df = window
        .frame
        .lazy()
        .group_by([crate::schema::day_number_expr().alias("__day"), col("team")])
        .agg([col("effective_cost").sum()])
        .collect()?;
    let teams = crate::schema::text_values(df.column("team").map_err(report::ReportError::from)?)?;
    let day = df.column("__day").and_then(|c| c.i32().cloned())?;
    let cost = df.column("effective_cost").and_then(|c| c.f64().cloned())?;
    let mut by: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let first_day = crate::schema::day_number(first);
    for ((t, d), c) in teams.iter().zip(day.iter()).zip(cost.iter()) {
        let (Some(d), Some(c)) = (d, c) else { continue };
        let i = (d - first_day) as usize;
        for name in [
            "total".to_string(),
            format!("team {}", t.unwrap_or_default()),
        ] {
            by.entry(name).or_insert_with(|| vec![0.0; days])[i] += c;
        }
    }
    Ok(by
        .into_iter()
        .map(|(name, x)| super::forecast::DailySeries { name, first, x })
        .collect())
}

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
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum DemoEvalError {
    #[error(transparent)]
    Demo(#[from] crate::demo::DemoError),
    #[error(transparent)]
    Report(#[from] report::ReportError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
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

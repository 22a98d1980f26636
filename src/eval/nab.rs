//! The Numenta Anomaly Benchmark's NYC taxi series (`nyc_taxi.csv`: passengers every 30
//! minutes, July 2014 to January 2015) summed to days, with its five labelled windows
//! (`nyc_taxi_labels.json`: the NYC marathon, Thanksgiving, Christmas, New Year, a
//! blizzard) as day ranges.

use super::{Label, Labelled};
use chrono::NaiveDate;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum NabError {
    #[error("`{path}`: {cause}")]
    Io { path: String, cause: std::io::Error },
    #[error("`{path}` line {line}: {message}")]
    Line {
        path: String,
        line: usize,
        message: String,
    },
    #[error("`{path}`: {message}")]
    Labels { path: String, message: String },
}

/// Read `nyc_taxi.csv` and `nyc_taxi_labels.json` from `dir`.
pub fn load(dir: &Path) -> Result<Labelled, NabError> {
    let csv = dir.join("nyc_taxi.csv");
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|cause| NabError::Io {
            path: p.display().to_string(),
            cause,
        })
    };
    let (first, x) = daily(&read(&csv)?, &csv.display().to_string())?;
    let labels_path = dir.join("nyc_taxi_labels.json");
    let labels = windows(
        &read(&labels_path)?,
        &labels_path.display().to_string(),
        first,
    )?;
    Ok(Labelled {
        name: "nab nyc_taxi (daily)".into(),
        x,
        labels,
    })
}

/// The 30-minute counts summed by day: (first day, daily totals).
fn daily(text: &str, path: &str) -> Result<(NaiveDate, Vec<f64>), NabError> {
    let mut first: Option<NaiveDate> = None;
    let mut x: Vec<f64> = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let bad = |message: &str| NabError::Line {
            path: path.into(),
            line: i + 1,
            message: message.into(),
        };
        let Some((stamp, value)) = line.split_once(',') else {
            return Err(bad("expected `timestamp,value`"));
        };
        let day = stamp
            .get(..10)
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .ok_or_else(|| bad("the timestamp is not YYYY-MM-DD hh:mm:ss"))?;
        let value: f64 = value
            .trim()
            .parse()
            .map_err(|_| bad("the value is not a number"))?;
        let first = *first.get_or_insert(day);
        let d = (day - first).num_days();
        let d = usize::try_from(d).map_err(|_| bad("the rows are not in time order"))?;
        if x.len() <= d {
            x.resize(d + 1, 0.0);
        }
        x[d] += value;
    }
    let first = first.ok_or_else(|| NabError::Line {
        path: path.into(),
        line: 1,
        message: "no rows".into(),
    })?;
    Ok((first, x))
}

/// The labelled windows as day ranges from `first`.
fn windows(text: &str, path: &str, first: NaiveDate) -> Result<Vec<Label>, NabError> {
    let bad = |message: String| NabError::Labels {
        path: path.into(),
        message,
    };
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let list = v["windows"]
        .as_array()
        .ok_or_else(|| bad("no `windows` list".into()))?;
    list.iter()
        .map(|w| {
            let day = |k: usize| {
                w[k].as_str()
                    .and_then(|s| s.get(..10))
                    .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                    .map(|d| (d - first).num_days().max(0) as usize)
                    .ok_or_else(|| bad(format!("window {w} is not two timestamps")))
            };
            Ok(Label {
                kind: "nab window",
                start: day(0)?,
                end: day(1)?,
                alert: true,
                strong_spike: false,
            })
        })
        .collect()
}

//! Backtest of the budget forecast: for every whole calendar month of a series with four
//! weeks of history before it, the month's total forecast on its 7th, 14th and 21st day
//! ([`crate::analyse::budgets::forecast`]) against what the month then spent: the mean
//! absolute percentage error and how often the 80% interval held the total.

use crate::analyse::budgets::forecast::{forecast, LEVEL_DAYS};
use chrono::{Datelike, Duration, NaiveDate};
use std::fmt::Write as _;

/// Days into the month the forecast is judged on.
pub const CHECKPOINTS: [u32; 3] = [7, 14, 21];

/// A daily series (`x[0]` on `first`) to backtest.
#[derive(Debug, Clone)]
pub struct DailySeries {
    pub name: String,
    pub first: NaiveDate,
    pub x: Vec<f64>,
}

/// The backtest of one set of series at one checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastScore {
    pub set: String,
    pub day: u32,
    pub forecasts: usize,
    /// Mean absolute percentage error of the month's total (0.05 = 5%).
    pub mape: f64,
    /// Share of months whose total fell inside the 80% interval.
    pub coverage: f64,
    /// Mean of (forecast - actual) / actual: above 0, the forecast runs high.
    pub bias: f64,
}

/// Backtest `series` at each of [`CHECKPOINTS`].
pub fn backtest(set: &str, series: &[DailySeries]) -> Vec<ForecastScore> {
    CHECKPOINTS
        .iter()
        .map(|&day| {
            let (mut errors, mut inside, mut signed) = (Vec::new(), 0usize, 0.0);
            for s in series {
                for (error, held) in months(s, day) {
                    errors.push(error.abs());
                    signed += error;
                    inside += usize::from(held);
                }
            }
            let n = errors.len().max(1) as f64;
            ForecastScore {
                set: set.to_string(),
                day,
                forecasts: errors.len(),
                mape: errors.iter().sum::<f64>() / n,
                coverage: inside as f64 / n,
                bias: signed / n,
            }
        })
        .collect()
}

/// For each whole month of `s` with four weeks of history before it: the (signed)
/// percentage error of the month's total forecast on its `day`th day, and whether the 80%
/// interval held the total.
fn months(s: &DailySeries, day: u32) -> Vec<(f64, bool)> {
    let index = |d: NaiveDate| (d - s.first).num_days();
    let last = s.first + Duration::days(s.x.len() as i64 - 1);
    let mut out = Vec::new();
    let mut month = NaiveDate::from_ymd_opt(s.first.year(), s.first.month(), 1).expect("a month");
    loop {
        let next = (month + Duration::days(32)).with_day(1).expect("a month");
        let end = next - Duration::days(1);
        if end > last {
            break;
        }
        if index(month) >= LEVEL_DAYS as i64 {
            let (m, at, e) = (
                index(month) as usize,
                index(month) as usize + day as usize - 1,
                index(end) as usize,
            );
            let spent: f64 = s.x[m..=at].iter().sum();
            let f = forecast(&s.x[..=at], s.first, e - at, 0);
            let actual: f64 = s.x[m..=e].iter().sum();
            if actual > 0.0 {
                let predicted = spent + f.expected;
                let held = spent + f.low <= actual && actual <= spent + f.high;
                out.push(((predicted - actual) / actual, held));
            }
        }
        month = next;
    }
    out
}

/// The backtests as a Markdown table.
pub fn table(scores: &[ForecastScore]) -> String {
    let mut s = String::from("| set | day of month | forecasts | MAPE of the month's total | bias | 80% interval held |\n|---|---:|---:|---:|---:|---:|\n");
    for f in scores {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1}% | {:+.1}% | {:.1}% |",
            f.set,
            f.day,
            f.forecasts,
            f.mape * 100.0,
            f.bias * 100.0,
            f.coverage * 100.0
        );
    }
    s
}

/// The noise-only series of [`super::synthetic`] (weekly seasonality, month-end days,
/// holidays, growth and noise; no planted event, which no forecast can know of) as calendar
/// days from Monday 2026-01-05.
pub fn synthetic(n: usize, seed: u64) -> Vec<DailySeries> {
    let first = NaiveDate::from_ymd_opt(2026, 1, 5).expect("a date");
    super::synthetic::generate(n, seed)
        .into_iter()
        .filter(|s| s.labels.iter().all(|l| !l.alert))
        .map(|s| DailySeries {
            name: s.name,
            first,
            x: s.x,
        })
        .collect()
}

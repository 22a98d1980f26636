//! Spend forecast to the end of a period, with an 80% interval.
//!
//! - **Level, by weekday**: the median of each weekday over the last four weeks (a one-off
//!   spike does not raise it); since a known change (an acknowledged incident still under
//!   way) only the days after it count, so a planned launch's new level is the forecast's.
//! - **Trend**, only where each of the last four weeks spent more than the one before: the
//!   daily growth from the first to the last (at most 2% a day), carried from the middle of
//!   the four weeks to each forecast day.
//! - **Interval** (80%): the days' spread around their weekday level (a robust standard
//!   deviation, corrected for the levels being fitted to the same days) gives σ; over h days
//!   ahead the days' own noise averages out (σ²/h) but the levels' error does not (a median
//!   of n days has about π/2 σ²/n variance, shared by every day ahead); and a drift the
//!   trend did not carry (the last fortnight's daily change against the one before, less
//!   the growth carried, times the days from the level's middle to the horizon's) moves
//!   them all. The total's relative spread is √(σ² (1/h + π/2 / n) + drift²), and the
//!   interval ±1.2816 of it.

use crate::analyse::anomalies::median;
use chrono::{Datelike, Duration, NaiveDate};

/// Days of history the level is read from.
pub(crate) const LEVEL_DAYS: usize = 28;
/// Fastest daily growth the trend carries.
const MAX_GROWTH: f64 = 0.02;

/// A forecast of the days after the series' last day.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// Spend expected over the forecast days, and its 80% interval.
    pub expected: f64,
    pub low: f64,
    pub high: f64,
    /// Each forecast day's expected spend.
    pub daily: Vec<f64>,
    /// The daily growth carried (0 when the last weeks did not grow).
    pub growth: f64,
}

/// The median of each weekday (Monday first) of `x[from..end]` (`x[0]` on `first`); a
/// weekday without a day takes the median of all of them.
fn weekday_levels(x: &[f64], first: NaiveDate, from: usize, end: usize) -> [f64; 7] {
    let mut all: Vec<f64> = x[from..end].to_vec();
    let overall = median(&mut all);
    let mut levels = [overall; 7];
    for (w, level) in levels.iter_mut().enumerate() {
        let mut v: Vec<f64> = (from..end)
            .filter(|&i| weekday(first, i) == w)
            .map(|i| x[i])
            .collect();
        if !v.is_empty() {
            *level = median(&mut v);
        }
    }
    levels
}

fn weekday(first: NaiveDate, i: usize) -> usize {
    (first + Duration::days(i as i64))
        .weekday()
        .num_days_from_monday() as usize
}

/// The first index the level is read from: four weeks back, or `since` if later.
fn level_start(len: usize, since: usize) -> usize {
    len.saturating_sub(LEVEL_DAYS)
        .max(since.min(len.saturating_sub(1)))
}

/// The expected spend of the `h` days after `x` (daily costs, `x[0]` on `first`), the level
/// read from no earlier than index `since`; and the daily growth carried.
pub fn point(x: &[f64], first: NaiveDate, h: usize, since: usize) -> (Vec<f64>, f64) {
    if x.is_empty() {
        return (vec![0.0; h], 0.0);
    }
    let end = x.len();
    let from = level_start(end, since);
    let levels = weekday_levels(x, first, from, end);
    let growth = growth(x, since);
    let centre = (end - from) as f64 / 2.0;
    let daily = (0..h)
        .map(|k| levels[weekday(first, end + k)] * (1.0 + growth).powf(centre + k as f64 + 0.5))
        .collect();
    (daily, growth)
}

/// Daily growth over the last four weeks when each week spent more than the one before
/// (noise alone does that one time in 24; a one-sided "grew over the last fortnight" test
/// carried noise into the forecast as growth): the first week's to the last week's, at most
/// [`MAX_GROWTH`]; 0 without four weeks since `since`.
fn growth(x: &[f64], since: usize) -> f64 {
    let end = x.len();
    if end < LEVEL_DAYS || end - LEVEL_DAYS < since {
        return 0.0;
    }
    let weeks: Vec<f64> = (0..4)
        .map(|w| x[end - 28 + 7 * w..end - 21 + 7 * w].iter().sum())
        .collect();
    if weeks[0] <= 0.0 || !weeks.windows(2).all(|p| p[1] > p[0]) {
        return 0.0;
    }
    ((weeks[3] / weeks[0]).powf(1.0 / 21.0) - 1.0).min(MAX_GROWTH)
}

/// The daily change of the last two weeks against the two before, either way (0 without
/// four weeks since `since`): what the level may have drifted by that the trend did not
/// carry.
fn fortnight_change(x: &[f64], since: usize) -> f64 {
    let end = x.len();
    if end < LEVEL_DAYS || end - LEVEL_DAYS < since {
        return 0.0;
    }
    let last: f64 = x[end - 14..].iter().sum();
    let before: f64 = x[end - 28..end - 14].iter().sum();
    if before <= 0.0 || last <= 0.0 {
        return 0.0;
    }
    (last / before).powf(1.0 / 14.0) - 1.0
}

/// [`point`] with its 80% interval (see the module's doc).
pub fn forecast(x: &[f64], first: NaiveDate, h: usize, since: usize) -> Forecast {
    let (daily, growth) = point(x, first, h, since);
    let expected: f64 = daily.iter().sum();
    if h == 0 {
        return Forecast {
            expected,
            low: expected,
            high: expected,
            daily,
            growth,
        };
    }
    // The days' own noise averages out over the horizon; the error of the weekday levels
    // (each a median of about four days) does not: it is shared by every day ahead.
    let sigma = daily_spread(x, first, since);
    let days = (x.len() - level_start(x.len(), since)).max(1) as f64;
    let level_variance = std::f64::consts::FRAC_PI_2 / days;
    // A drift the trend did not carry moves every day ahead, more the further it is from
    // the middle of the weeks the level was read from.
    let drift = (fortnight_change(x, since) - growth) * (days / 2.0 + (h as f64 + 1.0) / 2.0);
    let relative = (sigma * sigma * (1.0 / h as f64 + level_variance) + drift * drift).sqrt();
    let z = 1.2816;
    Forecast {
        expected,
        low: (expected * (1.0 - z * relative)).max(0.0),
        high: expected * (1.0 + z * relative),
        daily,
        growth,
    }
}

/// The 80% interval after each of the `h` days ahead, as fractions of the spend expected to
/// that day: `(low, high)` for 1, 2, … `h` days (what a forecast cone is drawn from).
pub fn cone(x: &[f64], first: NaiveDate, h: usize, since: usize) -> Vec<(f64, f64)> {
    (1..=h)
        .map(|k| {
            let f = forecast(x, first, k, since);
            if f.expected > 0.0 {
                (f.low / f.expected, f.high / f.expected)
            } else {
                (1.0, 1.0)
            }
        })
        .collect()
}

/// Relative spread of the level's days around their weekday level (a robust standard
/// deviation), for an interval when there is too little history to backtest.
fn daily_spread(x: &[f64], first: NaiveDate, since: usize) -> f64 {
    let end = x.len();
    let from = level_start(end, since);
    let levels = weekday_levels(x, first, from, end);
    let mut deviations: Vec<f64> = (from..end)
        .filter(|&i| levels[weekday(first, i)] > 0.0)
        .map(|i| (x[i] / levels[weekday(first, i)] - 1.0).abs())
        .collect();
    if deviations.len() < 7 {
        return 0.25;
    }
    // Measured against medians fitted to the same days: about 1.18x too small for a day
    // the medians have not seen (a median of four has π/2 σ² / 4 variance of its own).
    1.4826 * median(&mut deviations) * (1.0 + std::f64::consts::FRAC_PI_2 / 4.0).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monday() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 5).unwrap()
    }

    #[test]
    fn a_weekly_pattern_is_forecast_by_weekday() {
        let x: Vec<f64> = (0..42)
            .map(|i| if i % 7 >= 5 { 50.0 } else { 100.0 })
            .collect();
        let f = forecast(&x, monday(), 7, 0);
        assert_eq!(f.daily, vec![100.0, 100.0, 100.0, 100.0, 100.0, 50.0, 50.0]);
        assert_eq!(f.expected, 600.0);
        assert_eq!(
            (f.low, f.high),
            (600.0, 600.0),
            "no spread around the weekday levels"
        );
        assert_eq!(f.growth, 0.0);
    }

    #[test]
    fn growth_is_carried_and_a_known_change_resets_the_level() {
        let x: Vec<f64> = (0..42).map(|i| 100.0 * 1.01f64.powi(i)).collect();
        let f = forecast(&x, monday(), 10, 0);
        assert!((f.growth - 0.01).abs() < 1e-9, "{f:?}");
        let actual: f64 = (42..52).map(|i| 100.0 * 1.01f64.powi(i)).sum();
        assert!(
            (f.expected / actual - 1.0).abs() < 0.03,
            "{} vs {actual}",
            f.expected
        );
        // Doubled from day 35 (a launch, acknowledged): the level is the new one.
        let y: Vec<f64> = (0..42)
            .map(|i| if i >= 35 { 200.0 } else { 100.0 })
            .collect();
        assert_eq!(forecast(&y, monday(), 7, 35).expected, 1400.0);
        assert!(forecast(&y, monday(), 7, 0).expected < 1400.0);
    }
}

//! Flagging a series: each day against the median of the same weekday over the previous
//! four weeks, scaled by their median absolute deviation; spikes, drops, ramps and new spend.

use super::*;

/// A day's baseline: what was expected and from which days.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    pub expected: f64,
    /// Indices of the reference days the expectation came from (empty: no prior spend).
    pub reference: Vec<usize>,
    pub scale: f64,
}

/// Days of history needed before a day is judged (other than as new spend).
pub const MIN_HISTORY: usize = 7;

pub(crate) fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Baseline for day `t` of the series `x`, whose first non-zero day is `first` (if any).
/// `None` when there is too little history to judge.
pub fn baseline(x: &[f64], t: usize, first: Option<usize>) -> Option<Baseline> {
    let Some(first) = first.filter(|f| *f < t) else {
        return Some(Baseline {
            expected: 0.0,
            reference: Vec::new(),
            scale: 0.0,
        });
    };
    let start = first.max(t.saturating_sub(28));
    if t - start < MIN_HISTORY {
        return None;
    }
    let reference: Vec<usize> = (1..=4)
        .filter_map(|w| t.checked_sub(7 * w))
        .filter(|&i| i >= start)
        .collect();
    let mut values: Vec<f64> = reference.iter().map(|&i| x[i]).collect();
    let expected = median(&mut values);
    let mut deviations: Vec<f64> = values.iter().map(|v| (v - expected).abs()).collect();
    let mad = median(&mut deviations);
    let scale = (1.4826 * mad).max(0.1 * expected.abs()).max(1.0);
    Some(Baseline {
        expected,
        reference,
        scale,
    })
}

/// The day-to-day noise of series `x` before day `t`, as a share of its level: from the
/// week-over-week changes of the four weeks before `t` (up to 21 pairs of the same weekday,
/// as a robust standard deviation: 1.4826 × their median absolute relative change / √2).
/// Four reference days alone say little about noise (their spread is often tiny by
/// chance), which made a noisy series alarm every few weeks; 0 with fewer than
/// [`MIN_NOISE_PAIRS`] pairs.
/// Week-over-week pairs needed for a noise estimate (a series' second week has them).
const MIN_NOISE_PAIRS: usize = 3;

pub(super) fn relative_noise(x: &[f64], t: usize, first: Option<usize>) -> f64 {
    let start = first.unwrap_or(0).max(t.saturating_sub(28)) + 7;
    let mut changes: Vec<f64> = (start..t)
        .filter_map(|s| {
            let mean = (x[s] + x[s - 7]) / 2.0;
            (mean > 0.0).then(|| ((x[s] - x[s - 7]) / mean).abs())
        })
        .collect();
    if changes.len() < MIN_NOISE_PAIRS {
        return 0.0;
    }
    1.4826 * median(&mut changes) / std::f64::consts::SQRT_2
}

/// The spread a day's impact has from noise alone: the day's own noise and that of the
/// median it is compared with (a median of n days has about π/2 × σ² / n variance), in
/// money, at the baseline's level.
fn noise_scale(x: &[f64], t: usize, first: Option<usize>, b: &Baseline) -> f64 {
    let n = b.reference.len().max(1) as f64;
    let sigma = relative_noise(x, t, first) * b.expected;
    sigma * (1.0 + std::f64::consts::FRAC_PI_2 / n).sqrt()
}

/// Six of the seven days ending at `t` each grew by at least `growth` over the day before.
pub(super) fn ramping(x: &[f64], t: usize, growth: f64) -> bool {
    if t < 7 {
        return false;
    }
    (t - 6..=t)
        .filter(|&i| x[i - 1] > 0.0 && x[i] / x[i - 1] - 1.0 >= growth)
        .count()
        >= 6
}

/// A flagged day of one series, before it is explained.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    /// First day of the event.
    pub index: usize,
    pub kind: Kind,
    pub baseline: Baseline,
    pub actual: f64,
    pub score: Option<f64>,
    /// Consecutive days the series stayed flagged with this kind (a level shift is one event,
    /// not an alert a day until the baseline catches up).
    pub days: usize,
}

/// Judge days `from..=to` (indices) of series `x`; consecutive days of the same kind are one
/// event, reported on its first day.
pub(crate) fn flag_series(x: &[f64], from: usize, to: usize, cfg: &AnomalyConfig) -> Vec<Flag> {
    let mut flags: Vec<Flag> = Vec::new();
    for f in flag_days(x, from, to, cfg) {
        match flags.last_mut() {
            Some(last) if last.kind == f.kind && last.index + last.days == f.index => {
                last.days += 1;
            }
            // The first days of a ramp look like spikes until a week of growth shows.
            Some(last)
                if last.kind == Kind::Spike
                    && f.kind == Kind::Ramp
                    && last.index + last.days == f.index =>
            {
                last.kind = Kind::Ramp;
                last.days += 1;
            }
            _ => flags.push(f),
        }
    }
    flags
}

pub(super) fn flag_days(x: &[f64], from: usize, to: usize, cfg: &AnomalyConfig) -> Vec<Flag> {
    let first = x.iter().position(|v| *v != 0.0);
    let mut flags = Vec::new();
    for t in from..=to.min(x.len().saturating_sub(1)) {
        let Some(b) = baseline(x, t, first) else {
            continue;
        };
        let actual = x[t];
        let impact = actual - b.expected;
        if b.expected <= 0.0 {
            // Spend on the store's first days is not "new": the data just starts there.
            if t < MIN_HISTORY {
                continue;
            }
            if actual >= cfg.min_impact && (b.reference.is_empty() || impact >= cfg.min_impact) {
                flags.push(Flag {
                    index: t,
                    kind: Kind::New,
                    baseline: b,
                    actual,
                    score: None,
                    days: 1,
                });
            }
            continue;
        }
        let pct = impact / b.expected;
        let rising = impact >= cfg.min_impact && pct >= cfg.min_impact_pct;
        let falling = impact <= -cfg.min_impact && pct <= -cfg.drop_pct;
        if !rising && !falling {
            continue;
        }
        // Past both floors: judge the score against the series' own noise too (only here:
        // it reads four weeks of days).
        let mut b = b;
        b.scale = b.scale.max(noise_scale(x, t, first, &b));
        let score = impact / b.scale;
        let ramp_now = ramping(x, t, cfg.ramp_daily_growth);
        let kind = if rising && ramp_now {
            Some(Kind::Ramp)
        } else if rising && !ramp_now && score >= cfg.min_score {
            Some(Kind::Spike)
        } else if falling && score <= -cfg.min_score {
            Some(Kind::Drop)
        } else {
            None
        };
        if let Some(kind) = kind {
            flags.push(Flag {
                index: t,
                kind,
                baseline: b,
                actual,
                score: Some(score),
                days: 1,
            });
        }
    }
    flags
}

/// Events of series `x` under way on any day `lo..=hi`. Judging starts four weeks early so an
/// event already running is reported once, from its first day, not again as if it began on
/// the first day of the range.
pub fn events(x: &[f64], lo: usize, hi: usize, cfg: &AnomalyConfig) -> Vec<Flag> {
    flag_series(x, lo.saturating_sub(28), hi, cfg)
        .into_iter()
        .filter(|f| f.index + f.days > lo)
        .collect()
}

/// A flag's impact (actual less expected), in cents, as its anomaly states it.
pub fn impact(flag: &Flag) -> f64 {
    round(flag.actual - flag.baseline.expected)
}

/// Mean cost of the reference days of series `x`.
pub(super) fn reference_mean(x: &[f64], b: &Baseline) -> f64 {
    if b.reference.is_empty() {
        0.0
    } else {
        b.reference.iter().map(|&i| x[i]).sum::<f64>() / b.reference.len() as f64
    }
}

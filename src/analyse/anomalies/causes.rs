//! What a change is made of: root causes scaled to the flag's expectation ([`Scale`]) and
//! the volume / mix / rate decomposition ([`Mix`]).

use super::*;

/// How a flag's reference days scale to its expected value: each reference day's cost
/// divided by the number of reference days and multiplied by `k` (expected / mean of the
/// reference days).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale {
    pub(super) k: f64,
    pub(super) n_ref: f64,
    /// The direction of the flag's change (+1 or -1) when only the causes an anomaly lists
    /// are wanted (see [`anomaly`]); 0 for every cause.
    pub(super) sign: f64,
}

impl Scale {
    pub fn of(baseline: &Baseline, reference_total: f64) -> Scale {
        Scale {
            k: if reference_total > 0.0 {
                baseline.expected / reference_total
            } else {
                0.0
            },
            n_ref: baseline.reference.len().max(1) as f64,
            sign: 0.0,
        }
    }

    /// The scale of an anomaly's flag (series `x`): only the causes [`anomaly`] could list
    /// are kept, each child dimension's largest few in the flag's direction.
    pub(super) fn of_flag(flag: &Flag, x: &[f64]) -> Scale {
        let b = &flag.baseline;
        Scale {
            sign: direction(flag.actual - b.expected),
            ..Scale::of(b, reference_mean(x, b))
        }
    }
}

/// +1 for a rise (or no change), -1 for a fall.
pub(super) fn direction(impact: f64) -> f64 {
    if impact >= 0.0 {
        1.0
    } else {
        -1.0
    }
}

/// Root causes an anomaly lists, at most, each moving its value more than half a cent in
/// the anomaly's direction.
pub(super) const MOST_CAUSES: usize = 5;
pub(super) const LEAST_CAUSE: f64 = 0.005;

/// Token segments (model, usage type) -> (cost before, tokens before, cost now, tokens now),
/// the before side scaled; credits before and now; and the cost of everything else before
/// and now.
#[derive(Default)]
pub(super) struct Mix {
    pub(super) segments: HashMap<(String, String), [f64; 4]>,
    pub(super) credits0: f64,
    pub(super) credits1: f64,
    pub(super) other0: f64,
    pub(super) other1: f64,
}

impl Mix {
    pub(super) fn decomposition(&self) -> Option<Decomposition> {
        let (segments, other0, other1) = (&self.segments, self.other0, self.other1);
        let q0: f64 = segments.values().map(|s| s[1]).sum();
        let q1: f64 = segments.values().map(|s| s[3]).sum();
        let credits = self.credits1 - self.credits0;
        if q0 <= 0.0 && q1 <= 0.0 && credits == 0.0 {
            return None;
        }
        let c0: f64 = segments.values().map(|s| s[0]).sum();
        let c1: f64 = segments.values().map(|s| s[2]).sum();
        let (volume, mix, rate) = if q0 <= 0.0 {
            (c1 - c0, 0.0, 0.0)
        } else {
            let p0 = c0 / q0;
            let mut mix = 0.0;
            let mut rate = 0.0;
            for s in segments.values() {
                let p1 = if s[3] > 0.0 { s[2] / s[3] } else { 0.0 };
                // A segment absent before is priced at today's rate: its arrival is mix.
                let p0_seg = if s[1] > 0.0 { s[0] / s[1] } else { p1 };
                let s0 = s[1] / q0;
                let s1 = if q1 > 0.0 { s[3] / q1 } else { 0.0 };
                mix += q1 * (s1 - s0) * p0_seg;
                rate += q1 * s1 * (p1 - p0_seg);
            }
            ((q1 - q0) * p0, mix, rate)
        };
        Some(Decomposition {
            volume: round(volume),
            mix: round(mix),
            rate: round(rate),
            credits: round(credits),
            other: round(other1 - other0),
            tokens_expected: q0.round(),
            tokens_actual: q1.round(),
        })
    }
}

/// Cents, without a negative zero.
pub(super) fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0 + 0.0
}

//! `[anomalies]`: when a day's spend is an anomaly worth an alert.

use super::Invalid;
use serde::Deserialize;

/// When a day's spend is an anomaly worth an alert. A day is flagged only when its dollar
/// impact *and* its percentage change pass the floors, so a $3 -> $12 day stays quiet and a
/// $300 -> $1,200 day is loud.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnomalyConfig {
    /// Minimum |actual - expected|, in the report currency.
    pub min_impact: f64,
    /// Minimum |impact| / expected (0.25 = 25%).
    pub min_impact_pct: f64,
    /// Minimum robust z-score (impact over the baseline's scaled median absolute deviation).
    pub min_score: f64,
    /// A drop must remove at least this share of expected spend (0.5 = 50%).
    pub drop_pct: f64,
    /// Day-over-day growth that counts toward a ramp (six of seven days at least this).
    pub ramp_daily_growth: f64,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            min_impact: 50.0,
            min_impact_pct: 0.25,
            min_score: 3.0,
            drop_pct: 0.5,
            ramp_daily_growth: 0.10,
        }
    }
}

impl AnomalyConfig {
    /// Every threshold finite and in its range.
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        let a = self;
        for (key, value, ok) in [
            ("min_impact", a.min_impact, a.min_impact >= 0.0),
            ("min_impact_pct", a.min_impact_pct, a.min_impact_pct >= 0.0),
            ("min_score", a.min_score, a.min_score >= 0.0),
            (
                "drop_pct",
                a.drop_pct,
                a.drop_pct > 0.0 && a.drop_pct <= 1.0,
            ),
            (
                "ramp_daily_growth",
                a.ramp_daily_growth,
                a.ramp_daily_growth > 0.0,
            ),
        ] {
            if !ok || !value.is_finite() {
                return Err(Invalid::new(
                    format!("[anomalies] `{key}` = {value} is out of range"),
                    "impacts and scores are >= 0; drop_pct is in (0, 1]; ramp_daily_growth is > 0",
                ));
            }
        }
        Ok(())
    }
}

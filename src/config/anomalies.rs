//! `[anomalies]`: when a day's spend is an anomaly worth an alert.

use super::Invalid;
use crate::store::acks::Verdict;
use chrono::NaiveDate;
use serde::Deserialize;
use std::collections::BTreeMap;

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
    /// Known events (`[[anomalies.planned]]`): incidents they cover are acknowledged
    /// before anyone is alerted.
    pub planned: Vec<PlannedWindow>,
}

/// A window of days in which a change in some series is expected (a launch, a load test).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedWindow {
    pub name: String,
    /// Dimension -> value (`*` globs): `{ team = "search" }`, `{ model = "*sonnet*" }`.
    /// An incident is covered when its headline or one of its members matches.
    #[serde(default)]
    pub selector: BTreeMap<String, String>,
    /// First and last day (inclusive): a TOML date (`from = 2026-11-02`) or a string.
    #[serde(deserialize_with = "date")]
    pub from: NaiveDate,
    #[serde(deserialize_with = "date")]
    pub to: NaiveDate,
    #[serde(default)]
    pub reason: Option<String>,
    /// What the window's incidents are: `planned` (default) or `expected`.
    #[serde(default = "planned")]
    pub verdict: Verdict,
}

/// A day written as a TOML date or as a `YYYY-MM-DD` string.
pub(crate) fn date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Toml(toml::value::Datetime),
        Text(String),
    }
    let text = match Written::deserialize(d)? {
        Written::Toml(t) => t.to_string(),
        Written::Text(s) => s,
    };
    NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a day (YYYY-MM-DD)")))
}

fn planned() -> Verdict {
    Verdict::Planned
}

/// Dimensions a planned window's selector may name: the series incidents are made of.
pub const SELECTOR_DIMENSIONS: &[&str] = &[
    "total",
    "provider",
    "team",
    "team_feature",
    "model",
    "account",
    "resource",
];

impl PlannedWindow {
    /// Whether the series `dimension` = `value` is one this window names (a window with an
    /// empty selector names every series).
    pub fn names(&self, dimension: &str, value: &str) -> bool {
        self.selector.is_empty()
            || self.selector.iter().any(|(d, pattern)| {
                d == dimension && super::attribution::glob_match(pattern, value)
            })
    }
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            min_impact: 50.0,
            min_impact_pct: 0.25,
            min_score: 3.0,
            drop_pct: 0.5,
            ramp_daily_growth: 0.10,
            planned: Vec::new(),
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
        for w in &self.planned {
            if let Some(d) = w
                .selector
                .keys()
                .find(|d| !SELECTOR_DIMENSIONS.contains(&d.as_str()))
            {
                return Err(Invalid::new(
                    format!(
                        "[[anomalies.planned]] `{}`: unknown dimension `{d}` in its selector",
                        w.name
                    ),
                    format!("selector keys are {}", SELECTOR_DIMENSIONS.join(", ")),
                ));
            }
            if w.to < w.from {
                return Err(Invalid::new(
                    format!(
                        "[[anomalies.planned]] `{}`: `to` {} is before `from` {}",
                        w.name, w.to, w.from
                    ),
                    "a window runs from its first day to its last (inclusive)",
                ));
            }
        }
        Ok(())
    }
}

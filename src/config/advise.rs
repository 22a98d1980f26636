//! `[advise]` (thresholds of `spendlens advise`, commitments to evaluate) and `[prices]`
//! (list prices overriding or adding to the shipped catalog).

use super::Invalid;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A list price, USD per 1M tokens: an entry of the shipped catalog (`data/prices.toml`) or
/// of `[prices."<model>"]`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    pub cache_read: Option<f64>,
    pub cache_write: Option<f64>,
    /// `top`, `mid` or `small`.
    pub tier: Option<String>,
    /// A cheaper model of the same family that may handle simple traffic.
    pub cheaper: Option<String>,
}

/// `[advise]`: thresholds of `spendlens advise` and the commitments to evaluate.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdviseConfig {
    /// Flag billed unit prices this far from list (0.10 = 10%).
    pub price_tolerance: f64,
    /// Commitment size = P95 daily throughput × (1 + headroom).
    pub headroom: f64,
    /// Tiering hints: at most this many output tokens per request (when requests are known)...
    pub tiering_max_output_tokens_per_request: f64,
    /// ... or at most this share of tokens being output (when they are not).
    pub tiering_max_output_share: f64,
    /// Only hints that save at least this much per 30 days.
    pub min_monthly_saving: f64,
    pub commitments: Vec<CommitmentConfig>,
}

impl Default for AdviseConfig {
    fn default() -> Self {
        AdviseConfig {
            price_tolerance: 0.10,
            headroom: 0.20,
            tiering_max_output_tokens_per_request: 400.0,
            tiering_max_output_share: 0.15,
            min_monthly_saving: 100.0,
            commitments: Vec::new(),
        }
    }
}

/// A commitment to evaluate: Bedrock Provisioned Throughput model units or Azure PTUs of one
/// model, at the hourly rate and throughput per unit from your quote.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CommitmentConfig {
    pub model: String,
    /// Price of one unit per hour.
    pub hourly_rate: f64,
    /// Tokens per minute one unit sustains (input + output).
    pub tokens_per_minute_per_unit: f64,
}

impl AdviseConfig {
    /// Every commitment has a positive rate and throughput.
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        for c in &self.commitments {
            if !(c.hourly_rate > 0.0 && c.tokens_per_minute_per_unit > 0.0) {
                return Err(Invalid::new(
                    format!("[[advise.commitments]] for `{}` needs a positive hourly_rate and tokens_per_minute_per_unit", c.model),
                    "take both from your provisioned-throughput or PTU quote",
                ));
            }
        }
        Ok(())
    }
}

/// Every `[prices]` entry is a finite, non-negative price.
pub(super) fn validate_prices(prices: &BTreeMap<String, Price>) -> Result<(), Invalid> {
    for (model, p) in prices {
        if !(p.input >= 0.0 && p.output >= 0.0 && p.input.is_finite() && p.output.is_finite()) {
            return Err(Invalid::new(
                format!("[prices.\"{model}\"] has a negative or non-finite price"),
                "prices are USD per 1M tokens, e.g. input = 3.0, output = 15.0",
            ));
        }
    }
    Ok(())
}

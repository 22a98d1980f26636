//! `[[budgets]]`: a team's (or any selection's) amount per month, quarter or year.

use super::Invalid;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Dimensions a budget's selector may name.
pub const SELECTOR_KEYS: &[&str] = &[
    "team",
    "feature",
    "provider",
    "model",
    "account",
    "allocation",
];

/// The period a budget's amount covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetPeriod {
    Month,
    Quarter,
    Year,
}

impl BudgetPeriod {
    /// Months a period spans.
    pub fn months(self) -> u32 {
        match self {
            BudgetPeriod::Month => 1,
            BudgetPeriod::Quarter => 3,
            BudgetPeriod::Year => 12,
        }
    }
}

/// Which cost a budget is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetCost {
    /// Amortized: commitments spread over the days they cover, credits netted.
    #[default]
    Effective,
    /// As invoiced.
    Billed,
}

impl BudgetCost {
    pub fn name(self) -> &'static str {
        match self {
            BudgetCost::Effective => "effective",
            BudgetCost::Billed => "billed",
        }
    }

    /// The cost column it sums.
    pub fn column(self) -> &'static str {
        match self {
            BudgetCost::Effective => "effective_cost",
            BudgetCost::Billed => "billed_cost",
        }
    }
}

/// One budget.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    pub name: String,
    /// Dimension -> value (`*` globs), every entry must match (AND); empty: all spend.
    #[serde(default)]
    pub selector: BTreeMap<String, String>,
    pub amount: f64,
    pub currency: String,
    pub period: BudgetPeriod,
    /// First month of the (fiscal) year, 1–12: quarters and years start from it.
    #[serde(default = "january")]
    pub start_month: u32,
    /// Amounts of particular periods, by the period's first month (`"2026-10" = 9000`).
    #[serde(default)]
    pub amounts: BTreeMap<String, f64>,
    /// Percentages of the amount that alert when spend (or its forecast) reaches them.
    #[serde(default = "default_thresholds")]
    pub thresholds: Vec<f64>,
    #[serde(default)]
    pub cost: BudgetCost,
}

fn january() -> u32 {
    1
}

fn default_thresholds() -> Vec<f64> {
    vec![50.0, 80.0, 100.0]
}

impl BudgetConfig {
    /// The amount of the period starting in `month` (`YYYY-MM`).
    pub fn amount_for(&self, month: &str) -> f64 {
        self.amounts.get(month).copied().unwrap_or(self.amount)
    }

    fn invalid(&self, what: String, hint: &str) -> Invalid {
        Invalid::new(format!("[[budgets]] `{}`: {what}", self.name), hint)
    }

    fn validate(&self) -> Result<(), Invalid> {
        if let Some(k) = self
            .selector
            .keys()
            .find(|k| !SELECTOR_KEYS.contains(&k.as_str()))
        {
            let hint = format!("selector keys are {}", SELECTOR_KEYS.join(", "));
            return Err(self.invalid(format!("unknown selector key `{k}`"), &hint));
        }
        if !(self.amount.is_finite() && self.amount > 0.0) {
            return Err(self.invalid(
                format!("amount {} is not positive", self.amount),
                "an amount in `currency`, e.g. amount = 5000",
            ));
        }
        if !crate::schema::is_currency_code(&self.currency) {
            return Err(self.invalid(
                format!("currency `{}` is not an ISO 4217 code", self.currency),
                "three capital letters, e.g. USD",
            ));
        }
        if !(1..=12).contains(&self.start_month) {
            return Err(self.invalid(
                format!("start_month {} is not a month", self.start_month),
                "1 (January) to 12",
            ));
        }
        for (month, amount) in &self.amounts {
            let ok = chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").is_ok();
            if !(ok && amount.is_finite() && *amount > 0.0) {
                return Err(self.invalid(
                    format!("amounts: `{month}` = {amount}"),
                    "keys are the first month of a period (\"2026-10\"), amounts positive",
                ));
            }
        }
        if self.thresholds.is_empty()
            || self
                .thresholds
                .iter()
                .any(|t| !(t.is_finite() && *t > 0.0 && *t <= 1000.0))
        {
            return Err(self.invalid(
                format!("thresholds {:?}", self.thresholds),
                "percentages of the amount, e.g. [50, 80, 100]",
            ));
        }
        Ok(())
    }
}

/// Every budget's own checks, and names unique (announcements are remembered by name).
pub(super) fn validate(budgets: &[BudgetConfig]) -> Result<(), Invalid> {
    let mut seen = std::collections::BTreeSet::new();
    for b in budgets {
        b.validate()?;
        if !seen.insert(b.name.as_str()) {
            return Err(b.invalid(
                "the name is used twice".into(),
                "give each budget its own name",
            ));
        }
    }
    Ok(())
}

//! Which threshold crossings the nightly digest announces: those not announced before for
//! the same budget, period, threshold and kind (see `store::announced`).

use super::{BudgetState, BudgetStatus, CrossedBy, PeriodBounds};
use crate::store::announced::Announcement;
use chrono::NaiveDate;
use serde::Serialize;

/// A threshold crossing announced for the first time, with the budget's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetAlert {
    pub budget: String,
    pub currency: String,
    pub period: PeriodBounds,
    pub threshold: f64,
    pub kind: CrossedBy,
    /// The day spend reached the threshold, or the forecast is to.
    pub day: NaiveDate,
    pub amount: f64,
    pub spent: f64,
    pub forecast: f64,
    pub status: BudgetState,
}

impl BudgetAlert {
    /// The record that this crossing was announced at `at` (RFC 3339).
    pub fn announcement(&self, at: &str) -> Announcement {
        Announcement {
            budget: self.budget.clone(),
            period_start: self.period.start,
            threshold: self.threshold,
            kind: kind_name(self.kind).into(),
            day: self.day,
            at: at.into(),
        }
    }
}

fn kind_name(kind: CrossedBy) -> &'static str {
    match kind {
        CrossedBy::Actual => "actual",
        CrossedBy::Forecast => "forecast",
    }
}

/// The crossings of `statuses` that `announced` does not hold, budget by budget, lowest
/// threshold first.
pub fn fresh_alerts(statuses: &[BudgetStatus], announced: &[Announcement]) -> Vec<BudgetAlert> {
    let mut out = Vec::new();
    for s in statuses {
        for c in &s.crossed {
            let alert = BudgetAlert {
                budget: s.name.clone(),
                currency: s.currency.clone(),
                period: s.period.clone(),
                threshold: c.threshold,
                kind: c.kind,
                day: c.day,
                amount: s.amount,
                spent: s.spent,
                forecast: s.forecast,
                status: s.status,
            };
            let said = alert.announcement("");
            if !announced.iter().any(|a| a.same_crossing(&said)) {
                out.push(alert);
            }
        }
    }
    out
}

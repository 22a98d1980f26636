//! Budgets as Markdown (a table and, per budget, what crossed and what grew) and JSON.

use super::format::{amount, markdown_cell};
use crate::analyse::budgets::{BudgetStatus, CrossedBy};
use chrono::NaiveDate;
use std::fmt::Write as _;

/// One row per budget: selection, period, amount, spent, forecast with its interval, status.
pub(crate) fn table(statuses: &[BudgetStatus]) -> String {
    let mut s = String::from("| budget | selection | period | amount | spent | used | forecast (80% interval) | forecast | status | days left |\n|---|---|---|---:|---:|---:|---:|---:|---|---:|\n");
    for b in statuses {
        let _ = writeln!(
            s,
            "| {} | {} | {} to {} | {} {} | {} | {:.1}% | {} ({} – {}) | {:.1}% | {} | {} |",
            markdown_cell(&b.name),
            markdown_cell(&selector_text(b)),
            b.period.start,
            b.period.end,
            amount(b.amount),
            b.currency,
            amount(b.spent),
            b.used_pct,
            amount(b.forecast),
            amount(b.forecast_low),
            amount(b.forecast_high),
            b.forecast_pct,
            b.status.name(),
            b.days_left
        );
    }
    s
}

/// `50% reached on 2026-03-10` or `100% forecast to be reached on 2026-03-20`.
pub(crate) fn crossing_text(threshold: f64, day: NaiveDate, kind: CrossedBy) -> String {
    let how = match kind {
        CrossedBy::Actual => "reached",
        CrossedBy::Forecast => "forecast to be reached",
    };
    format!("{threshold}% {how} on {day}")
}

/// `{"schema_version", "at", "budgets": [...]}`.
pub(crate) fn json(at: NaiveDate, statuses: &[BudgetStatus]) -> serde_json::Result<String> {
    #[derive(serde::Serialize)]
    struct Budgets<'a> {
        at: NaiveDate,
        budgets: &'a [BudgetStatus],
    }
    super::versioned(&Budgets {
        at,
        budgets: statuses,
    })
}

pub(crate) fn selector_text(s: &BudgetStatus) -> String {
    if s.selector.is_empty() {
        return "all spend".into();
    }
    s.selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The budgets as a Markdown table, then each one's crossings, contributors and notes.
pub(crate) fn markdown(at: NaiveDate, statuses: &[BudgetStatus]) -> String {
    let mut s = format!("# Budgets on {at}\n\n{}", table(statuses));
    for b in statuses {
        let _ = writeln!(s, "\n## {}\n", markdown_cell(&b.name));
        if b.crossed.is_empty() {
            let _ = writeln!(s, "- no threshold reached, nor forecast to be");
        }
        for c in &b.crossed {
            let _ = writeln!(s, "- {}", crossing_text(c.threshold, c.day, c.kind));
        }
        if !b.contributors.is_empty() {
            let grew: Vec<String> = b
                .contributors
                .iter()
                .map(|c| {
                    format!(
                        "{} {} +{} ({} → {})",
                        c.dimension,
                        markdown_cell(&c.value),
                        amount(c.change),
                        amount(c.previous),
                        amount(c.spent)
                    )
                })
                .collect();
            let _ = writeln!(
                s,
                "- grew most against the same days before the period: {}",
                grew.join("; ")
            );
        }
        for n in &b.notes {
            let _ = writeln!(s, "- {}", markdown_cell(n));
        }
    }
    s
}

//! `reconcile` as Markdown (a table per currency a finance person can read) and JSON.

use super::format::{amount, markdown_cell};
use crate::analyse::reconcile::{Money, Reconciliation, TOLERANCE};
use chrono::NaiveDate;
use std::fmt::Write;

/// `schema_version` of the JSON output.
use super::SCHEMA_VERSION;

/// The rows as a JSON object: `schema_version`, the days, whether all reconcile, the rows.
pub fn to_json(rows: &[Reconciliation], from: NaiveDate, to: NaiveDate) -> String {
    serde_json::to_string_pretty(&serde_json::json!({
        "schema_version": SCHEMA_VERSION,
        "from": from,
        "to": to,
        "tolerance": TOLERANCE,
        "ok": rows.iter().all(|r| r.ok),
        "reconciliation": rows,
    }))
    .unwrap_or_default()
}

fn pair(m: Money) -> String {
    format!("{} / {}", amount(m.billed), amount(m.effective))
}

fn difference(m: Option<Money>) -> String {
    // A difference that rounds to 0.00 reads +0.00, not -0.00.
    let cents = |v: f64| if v.abs() < 0.005 { 0.0 } else { v };
    m.map_or_else(
        || "not recorded".to_string(),
        |m| format!("{:+.2} / {:+.2}", cents(m.billed), cents(m.effective)),
    )
}

/// One table: a line per source and billing period, billed / effective in each cell.
pub fn to_markdown(rows: &[Reconciliation], from: NaiveDate, to: NaiveDate) -> String {
    let mut s = format!("# Reconciliation {from} – {to}\n\n");
    if rows.is_empty() {
        s.push_str("No cost data on these days.\n");
        return s;
    }
    let failed = rows.iter().filter(|r| !r.ok).count();
    let _ = writeln!(
        s,
        "{}\n\nEach cell is billed / effective. *As read* is the export's or API's own total; *filtered out* the services left out on purpose (`--services`); *stored* what the store holds; *counted* what reports count (Azure's paired views count one column each); *attributed* what tags, rules and splits handed out.\n",
        if failed == 0 {
            format!("**Every source reconciles** to within {TOLERANCE:.2}.")
        } else {
            format!("**{failed} row(s) differ by more than {TOLERANCE:.2}.**")
        }
    );
    s.push_str("| source | period | currency | as read | filtered out | stored | counted | attributed | stored − (read − filtered) | attributed − counted | status |\n");
    s.push_str("|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        let status = match (r.ok, r.largest_difference_day) {
            (true, _) => "ok".to_string(),
            (false, Some(d)) => format!("**differs**, most on {d}"),
            (false, None) => "**differs**".to_string(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            markdown_cell(&r.source),
            r.period,
            markdown_cell(&r.currency),
            r.read.map_or_else(|| "not recorded".to_string(), pair),
            pair(r.filtered_out),
            pair(r.stored),
            pair(r.counted),
            r.attributed.map_or_else(|| "—".to_string(), pair),
            difference(r.stored_vs_read),
            difference(r.attributed_vs_counted),
            status
        );
    }
    let notes: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.notes
                .iter()
                .map(move |n| format!("- {} {}: {}", markdown_cell(&r.source), r.period, n))
        })
        .collect();
    if !notes.is_empty() {
        s.push('\n');
        s.push_str(&notes.join("\n"));
        s.push('\n');
    }
    s
}

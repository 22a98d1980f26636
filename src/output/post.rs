//! What `nightly --post` sends: a Slack Block Kit message (a header, the figures, budgets
//! crossed, open incidents, links to the report files; the Markdown digest as its
//! notification text), or the same content as a JSON document any webhook can read.
//!
//! Slack's limits are kept: a header's text at most 150 characters, a section's 3,000, at
//! most 50 blocks; `&`, `<` and `>` in any value are escaped as mrkdwn requires.

use super::format::{amount, change_pct, share_pct};
use super::report::{status_text, Report};
use crate::analyse::anomalies::{Incident, Status};
use serde_json::{json, Value};

const HEADER_CHARS: usize = 150;
const SECTION_CHARS: usize = 3000;
/// Open incidents listed (the largest first).
const INCIDENTS_SHOWN: usize = 5;

/// The report files under `--report-url`, as `(label, file)`.
const FILES: &[(&str, &str)] = &[
    ("report", "report.html"),
    ("dashboard", "dashboard.html"),
    ("Markdown", "report.md"),
    ("JSON", "report.json"),
];

/// `(label, url)` of each report file under `base` (none without a base).
pub(crate) fn links(base: Option<&str>) -> Vec<(&'static str, String)> {
    let Some(base) = base else {
        return Vec::new();
    };
    let base = base.trim_end_matches('/');
    FILES
        .iter()
        .map(|(label, file)| (*label, format!("{base}/{file}")))
        .collect()
}

/// The Markdown digest with a line of links to the report files (unchanged without links).
pub(crate) fn with_links(digest: &str, links: &[(&str, String)]) -> String {
    if links.is_empty() {
        return digest.to_string();
    }
    let list: Vec<String> = links
        .iter()
        .map(|(label, url)| format!("[{label}]({url})"))
        .collect();
    format!("{digest}\n{}\n", list.join(" · "))
}

/// Text safe inside Slack mrkdwn (its three control characters escaped).
pub(crate) fn mrkdwn(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters: whole lines, then a line saying how many were left out.
fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let more = format!("… and {} more line(s)", lines.len() - i);
        if out.chars().count() + line.chars().count() + more.chars().count() + 2 > max {
            return out + &more;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": fit(text, SECTION_CHARS)}})
}

/// The Slack message: Block Kit blocks, and the Markdown `digest` as the text notifications
/// and clients without blocks show.
pub(crate) fn slack(report: &Report, digest: &str, links: &[(&str, String)]) -> Value {
    let c = &report.currency;
    let header: String = format!(
        "spendlens: {} {c} from {} to {}",
        amount(report.totals.effective_cost),
        report.period.start,
        report.period.end
    )
    .chars()
    .take(HEADER_CHARS)
    .collect();
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": header}}),
        section(&figures(report)),
    ];
    if !report.budgets.is_empty() || !report.budget_errors.is_empty() {
        blocks.push(section(&budgets(report)));
    }
    blocks.push(section(&incidents(report)));
    if !links.is_empty() {
        let text: Vec<String> = links
            .iter()
            .map(|(label, url)| format!("<{}|{label}>", mrkdwn(url)))
            .collect();
        blocks.push(
            json!({"type": "context", "elements": [{"type": "mrkdwn", "text": text.join(" · ")}]}),
        );
    }
    json!({"text": digest, "blocks": blocks})
}

/// Totals, the latest day, the month so far, stale sources.
fn figures(r: &Report) -> String {
    let c = &r.currency;
    let t = &r.totals;
    let mut lines = vec![format!(
        "*Spend* {} {c} effective ({} billed); tag coverage {}, unallocated {} {c}",
        amount(t.effective_cost),
        amount(t.billed_cost),
        share_pct(t.tag_coverage),
        amount(t.unallocated_cost)
    )];
    if let Some(d) = &r.latest_day {
        lines.push(format!(
            "*{}* {} {c}{}",
            d.date,
            amount(d.effective_cost),
            d.expected
                .map(|e| format!(
                    " vs {} usual on that weekday ({})",
                    amount(e),
                    change_pct(d.change_pct)
                ))
                .unwrap_or_default()
        ));
    }
    if let Some(m) = &r.month {
        lines.push(format!(
            "*{} so far* {} {c}, forecast for the month {} {c}",
            m.month,
            amount(m.month_to_date),
            amount(m.forecast)
        ));
    }
    for s in r.sources.iter().filter(|s| s.stale) {
        lines.push(format!(
            ":warning: source {} is stale since {}",
            mrkdwn(&s.source),
            mrkdwn(s.stale_since.as_deref().unwrap_or("?"))
        ));
    }
    lines.join("\n")
}

/// The budgets' standing, the crossings announced tonight, budgets not evaluated.
fn budgets(r: &Report) -> String {
    let mut lines = vec![format!("*Budgets* ({})", r.budget_summary())];
    let crossed = r.budget_alert_lines(mrkdwn);
    if crossed.is_empty() {
        lines.push("No threshold crossed since the last announcement.".into());
    }
    lines.extend(crossed.iter().map(|l| format!("• crossed: {l}")));
    for p in &r.budget_errors {
        let first = p.error.lines().next().unwrap_or_default();
        lines.push(format!("• not evaluated: {}", mrkdwn(first)));
    }
    lines.join("\n")
}

fn open_incidents(r: &Report) -> Vec<&Incident> {
    let mut open: Vec<&Incident> = r
        .incidents
        .iter()
        .filter(|i| i.status == Status::Open)
        .collect();
    open.sort_by(|a, b| b.impact.abs().total_cmp(&a.impact.abs()));
    open
}

/// The largest open incidents, one line each.
fn incidents(r: &Report) -> String {
    let open = open_incidents(r);
    let mut lines = vec![format!(
        "*Open incidents* ({} of {} in the period)",
        open.len(),
        r.incidents.len()
    )];
    for i in open.iter().take(INCIDENTS_SHOWN) {
        lines.push(format!(
            "• `{}` {} {} {} {}: {} {} vs {} expected ({}), {} day(s)",
            i.id,
            i.severity.name(),
            i.kind.name(),
            mrkdwn(&i.headline.dimension),
            mrkdwn(&i.headline.value),
            amount(i.actual),
            r.currency,
            amount(i.expected),
            change_pct(i.impact_pct),
            i.duration_days
        ));
    }
    if open.len() > INCIDENTS_SHOWN {
        lines.push(format!(
            "… and {} more (`spendlens anomalies`)",
            open.len() - INCIDENTS_SHOWN
        ));
    }
    lines.join("\n")
}

/// The digest as a JSON document for any webhook: the figures, budgets, crossings
/// announced tonight, open incidents and links, with the Markdown digest as `text`.
pub(crate) fn json(report: &Report, digest: &str, links: &[(&str, String)]) -> Value {
    let open: Vec<Value> = open_incidents(report)
        .into_iter()
        .map(|i| {
            json!({
                "id": i.id, "start": i.start, "end": i.end, "severity": i.severity.name(),
                "kind": i.kind.name(), "dimension": i.headline.dimension,
                "value": i.headline.value, "actual": i.actual, "expected": i.expected,
                "impact": i.impact, "impact_pct": i.impact_pct, "status": status_text(i),
            })
        })
        .collect();
    let budgets: Vec<Value> = report
        .budgets
        .iter()
        .map(|b| {
            json!({
                "name": b.name, "currency": b.currency, "period": b.period, "amount": b.amount,
                "spent": b.spent, "forecast": b.forecast, "used_pct": b.used_pct,
                "forecast_pct": b.forecast_pct, "status": b.status,
            })
        })
        .collect();
    json!({
        "schema_version": super::SCHEMA_VERSION,
        "kind": "spendlens.digest",
        "period": report.period,
        "currency": report.currency,
        "totals": report.totals,
        "budgets": budgets,
        "budget_alerts": report.budget_alerts,
        "budget_errors": report.budget_errors,
        "open_incidents": open,
        "stale_sources": report.sources.iter().filter(|s| s.stale).map(|s| &s.source).collect::<Vec<_>>(),
        "links": links.iter().map(|(label, url)| json!({"label": label, "url": url})).collect::<Vec<_>>(),
        "text": digest,
    })
}

//! Self-contained HTML: the report (server-rendered tables and an inline SVG chart, readable
//! with scripts off, e.g. in a mail client) and the dashboard (the report's daily rows as
//! embedded JSON, charted by an inlined script with date and team filters). Neither page
//! loads anything from the network. Every cloud-provided string is escaped.

use super::format::{amount, change_pct, html_text as esc};
use super::report::Report;
use std::fmt::Write as _;

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1000px;color:#1d232a;padding:0 12px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #dde;padding-bottom:4px}
table{border-collapse:collapse;width:100%;margin:8px 0}th,td{padding:4px 8px;border-bottom:1px solid #eef;text-align:left;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.kpis{display:flex;gap:12px;flex-wrap:wrap}.kpi{border:1px solid #dde;border-radius:6px;padding:8px 12px;min-width:180px}
.kpi b{display:block;font-size:19px}.warn{background:#fff4e5;border:1px solid #f0b35b;border-radius:6px;padding:8px 12px;margin:8px 0}
svg.chart{width:100%;height:auto}.grid{stroke:#e4e7ee}.axis{font-size:11px;fill:#667}
.anomaly-marker{fill:#d62728}.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px}
.swatch{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
.controls{display:flex;gap:16px;align-items:center;margin:12px 0}.muted{color:#667}
"#;

enum Cell {
    Text(String),
    Num(String),
}

fn text(s: impl AsRef<str>) -> Cell {
    Cell::Text(s.as_ref().to_string())
}

fn num(s: impl AsRef<str>) -> Cell {
    Cell::Num(s.as_ref().to_string())
}

fn table(out: &mut String, title: &str, head: &[&str], rows: Vec<Vec<Cell>>) {
    let _ = write!(out, "<h2>{}</h2>\n<table><thead><tr>", esc(title));
    for h in head {
        let class = if h.starts_with('#') {
            " class=\"num\""
        } else {
            ""
        };
        let _ = write!(out, "<th{class}>{}</th>", esc(h.trim_start_matches('#')));
    }
    out.push_str("</tr></thead><tbody>\n");
    if rows.is_empty() {
        let _ = writeln!(
            out,
            "<tr><td colspan=\"{}\" class=\"muted\">none</td></tr>",
            head.len()
        );
    }
    for row in rows {
        out.push_str("<tr>");
        for c in row {
            match c {
                Cell::Text(t) => {
                    let _ = write!(out, "<td>{}</td>", esc(&t));
                }
                Cell::Num(t) => {
                    let _ = write!(out, "<td class=\"num\">{}</td>", esc(&t));
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

fn page(title: &str, body: &str, script: Option<(&str, &str)>) -> String {
    let mut s = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n{body}",
        esc(title)
    );
    if let Some((json, js)) = script {
        let _ = write!(
            s,
            "<script type=\"application/json\" id=\"spendlens-data\">{json}</script>\n<script>{js}</script>\n"
        );
    }
    s.push_str("</body></html>\n");
    s
}

/// The headline numbers both pages open with.
fn kpis(r: &Report) -> String {
    let c = esc(&r.currency);
    let mut s = String::from("<div class=\"kpis\">");
    let _ = write!(
        s,
        "<div class=\"kpi\">{} to {}<b>{} {c}</b>tag coverage {}</div>",
        r.period.start,
        r.period.end,
        amount(r.totals.effective_cost),
        r.totals
            .tag_coverage
            .map(|v| format!("{:.1}%", v * 100.0))
            .unwrap_or_else(|| "—".into())
    );
    if let Some(d) = &r.latest_day {
        let _ = write!(
            s,
            "<div class=\"kpi\">{}<b>{} {c}</b>{}</div>",
            d.date,
            amount(d.effective_cost),
            match d.expected {
                Some(e) => format!("{} vs usual {} {c}", change_pct(d.change_pct), amount(e)),
                None => "no baseline yet".into(),
            }
        );
    }
    if let Some(m) = &r.month {
        let _ = write!(
            s,
            "<div class=\"kpi\">{} to date ({}/{} days)<b>{} {c}</b>forecast {} {c}</div>",
            esc(&m.month),
            m.days_elapsed,
            m.days_in_month,
            amount(m.month_to_date),
            amount(m.forecast)
        );
    }
    s.push_str("</div>\n");
    for src in r.sources.iter().filter(|s| s.stale) {
        let _ = writeln!(
            s,
            "<div class=\"warn\">Source <code>{}</code> is stale since {}{}{}</div>",
            esc(&src.source),
            esc(src.stale_since.as_deref().unwrap_or("?")),
            src.last_day
                .map(|d| format!("; its data ends {d}"))
                .unwrap_or_default(),
            src.error
                .as_deref()
                .map(|e| format!("; last error: {}", esc(e.lines().next().unwrap_or(e))))
                .unwrap_or_default()
        );
    }
    s
}

/// Inline SVG of the period's daily total, with anomaly days marked.
fn daily_chart(r: &Report) -> String {
    let days: Vec<chrono::NaiveDate> = r
        .period
        .start
        .iter_days()
        .take_while(|d| *d <= r.period.end)
        .collect();
    let mut totals = vec![0.0; days.len()];
    for row in &r.daily {
        let i = (row.date - r.period.start).num_days() as usize;
        if let Some(t) = totals.get_mut(i) {
            *t += row.effective_cost;
        }
    }
    let (w, h, left, bottom) = (960.0, 220.0, 64.0, 22.0);
    let max = totals.iter().copied().fold(0.0_f64, f64::max).max(1.0);
    let band = (w - left) / days.len().max(1) as f64;
    let y = |v: f64| 10.0 + (h - 10.0 - bottom) * (1.0 - v / max);
    let mut s = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"daily spend\">"
    );
    for f in [0.0, 0.5, 1.0] {
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{left}\" x2=\"{w}\" y1=\"{0:.1}\" y2=\"{0:.1}\"/><text class=\"axis\" x=\"{1}\" y=\"{2:.1}\" text-anchor=\"end\">{3}</text>",
            y(max * f),
            left - 6.0,
            y(max * f) + 4.0,
            amount(max * f)
        );
    }
    for (i, (d, v)) in days.iter().zip(&totals).enumerate() {
        let x = left + i as f64 * band;
        let _ = write!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#4e79a7\" data-date=\"{d}\" data-value=\"{v:.6}\"><title>{d}: {} {}</title></rect>",
            x + 0.5,
            y(*v),
            (band - 1.0).max(0.5),
            (y(0.0) - y(*v)).max(0.0),
            amount(*v),
            esc(&r.currency)
        );
        if i % days.len().div_ceil(8).max(1) == 0 {
            let _ = write!(
                s,
                "<text class=\"axis\" x=\"{x:.1}\" y=\"{:.1}\">{d}</text>",
                h - 4.0
            );
        }
    }
    for i in &r.incidents {
        let d = (i.start - r.period.start).num_days();
        if d < 0 || d as usize >= days.len() {
            continue;
        }
        let x = left + (d as f64 + 0.5) * band;
        let _ = write!(
            s,
            "<path class=\"anomaly-marker\" data-date=\"{}\" d=\"M{:.1} {:.1} L{:.1} {:.1} L{x:.1} {:.1} Z\"><title>{} {} {} {} {}: {}</title></path>",
            i.start,
            x - 6.0,
            h - bottom + 12.0,
            x + 6.0,
            h - bottom + 12.0,
            h - bottom + 2.0,
            i.id,
            i.kind.name(),
            esc(&i.headline.dimension),
            esc(&i.headline.value),
            esc(&super::report::status_text(i)),
            amount(i.impact)
        );
    }
    s.push_str("</svg>\n");
    s
}

impl Report {
    /// The report as one self-contained HTML page.
    pub(crate) fn to_html(&self) -> String {
        let mut b = format!(
            "<h1>spendlens report: {} to {}</h1>\n{}<h2>Daily spend</h2>\n{}",
            self.period.start,
            self.period.end,
            kpis(self),
            daily_chart(self)
        );
        self.html_teams(&mut b);
        self.html_anomalies(&mut b);
        self.html_budgets(&mut b);
        self.html_breakdowns(&mut b);
        self.html_unit_costs_and_sources(&mut b);
        page(
            &format!("spendlens {} to {}", self.period.start, self.period.end),
            &b,
            None,
        )
    }

    /// Spend by team and by team and feature.
    fn html_teams(&self, b: &mut String) {
        let c = self.currency.as_str();
        let cur = |label: &str| format!("#{label} {c}");
        table(
            b,
            "By team",
            &[
                "team",
                &cur("effective"),
                "#share",
                &cur("previous period"),
                "#change",
            ],
            self.by_team
                .iter()
                .map(|r| {
                    vec![
                        text(&r.team),
                        num(amount(r.effective_cost)),
                        num(r
                            .share
                            .map(|s| format!("{:.1}%", s * 100.0))
                            .unwrap_or_default()),
                        num(amount(r.previous_effective_cost)),
                        num(change_pct(r.change_pct)),
                    ]
                })
                .collect(),
        );
        table(
            b,
            "By team and feature",
            &[
                "team",
                "feature",
                &cur("effective"),
                &cur("previous period"),
                "#change",
            ],
            self.by_team_feature
                .iter()
                .map(|r| {
                    vec![
                        text(&r.team),
                        text(&r.feature),
                        num(amount(r.effective_cost)),
                        num(amount(r.previous_effective_cost)),
                        num(change_pct(r.change_pct)),
                    ]
                })
                .collect(),
        );
    }

    /// The 25 first incidents with their explanations.
    fn html_anomalies(&self, b: &mut String) {
        let c = self.currency.as_str();
        let cur = |label: &str| format!("#{label} {c}");
        table(
            b,
            "Incidents",
            &[
                "id",
                "start",
                "#days",
                "headline",
                "kind",
                "severity",
                "status",
                &cur("impact"),
                "#change",
                "why",
            ],
            self.incidents
                .iter()
                .take(25)
                .map(|i| {
                    vec![
                        text(&i.id),
                        text(i.start.to_string()),
                        num(i.duration_days.to_string()),
                        text(format!("{} {}", i.headline.dimension, i.headline.value)),
                        text(i.kind.name()),
                        text(i.severity.name()),
                        text(super::report::status_text(i)),
                        num(amount(i.impact)),
                        num(change_pct(i.impact_pct)),
                        text(super::report::incident_explanation(i)),
                    ]
                })
                .collect(),
        );
    }

    /// The budgets on the period's last day, each in its own currency, and those that
    /// could not be evaluated.
    fn html_budgets(&self, b: &mut String) {
        if self.budgets.is_empty() && self.budget_errors.is_empty() {
            return;
        }
        table(
            b,
            &format!("Budgets on {}", self.period.end),
            &[
                "budget",
                "selection",
                "period",
                "#amount",
                "#spent",
                "#used",
                "#forecast (80% interval)",
                "#forecast",
                "status",
                "thresholds",
                "#days left",
            ],
            self.budgets
                .iter()
                .map(|x| {
                    let crossed: Vec<String> = x
                        .crossed
                        .iter()
                        .map(|c| super::budgets::crossing_text(c.threshold, c.day, c.kind))
                        .collect();
                    vec![
                        text(&x.name),
                        text(super::budgets::selector_text(x)),
                        text(format!("{} to {}", x.period.start, x.period.end)),
                        num(format!("{} {}", amount(x.amount), x.currency)),
                        num(amount(x.spent)),
                        num(format!("{:.1}%", x.used_pct)),
                        num(format!(
                            "{} ({} – {})",
                            amount(x.forecast),
                            amount(x.forecast_low),
                            amount(x.forecast_high)
                        )),
                        num(format!("{:.1}%", x.forecast_pct)),
                        text(x.status.name()),
                        text(crossed.join("; ")),
                        num(x.days_left.to_string()),
                    ]
                })
                .collect(),
        );
        if !self.budget_errors.is_empty() {
            table(
                b,
                "Budgets not evaluated",
                &["budget", "error"],
                self.budget_errors
                    .iter()
                    .map(|p| vec![text(&p.name), text(&p.error)])
                    .collect(),
            );
        }
    }

    /// Spend by provider and model, and the top movers.
    fn html_breakdowns(&self, b: &mut String) {
        let c = self.currency.as_str();
        let cur = |label: &str| format!("#{label} {c}");
        table(
            b,
            "By provider",
            &["provider", &cur("effective"), &cur("billed")],
            self.by_provider
                .iter()
                .map(|r| {
                    vec![
                        text(&r.provider_name),
                        num(amount(r.effective_cost)),
                        num(amount(r.billed_cost)),
                    ]
                })
                .collect(),
        );
        table(
            b,
            "By model",
            &["model", &cur("effective")],
            self.by_model
                .iter()
                .map(|r| {
                    vec![
                        text(r.model.as_deref().unwrap_or("(no model)")),
                        num(amount(r.effective_cost)),
                    ]
                })
                .collect(),
        );
        table(
            b,
            &format!(
                "Top movers vs {} to {}",
                self.previous_period.start, self.previous_period.end
            ),
            &["dimension", "value", &cur("now"), &cur("before"), "#change"],
            self.top_movers
                .iter()
                .map(|m| {
                    vec![
                        text(&m.dimension),
                        text(&m.value),
                        num(amount(m.effective_cost)),
                        num(amount(m.previous_effective_cost)),
                        num(change_pct(m.change_pct)),
                    ]
                })
                .collect(),
        );
    }

    /// Unit costs, how spend was allocated, and the state of every source.
    fn html_unit_costs_and_sources(&self, b: &mut String) {
        let c = self.currency.as_str();
        let cur = |label: &str| format!("#{label} {c}");
        let price =
            |v: Option<f64>| num(v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "—".into()));
        table(
            b,
            "Unit costs",
            &[
                "team",
                "feature",
                "model",
                &cur(""),
                "#per 1K tokens",
                "#per request",
                "#trend (7 days)",
            ],
            self.unit_costs
                .iter()
                .take(20)
                .map(|u| {
                    vec![
                        text(&u.team),
                        text(&u.feature),
                        text(&u.model),
                        num(amount(u.effective_cost)),
                        price(u.per_1k_tokens),
                        price(u.per_request),
                        num(change_pct(u.per_1k_tokens_trend_pct)),
                    ]
                })
                .collect(),
        );
        table(
            b,
            "How spend was allocated",
            &["allocation", &cur("effective")],
            self.by_allocation
                .iter()
                .map(|r| vec![text(&r.allocation), num(amount(r.effective_cost))])
                .collect(),
        );
        table(
            b,
            "Sources",
            &[
                "source",
                "first day",
                "last day",
                "last collected",
                "status",
            ],
            self.sources
                .iter()
                .map(|s| {
                    vec![
                        text(&s.source),
                        text(s.first_day.map(|d| d.to_string()).unwrap_or_default()),
                        text(s.last_day.map(|d| d.to_string()).unwrap_or_default()),
                        text(s.last_success.as_deref().unwrap_or("—")),
                        text(if s.stale {
                            format!("stale since {}", s.stale_since.as_deref().unwrap_or("?"))
                        } else {
                            "ok".into()
                        }),
                    ]
                })
                .collect(),
        );
    }

    /// The interactive dashboard: one file, works from disk.
    pub(crate) fn to_dashboard(&self) -> String {
        #[derive(serde::Serialize)]
        struct Data<'a> {
            period: &'a super::report::Period,
            currency: &'a str,
            daily: &'a [super::report::DailyRow],
            incidents: &'a [crate::analyse::anomalies::Incident],
            unit_costs: &'a [crate::analyse::advise::UnitCost],
            budgets: &'a [crate::analyse::budgets::BudgetStatus],
        }
        let json = serde_json::to_string(&Data {
            period: &self.period,
            currency: &self.currency,
            daily: &self.daily,
            incidents: &self.incidents,
            unit_costs: &self.unit_costs,
            budgets: &self.budgets,
        })
        .expect("dashboard data serialises")
        // Nothing in the data can close the script element or start markup.
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
        let body = format!(
            "<h1>spendlens dashboard</h1>\n{}\
             <div class=\"controls\"><label>from <input type=\"date\" id=\"from\"></label>\
             <label>to <input type=\"date\" id=\"to\"></label>\
             <label>team <select id=\"team\"><option value=\"\">all teams</option></select></label></div>\n\
             <p id=\"summary\"></p>\n\
             <h2>Spend by provider</h2><div id=\"chart-provider\"></div>\n\
             <h2>Spend by team</h2><div id=\"chart-team\"></div>\n\
             <h2>Spend by model</h2><div id=\"chart-model\"></div>\n\
             <h2>Team × feature</h2><table id=\"team-feature\"></table>\n\
             <h2>Unit costs</h2><table id=\"unit-costs\"></table>\n\
             <h2>Incidents</h2><table id=\"anomalies\"></table>\n\
             <h2>Budgets</h2><div id=\"budgets\"></div>\n\
             <p class=\"muted\">Red markers on the timelines are the days incidents started (of the selected team, when one is). \
             Filters are kept in the address (#from=…&amp;to=…&amp;team=…).</p>\n",
            kpis(self)
        );
        page(
            &format!(
                "spendlens dashboard {} to {}",
                self.period.start, self.period.end
            ),
            &body,
            Some((&json, include_str!("dashboard.js"))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<script>alert("x")</script>&'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
    }
}

//! The report as Markdown: the full report and the short digest for chat and e-mail.

use super::*;
use crate::output::format::{amount, change_pct, markdown_cell, share_pct};
use std::fmt::Write as _;

impl Report {
    /// The full report as Markdown.
    pub(crate) fn to_markdown(&self) -> String {
        let mut s = String::new();
        self.markdown_headline(&mut s);
        self.markdown_breakdowns(&mut s);
        self.markdown_movers_and_unit_costs(&mut s);
        self.markdown_anomalies(&mut s);
        self.markdown_budgets(&mut s);
        s
    }

    /// The budgets' table, the crossings this run announces, and budgets not evaluated.
    fn markdown_budgets(&self, s: &mut String) {
        if self.budgets.is_empty() && self.budget_errors.is_empty() {
            return;
        }
        let at = self.period.end;
        let _ = writeln!(*s, "\n## Budgets on {at}\n");
        if !self.budgets.is_empty() {
            s.push_str(&crate::output::budgets::table(&self.budgets));
        }
        if !self.budget_alerts.is_empty() {
            let _ = writeln!(*s, "\nCrossed since the last announcement:\n");
            for line in self.budget_alert_lines(markdown_cell) {
                let _ = writeln!(*s, "- {line}");
            }
        }
        self.markdown_budget_errors(s);
    }

    fn markdown_budget_errors(&self, s: &mut String) {
        if self.budget_errors.is_empty() {
            return;
        }
        let _ = writeln!(*s, "\nNot evaluated:\n");
        for p in &self.budget_errors {
            let first = p.error.lines().next().unwrap_or_default();
            let _ = writeln!(*s, "- {}", markdown_cell(first));
        }
    }

    /// One line per budget with crossings announced by this run: which thresholds, and
    /// where the budget stands; its name through `escape` (Markdown or Slack's mrkdwn).
    pub(crate) fn budget_alert_lines(&self, escape: fn(&str) -> String) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        let mut budgets: Vec<&str> = self
            .budget_alerts
            .iter()
            .map(|a| a.budget.as_str())
            .collect();
        budgets.dedup();
        for name in budgets {
            let alerts: Vec<_> = self
                .budget_alerts
                .iter()
                .filter(|a| a.budget == name)
                .collect();
            let first = alerts[0];
            let what: Vec<String> = alerts
                .iter()
                .map(|a| crate::output::budgets::crossing_text(a.threshold, a.day, a.kind))
                .collect();
            lines.push(format!(
                "{}: {} — {} of {} {} spent, {} forecast by {} ({})",
                escape(name),
                what.join("; "),
                amount(first.spent),
                amount(first.amount),
                first.currency,
                amount(first.forecast),
                first.period.end,
                first.status.name()
            ));
        }
        lines
    }

    /// `4 budget(s): 1 over, 1 forecast over, 2 ok`.
    pub(crate) fn budget_summary(&self) -> String {
        use crate::analyse::budgets::BudgetState;
        let count = |state| self.budgets.iter().filter(|b| b.status == state).count();
        let parts: Vec<String> = [
            BudgetState::Over,
            BudgetState::ForecastOver,
            BudgetState::Warning,
            BudgetState::Ok,
        ]
        .into_iter()
        .filter(|st| count(*st) > 0)
        .map(|st| format!("{} {}", count(st), st.name().replace('_', " ")))
        .collect();
        let mut text = format!("{} budget(s): {}", self.budgets.len(), parts.join(", "));
        if !self.budget_errors.is_empty() {
            text.push_str(&format!(", {} not evaluated", self.budget_errors.len()));
        }
        text
    }

    /// Title, totals, the latest day, the month so far and stale sources.
    fn markdown_headline(&self, s: &mut String) {
        let c = &self.currency;
        let t = &self.totals;
        let _ = writeln!(
            *s,
            "# spendlens report: {} to {}\n",
            self.period.start, self.period.end
        );
        let _ = writeln!(
            *s,
            "Effective cost **{} {c}** (billed {} {c}); allocated {} {c}, unallocated {} {c}; tag coverage **{}**.\n",
            amount(t.effective_cost),
            amount(t.billed_cost),
            amount(t.allocated_cost),
            amount(t.unallocated_cost),
            share_pct(t.tag_coverage)
        );
        if let Some(d) = &self.latest_day {
            let _ = writeln!(
                *s,
                "- **{}**: {} {c}{}; trailing 7-day average {} {c}.",
                d.date,
                amount(d.effective_cost),
                match (d.expected, d.change_pct) {
                    (Some(e), Some(p)) => format!(
                        " ({:+.1}% vs the usual {} {c} on that weekday)",
                        p * 100.0,
                        amount(e)
                    ),
                    (Some(e), None) => format!(" (usually {} {c} on that weekday)", amount(e)),
                    _ => String::new(),
                },
                amount(d.trailing_7_day_average)
            );
        }
        if let Some(m) = &self.month {
            let _ = writeln!(
                *s,
                "- **{}** to date ({} of {} days): {} {c}; forecast for the month **{} {c}**{}.",
                m.month,
                m.days_elapsed,
                m.days_in_month,
                amount(m.month_to_date),
                amount(m.forecast),
                m.previous_month
                    .map(|p| format!(" (previous month {} {c})", amount(p)))
                    .unwrap_or_default()
            );
        }
        for src in self.sources.iter().filter(|x| x.stale) {
            let _ = writeln!(
                *s,
                "- ⚠ source {} is **stale** since {}{}{}.",
                markdown_cell(&src.source),
                markdown_cell(src.stale_since.as_deref().unwrap_or("?")),
                src.last_day
                    .map(|d| format!("; its data ends {d}"))
                    .unwrap_or_default(),
                src.error
                    .as_deref()
                    .map(|e| format!(
                        "; last error: {}",
                        markdown_cell(e.lines().next().unwrap_or(e))
                    ))
                    .unwrap_or_default()
            );
        }
        let differing = self.reconciliation.iter().filter(|r| !r.ok).count();
        if differing > 0 {
            let _ = writeln!(
                *s,
                "- ⚠ **{differing} source billing period(s) do not reconcile**: what is stored differs from what the source said by more than 0.01; run `spendlens reconcile` for the day."
            );
        }
        for v in &self.cost_views {
            let _ = writeln!(
                *s,
                "- ⚠ {} {}: only the {} cost view is stored, the {} view is missing; {}.",
                markdown_cell(&v.source),
                v.month,
                v.present,
                v.missing,
                v.used_instead
            );
        }
        if self.latest_day.is_some() || self.month.is_some() {
            s.push('\n');
        }
    }

    /// Spend by provider, team, team and feature, model and allocation.
    fn markdown_breakdowns(&self, s: &mut String) {
        let c = &self.currency;
        let _ = writeln!(
            *s,
            "## By provider\n\n| provider | effective {c} | billed {c} |\n|---|---:|---:|"
        );
        for r in &self.by_provider {
            let _ = writeln!(
                *s,
                "| {} | {} | {} |",
                markdown_cell(&r.provider_name),
                amount(r.effective_cost),
                amount(r.billed_cost)
            );
        }
        let _ = writeln!(
            *s,
            "\n## By team\n\n| team | effective {c} | share | previous period {c} | change |\n|---|---:|---:|---:|---:|"
        );
        for r in &self.by_team {
            let _ = writeln!(
                *s,
                "| {} | {} | {} | {} | {} |",
                markdown_cell(&r.team),
                amount(r.effective_cost),
                share_pct(r.share),
                amount(r.previous_effective_cost),
                change_pct(r.change_pct)
            );
        }
        let _ = writeln!(
            *s,
            "\n## By team and feature\n\n| team | feature | effective {c} | previous period {c} | change |\n|---|---|---:|---:|---:|"
        );
        for r in &self.by_team_feature {
            let _ = writeln!(
                *s,
                "| {} | {} | {} | {} | {} |",
                markdown_cell(&r.team),
                markdown_cell(&r.feature),
                amount(r.effective_cost),
                amount(r.previous_effective_cost),
                change_pct(r.change_pct)
            );
        }
        let _ = writeln!(*s, "\n## By model\n\n| model | effective {c} |\n|---|---:|");
        for r in &self.by_model {
            let _ = writeln!(
                *s,
                "| {} | {} |",
                markdown_cell(r.model.as_deref().unwrap_or("(no model)")),
                amount(r.effective_cost)
            );
        }
        let _ = writeln!(
            *s,
            "\n## How spend was allocated\n\n| allocation | effective {c} |\n|---|---:|"
        );
        for r in &self.by_allocation {
            let _ = writeln!(
                *s,
                "| {} | {} |",
                markdown_cell(&r.allocation),
                amount(r.effective_cost)
            );
        }
    }

    /// Top movers against the previous period, and the largest unit costs.
    fn markdown_movers_and_unit_costs(&self, s: &mut String) {
        let c = &self.currency;
        let _ = writeln!(
            *s,
            "\n## Top movers vs {} to {}\n\n| dimension | value | now {c} | before {c} | change {c} | change |\n|---|---|---:|---:|---:|---:|",
            self.previous_period.start, self.previous_period.end
        );
        if self.top_movers.is_empty() {
            let _ = writeln!(
                *s,
                "| — | no previous data: the store holds no spend from {} to {} | | | | |",
                self.previous_period.start, self.previous_period.end
            );
        }
        for m in &self.top_movers {
            let _ = writeln!(
                *s,
                "| {} | {} | {} | {} | {} | {} |",
                m.dimension,
                markdown_cell(&m.value),
                amount(m.effective_cost),
                amount(m.previous_effective_cost),
                amount(m.change),
                change_pct(m.change_pct)
            );
        }
        let _ = writeln!(
            *s,
            "\n## Unit costs\n\n| team | feature | model | {c} | per 1K tokens | per 1K input | per 1K output | per request | trend (last 7 days) |\n|---|---|---|---:|---:|---:|---:|---:|---:|"
        );
        let price = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "—".into());
        for u in self.unit_costs.iter().take(10) {
            let _ = writeln!(
                *s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                markdown_cell(&u.team),
                markdown_cell(&u.feature),
                markdown_cell(&u.model),
                amount(u.effective_cost),
                price(u.per_1k_tokens),
                price(u.per_1k_input_tokens),
                price(u.per_1k_output_tokens),
                price(u.per_request),
                u.per_1k_tokens_trend_pct
                    .map(|p| format!("{:+.1}%", p * 100.0))
                    .unwrap_or_else(|| "—".into())
            );
        }
    }

    /// The incidents, open ones first, largest first, with their explanations.
    fn markdown_anomalies(&self, s: &mut String) {
        let c = &self.currency;
        let _ = writeln!(*s, "\n## Incidents\n");
        if self.incidents.is_empty() {
            let _ = writeln!(*s, "None flagged.");
            return;
        }
        let open = self.open_incidents().count();
        let shown = self.incidents.len().min(15);
        let _ = writeln!(
            *s,
            "{} incident(s), {open} open ({} flagged series){}.\n\n| id | start | days | headline | kind | severity | status | actual {c} | expected {c} | impact {c} | change | why |\n|---|---|---:|---|---|---|---|---:|---:|---:|---:|---|",
            self.incidents.len(),
            self.anomalies.len(),
            if shown < self.incidents.len() { format!(", the {shown} largest shown") } else { String::new() }
        );
        for i in self.largest_incidents().into_iter().take(shown) {
            let _ = writeln!(
                *s,
                "| {} | {} | {} | {} {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                i.id,
                i.start,
                i.duration_days,
                i.headline.dimension,
                markdown_cell(&i.headline.value),
                i.kind.name(),
                i.severity.name(),
                status_text(i),
                amount(i.actual),
                amount(i.expected),
                amount(i.impact),
                change_pct(i.impact_pct),
                markdown_cell(&incident_explanation(i)),
            );
        }
    }

    fn open_incidents(&self) -> impl Iterator<Item = &anomalies::Incident> {
        self.incidents
            .iter()
            .filter(|i| i.status == anomalies::Status::Open)
    }

    /// Open incidents first, then by the money they moved.
    fn largest_incidents(&self) -> Vec<&anomalies::Incident> {
        let mut largest: Vec<&anomalies::Incident> = self.incidents.iter().collect();
        largest.sort_by(|a, b| {
            (a.status != anomalies::Status::Open)
                .cmp(&(b.status != anomalies::Status::Open))
                .then(b.impact.abs().total_cmp(&a.impact.abs()))
                .then(b.start.cmp(&a.start))
        });
        largest
    }

    /// A short Markdown digest for chat and e-mail: the headline numbers, teams that moved,
    /// the largest anomalies with their causes, stale sources.
    pub(crate) fn to_digest(&self) -> String {
        let full = self.to_markdown();
        // The headline is the report's opening (title, totals, latest day, month, stale).
        let head = full.split("\n## ").next().unwrap_or("").trim_end();
        let c = &self.currency;
        let mut s = format!("{head}\n");
        let mut teams: Vec<&TeamRow> = self.by_team.iter().collect();
        teams.sort_by(|a, b| {
            (b.effective_cost - b.previous_effective_cost)
                .abs()
                .total_cmp(&(a.effective_cost - a.previous_effective_cost).abs())
        });
        let _ = writeln!(s, "\n*Teams that moved most (vs the previous period)*");
        for t in teams.iter().take(5) {
            let _ = writeln!(
                s,
                "- {}: {} {c} ({})",
                markdown_cell(&t.team),
                amount(t.effective_cost),
                change_pct(t.change_pct)
            );
        }
        let _ = writeln!(
            s,
            "\n*Incidents* ({} in the period, {} open)",
            self.incidents.len(),
            self.open_incidents().count()
        );
        for i in self.largest_incidents().into_iter().take(5) {
            let _ = writeln!(
                s,
                "- {} {} {} {} {} {} ({}): {} {c} vs {} expected ({}); {}",
                i.id,
                i.severity.name(),
                i.kind.name(),
                i.headline.dimension,
                markdown_cell(&i.headline.value),
                status_text(i),
                if i.duration_days > 1 {
                    format!("{} days", i.duration_days)
                } else {
                    "1 day".into()
                },
                amount(i.actual),
                amount(i.expected),
                change_pct(i.impact_pct),
                markdown_cell(&incident_explanation(i))
            );
        }
        self.digest_budgets(&mut s);
        s
    }

    /// The budgets' standing and the crossings this run announces, for the digest.
    fn digest_budgets(&self, s: &mut String) {
        if self.budgets.is_empty() && self.budget_errors.is_empty() {
            return;
        }
        let _ = writeln!(*s, "\n*Budgets* ({})", self.budget_summary());
        for line in self.budget_alert_lines(markdown_cell) {
            let _ = writeln!(*s, "- crossed: {line}");
        }
        for p in &self.budget_errors {
            let first = p.error.lines().next().unwrap_or_default();
            let _ = writeln!(*s, "- not evaluated: {}", markdown_cell(first));
        }
    }
}

/// `open`, or `acked (verdict: note)`.
pub(crate) fn status_text(i: &anomalies::Incident) -> String {
    match &i.acknowledgement {
        Some(a) if i.status == anomalies::Status::Acked => match &a.note {
            Some(note) => format!("acked ({}: {note})", a.verdict.name()),
            None => format!("acked ({})", a.verdict.name()),
        },
        _ => "open".into(),
    }
}

//! The report as CSV: one table of every section's rows.

use super::*;
use crate::output::format::csv_cell;
use std::fmt::Write as _;

impl Report {
    /// CSV: one line per rollup row, `section` saying which rollup.
    pub(crate) fn to_csv(&self) -> String {
        let mut s = String::from(
            "section,provider_name,team,feature,model,allocation,effective_cost,currency\n",
        );
        let mut line = |section: &str, p: &str, t: &str, f: &str, m: &str, a: &str, v: f64| {
            let cells = [section, p, t, f, m, a].map(csv_cell);
            let _ = writeln!(s, "{},{},{}", cells.join(","), v, csv_cell(&self.currency));
        };
        line("total", "", "", "", "", "", self.totals.effective_cost);
        line("allocated", "", "", "", "", "", self.totals.allocated_cost);
        line(
            "unallocated",
            "",
            "",
            "",
            "",
            "",
            self.totals.unallocated_cost,
        );
        for r in &self.by_provider {
            line(
                "provider",
                &r.provider_name,
                "",
                "",
                "",
                "",
                r.effective_cost,
            );
        }
        for r in &self.by_team {
            line("team", "", &r.team, "", "", "", r.effective_cost);
        }
        for r in &self.by_team_feature {
            line(
                "team_feature",
                "",
                &r.team,
                &r.feature,
                "",
                "",
                r.effective_cost,
            );
        }
        for r in &self.by_model {
            line(
                "model",
                "",
                "",
                "",
                r.model.as_deref().unwrap_or(""),
                "",
                r.effective_cost,
            );
        }
        for r in &self.by_allocation {
            line(
                "allocation",
                "",
                "",
                "",
                "",
                &r.allocation,
                r.effective_cost,
            );
        }
        s
    }
}

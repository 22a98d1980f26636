//! The spend report: totals, tag coverage, spend by provider / team / team×feature / model /
//! allocation method, and top movers against the previous period of the same length.
//!
//! Built from the attributed cost lake; written as Markdown (a digest that fits Slack or
//! e-mail), JSON (the contract other tools read: `schema_version` says which) or CSV.
//! Money is never summed across currencies: a report is in exactly one currency.

use crate::analyse::{self, anomalies, Dimension};
use crate::attribute::{Attributor, UNALLOCATED};
use crate::config::AnomalyConfig;
use crate::store::Store;
use chrono::{Duration, NaiveDate};
use polars::prelude::*;
use serde::Serialize;
use std::fmt::Write as _;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Analyse(#[from] crate::analyse::AnalyseError),
    #[error("report query failed: {0}")]
    Polars(#[from] PolarsError),
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Period {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Period {
    fn days(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }
    fn previous(&self) -> Period {
        let len = Duration::days(self.days());
        Period {
            start: self.start - len,
            end: self.end - len,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    pub effective_cost: f64,
    pub billed_cost: f64,
    pub allocated_cost: f64,
    pub unallocated_cost: f64,
    /// Allocated share of effective cost (0..1); null when the total is not positive.
    pub tag_coverage: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProviderRow {
    pub provider_name: String,
    pub effective_cost: f64,
    pub billed_cost: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TeamRow {
    pub team: String,
    pub effective_cost: f64,
    pub share: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TeamFeatureRow {
    pub team: String,
    pub feature: String,
    pub effective_cost: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelRow {
    pub model: Option<String>,
    pub effective_cost: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AllocationRow {
    pub allocation: String,
    pub effective_cost: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mover {
    pub dimension: String,
    pub value: String,
    pub effective_cost: f64,
    pub previous_effective_cost: f64,
    pub change: f64,
    /// Null when the previous period had no spend (new spend).
    pub change_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub period: Period,
    pub previous_period: Period,
    pub currency: String,
    pub totals: Totals,
    pub by_provider: Vec<ProviderRow>,
    pub by_team: Vec<TeamRow>,
    pub by_team_feature: Vec<TeamFeatureRow>,
    pub by_model: Vec<ModelRow>,
    pub by_allocation: Vec<AllocationRow>,
    pub top_movers: Vec<Mover>,
    /// Cost per 1K tokens (and per request where usage records count requests) by team,
    /// feature and model, with the trend of the period's last week.
    pub unit_costs: Vec<analyse::advise::UnitCost>,
    /// Anomalies on the period's days, most recent and largest first.
    pub anomalies: Vec<anomalies::Anomaly>,
}

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    pub anomalies: AnomalyConfig,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub currency: Option<String>,
    pub top: usize,
}

/// Money rounded to 1e-6 so JSON carries no float noise; sums are taken before rounding.
fn money(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

fn in_period(p: &Period) -> Expr {
    analyse::between(p.start, p.end)
}

fn strings(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<String>>> {
    Ok(df
        .column(name)?
        .str()?
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

fn floats(df: &DataFrame, name: &str) -> PolarsResult<Vec<f64>> {
    Ok(df
        .column(name)?
        .f64()?
        .iter()
        .map(|v| v.unwrap_or(0.0))
        .collect())
}

/// Sum effective cost by `keys`, largest first (ties by key, so output is stable).
fn rollup(lf: &LazyFrame, keys: &[&str]) -> PolarsResult<DataFrame> {
    let mut sort_cols = vec!["effective_cost".to_string()];
    sort_cols.extend(keys.iter().map(|k| k.to_string()));
    let mut desc = vec![true];
    desc.extend(keys.iter().map(|_| false));
    lf.clone()
        .group_by(keys.iter().map(|k| col(*k)).collect::<Vec<_>>())
        .agg([col("effective_cost").sum(), col("billed_cost").sum()])
        .sort(
            sort_cols,
            SortMultipleOptions::default()
                .with_order_descending_multi(desc)
                .with_nulls_last(true),
        )
        .collect()
}

/// Build the report from the store.
pub fn build(
    store: &Store,
    attributor: &Attributor,
    opts: &ReportOptions,
) -> Result<Report, ReportError> {
    let window = analyse::load_window(
        store,
        attributor,
        opts.from,
        opts.to,
        opts.currency.as_deref(),
        // The previous period for movers, and a baseline's history before that.
        (opts.to.unwrap_or(NaiveDate::MAX) - opts.from.unwrap_or(NaiveDate::MIN))
            .num_days()
            .clamp(0, 3660)
            + 1
            + analyse::HISTORY_DAYS,
    )?;
    let period = Period {
        start: window.start,
        end: window.end,
    };
    let previous = period.previous();
    let currency = window.currency.clone();
    let anomaly_frame = anomalies::Frame::new(window.frame.clone())?;
    let usage = analyse::load_usage(store, attributor, period.start, period.end)?;
    let unit_costs =
        analyse::advise::unit_costs(&window.frame, usage.as_ref(), period.start, period.end)?;
    let attributed = window.frame.lazy();
    let current = attributed.clone().filter(in_period(&period));
    let prior = attributed.filter(in_period(&previous));

    let totals_df = current
        .clone()
        .select([
            col("effective_cost").sum().alias("effective_cost"),
            col("billed_cost").sum().alias("billed_cost"),
            col("effective_cost")
                .filter(col("team").neq(lit(UNALLOCATED)))
                .sum()
                .alias("allocated_cost"),
            col("effective_cost")
                .filter(col("team").eq(lit(UNALLOCATED)))
                .sum()
                .alias("unallocated_cost"),
        ])
        .collect()?;
    let get =
        |n: &str| -> PolarsResult<f64> { Ok(totals_df.column(n)?.f64()?.get(0).unwrap_or(0.0)) };
    let effective = get("effective_cost")?;
    let allocated = get("allocated_cost")?;
    let totals = Totals {
        effective_cost: money(effective),
        billed_cost: money(get("billed_cost")?),
        allocated_cost: money(allocated),
        unallocated_cost: money(get("unallocated_cost")?),
        tag_coverage: (effective > 0.0).then(|| (allocated / effective * 1e4).round() / 1e4),
    };

    let df = rollup(&current, &["provider_name"])?;
    let by_provider = strings(&df, "provider_name")?
        .into_iter()
        .zip(floats(&df, "effective_cost")?)
        .zip(floats(&df, "billed_cost")?)
        .map(|((p, e), b)| ProviderRow {
            provider_name: p.unwrap_or_default(),
            effective_cost: money(e),
            billed_cost: money(b),
        })
        .collect();
    let df = rollup(&current, &["team"])?;
    let by_team = strings(&df, "team")?
        .into_iter()
        .zip(floats(&df, "effective_cost")?)
        .map(|(t, e)| TeamRow {
            team: t.unwrap_or_default(),
            effective_cost: money(e),
            share: (effective > 0.0).then(|| (e / effective * 1e4).round() / 1e4),
        })
        .collect();
    let df = rollup(&current, &["team", "feature"])?;
    let by_team_feature = strings(&df, "team")?
        .into_iter()
        .zip(strings(&df, "feature")?)
        .zip(floats(&df, "effective_cost")?)
        .map(|((t, f), e)| TeamFeatureRow {
            team: t.unwrap_or_default(),
            feature: f.unwrap_or_default(),
            effective_cost: money(e),
        })
        .collect();
    let df = rollup(&current, &["model"])?;
    let by_model = strings(&df, "model")?
        .into_iter()
        .zip(floats(&df, "effective_cost")?)
        .map(|(m, e)| ModelRow {
            model: m,
            effective_cost: money(e),
        })
        .collect();
    let df = rollup(&current, &["allocation"])?;
    let by_allocation = strings(&df, "allocation")?
        .into_iter()
        .zip(floats(&df, "effective_cost")?)
        .map(|(a, e)| AllocationRow {
            allocation: a.unwrap_or_default(),
            effective_cost: money(e),
        })
        .collect();

    let top_movers = movers(&current, &prior, opts.top.max(1))?;
    let (period_start, period_end) = (period.start, period.end);
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        period,
        previous_period: previous,
        currency,
        totals,
        by_provider,
        by_team,
        by_team_feature,
        by_model,
        by_allocation,
        top_movers,
        unit_costs,
        anomalies: match anomaly_frame {
            Some(frame) => anomalies::detect(
                &frame,
                Dimension::DETECTED,
                period_start,
                period_end,
                &opts.anomalies,
            )?,
            None => Vec::new(),
        },
    })
}

/// Largest absolute changes in effective cost against the previous period, across the
/// provider, team, team/feature and model dimensions.
fn movers(current: &LazyFrame, prior: &LazyFrame, top: usize) -> PolarsResult<Vec<Mover>> {
    let dims: [(&str, Expr); 4] = [
        ("provider", col("provider_name")),
        ("team", col("team")),
        (
            "team/feature",
            concat_str([col("team"), col("feature")], "/", false),
        ),
        ("model", col("model").fill_null(lit("(no model)"))),
    ];
    let mut out = Vec::new();
    for (name, key) in dims {
        let agg = |lf: &LazyFrame, alias: &str| {
            lf.clone()
                .group_by([key.clone().alias("value")])
                .agg([col("effective_cost").sum().alias(alias)])
        };
        let joined = agg(current, "now")
            .join(
                agg(prior, "before"),
                [col("value")],
                [col("value")],
                JoinArgs::new(JoinType::Full).with_coalesce(JoinCoalesce::CoalesceColumns),
            )
            .with_columns([
                col("now").fill_null(lit(0.0)),
                col("before").fill_null(lit(0.0)),
            ])
            .collect()?;
        for ((v, now), before) in strings(&joined, "value")?
            .into_iter()
            .zip(floats(&joined, "now")?)
            .zip(floats(&joined, "before")?)
        {
            let change = now - before;
            if change.abs() < 0.005 {
                continue;
            }
            out.push(Mover {
                dimension: name.to_string(),
                value: v.unwrap_or_default(),
                effective_cost: money(now),
                previous_effective_cost: money(before),
                change: money(change),
                change_pct: (before.abs() > 1e-9).then(|| (change / before * 1e4).round() / 1e4),
            });
        }
    }
    out.sort_by(|a, b| {
        b.change
            .abs()
            .total_cmp(&a.change.abs())
            .then_with(|| a.dimension.cmp(&b.dimension))
            .then_with(|| a.value.cmp(&b.value))
    });
    out.truncate(top);
    Ok(out)
}

/// One line saying why: the top root causes, the decomposition, and any cross-series note.
pub fn explanation(a: &anomalies::Anomaly) -> String {
    let mut parts: Vec<String> = a
        .root_causes
        .iter()
        .take(2)
        .map(|r| format!("{} {} {:+.2}", r.dimension, r.value, r.impact))
        .collect();
    if let Some(d) = &a.decomposition {
        parts.push(format!(
            "volume {:+.2}, mix {:+.2}, rate {:+.2}, other {:+.2}",
            d.volume, d.mix, d.rate, d.other
        ));
    }
    if let Some(n) = &a.note {
        parts.push(n.clone());
    }
    parts.join("; ")
}

/// Escape a cloud-provided string for a Markdown table cell.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

fn amount(v: f64) -> String {
    let neg = v < 0.0;
    let cents = (v.abs() * 100.0).round() as u64;
    let (whole, frac) = (cents / 100, cents % 100);
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{}{grouped}.{frac:02}", if neg { "-" } else { "" })
}

fn pct(v: Option<f64>) -> String {
    match v {
        Some(v) => format!("{:.1}%", v * 100.0),
        None => "—".into(),
    }
}

impl Report {
    /// Markdown digest.
    pub fn to_markdown(&self) -> String {
        let c = &self.currency;
        let t = &self.totals;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# spendlens report: {} to {}\n",
            self.period.start, self.period.end
        );
        let _ = writeln!(
            s,
            "Effective cost **{} {c}** (billed {} {c}); allocated {} {c}, unallocated {} {c}; tag coverage **{}**.\n",
            amount(t.effective_cost),
            amount(t.billed_cost),
            amount(t.allocated_cost),
            amount(t.unallocated_cost),
            pct(t.tag_coverage)
        );
        let _ = writeln!(
            s,
            "## By provider\n\n| provider | effective {c} | billed {c} |\n|---|---:|---:|"
        );
        for r in &self.by_provider {
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                md(&r.provider_name),
                amount(r.effective_cost),
                amount(r.billed_cost)
            );
        }
        let _ = writeln!(
            s,
            "\n## By team\n\n| team | effective {c} | share |\n|---|---:|---:|"
        );
        for r in &self.by_team {
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                md(&r.team),
                amount(r.effective_cost),
                pct(r.share)
            );
        }
        let _ = writeln!(
            s,
            "\n## By team and feature\n\n| team | feature | effective {c} |\n|---|---|---:|"
        );
        for r in &self.by_team_feature {
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                md(&r.team),
                md(&r.feature),
                amount(r.effective_cost)
            );
        }
        let _ = writeln!(s, "\n## By model\n\n| model | effective {c} |\n|---|---:|");
        for r in &self.by_model {
            let _ = writeln!(
                s,
                "| {} | {} |",
                md(r.model.as_deref().unwrap_or("(no model)")),
                amount(r.effective_cost)
            );
        }
        let _ = writeln!(
            s,
            "\n## How spend was allocated\n\n| allocation | effective {c} |\n|---|---:|"
        );
        for r in &self.by_allocation {
            let _ = writeln!(
                s,
                "| {} | {} |",
                md(&r.allocation),
                amount(r.effective_cost)
            );
        }
        let _ = writeln!(
            s,
            "\n## Top movers vs {} to {}\n\n| dimension | value | now {c} | before {c} | change {c} | change |\n|---|---|---:|---:|---:|---:|",
            self.previous_period.start, self.previous_period.end
        );
        for m in &self.top_movers {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                m.dimension,
                md(&m.value),
                amount(m.effective_cost),
                amount(m.previous_effective_cost),
                amount(m.change),
                m.change_pct
                    .map(|p| format!("{:+.1}%", p * 100.0))
                    .unwrap_or_else(|| "new".into())
            );
        }
        let _ = writeln!(
            s,
            "\n## Unit costs\n\n| team | feature | model | {c} | per 1K tokens | per 1K input | per 1K output | per request | trend (last 7 days) |\n|---|---|---|---:|---:|---:|---:|---:|---:|"
        );
        let price = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "—".into());
        for u in self.unit_costs.iter().take(10) {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                md(&u.team),
                md(&u.feature),
                md(&u.model),
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
        let _ = writeln!(s, "\n## Anomalies\n");
        if self.anomalies.is_empty() {
            let _ = writeln!(s, "None flagged.");
        } else {
            let shown = self.anomalies.len().min(15);
            let _ = writeln!(
                s,
                "{} flagged{}.\n\n| date | dimension | value | kind | severity | actual {c} | expected {c} | impact {c} | change | why |\n|---|---|---|---|---|---:|---:|---:|---:|---|",
                self.anomalies.len(),
                if shown < self.anomalies.len() { format!(", the {shown} largest shown") } else { String::new() }
            );
            let mut largest: Vec<&anomalies::Anomaly> = self.anomalies.iter().collect();
            largest.sort_by(|a, b| {
                b.impact
                    .abs()
                    .total_cmp(&a.impact.abs())
                    .then(b.date.cmp(&a.date))
            });
            for a in largest.into_iter().take(shown) {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    a.date,
                    a.dimension,
                    md(&a.value),
                    a.kind.name(),
                    a.severity.name(),
                    amount(a.actual),
                    amount(a.expected),
                    amount(a.impact),
                    a.impact_pct
                        .map(|p| format!("{:+.1}%", p * 100.0))
                        .unwrap_or_else(|| "new".into()),
                    md(&explanation(a)),
                );
            }
        }
        s
    }

    /// JSON (the stable contract; see `schema_version`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises")
    }

    /// CSV: one line per rollup row, `section` saying which rollup.
    pub fn to_csv(&self) -> String {
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

/// Quote a CSV cell when needed; neutralise leading formula characters for spreadsheets.
fn csv_cell(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@']) && v.parse::<f64>().is_err() {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_group_thousands_and_round_to_cents() {
        assert_eq!(amount(1234567.891), "1,234,567.89");
        assert_eq!(amount(-2.61), "-2.61");
        assert_eq!(amount(0.004), "0.00");
    }

    #[test]
    fn hostile_strings_are_escaped() {
        assert_eq!(md("a|b<script>"), "a\\|b\\<script\\>");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("plain"), "plain");
    }
}

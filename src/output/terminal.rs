//! Plain-text output for a person at a terminal: the anomaly table and the one-screen
//! investigation. No colour, so it reads the same in a pipe, a log or a CI job.

use super::format::{change_pct, clean, decimal, shorten_middle, signed_decimal};
use crate::analyse::anomalies::{Anomaly, Incident, Status};
use crate::analyse::investigate::{Investigation, UnitCosts};
use std::fmt::Write as _;

/// A sparkline of `values`, one character per value (bucketed to at most `width`).
pub(crate) fn sparkline(values: &[f64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let per = values.len().div_ceil(width);
    let buckets: Vec<f64> = values
        .chunks(per)
        .map(|c| c.iter().sum::<f64>() / c.len() as f64)
        .collect();
    let max = buckets.iter().copied().fold(f64::MIN, f64::max);
    let min = buckets.iter().copied().fold(f64::MAX, f64::min).min(0.0);
    buckets
        .iter()
        .map(|v| {
            if max <= min {
                BARS[0]
            } else {
                BARS[(((v - min) / (max - min)) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

/// The anomalies as an aligned table, with each one's leading root cause.
pub(crate) fn anomalies_table(anomalies: &[Anomaly], currency: &str) -> String {
    if anomalies.is_empty() {
        return "no anomalies\n".into();
    }
    let mut s = format!(
        "{:<10}  {:<12}  {:<32}  {:<5}  {:<8}  {:>11}  {:>11}  {:>11}  {:>8}  why\n",
        "date", "dimension", "value", "kind", "severity", "actual", "expected", "impact", "change"
    );
    for a in anomalies {
        let why = crate::output::report::explanation(a);
        let _ = writeln!(
            s,
            "{:<10}  {:<12}  {:<32}  {:<5}  {:<8}  {:>11}  {:>11}  {:>11}  {:>8}  {}",
            a.date,
            a.dimension,
            shorten_middle(&a.value, 32),
            a.kind.name(),
            a.severity.name(),
            decimal(a.actual),
            decimal(a.expected),
            signed_decimal(a.impact),
            change_pct(a.impact_pct),
            clean(&why)
        );
    }
    let _ = writeln!(s, "({} anomalies; amounts in {currency})", anomalies.len());
    s
}

/// The incidents as an aligned table: id, days, headline, status, money and why.
pub(crate) fn incidents_table(incidents: &[Incident], currency: &str) -> String {
    if incidents.is_empty() {
        return "no incidents\n".into();
    }
    let mut s = format!(
        "{:<17}  {:<10}  {:>4}  {:<44}  {:<8}  {:<8}  {:<14}  {:>11}  {:>11}  {:>8}  why\n",
        "id",
        "start",
        "days",
        "headline",
        "kind",
        "severity",
        "status",
        "actual",
        "impact",
        "change"
    );
    for i in incidents {
        let status = match (&i.status, &i.acknowledgement) {
            (Status::Acked, Some(a)) => format!("acked:{}", a.verdict.name()),
            _ => "open".into(),
        };
        let headline = format!("{} {}", i.headline.dimension, i.headline.value);
        let _ = writeln!(
            s,
            "{:<17}  {:<10}  {:>4}  {:<44}  {:<8}  {:<8}  {:<14}  {:>11}  {:>11}  {:>8}  {}",
            i.id,
            i.start,
            i.duration_days,
            shorten_middle(&headline, 44),
            i.kind.name(),
            i.severity.name(),
            status,
            decimal(i.actual),
            signed_decimal(i.impact),
            change_pct(i.impact_pct),
            clean(&crate::output::report::incident_explanation(i))
        );
    }
    let open = incidents
        .iter()
        .filter(|i| i.status == Status::Open)
        .count();
    let _ = writeln!(
        s,
        "({} incidents, {open} open; amounts in {currency}; `spendlens anomalies ack ID --as planned|expected|false-positive` records a verdict, `--series` lists every flagged series)",
        incidents.len()
    );
    s
}

fn unit_row(s: &mut String, label: &str, before: Option<f64>, after: Option<f64>) {
    let f = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "—".into());
    let _ = writeln!(s, "  {label:<24} {:>12} {:>12}", f(before), f(after));
}

/// One screen: the selection's daily series, focus day, movers, unit costs, decomposition.
pub fn investigation(inv: &Investigation) -> String {
    let mut s = String::new();
    let selection = if inv.selection.is_empty() {
        "all spend".to_string()
    } else {
        inv.selection
            .iter()
            .map(|f| format!("{}={}", f.dimension, clean(&f.value)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let _ = writeln!(
        s,
        "investigate {selection} · {} to {} · {} {} in total",
        inv.start,
        inv.end,
        decimal(inv.total),
        inv.currency
    );
    let values: Vec<f64> = inv.daily.iter().map(|d| d.effective_cost).collect();
    let (min, max) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let _ = writeln!(
        s,
        "\ndaily effective cost (min {}, max {})\n  {}",
        decimal(min),
        decimal(max),
        sparkline(&values, 100)
    );
    let f = &inv.focus;
    let _ = write!(s, "\nfocus {}: {} ", f.date, decimal(f.actual));
    match (f.expected, f.impact) {
        (Some(e), Some(i)) => {
            let _ = writeln!(
                s,
                "vs expected {} ({} {}, {})",
                decimal(e),
                signed_decimal(i),
                inv.currency,
                change_pct(f.impact_pct)
            );
            let days: Vec<String> = f
                .reference_days
                .iter()
                .map(std::string::ToString::to_string)
                .collect();
            let _ = writeln!(s, "  expected = median of {}", days.join(", "));
        }
        _ => {
            let _ = writeln!(s, "(too little history before this day for a baseline)");
        }
    }
    if !inv.movers.is_empty() {
        let _ = writeln!(s, "\ntop movers on {} vs expected", f.date);
        for m in &inv.movers {
            let _ = writeln!(
                s,
                "  {:<12} {:<44} {:>11} {:>11} {:>11}",
                m.dimension,
                shorten_middle(&m.value, 44),
                decimal(m.expected),
                decimal(m.actual),
                signed_decimal(m.impact)
            );
        }
    }
    unit_costs(&mut s, inv);
    match &inv.decomposition {
        Some(d) => {
            let _ = writeln!(
                s,
                "\nwhy it changed: volume {} · mix {} · rate {} · credits {} · other {}",
                signed_decimal(d.volume),
                signed_decimal(d.mix),
                signed_decimal(d.rate),
                signed_decimal(d.credits),
                signed_decimal(d.other)
            );
            let _ = writeln!(
                s,
                "  (tokens {:.0} expected, {:.0} on the day; other = spend not billed per token)",
                d.tokens_expected, d.tokens_actual
            );
        }
        None => {
            let _ = writeln!(s, "\nwhy it changed: no token quantities to decompose");
        }
    }
    let _ = writeln!(s, "\nanomalies in this selection: {}", inv.anomalies.len());
    for a in &inv.anomalies {
        let _ = writeln!(
            s,
            "  {} {:<5} {:<8} {} ({})",
            a.date,
            a.kind.name(),
            a.severity.name(),
            signed_decimal(a.impact),
            change_pct(a.impact_pct)
        );
        if let Some(note) = &a.note {
            let _ = writeln!(s, "    {}", clean(note));
        }
    }
    s
}

/// The unit costs of the focus day against its expectation.
fn unit_costs(s: &mut String, inv: &Investigation) {
    let f = &inv.focus;
    let _ = writeln!(
        *s,
        "\nunit costs ({})          {:>12} {:>12}",
        inv.currency, "expected", f.date
    );
    let before = inv.unit_costs_before.clone().unwrap_or_default();
    let after: &UnitCosts = &inv.unit_costs_after;
    let tokens = |u: &UnitCosts| (u.tokens > 0.0).then_some(u.tokens);
    let _ = writeln!(
        *s,
        "  {:<24} {:>12} {:>12}",
        "tokens per day",
        tokens(&before)
            .map(|t| format!("{t:.0}"))
            .unwrap_or_else(|| "—".into()),
        tokens(after)
            .map(|t| format!("{t:.0}"))
            .unwrap_or_else(|| "—".into())
    );
    unit_row(
        s,
        "per 1K tokens",
        before.per_1k_tokens,
        after.per_1k_tokens,
    );
    unit_row(
        s,
        "per 1K input tokens",
        before.per_1k_input_tokens,
        after.per_1k_input_tokens,
    );
    unit_row(
        s,
        "per 1K output tokens",
        before.per_1k_output_tokens,
        after.per_1k_output_tokens,
    );
    unit_row(
        s,
        "per 1K cached tokens",
        before.per_1k_cache_read_tokens,
        after.per_1k_cache_read_tokens,
    );
    unit_row(s, "per request", before.per_request, after.per_request);
    if after.per_request.is_none() {
        let _ = writeln!(
            *s,
            "  (per-request costs need request counts: CloudWatch usage records for this selection)"
        );
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}"))
        .unwrap_or_else(|| "—".into())
}

/// `spendlens advise` as text.
pub fn advice(a: &crate::analyse::advise::Advice) -> String {
    let c = &a.currency;
    let mut s = format!(
        "advice for {} to {} ({c}); list prices as of {} ({})\n",
        a.start, a.end, a.catalog.as_of, a.catalog.source
    );
    let _ = writeln!(
        s,
        "\nunit costs ({c} per 1K tokens; per request where usage records give request counts)\n  {:<14} {:<18} {:<30} {:>12} {:>9} {:>9} {:>9} {:>9} {:>11} {:>7}",
        "team", "feature", "model", "cost", "per 1K", "input", "output", "cached", "per request", "trend"
    );
    for u in a.unit_costs.iter().take(20) {
        let _ = writeln!(
            s,
            "  {:<14} {:<18} {:<30} {:>12.2} {:>9} {:>9} {:>9} {:>9} {:>11} {:>7}",
            shorten_middle(&u.team, 14),
            shorten_middle(&u.feature, 18),
            shorten_middle(&u.model, 30),
            u.effective_cost,
            opt(u.per_1k_tokens, 4),
            opt(u.per_1k_input_tokens, 4),
            opt(u.per_1k_output_tokens, 4),
            opt(u.per_1k_cache_read_tokens, 4),
            opt(u.per_request, 4),
            u.per_1k_tokens_trend_pct
                .map(|p| format!("{:+.1}%", p * 100.0))
                .unwrap_or_else(|| "—".into())
        );
    }
    let _ = writeln!(
        s,
        "\nbilled prices that differ from list: {}",
        a.price_checks.len()
    );
    for p in &a.price_checks {
        let _ = writeln!(
            s,
            "  {:<30} {:<18} billed {:.4} vs list {:.4} per 1M ({:+.1}%) over {:.0} tokens",
            shorten_middle(&p.model, 30),
            p.usage_type,
            p.billed_per_1m,
            p.catalog_per_1m,
            p.difference_pct * 100.0,
            p.tokens
        );
    }
    if !a.estimates.is_empty() {
        let _ = writeln!(s, "\nestimated from usage, not billed yet:");
        for e in &a.estimates {
            let _ = writeln!(
                s,
                "  {} {:<30} {:>14.0} tokens ~ {:.2} {c}",
                e.date,
                shorten_middle(&e.model, 30),
                e.tokens,
                e.estimated_cost
            );
        }
    }
    let _ = writeln!(
        s,
        "\ncommitments (Provisioned Throughput / PTU): {}",
        a.commitments.len()
    );
    for m in &a.commitments {
        let _ = writeln!(
            s,
            "  {:<30} {:<15} utilisation {} (break-even {}), on demand {:.2}/day vs commitment {:.2}/day, saves {:.2}/30 days\n    {}",
            shorten_middle(&m.model, 30),
            m.action,
            m.utilisation.map(|u| format!("{:.0}%", u * 100.0)).unwrap_or_else(|| "unknown (no usage data)".into()),
            m.break_even_utilisation.map(|u| format!("{:.0}%", u * 100.0)).unwrap_or_else(|| "—".into()),
            m.on_demand_cost_per_day,
            m.commitment_cost_per_day,
            m.monthly_saving,
            clean(&m.reason)
        );
    }
    let _ = writeln!(s, "\nmodel tiering hints: {}", a.tiering.len());
    for t in &a.tiering {
        let _ = writeln!(
            s,
            "  {}/{} on {} -> {}: {:.2} -> {:.2} per 30 days (saves {:.2})\n    {}",
            clean(&t.team),
            clean(&t.feature),
            t.model,
            t.cheaper_model,
            t.monthly_cost,
            t.monthly_cost_on_cheaper,
            t.monthly_saving,
            clean(&t.assumptions)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_and_buckets() {
        assert_eq!(sparkline(&[0.0, 1.0, 2.0, 7.0], 10), "▁▂▃█");
        assert_eq!(sparkline(&[1.0; 200], 50).chars().count(), 50);
        assert_eq!(sparkline(&[], 10), "");
    }

    #[test]
    fn control_characters_are_removed() {
        assert_eq!(clean("team\u{1b}[31mred"), "team[31mred");
    }
}

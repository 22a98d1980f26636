//! Commitment advice (Bedrock Provisioned Throughput, Azure PTUs): size from the P95 of
//! daily throughput plus headroom, break-even utilisation against on-demand.

use super::*;

/// Advice for every commitment the config names.
#[allow(clippy::too_many_arguments)]
pub(super) fn advise_all(
    costs: &DataFrame,
    usage: Option<&DataFrame>,
    acc: &BTreeMap<Key, Acc>,
    reqs: &BTreeMap<Key, (f64, f64)>,
    start: NaiveDate,
    end: NaiveDate,
    catalog: &Catalog,
    cfg: &AdviseConfig,
) -> PolarsResult<Vec<CommitmentAdvice>> {
    let days = ((end - start).num_days() + 1) as f64;
    let mut commitments = Vec::new();
    for c in &cfg.commitments {
        let tokens = daily_tokens(costs, usage, &c.model, start, end)?;
        // Blended list price with the model's own input/output mix in the period.
        let (mut list_cost, mut list_tokens) = (0.0, 0.0);
        for (_, a) in acc.iter().filter(|(k, _)| k.2 == c.model) {
            for (usage, (_, tokens)) in &a.by_type {
                if let Some(p) = catalog.per_token(&c.model, usage) {
                    list_cost += p * tokens;
                    list_tokens += tokens;
                }
            }
        }
        let blended = if list_tokens > 0.0 {
            list_cost / list_tokens
        } else {
            catalog.per_token(&c.model, "input_tokens").unwrap_or(0.0)
        };
        let existing = provisioned_cost(costs, &c.model, start, end)? / days;
        let throttles: f64 = reqs
            .iter()
            .filter(|(k, _)| k.2 == c.model)
            .map(|(_, (_, t))| t)
            .sum();
        commitments.push(commitment(
            c,
            &tokens,
            blended,
            existing,
            throttles,
            cfg.headroom,
        ));
    }
    Ok(commitments)
}

/// Daily token totals of one model (usage records where present, else billed quantities),
/// over every day of the period (days without tokens count as 0).
fn daily_tokens(
    costs: &DataFrame,
    usage: Option<&DataFrame>,
    model: &str,
    start: NaiveDate,
    end: NaiveDate,
) -> PolarsResult<Vec<f64>> {
    let n = (end - start).num_days() as usize + 1;
    let mut out = vec![0.0; n];
    let from_usage = usage
        .map(|u| {
            u.clone()
                .lazy()
                .filter(
                    crate::analyse::between(start, end)
                        .and(col("model").eq(lit(model.to_string()))),
                )
                .with_column(
                    (col("input_tokens").fill_null(lit(0.0))
                        + col("output_tokens").fill_null(lit(0.0)))
                    .alias("__tokens"),
                )
                .group_by([crate::schema::day_number_expr().alias("__day")])
                .agg([col("__tokens").sum()])
                .collect()
        })
        .transpose()?
        .filter(|df| df.height() > 0);
    let df = match from_usage {
        Some(df) => df,
        None => costs
            .clone()
            .lazy()
            .filter(
                crate::analyse::between(start, end)
                    .and(col("model").eq(lit(model.to_string())))
                    .and(crate::schema::is_token_usage()),
            )
            .group_by([crate::schema::day_number_expr().alias("__day")])
            .agg([col("consumed_quantity")
                .fill_null(lit(0.0))
                .sum()
                .alias("__tokens")])
            .collect()?,
    };
    let start_day = crate::schema::day_number(start);
    let days = df.column("__day")?.i32()?;
    let tokens = df.column("__tokens")?.f64()?;
    for (d, t) in days.iter().zip(tokens.iter()) {
        if let (Some(d), Some(t)) = (d, t) {
            let i = (d - start_day) as usize;
            if i < n {
                out[i] += t;
            }
        }
    }
    Ok(out)
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let rank = (p * (v.len() - 1) as f64).round() as usize;
    v[rank.min(v.len() - 1)]
}

/// Commitment advice for one configured model: size from P95 daily throughput plus headroom,
/// break-even utilisation against on-demand at the model's blended list price.
pub fn commitment(
    c: &CommitmentConfig,
    daily_tokens: &[f64],
    blended_per_token: f64,
    existing_cost_per_day: f64,
    throttles: f64,
    headroom: f64,
) -> CommitmentAdvice {
    let days = daily_tokens.len().max(1) as f64;
    let mean = daily_tokens.iter().sum::<f64>() / days;
    let on_demand = mean * blended_per_token;
    let unit_capacity = c.tokens_per_minute_per_unit * 1440.0;
    let unit_cost = c.hourly_rate * 24.0;
    let break_even =
        (blended_per_token > 0.0).then(|| unit_cost / (unit_capacity * blended_per_token));
    if existing_cost_per_day > 0.0 && mean <= 0.0 {
        // A commitment is billed but no token usage was measured for its model: nothing to
        // judge utilisation by (a 0% would read as "reduce" when the data is simply missing).
        return CommitmentAdvice {
            model: c.model.clone(),
            action: "no_usage_data".into(),
            units: None,
            utilisation: None,
            break_even_utilisation: break_even.map(|b| round(b, 4)),
            on_demand_cost_per_day: 0.0,
            commitment_cost_per_day: round(existing_cost_per_day, 2),
            monthly_saving: 0.0,
            throttles,
            reason: format!("it costs {existing_cost_per_day:.2}/day but no token usage was measured for `{}` in the period: collect CloudWatch / Azure Monitor usage (or bill rows with token quantities) to judge it", c.model),
        };
    }
    if existing_cost_per_day > 0.0 {
        // A commitment is in place: does what it serves pay for it?
        let utilisation = on_demand / existing_cost_per_day;
        let (action, reason) = if utilisation >= 1.0 {
            ("keep", format!("the tokens it serves would cost {on_demand:.2}/day on demand, more than its {existing_cost_per_day:.2}/day"))
        } else {
            ("reduce", format!("it costs {existing_cost_per_day:.2}/day but the tokens it serves would cost {on_demand:.2}/day on demand: resize or let it lapse"))
        };
        return CommitmentAdvice {
            model: c.model.clone(),
            action: action.into(),
            units: None,
            utilisation: Some(round(utilisation, 4)),
            break_even_utilisation: break_even.map(|b| round(b, 4)),
            on_demand_cost_per_day: round(on_demand, 2),
            commitment_cost_per_day: round(existing_cost_per_day, 2),
            monthly_saving: round(((existing_cost_per_day - on_demand) * 30.0).max(0.0), 2),
            throttles,
            reason,
        };
    }
    let peak_tpm = percentile(daily_tokens, 0.95) / 1440.0;
    let units = ((peak_tpm * (1.0 + headroom)) / c.tokens_per_minute_per_unit)
        .ceil()
        .max(1.0) as u32;
    let cost = units as f64 * unit_cost;
    let utilisation = mean / (units as f64 * unit_capacity);
    let saving = (on_demand - cost) * 30.0;
    let pays = break_even.is_some_and(|b| utilisation >= b);
    let (action, reason) = if pays {
        ("buy", format!("{units} unit(s) sized at P95 throughput + {:.0}% headroom would run at {:.0}% utilisation, above the {:.0}% break-even", headroom * 100.0, utilisation * 100.0, break_even.unwrap_or(0.0) * 100.0))
    } else if throttles > 0.0 {
        ("buy", format!("on-demand calls were throttled {throttles:.0} times; {units} unit(s) would guarantee capacity at {:.0}% utilisation (break-even {:.0}%), costing more than on demand", utilisation * 100.0, break_even.unwrap_or(0.0) * 100.0))
    } else {
        (
            "stay_on_demand",
            format!(
                "{units} unit(s) would run at {:.0}% utilisation, below the {:.0}% break-even",
                utilisation * 100.0,
                break_even.unwrap_or(0.0) * 100.0
            ),
        )
    };
    CommitmentAdvice {
        model: c.model.clone(),
        action: action.into(),
        units: Some(units),
        utilisation: Some(round(utilisation, 4)),
        break_even_utilisation: break_even.map(|b| round(b, 4)),
        on_demand_cost_per_day: round(on_demand, 2),
        commitment_cost_per_day: round(cost, 2),
        monthly_saving: round(saving.max(0.0), 2),
        throttles,
        reason,
    }
}

fn provisioned_cost(
    costs: &DataFrame,
    model: &str,
    start: NaiveDate,
    end: NaiveDate,
) -> PolarsResult<f64> {
    let df = costs
        .clone()
        .lazy()
        .filter(
            crate::analyse::between(start, end)
                .and(col("model").eq(lit(model.to_string())))
                .and(col("usage_type").eq(lit("provisioned"))),
        )
        .select([col("effective_cost").sum()])
        .collect()?;
    Ok(df.column("effective_cost")?.f64()?.get(0).unwrap_or(0.0))
}

//! Tiering hints: a top-tier model doing short, output-light work that a cheaper model of
//! the same family may handle, with the saving at list prices.

use super::*;

/// The hint for one (team, feature, model), when its model is top tier, its work looks
/// simple and the cheaper model would save at least `min_monthly_saving`.
pub(super) fn hint(
    key: &Key,
    a: &Acc,
    requests: Option<f64>,
    days: f64,
    catalog: &Catalog,
    cfg: &AdviseConfig,
) -> Option<TieringHint> {
    let (team, feature, model) = key;
    let price = catalog.models.get(model)?;
    let (Some("top"), Some(cheaper)) = (price.tier.as_deref(), price.cheaper.as_deref()) else {
        return None;
    };
    let output = a
        .by_type
        .get("output_tokens")
        .map(|(_, t)| *t)
        .unwrap_or(0.0);
    let output_share = if a.tokens > 0.0 {
        output / a.tokens
    } else {
        0.0
    };
    let per_request_output = requests.filter(|r| *r > 0.0).map(|r| output / r);
    let simple = match per_request_output {
        Some(o) => o <= cfg.tiering_max_output_tokens_per_request,
        None => output_share <= cfg.tiering_max_output_share,
    };
    if !simple {
        return None;
    }
    let cheaper_cost: Option<f64> = a
        .by_type
        .iter()
        .map(|(k, (_, t))| catalog.per_token(cheaper, k).map(|p| p * t))
        .sum();
    let cheaper_cost = cheaper_cost?;
    let monthly = a.cost / days * 30.0;
    let monthly_cheaper = cheaper_cost / days * 30.0;
    if monthly - monthly_cheaper < cfg.min_monthly_saving {
        return None;
    }
    Some(TieringHint {
        team: team.clone(),
        feature: feature.clone(),
        model: model.clone(),
        cheaper_model: cheaper.to_string(),
        tokens_per_day: (a.tokens / days).round(),
        output_share: round(output_share, 4),
        output_tokens_per_request: per_request_output.map(|o| round(o, 1)),
        monthly_cost: round(monthly, 2),
        monthly_cost_on_cheaper: round(monthly_cheaper, 2),
        monthly_saving: round(monthly - monthly_cheaper, 2),
        assumptions: format!(
            "estimate: the same token volumes at {cheaper}'s list price ({}); {}; check quality on a sample before switching",
            catalog.as_of,
            match per_request_output {
                Some(o) => format!("{o:.0} output tokens per request suggests short, structured tasks"),
                None => format!("output is {:.0}% of tokens (no request counts to judge task length)", output_share * 100.0),
            }
        ),
    })
}

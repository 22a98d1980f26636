//! Billed unit prices checked against the list-price catalog, and spend estimated from usage
//! the bill does not hold yet.

use super::*;

/// Billed unit prices further from list than `price_tolerance` (after the batch discount or
/// regional premium the pricing detail names).
pub(super) fn checks(billed: &Billed, catalog: &Catalog, cfg: &AdviseConfig) -> Vec<PriceCheck> {
    let mut price_checks = Vec::new();
    for ((model, usage, detail), (cost, tokens)) in billed {
        let Some(list) = catalog.per_token(model, usage) else {
            continue;
        };
        // Batch inference is billed at a discount, regional endpoints at a premium.
        let list = match detail.as_str() {
            "batch" => list * catalog.batch_factor,
            "regional" | "data_zone" => list * (1.0 + catalog.regional_premium),
            _ => list,
        };
        if *tokens <= 0.0 || list <= 0.0 {
            continue;
        }
        let actual = cost / tokens;
        let diff = (actual - list) / list;
        if diff.abs() > cfg.price_tolerance {
            price_checks.push(PriceCheck {
                model: model.clone(),
                usage_type: usage.clone(),
                pricing_detail: (!detail.is_empty()).then(|| detail.clone()),
                tokens: tokens.round(),
                billed_per_1m: round(actual * 1e6, 4),
                catalog_per_1m: round(list * 1e6, 4),
                difference_pct: round(diff, 4),
            });
        }
    }
    price_checks
}

/// Billed cost and tokens of usage charges per (model, usage type, pricing detail), for the
/// catalog check (credits excluded: they are not a price).
pub(super) fn billed_usage(
    costs: &DataFrame,
    start: NaiveDate,
    end: NaiveDate,
) -> PolarsResult<Billed> {
    let keys = ["model", "usage_type", "pricing_detail"];
    let df = crate::analyse::sliced_sums(
        costs,
        |rows| {
            token_rows(rows, start, end)
                .filter(crate::schema::equals(col("charge_category"), "Usage"))
                .select([
                    col("model"),
                    col("usage_type"),
                    col("pricing_detail"),
                    col("billed_cost"),
                    quantity().alias("tokens"),
                ])
        },
        &keys,
        &["billed_cost", "tokens"],
    )
    .and_then(without_categoricals)?;
    let s = |n: &str| df.column(n).and_then(|c| c.str());
    let f = |n: &str| df.column(n).and_then(|c| c.f64());
    let (model, usage, detail) = (s("model")?, s("usage_type")?, s("pricing_detail")?);
    let (billed_cost, tokens) = (f("billed_cost")?, f("tokens")?);
    let mut billed: Billed = BTreeMap::new();
    for i in 0..df.height() {
        let b = billed
            .entry((
                model.get(i).unwrap_or_default().to_string(),
                usage.get(i).unwrap_or_default().to_string(),
                detail.get(i).unwrap_or_default().to_string(),
            ))
            .or_default();
        b.0 += billed_cost.get(i).unwrap_or(0.0);
        b.1 += tokens.get(i).unwrap_or(0.0);
    }
    Ok(billed)
}

/// Usage on days after the last billed day of its provider, priced from the catalog.
pub(super) fn estimates(
    costs: &DataFrame,
    usage: Option<&DataFrame>,
    catalog: &Catalog,
) -> PolarsResult<Vec<Estimate>> {
    let Some(usage) = usage else {
        return Ok(Vec::new());
    };
    let last_billed = costs
        .clone()
        .lazy()
        .group_by([col("provider_name")])
        .agg([col("charge_period_start")
            .max()
            .cast(DataType::Date)
            .cast(DataType::Int32)
            .alias("__last")])
        .collect()
        .and_then(without_categoricals)?;
    let df = usage
        .clone()
        .lazy()
        .join(
            last_billed.lazy(),
            [col("provider_name")],
            [col("provider_name")],
            JoinArgs::new(JoinType::Left),
        )
        .with_column(crate::schema::day_number_expr().alias("__day"))
        .filter(
            col("model")
                .is_not_null()
                .and(col("__last").is_null().or(col("__day").gt(col("__last")))),
        )
        .group_by([col("__day"), col("model")])
        .agg([
            col("input_tokens").fill_null(lit(0.0)).sum(),
            col("output_tokens").fill_null(lit(0.0)).sum(),
            col("cache_read_tokens").fill_null(lit(0.0)).sum(),
            col("cache_write_tokens").fill_null(lit(0.0)).sum(),
        ])
        .sort(["__day", "model"], SortMultipleOptions::default())
        .collect()?;
    let day = df.column("__day")?.i32()?;
    let model = df.column("model")?.str()?;
    let kinds = [
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
    ];
    let values: Vec<&Float64Chunked> = kinds
        .iter()
        .map(|k| df.column(k).and_then(|c| c.f64()))
        .collect::<PolarsResult<_>>()?;
    let mut out = Vec::new();
    for i in 0..df.height() {
        let (Some(d), Some(m)) = (day.get(i), model.get(i)) else {
            continue;
        };
        let mut cost = 0.0;
        let mut tokens = 0.0;
        let mut priced = false;
        for (k, v) in kinds.iter().zip(&values) {
            let t = v.get(i).unwrap_or(0.0);
            tokens += t;
            if let Some(p) = catalog.per_token(m, k) {
                cost += p * t;
                priced = true;
            }
        }
        if priced && tokens > 0.0 {
            out.push(Estimate {
                date: crate::schema::date_of_day_number(d),
                model: m.to_string(),
                tokens: tokens.round(),
                estimated_cost: round(cost, 2),
            });
        }
    }
    Ok(out)
}

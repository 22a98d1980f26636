//! Azure Cost Management cost-details exports (EA and MCA layouts, actual or amortized) ->
//! staging columns.
//!
//! The layouts differ in column names and casing (`Cost` in older EA files,
//! `CostInBillingCurrency` / `costInBillingCurrency` in newer EA and MCA ones), so columns are
//! found case-insensitively from candidate lists. An export holds one view: in an actual-cost
//! file `Cost` is what was billed, in an amortized file it is the amortized cost; both
//! `billed_cost` and `effective_cost` take it, and ingesting the other view of the same days
//! replaces it rather than adding to it. `Tags` is Azure's JSON object body without braces.

use super::{polars_err, stage, Container, ExportTable, IngestError, Part, Staged};
use polars::prelude::*;
use std::collections::HashMap;
use std::path::Path;

pub(crate) fn stage(file: &Path, container: Container, part: &Part) -> Result<Staged, IngestError> {
    stage_table(ExportTable::read(
        file,
        container,
        part,
        &[
            "CostInBillingCurrency",
            "Cost",
            "PreTaxCost",
            "AmortizedCost",
            "Quantity",
            "UsageQuantity",
        ],
        "Azure cost details",
        "export 'Cost and usage details' (actual or amortized) from Cost Management; older 'usage details' layouts need the Cost or CostInBillingCurrency column",
    )?)
}

/// Stage a table in the cost-details layout. An `AmortizedCost` column (which only the
/// Cost Management collector writes, holding the AmortizedCost view beside the actual one)
/// becomes the effective cost.
pub(crate) fn stage_table(table: ExportTable) -> Result<Staged, IngestError> {
    let file = table.file();
    let mut origin: HashMap<&'static str, String> = HashMap::new();
    let cost = table.required(&["CostInBillingCurrency", "Cost", "PreTaxCost"])?;
    origin.insert(stage::BILLED, cost.clone());
    origin.insert(
        stage::EFFECTIVE,
        table.optional(&["AmortizedCost"]).unwrap_or(cost),
    );
    origin.insert(
        stage::START,
        table.required(&["Date", "UsageDate", "UsageDateTime"])?,
    );
    origin.insert(
        stage::CURRENCY,
        table.required(&["BillingCurrency", "BillingCurrencyCode", "Currency"])?,
    );
    for (target, candidates) in [
        (stage::ACCOUNT, &["SubscriptionId", "SubscriptionGuid"][..]),
        (
            stage::REGION,
            &["ResourceLocation", "ResourceLocationNormalized", "Location"],
        ),
        (
            stage::RESOURCE,
            &["ResourceId", "InstanceId", "InstanceName"],
        ),
        (stage::CHARGE_CATEGORY, &["ChargeType"]),
        (stage::PRICING_CATEGORY, &["PricingModel"]),
        (stage::QUANTITY, &["Quantity", "UsageQuantity"]),
        (stage::UNIT, &["UnitOfMeasure"]),
        (stage::TAGS, &["Tags"]),
        (
            stage::BILLING_ACCOUNT,
            &["BillingAccountId", "BillingAccountID"],
        ),
    ] {
        if let Some(c) = table.optional(candidates) {
            origin.insert(target, c);
        }
    }
    let text = |candidates: &[&str]| -> Expr {
        match table.optional(candidates) {
            Some(c) => col(c.as_str()).fill_null(lit("")),
            None => lit(""),
        }
    };
    let meter_category = text(&["MeterCategory"]);
    let describe = concat_str(
        [
            meter_category.clone(),
            text(&["MeterSubCategory"]),
            text(&["ProductName", "Product"]),
            text(&["MeterName"]),
            text(&["AdditionalInfo"]),
        ],
        " | ",
        false,
    );
    let mut exprs: Vec<Expr> = vec![col(stage::LINE)];
    for (target, c) in &origin {
        if *target == stage::CHARGE_CATEGORY {
            continue;
        }
        exprs.push(col(c.as_str()).alias(*target));
    }
    exprs.push(match origin.get(stage::CHARGE_CATEGORY) {
        // A missing ChargeType means a usage-only export.
        Some(c) => col(c.as_str())
            .fill_null(lit("Usage"))
            .alias(stage::CHARGE_CATEGORY),
        None => lit("Usage").alias(stage::CHARGE_CATEGORY),
    });
    origin
        .entry(stage::CHARGE_CATEGORY)
        .or_insert_with(|| "ChargeType".into());
    exprs.extend([
        lit("Microsoft").alias(stage::PROVIDER),
        when(
            describe
                .clone()
                .str()
                .to_lowercase()
                .str()
                .contains_literal(lit("openai")),
        )
        .then(lit("Azure OpenAI"))
        .otherwise(
            when(meter_category.clone().eq(lit("")))
                .then(lit("Azure"))
                .otherwise(meter_category),
        )
        .alias(stage::SERVICE),
        describe.alias(stage::HINT),
        // Reservation / savings plan / spot, as Azure names them.
        match table.optional(&["PricingModel"]) {
            Some(c) => when(
                col(c.as_str())
                    .eq(lit("Reservation"))
                    .or(col(c.as_str()).eq(lit("SavingsPlan")))
                    .or(col(c.as_str()).eq(lit("Spot"))),
            )
            .then(col(c.as_str()).str().to_lowercase())
            .otherwise(lit(NULL).cast(DataType::String))
            .alias(stage::PRICING_DETAIL),
            None => lit(NULL)
                .cast(DataType::String)
                .alias(stage::PRICING_DETAIL),
        },
    ]);
    origin.insert(stage::SERVICE, "MeterCategory".into());
    origin.insert(stage::HINT, "MeterName".into());
    let df = table
        .df
        .lazy()
        .select(exprs)
        .collect()
        .map_err(polars_err(&file))?;
    Ok(Staged { df, origin })
}

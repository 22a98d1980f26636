//! FOCUS 1.0 / 1.1 / 1.2 files (CSV or Parquet) from any provider -> staging columns.
//!
//! FOCUS already is our vocabulary, so this is a rename. Required columns are those every
//! FOCUS version since 1.0 mandates and that spendlens needs; `ProviderName` was renamed
//! `ServiceProviderName` in later versions, so either is accepted.

use super::{polars_err, stage, Container, ExportTable, IngestError, Part, Staged};
use polars::prelude::*;
use std::collections::HashMap;
use std::path::Path;

/// Columns that together describe the model and usage type of a charge.
const HINT_COLUMNS: &[&str] = &[
    "ServiceName",
    "ChargeDescription",
    "SkuMeter",
    "SkuPriceDetails",
    "x_UsageType",
    "x_Operation",
    "ResourceId",
    "ResourceName",
];

pub(crate) fn stage(file: &Path, container: Container, part: &Part) -> Result<Staged, IngestError> {
    let table = ExportTable::read(
        file,
        container,
        part,
        &["BilledCost", "EffectiveCost", "ConsumedQuantity"],
        "FOCUS",
        "FOCUS 1.0+ exports always have this column; check the file is complete and its header intact",
    )?;
    let mut origin: HashMap<&'static str, String> = HashMap::new();
    for (target, candidates) in [
        (stage::START, &["ChargePeriodStart"][..]),
        (stage::BILLED, &["BilledCost"]),
        (stage::EFFECTIVE, &["EffectiveCost"]),
        (stage::CURRENCY, &["BillingCurrency"]),
        (stage::PROVIDER, &["ProviderName", "ServiceProviderName"]),
        (stage::SERVICE, &["ServiceName"]),
        (stage::CHARGE_CATEGORY, &["ChargeCategory"]),
    ] {
        origin.insert(target, table.required(candidates)?);
    }
    for (target, candidates) in [
        (stage::END, &["ChargePeriodEnd"][..]),
        (stage::ACCOUNT, &["SubAccountId"]),
        (stage::REGION, &["RegionId", "RegionName"]),
        (stage::RESOURCE, &["ResourceId"]),
        (stage::PRICING_CATEGORY, &["PricingCategory"]),
        (stage::QUANTITY, &["ConsumedQuantity"]),
        (stage::UNIT, &["ConsumedUnit"]),
        (stage::TAGS, &["Tags"]),
        (stage::BILLING_ACCOUNT, &["BillingAccountId"]),
        (stage::BILLING_PERIOD, &["BillingPeriodStart"]),
        (stage::CHARGE_CLASS, &["ChargeClass"]),
    ] {
        if let Some(c) = table.optional(candidates) {
            origin.insert(target, c);
        }
    }
    let columns = &table.columns;
    let mut exprs: Vec<Expr> = vec![col(stage::LINE)];
    let region_name = table.optional(&["RegionName"]);
    for (target, c) in &origin {
        let e = col(c.as_str());
        // Region: RegionId, else RegionName (the Oracle rows of the FOCUS sample only name it).
        let e = match (&region_name, *target == stage::REGION) {
            (Some(name), true) if name != c => e.fill_null(col(name.as_str())),
            _ => e,
        };
        exprs.push(e.alias(*target));
    }
    let hints: Vec<Expr> = HINT_COLUMNS
        .iter()
        .filter(|h| columns.iter().any(|c| c == *h))
        .map(|h| col(*h).fill_null(lit("")))
        .collect();
    exprs.push(if hints.is_empty() {
        lit("").alias(stage::HINT)
    } else {
        concat_str(hints, " | ", false).alias(stage::HINT)
    });
    let df = table
        .df
        .lazy()
        .select(exprs)
        .collect()
        .map_err(polars_err(file))?;
    Ok(Staged { df, origin })
}

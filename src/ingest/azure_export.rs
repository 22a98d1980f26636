//! Azure Cost Management cost-details exports (EA and MCA layouts, actual or amortized) ->
//! staging columns.
//!
//! The layouts differ in column names and casing (`Cost` in older EA files,
//! `CostInBillingCurrency` / `costInBillingCurrency` in newer EA and MCA ones), so columns are
//! found case-insensitively from candidate lists. An export holds one view, actual or
//! amortized ([`AzureView`], told by `view_of`); both `billed_cost` and `effective_cost`
//! take its `Cost`, and the view decides the source it is stored under, so that the store
//! reads billed cost from the actual view and effective cost from the amortized view of the
//! same month (`store::views`). `Tags` is Azure's JSON object body without braces.

use super::{polars_err, stage, Container, ExportTable, IngestError, Part, Staged};
use polars::prelude::*;
use std::collections::HashMap;
use std::path::Path;

/// Which of Azure's two cost views an export is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AzureView {
    /// Actual cost: what is invoiced; commitment purchases on the day they were bought.
    Actual,
    /// Amortized cost: commitment purchases spread over the usage they cover.
    Amortized,
}

impl AzureView {
    pub fn name(self) -> &'static str {
        match self {
            AzureView::Actual => "actual",
            AzureView::Amortized => "amortized",
        }
    }
}

/// A file's view and how it was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewChoice {
    pub view: AzureView,
    pub how: &'static str,
}

/// The view of `file`: `given` (`--azure-view`), else the name Azure gives its exports
/// (`…ActualCost…` / `…AmortizedCost…`, in the file's or a folder's name), else its content:
/// a commitment `Purchase` row is only in the actual view; usage rows priced `Reservation` /
/// `SavingsPlan` with a cost are only in the amortized view (the actual view bills them at
/// 0). A file with neither is the same in both views and is read as actual.
pub(crate) fn view_of(
    file: &Path,
    container: Container,
    given: Option<AzureView>,
) -> Result<ViewChoice, IngestError> {
    if let Some(view) = given {
        return Ok(ViewChoice {
            view,
            how: "given with --azure-view",
        });
    }
    let names: Vec<String> = file
        .iter()
        .rev()
        .take(3)
        .map(|n| {
            n.to_string_lossy()
                .to_lowercase()
                .replace(['_', '-', ' '], "")
        })
        .collect();
    for (marker, view) in [
        ("amortizedcost", AzureView::Amortized),
        ("actualcost", AzureView::Actual),
    ] {
        if names.iter().any(|n| n.contains(marker)) {
            return Ok(ViewChoice {
                view,
                how: "from its name",
            });
        }
    }
    let (purchase, spread) = commitment_rows(file, container)?;
    Ok(match (purchase, spread) {
        (true, true) => {
            return Err(IngestError::BadValue {
                file: file.to_path_buf(),
                line: 1,
                column: "ChargeType".into(),
                message: "the file has both a commitment purchase (actual view) and reservation usage with a cost (amortized view); pass --azure-view actual|amortized".into(),
            })
        }
        (true, false) => ViewChoice {
            view: AzureView::Actual,
            how: "from its content: a commitment purchase",
        },
        (false, true) => ViewChoice {
            view: AzureView::Amortized,
            how: "from its content: reservation usage with a cost",
        },
        (false, false) => ViewChoice {
            view: AzureView::Actual,
            how: "no commitment rows, so both views are the same",
        },
    })
}

/// Whether `file` has a commitment purchase row, and a commitment usage row with a cost.
fn commitment_rows(file: &Path, container: Container) -> Result<(bool, bool), IngestError> {
    let columns = super::detect::header_columns(file, container)?;
    let find = |candidates: &[&str]| -> Option<String> {
        candidates.iter().find_map(|want| {
            columns
                .iter()
                .find(|c| c.eq_ignore_ascii_case(want))
                .cloned()
        })
    };
    let (Some(charge), Some(pricing), Some(cost)) = (
        find(&["ChargeType"]),
        find(&["PricingModel"]),
        find(&["CostInBillingCurrency", "Cost", "PreTaxCost"]),
    ) else {
        return Ok((false, false));
    };
    let path = PlRefPath::new(file.to_string_lossy().as_ref());
    let lf = match container {
        Container::Parquet => LazyFrame::scan_parquet(path, ScanArgsParquet::default()),
        _ => LazyCsvReader::new(path)
            .with_infer_schema_length(Some(0))
            .with_has_header(true)
            .finish(),
    }
    .map_err(polars_err(file))?;
    let lower = |c: &str| col(c).cast(DataType::String).str().to_lowercase();
    let commitment = lower(&pricing)
        .eq(lit("reservation"))
        .or(lower(&pricing).eq(lit("savingsplan")));
    let flags = lf
        .select([
            lower(&charge)
                .eq(lit("purchase"))
                .and(commitment.clone())
                .any(true)
                .alias("purchase"),
            lower(&charge)
                .eq(lit("usage"))
                .and(commitment)
                .and(col(cost.as_str()).cast(DataType::Float64).neq(lit(0.0)))
                .any(true)
                .alias("spread"),
        ])
        .collect()
        .map_err(polars_err(file))?;
    let flag = |name: &str| -> bool {
        flags
            .column(name)
            .ok()
            .and_then(|c| c.bool().ok().and_then(|b| b.get(0)))
            .unwrap_or(false)
    };
    Ok((flag("purchase"), flag("spread")))
}

/// Reservation / savings plan / spot, as Azure names them in `PricingModel` (when the file
/// has that column), lower-cased; null otherwise.
fn pricing_detail(pricing_model: Option<String>) -> Expr {
    match pricing_model {
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
    }
}

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
        (stage::BILLING_PERIOD, &["BillingPeriodStartDate"]),
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
        pricing_detail(table.optional(&["PricingModel"])),
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

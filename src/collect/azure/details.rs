//! The collected costs as rows of the cost-details layout, parsed by the same code as Azure
//! export files, so meters map to models and usage types one way.

use super::*;

/// The costs as rows of the cost-details layout (all strings), one per key.
pub(super) fn cost_details(
    cfg: &AzureConfig,
    costs: &Costs,
    tags: &Tags,
    inherited: &HashMap<(String, String), serde_json::Map<String, Value>>,
) -> Result<DataFrame, CollectError> {
    let n = costs.amounts.len();
    let mut col_of: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for ((day, resource, meter_name, currency), a) in &costs.amounts {
        let mut t = tags
            .get(&(*day, resource.clone()))
            .cloned()
            .unwrap_or_default();
        if let Some(g) = resource_group(resource).and_then(|k| inherited.get(&k)) {
            for key in &cfg.tag_keys {
                if !t.contains_key(key) {
                    if let Some(v) = g.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
                        t.insert(key.clone(), v.1.clone());
                    }
                }
            }
        }
        let shown = costs
            .resource_case
            .get(resource)
            .cloned()
            .unwrap_or(resource.clone());
        for (name, value) in cost_detail_row(*day, resource, shown, meter_name, currency, a, t) {
            col_of.entry(name).or_default().push(value);
        }
    }
    if n == 0 {
        return Ok(DataFrame::empty());
    }
    let columns: Vec<Column> = col_of
        .into_iter()
        .map(|(name, values)| Column::new(name.into(), values))
        .collect();
    DataFrame::new(n, columns).map_err(CollectError::Frame)
}

/// One row of the cost-details layout, as (column, value).
pub(super) fn cost_detail_row(
    day: NaiveDate,
    resource: &str,
    shown: String,
    meter_name: &str,
    currency: &str,
    a: &Amounts,
    tags: serde_json::Map<String, Value>,
) -> [(&'static str, String); 13] {
    let provisioned = crate::normalise::usage_type(meter_name) == "provisioned";
    [
        ("Date", day.to_string()),
        (
            "SubscriptionId",
            resource_group(resource).map(|g| g.0).unwrap_or_default(),
        ),
        ("ResourceId", shown),
        // The query filtered to the configured services but grouped by meter, not by
        // service: OpenAI model meters and provisioned (PTU) meters are Azure OpenAI.
        (
            "MeterCategory",
            if provisioned || crate::normalise::model(meter_name).is_some() {
                "Azure OpenAI".to_string()
            } else {
                "Cognitive Services".to_string()
            },
        ),
        ("MeterName", meter_name.to_string()),
        ("CostInBillingCurrency", a.actual.to_string()),
        ("AmortizedCost", a.amortized.to_string()),
        ("Quantity", a.quantity.to_string()),
        ("BillingCurrency", currency.to_string()),
        // Azure OpenAI token meters are priced per 1,000 tokens (the Query API cannot
        // also group by unit of measure).
        (
            "UnitOfMeasure",
            if meter_name.to_lowercase().ends_with("tokens") {
                "1K".to_string()
            } else {
                String::new()
            },
        ),
        ("Tags", Value::Object(tags).to_string()),
        ("ChargeType", "Usage".to_string()),
        (
            "PricingModel",
            if provisioned && (a.actual - a.amortized).abs() > 1e-9 {
                "Reservation".to_string()
            } else {
                "OnDemand".to_string()
            },
        ),
    ]
}

/// The cost-details rows parsed as an export file's are, under the scope's source.
pub(super) fn parse(cfg: &AzureConfig, df: DataFrame) -> Result<ingest::Parsed, CollectError> {
    let label = std::path::PathBuf::from(format!("azure:{}", cfg.scope));
    if df.height() == 0 {
        return Ok(ingest::Parsed::empty(&label, ingest::Format::Azure));
    }
    ingest::parse_azure_frame(
        df,
        &label,
        &IngestOptions {
            format: None,
            services: ServiceFilter::parse("all"),
            source: Some(source(&cfg.scope)),
            part_bytes: crate::ingest::PART_BYTES,
            azure_view: None,
            dates: crate::ingest::DateRange::standard(),
        },
    )
    .map_err(|e| bad("query", e.to_string()))
}

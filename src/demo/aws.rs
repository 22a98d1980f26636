//! The demo's AWS export: FOCUS 1.0 rows as AWS Data Exports writes them (with `x_`
//! columns), Bedrock through application inference profiles.

use super::*;

const FOCUS_COLUMNS: &[&str] = &[
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "SkuId",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
    "x_Operation",
    "x_ServiceCode",
    "x_UsageType",
];

struct FocusRow<'a> {
    day: NaiveDate,
    account: &'a str,
    account_name: &'a str,
    service: &'a str,
    service_code: &'a str,
    description: String,
    usage_type: String,
    operation: &'a str,
    quantity: f64,
    unit: &'a str,
    unit_price: f64,
    cost: f64,
    pricing_category: &'a str,
    resource: String,
    tags: Option<serde_json::Value>,
}

fn focus_line(r: &FocusRow) -> String {
    let (bp_start, bp_end) = month_bounds(r.day);
    let null = "NULL".to_string();
    let num = |v: f64| format!("{v:.11}");
    let tags = r
        .tags
        .as_ref()
        .map(|t| quote(&t.to_string()))
        .unwrap_or(null.clone());
    let values: Vec<String> = vec![
        null.clone(),
        num(r.cost),
        quote("111122223333"),
        quote("Acme Corp"),
        quote("USD"),
        quote(&ts(bp_end)),
        quote(&ts(bp_start)),
        quote("Usage"),
        null.clone(),
        quote(&r.description),
        quote("Usage-Based"),
        quote(&ts(r.day + Duration::days(1))),
        quote(&ts(r.day)),
        if r.pricing_category == "Committed" {
            quote("Usage")
        } else {
            null.clone()
        },
        null.clone(),
        null.clone(),
        null.clone(),
        if r.pricing_category == "Committed" {
            quote("Provisioned Throughput")
        } else {
            null.clone()
        },
        format!("{:.6}", r.quantity),
        quote(r.unit),
        num(r.cost),
        num(r.unit_price),
        num(r.cost),
        quote("Amazon Web Services, Inc."),
        num(r.cost),
        quote(&format!("{}", r.unit_price)),
        quote(r.pricing_category),
        format!("{:.6}", r.quantity),
        quote(r.unit),
        quote("AWS"),
        quote("Amazon Web Services, Inc."),
        quote("us-east-1"),
        quote("US East (N. Virginia)"),
        quote(&r.resource),
        null.clone(),
        quote("Inference Profile"),
        quote("AI and Machine Learning"),
        quote(r.service),
        quote("DEMO"),
        quote("DEMO.PRICE"),
        quote(r.account),
        quote(r.account_name),
        tags,
        quote(r.operation),
        quote(r.service_code),
        quote(&r.usage_type),
    ];
    values.join(",")
}

/// The AWS export: a FOCUS 1.0 file as AWS Data Exports writes it.
pub(super) fn aws_export(days: &[NaiveDate]) -> String {
    let mut out = FOCUS_COLUMNS
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    for (i, &day) in days.iter().enumerate() {
        let i = i as i64;
        vendor_model_rows(&mut out, day, i);
        nova_lite_rows(&mut out, day, i);
        provisioned_row(&mut out, day);
    }
    out
}

/// The ARN of an application inference profile in us-east-1.
fn profile(id: &str, account: &str) -> String {
    format!("arn:aws:bedrock:us-east-1:{account}:application-inference-profile/{id}")
}

/// Anthropic models billed as their vendor's "(Amazon Bedrock Edition)" services, through
/// tagged and untagged inference profiles; on [`SPIKE_DAY`] `rag-answer` runs on Sonnet 4.
fn vendor_model_rows(out: &mut String, day: NaiveDate, i: i64) {
    let haiku = (
        "Claude 3.5 Haiku",
        "AmazonBedrock-Anthropic-Claude35Haiku",
        Price {
            input: 0.80,
            output: 4.0,
        },
    );
    let sonnet4 = (
        "Claude Sonnet 4",
        "AmazonBedrock-Anthropic-ClaudeSonnet4",
        Price {
            input: 3.0,
            output: 15.0,
        },
    );
    let sonnet35 = (
        "Claude 3.5 Sonnet",
        "AmazonBedrock-Anthropic-Claude35Sonnet",
        Price {
            input: 3.0,
            output: 15.0,
        },
    );
    // (stream, account, account name, vendor model, tokens in/out per day, tags, profile)
    let features: [BedrockFeature; 3] = [
        (
            "rag-answer",
            "111122223333",
            "search-prod",
            if i == SPIKE_DAY { &sonnet4 } else { &haiku },
            150e6,
            20e6,
            Some(json!({"team": "search", "feature": "rag-answer", "env": "prod"})),
            profile("k3v9rag0ans1", "111122223333"),
            true,
        ),
        (
            "ticket-summary",
            "222233334444",
            "support-prod",
            &sonnet35,
            60e6,
            6e6,
            Some(json!({"Team": "Support", "feature": "ticket-summary"})),
            profile("p7ts2summ8ry", "222233334444"),
            true,
        ),
        (
            "sandbox",
            "444455556666",
            "data-science-sandbox",
            &sonnet4,
            10e6,
            1e6,
            None,
            profile("x1sandbox0ds", "444455556666"),
            false,
        ),
    ];
    for (
        stream,
        account,
        account_name,
        (model_name, product, price),
        tin,
        tout,
        tags,
        resource,
        dip,
    ) in &features
    {
        let t = traffic(day, i, *dip) * noise(stream, i, 0.08);
        for (kind, tokens, unit_price) in [
            ("input", tin * t, price.input),
            ("output", tout * t, price.output),
        ] {
            let counter = if kind == "input" {
                "InputTokenCount"
            } else {
                "OutputTokenCount"
            };
            let line = focus_line(&FocusRow {
                day,
                account,
                account_name,
                service: &format!("{model_name} (Amazon Bedrock Edition)"),
                service_code: product,
                description: format!("${unit_price:.2} per million {kind} tokens for {model_name} in US East (N. Virginia)"),
                usage_type: format!("USE1-MP:USE1_{counter}-Units"),
                operation: "Usage",
                quantity: tokens.round(),
                unit: "Tokens",
                unit_price: per_token(unit_price),
                cost: tokens.round() * per_token(unit_price),
                pricing_category: "Standard",
                resource: resource.clone(),
                tags: tags.clone(),
            });
            out.push_str(&line);
            out.push('\n');
        }
    }
}

/// Amazon Nova Lite for query rewriting, billed under Amazon Bedrock itself.
fn nova_lite_rows(out: &mut String, day: NaiveDate, i: i64) {
    let t = traffic(day, i, true) * noise("query-rewrite", i, 0.08);
    for (kind, tokens, price) in [("input", 400e6 * t, 0.06), ("output", 40e6 * t, 0.24)] {
        let line = focus_line(&FocusRow {
            day,
            account: "111122223333",
            account_name: "search-prod",
            service: "Amazon Bedrock",
            service_code: "AmazonBedrock",
            description: format!("${price:.2} per million {kind} tokens for Amazon Nova Lite in US East (N. Virginia)"),
            usage_type: format!("USE1-NovaLite-{kind}-tokens"),
            operation: "InvokeModelInference",
            quantity: tokens.round(),
            unit: "Tokens",
            unit_price: per_token(price),
            cost: tokens.round() * per_token(price),
            pricing_category: "Standard",
            resource: profile("q2rewrite5nl", "111122223333"),
            tags: Some(json!({"team": "search", "feature": "query-rewrite"})),
        });
        out.push_str(&line);
        out.push('\n');
    }
}

/// One model unit of Provisioned Throughput for Nova Pro: a shared commitment.
fn provisioned_row(out: &mut String, day: NaiveDate) {
    let line = focus_line(&FocusRow {
        day,
        account: "333344445555",
        account_name: "ml-platform",
        service: "Amazon Bedrock",
        service_code: "AmazonBedrock",
        description: "Provisioned Throughput for Amazon Nova Pro, 1 model unit, 1-month commitment"
            .into(),
        usage_type: "USE1-ProvisionedThroughput-ModelUnits".into(),
        operation: "ProvisionedThroughput",
        quantity: 24.0,
        unit: "Hours",
        unit_price: 20.0,
        cost: 480.0,
        pricing_category: "Committed",
        resource: "arn:aws:bedrock:us-east-1:333344445555:provisioned-model/n0vapr0pt001".into(),
        tags: None,
    });
    out.push_str(&line);
    out.push('\n');
}

//! Deterministic demo data: 90 days of LLM spend for a fictional company, written in each
//! provider's real export format, then ingested and reported like any user's files.
//!
//! - AWS: a FOCUS 1.0 export (as AWS Data Exports writes it, with `x_` columns); Bedrock via
//!   application inference profiles tagged team/feature, an untagged sandbox account, and a
//!   Provisioned Throughput commitment shared across teams (split by token usage).
//! - Azure: an MCA cost-details CSV; Azure OpenAI deployments tagged with inconsistent key
//!   casing (`team`, `Team`, `cost-center`), an untagged resource group attributed by a rule,
//!   and a PTU reservation shared across teams (split by spend).
//! - GCP: a billing export in `bq extract` JSON; Vertex AI Gemini in three projects, one
//!   labelled `Search Eng` (aliased to `search`), one unlabelled sandbox, promotional credits.
//!
//! Hidden in it: on day 72 (2026-10-14 with the default end) the search team's `rag-answer`
//! feature moves from Claude 3.5 Haiku to Claude Sonnet 4 with the same token volumes:
//! spend about 4x (3.75x) on that feature with flat traffic.

use crate::attribute::Attributor;
use crate::config::Config;
use crate::ingest::{self, IngestOptions};
use crate::normalise::ServiceFilter;
use crate::output::report::{self, Report, ReportOptions};
use crate::store::Store;
use anyhow::{Context, Result};
use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde_json::json;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub const DAYS: i64 = 90;
/// Day index (0-based) of the hidden model switch.
pub const SPIKE_DAY: i64 = 72;

pub const DEMO_CONFIG: &str = r#"# spendlens demo configuration (see README: Configuration)
[nightly]
# `spendlens nightly` re-ingests these every run (paths relative to this file).
exports = ["exports"]

[attribution.tags]
team = ["team", "Team", "cost-center"]
feature = ["feature", "app"]

[attribution.aliases.team]
search-eng = "search"

[[attribution.rules]]
name = "legal-resource-group"
match = { resource_group = "rg-legal-*" }
set = { team = "legal", feature = "contract-review" }

[[attribution.splits]]
name = "bedrock-provisioned-throughput"
match = { provider_name = "aws", usage_type = "provisioned" }
driver = "usage"
driver_match = { provider_name = "aws" }

[[attribution.splits]]
name = "azure-ptu-reservation"
match = { provider_name = "azure", usage_type = "provisioned" }
driver = "spend"
driver_match = { provider_name = "azure" }

# Commitments for `spendlens advise` to evaluate. Rates and throughput are illustrative:
# use the figures of your own Provisioned Throughput or PTU quote.
[[advise.commitments]]
model = "amazon.nova-pro"
hourly_rate = 20.0
tokens_per_minute_per_unit = 400000

[[advise.commitments]]
model = "gpt-4o"
hourly_rate = 0.36
tokens_per_minute_per_unit = 2500

[[advise.commitments]]
model = "anthropic.claude-3-5-sonnet"
hourly_rate = 4.0
tokens_per_minute_per_unit = 40000
"#;

/// What the demo produced.
pub struct Demo {
    pub exports: Vec<PathBuf>,
    pub config_path: PathBuf,
    pub data_dir: PathBuf,
    pub report: Report,
}

/// Deterministic noise in [1 - amp, 1 + amp] for (stream, day): a hash, not a sequence, so
/// adding a stream never changes another.
fn noise(stream: &str, day: i64, amp: f64) -> f64 {
    let mut h: u64 = 0x9E37_79B9_7F4A_7C15 ^ (day as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    for b in stream.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01B3);
    }
    h ^= h >> 31;
    h = h.wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^= h >> 29;
    let unit = (h >> 11) as f64 / (1u64 << 53) as f64;
    1.0 + amp * (2.0 * unit - 1.0)
}

/// Traffic multiplier: weekday/weekend shape and a gentle upward trend.
fn traffic(day: NaiveDate, index: i64, weekend_dip: bool) -> f64 {
    let weekly = match day.weekday() {
        Weekday::Sat | Weekday::Sun if weekend_dip => 0.55,
        _ => 1.0,
    };
    weekly * (1.0 + 0.003 * index as f64)
}

/// (stream, account, account name, (model name, product code, price), tokens in, tokens out,
/// tags, inference profile ARN, weekend dip)
type BedrockFeature<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a (&'a str, &'a str, Price),
    f64,
    f64,
    Option<serde_json::Value>,
    String,
    bool,
);
/// (stream, resource group, account, meter prefix, tokens in, out, $/M in, out, tags)
type AzureDeployment<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    f64,
    f64,
    f64,
    f64,
    &'a str,
);
/// (stream, project, labels, model, tokens in, out, cached, $/M in, out, cached)
type VertexWorkload<'a> = (
    &'a str,
    &'a str,
    Vec<(&'a str, &'a str)>,
    &'a str,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
);

struct Price {
    input: f64,
    output: f64,
}

fn per_token(p_per_million: f64) -> f64 {
    p_per_million / 1_000_000.0
}

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

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn ts(d: NaiveDate) -> String {
    format!("{} 00:00:00", d.format("%Y-%m-%d"))
}

fn month_bounds(d: NaiveDate) -> (NaiveDate, NaiveDate) {
    let start = d.with_day(1).unwrap();
    let next = if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1).unwrap()
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1).unwrap()
    };
    (start, next)
}

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

fn aws_export(days: &[NaiveDate]) -> String {
    let mut out = FOCUS_COLUMNS
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
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
    let profile = |id: &str, account: &str| {
        format!("arn:aws:bedrock:us-east-1:{account}:application-inference-profile/{id}")
    };
    for (i, &day) in days.iter().enumerate() {
        let i = i as i64;
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
        // Amazon Nova Lite for query rewriting, billed under Amazon Bedrock itself.
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
        // One model unit of Provisioned Throughput for Nova Pro: a shared commitment.
        let line = focus_line(&FocusRow {
            day,
            account: "333344445555",
            account_name: "ml-platform",
            service: "Amazon Bedrock",
            service_code: "AmazonBedrock",
            description:
                "Provisioned Throughput for Amazon Nova Pro, 1 model unit, 1-month commitment"
                    .into(),
            usage_type: "USE1-ProvisionedThroughput-ModelUnits".into(),
            operation: "ProvisionedThroughput",
            quantity: 24.0,
            unit: "Hours",
            unit_price: 20.0,
            cost: 480.0,
            pricing_category: "Committed",
            resource: "arn:aws:bedrock:us-east-1:333344445555:provisioned-model/n0vapr0pt001"
                .into(),
            tags: None,
        });
        out.push_str(&line);
        out.push('\n');
    }
    out
}

const MCA_COLUMNS: &[&str] = &[
    "invoiceId",
    "previousInvoiceId",
    "billingAccountId",
    "billingAccountName",
    "billingProfileId",
    "billingProfileName",
    "invoiceSectionId",
    "invoiceSectionName",
    "resellerName",
    "resellerMpnId",
    "costCenter",
    "billingPeriodEndDate",
    "billingPeriodStartDate",
    "servicePeriodEndDate",
    "servicePeriodStartDate",
    "date",
    "serviceFamily",
    "productOrderId",
    "productOrderName",
    "consumedService",
    "meterId",
    "meterName",
    "meterCategory",
    "meterSubCategory",
    "meterRegion",
    "ProductId",
    "ProductName",
    "SubscriptionId",
    "subscriptionName",
    "publisherType",
    "publisherId",
    "publisherName",
    "resourceGroupName",
    "ResourceId",
    "resourceLocation",
    "location",
    "effectivePrice",
    "quantity",
    "unitOfMeasure",
    "chargeType",
    "billingCurrency",
    "pricingCurrency",
    "costInBillingCurrency",
    "costInPricingCurrency",
    "costInUsd",
    "paygCostInBillingCurrency",
    "paygCostInUsd",
    "exchangeRatePricingToBilling",
    "exchangeRateDate",
    "isAzureCreditEligible",
    "serviceInfo1",
    "serviceInfo2",
    "additionalInfo",
    "tags",
    "PayGPrice",
    "frequency",
    "term",
    "reservationId",
    "reservationName",
    "pricingModel",
    "unitPrice",
    "costAllocationRuleName",
    "benefitId",
    "benefitName",
    "provider",
];

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        quote(s)
    } else {
        s.to_string()
    }
}

struct AzureRow<'a> {
    day: NaiveDate,
    rg: &'a str,
    account: &'a str,
    meter: String,
    product: String,
    quantity: f64,
    unit: &'a str,
    price: f64,
    cost: f64,
    pricing_model: &'a str,
    tags: &'a str,
}

fn azure_line(r: &AzureRow) -> String {
    let sub = "5f1c2a9e-3b7d-4e21-9a0c-7d2e4b6a8c10";
    let (bp_start, bp_end) = month_bounds(r.day);
    let us = |d: NaiveDate| d.format("%m/%d/%Y").to_string();
    let resource = format!(
        "/subscriptions/{sub}/resourceGroups/{}/providers/Microsoft.CognitiveServices/accounts/{}",
        r.rg, r.account
    );
    let cost = format!("{:.10}", r.cost);
    let values: Vec<String> = vec![
        String::new(),
        String::new(),
        "7a1b2c3d-0000-4000-8000-acme00000001:acme_2019-05-31".into(),
        "Acme Corp".into(),
        "AB12-CD34-EF5-GH6".into(),
        "Acme Billing".into(),
        "IJ78-KL90-MN1-OP2".into(),
        "AI Platform".into(),
        String::new(),
        String::new(),
        String::new(),
        us(bp_end - Duration::days(1)),
        us(bp_start),
        us(r.day),
        us(r.day),
        us(r.day),
        "AI + Machine Learning".into(),
        String::new(),
        String::new(),
        "Microsoft.CognitiveServices".into(),
        "0b7e3c1a-8d5f-4f2a-9e61-3c0d2b4a5f71".into(),
        r.meter.clone(),
        "Cognitive Services".into(),
        "Azure OpenAI".into(),
        "East US 2".into(),
        "DZH318Z0BQ4C".into(),
        r.product.clone(),
        sub.into(),
        "acme-ai-prod".into(),
        "Microsoft".into(),
        String::new(),
        "Microsoft".into(),
        r.rg.into(),
        resource,
        "eastus2".into(),
        "US East 2".into(),
        format!("{}", r.price),
        format!("{:.4}", r.quantity),
        r.unit.into(),
        "Usage".into(),
        "USD".into(),
        "USD".into(),
        cost.clone(),
        cost.clone(),
        cost.clone(),
        cost.clone(),
        cost,
        "1".into(),
        us(bp_start),
        "True".into(),
        String::new(),
        String::new(),
        String::new(),
        r.tags.into(),
        format!("{}", r.price),
        "UsageBased".into(),
        String::new(),
        String::new(),
        String::new(),
        r.pricing_model.into(),
        format!("{}", r.price),
        String::new(),
        String::new(),
        String::new(),
        "Azure".into(),
    ];
    values
        .iter()
        .map(|v| csv_field(v))
        .collect::<Vec<_>>()
        .join(",")
}

fn azure_export(days: &[NaiveDate]) -> String {
    let mut out = MCA_COLUMNS.join(",");
    out.push('\n');
    // (stream, resource group, account, model meter prefix, product model, in/out tokens, $/M in/out, tags)
    let deployments: [AzureDeployment; 3] = [
        (
            "chat-assist",
            "rg-support-ai",
            "aoai-support-eus2",
            "gpt-4o-0806",
            80e6,
            10e6,
            2.50,
            10.0,
            r#""Team": "support","feature": "chat-assist""#,
        ),
        (
            "copywriter",
            "rg-marketing-ai",
            "aoai-marketing-eus2",
            "gpt-4o-mini-0718",
            200e6,
            50e6,
            0.15,
            0.60,
            r#""cost-center": "Marketing ","app": "copywriter""#,
        ),
        (
            "contract-review",
            "rg-legal-ai",
            "aoai-legal-eus2",
            "gpt-4o-0806",
            20e6,
            2e6,
            2.50,
            10.0,
            "",
        ),
    ];
    for (i, &day) in days.iter().enumerate() {
        let i = i as i64;
        for (stream, rg, account, meter, tin, tout, pin, pout, tags) in &deployments {
            let t = traffic(day, i, true) * noise(stream, i, 0.08);
            for (kind, tokens, price) in [("Inp", tin * t, *pin), ("Outp", tout * t, *pout)] {
                let thousands = (tokens / 1000.0).round();
                let line = azure_line(&AzureRow {
                    day,
                    rg,
                    account,
                    meter: format!("{meter}-{kind}-glbl Tokens"),
                    product: format!("Azure OpenAI - {meter}-{kind}-glbl"),
                    quantity: thousands,
                    unit: "1K",
                    price: price / 1000.0,
                    cost: thousands * price / 1000.0,
                    pricing_model: "OnDemand",
                    tags,
                });
                out.push_str(&line);
                out.push('\n');
            }
        }
        // 50 PTUs of gpt-4o, reservation amortised daily; untagged shared capacity.
        let line = azure_line(&AzureRow {
            day,
            rg: "rg-ai-platform",
            account: "aoai-ptu-eus2",
            meter: "gpt-4o Provisioned Managed Global PTU".into(),
            product: "Azure OpenAI - gpt-4o Provisioned Managed Global".into(),
            quantity: 1200.0,
            unit: "1 Hour",
            price: 0.36,
            cost: 432.0,
            pricing_model: "Reservation",
            tags: "",
        });
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn gcp_export(days: &[NaiveDate]) -> String {
    let mut out = String::new();
    // (stream, project, labels, model, in, out, cached in, $/M in, out, cached)
    let workloads: [VertexWorkload; 3] = [
        (
            "eval-harness",
            "acme-research-prod",
            vec![("team", "research"), ("feature", "eval-harness")],
            "Gemini 2.5 Pro",
            100e6,
            8e6,
            40e6,
            1.25,
            10.0,
            0.31,
        ),
        (
            "doc-tagging",
            "acme-search-prod",
            vec![("team", "Search Eng"), ("feature", "doc-tagging")],
            "Gemini 2.5 Flash",
            300e6,
            30e6,
            0.0,
            0.30,
            2.50,
            0.075,
        ),
        (
            "gcp-sandbox",
            "acme-sandbox",
            vec![],
            "Gemini 2.5 Flash",
            20e6,
            2e6,
            0.0,
            0.30,
            2.50,
            0.075,
        ),
    ];
    for (i, &day) in days.iter().enumerate() {
        let i = i as i64;
        for (stream, project, labels, model, tin, tout, tcache, pin, pout, pcache) in &workloads {
            let t = traffic(day, i, *stream != "eval-harness") * noise(stream, i, 0.08);
            for (kind, tokens, price) in [
                ("Text Input", tin * t, *pin),
                ("Text Output", tout * t, *pout),
                ("Cached Text Input", tcache * t, *pcache),
            ] {
                if tokens <= 0.0 {
                    continue;
                }
                let tokens = tokens.round();
                let cost = tokens * per_token(price);
                // Promotional credit on the research project for the first 30 days.
                let credits = if *stream == "eval-harness" && i < 30 && kind == "Text Input" {
                    json!([{"name": "Vertex AI Trial Credit", "amount": -(cost * 0.4), "full_name": null, "id": "PROMO-2026-VERTEX", "type": "PROMOTION"}])
                } else {
                    json!([])
                };
                let row = json!({
                    "billing_account_id": "01A2B3-C4D5E6-F7A8B9",
                    "service": {"id": "C7E2-9256-1C43", "description": "Vertex AI"},
                    "sku": {"id": format!("{:04X}-{:04X}-{:04X}", (i * 7 + 11) % 65536, kind.len() * 97, model.len() * 131), "description": format!("{model} {kind} - Predictions")},
                    "usage_start_time": format!("{} 00:00:00 UTC", day),
                    "usage_end_time": format!("{} 00:00:00 UTC", day + Duration::days(1)),
                    "project": {
                        "id": project, "number": "4815162342", "name": project,
                        "labels": labels.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
                        "ancestry_numbers": "/123456789/"
                    },
                    "labels": [],
                    "system_labels": [],
                    "location": {"location": "us-central1", "country": "US", "region": "us-central1", "zone": null},
                    "export_time": format!("{} 06:12:44.123456 UTC", day + Duration::days(1)),
                    "cost": cost,
                    "currency": "USD",
                    "currency_conversion_rate": 1.0,
                    "usage": {"amount": tokens, "unit": "count", "amount_in_pricing_units": tokens / 1e6, "pricing_unit": "1M count"},
                    "credits": credits,
                    "invoice": {"month": day.format("%Y%m").to_string()},
                    "cost_type": "regular",
                });
                let _ = writeln!(out, "{row}");
            }
        }
    }
    out
}

/// Days covered by the demo report: the last 30, so top movers compare against the 30 before.
pub const REPORT_DAYS: i64 = 30;

/// Write the demo exports and config under `dir`, ingest them into `dir/data`, build the
/// report over the last [`REPORT_DAYS`] days.
pub fn build(dir: &Path, end: NaiveDate) -> Result<Demo> {
    let exports_dir = dir.join("exports");
    std::fs::create_dir_all(&exports_dir)
        .with_context(|| format!("creating `{}`", exports_dir.display()))?;
    let days: Vec<NaiveDate> = (0..DAYS)
        .map(|i| end - Duration::days(DAYS - 1 - i))
        .collect();
    let files = [
        ("aws_focus_1.0.csv", aws_export(&days)),
        ("azure_cost_details_mca.csv", azure_export(&days)),
        ("gcp_billing_export.jsonl", gcp_export(&days)),
    ];
    let mut exports = Vec::new();
    for (name, text) in files {
        let path = exports_dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing `{}`", path.display()))?;
        exports.push(path);
    }
    let config_path = dir.join("spendlens.toml");
    std::fs::write(&config_path, DEMO_CONFIG)
        .with_context(|| format!("writing `{}`", config_path.display()))?;
    let config = Config::parse(DEMO_CONFIG, &config_path)?;
    let data_dir = dir.join("data");
    let store = Store::new(&data_dir);
    {
        let lock = store.lock()?;
        let outcome = ingest::ingest_files(
            &store,
            &lock,
            &exports,
            &IngestOptions {
                format: None,
                services: ServiceFilter::default(),
                source: None,
                part_bytes: crate::ingest::PART_BYTES,
            },
        )?;
        if let Some(e) = outcome.failed.into_iter().next() {
            return Err(e).context("ingesting the demo exports");
        }
    }
    let report = report::build(
        &store,
        &Attributor::new(&config.attribution),
        &ReportOptions {
            anomalies: config.anomalies.clone(),
            from: Some(end - Duration::days(REPORT_DAYS - 1)),
            to: Some(end),
            currency: None,
            top: 10,
            stale_after_days: config.nightly.stale_after_days,
            daily_series: crate::output::report::DAILY_SERIES,
        },
    )?;
    Ok(Demo {
        exports,
        config_path,
        data_dir,
        report,
    })
}

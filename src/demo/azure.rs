//! The demo's Azure exports: MCA cost-details CSVs of Azure OpenAI deployments, in both of
//! Azure's views. The amortized view spreads the PTU reservation over its days; the actual
//! view bills it as one `Purchase` per month on the month's first demo day and its usage at
//! 0, as Azure does. Stored together, billed cost comes from the one and effective cost
//! from the other.

use super::*;

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
    charge_type: &'a str,
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
        r.charge_type.into(),
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

pub(super) fn azure_export(days: &[NaiveDate], view: AzureView) -> String {
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
                    charge_type: "Usage",
                    tags,
                });
                out.push_str(&line);
                out.push('\n');
            }
        }
        // 50 PTUs of gpt-4o, untagged shared capacity: the reservation amortised daily, or
        // (actual view) used at 0 and bought once a month.
        let ptu = |day, cost, charge_type| AzureRow {
            day,
            rg: "rg-ai-platform",
            account: "aoai-ptu-eus2",
            meter: "gpt-4o Provisioned Managed Global PTU".into(),
            product: "Azure OpenAI - gpt-4o Provisioned Managed Global".into(),
            quantity: if charge_type == "Purchase" {
                1.0
            } else {
                1200.0
            },
            unit: "1 Hour",
            price: PTU_DAY / 1200.0,
            cost,
            pricing_model: "Reservation",
            charge_type,
            tags: "",
        };
        let line = match view {
            AzureView::Amortized => azure_line(&ptu(day, PTU_DAY, "Usage")),
            AzureView::Actual => {
                let mut lines = azure_line(&ptu(day, 0.0, "Usage"));
                let month = month_bounds(day);
                if i == 0 || month_bounds(days[i as usize - 1]) != month {
                    let in_month = days.iter().filter(|d| month_bounds(**d) == month).count();
                    lines.push('\n');
                    lines.push_str(&azure_line(&ptu(
                        day,
                        PTU_DAY * in_month as f64,
                        "Purchase",
                    )));
                }
                lines
            }
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// What the demo's PTU reservation costs a day, amortized.
const PTU_DAY: f64 = 432.0;

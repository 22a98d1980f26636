//! The demo's GCP export: the billing export as `bq extract` writes it (JSON lines), Vertex
//! AI Gemini in three projects.

use super::*;

pub(super) fn gcp_export(days: &[NaiveDate]) -> String {
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
                // Promotional credit on the research project until CREDITS_END_DAY.
                let credits = if *stream == "eval-harness"
                    && i < super::CREDITS_END_DAY
                    && kind == "Text Input"
                {
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

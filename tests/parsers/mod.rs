//! Parser robustness: property tests over every input format and the text parsers. Whatever
//! the bytes, parsing never panics; a rejection names the file, and the line and column
//! where there is one. Odd but valid input (UTF-8 BOM, CRLF, empty files, tags holding
//! commas, quotes, unicode or markup) is accepted.

use proptest::prelude::*;
use spendlens::ingest::{self, Format, IngestError, IngestOptions};
use spendlens::normalise::ServiceFilter;
use std::path::Path;

fn opts(format: Option<Format>) -> IngestOptions {
    IngestOptions {
        format,
        services: ServiceFilter::parse("all"),
        source: None,
        part_bytes: spendlens::ingest::PART_BYTES,
        azure_view: None,
        dates: spendlens::ingest::DateRange::standard(),
    }
}

/// The contract of a rejection: it names the file, and a bad value its line and column.
fn check_error(e: &IngestError, file: &Path) {
    let msg = e.to_string();
    assert!(
        msg.contains(&file.display().to_string()),
        "the error names the file: {msg}"
    );
    if let IngestError::BadValue { line, column, .. } = e {
        assert!(*line >= 1 && !column.is_empty(), "{msg}");
        assert!(msg.contains(&format!("line {line}")), "{msg}");
    }
}

/// Cell values from the tame to the hostile.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("NULL".to_string()),
        "[0-9]{1,6}(\\.[0-9]{1,6})?",
        "-?[0-9]{1,3}e[0-9]",
        "20[0-9]{2}-[01][0-9]-[0-3][0-9]( [0-2][0-9]:00:00)?",
        "[A-Za-z ,;|]{0,12}",
        Just("<script>alert(1)</script>".to_string()),
        Just("\"quoted, with comma\"".to_string()),
        Just("ünïcødé ✓ 日本".to_string()),
        Just("=HYPERLINK(\"x\")".to_string()),
        any::<String>(),
    ]
}

const FOCUS_HEADER: &[&str] = &[
    "BilledCost",
    "BillingCurrency",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "EffectiveCost",
    "ProviderName",
    "ServiceName",
    "SubAccountId",
    "Tags",
    "ConsumedQuantity",
];

fn csv_field(v: &str) -> String {
    format!("\"{}\"", v.replace('"', "\"\""))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn focus_csv_never_panics_and_errors_name_their_place(
        rows in prop::collection::vec(prop::collection::vec(cell(), FOCUS_HEADER.len()), 0..6),
        bom in any::<bool>(),
        crlf in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("focus.csv");
        let nl = if crlf { "\r\n" } else { "\n" };
        let mut text = String::new();
        if bom { text.push('\u{feff}'); }
        text.push_str(&FOCUS_HEADER.join(","));
        text.push_str(nl);
        for r in &rows {
            text.push_str(&r.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","));
            text.push_str(nl);
        }
        std::fs::write(&file, text).unwrap();
        match ingest::parse_file(&file, &opts(None)) {
            Ok(p) => prop_assert_eq!(p.rows_read, rows.len()),
            Err(e) => check_error(&e, &file),
        }
    }

    #[test]
    fn any_bytes_as_any_format_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..400),
        ext in prop_oneof![Just("csv"), Just("json"), Just("jsonl"), Just("parquet")],
        format in prop_oneof![Just(None), Just(Some(Format::Focus)), Just(Some(Format::Azure)), Just(Some(Format::Gcp))],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("export.{ext}"));
        std::fs::write(&file, &bytes).unwrap();
        if let Err(e) = ingest::parse_file(&file, &opts(format)) {
            check_error(&e, &file);
        }
    }

    #[test]
    fn gcp_json_lines_never_panic(
        lines in prop::collection::vec(prop_oneof![
            // A well-formed export row with arbitrary label values and amounts.
            (cell(), cell(), -1e6f64..1e6f64).prop_map(|(k, v, cost)| serde_json::json!({
                "billing_account_id": "01A2B3-C4D5E6-F7A8B9",
                "service": {"description": "Vertex AI"},
                "sku": {"description": "Gemini 2.5 Pro Text Input"},
                "usage_start_time": "2026-10-01 00:00:00 UTC",
                "usage_end_time": "2026-10-02 00:00:00 UTC",
                "project": {"id": "p", "labels": [{"key": k, "value": v}]},
                "labels": [],
                "cost": cost, "currency": "USD",
                "credits": [{"amount": -cost.abs() / 2.0, "type": "PROMOTION"}],
            }).to_string()),
            any::<String>().prop_map(|s| s.replace('\n', " ")),
            Just("{\"credits\": 5}".to_string()),
            Just("[1, 2, 3]".to_string()),
        ], 0..5),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gcp.jsonl");
        std::fs::write(&file, lines.join("\n")).unwrap();
        if let Err(e) = ingest::parse_file(&file, &opts(Some(Format::Gcp))) {
            check_error(&e, &file);
        }
    }

    #[test]
    fn azure_tags_of_any_shape_never_panic(tags in cell(), cost in cell()) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("azure.csv");
        let text = format!(
            "\u{feff}Date,SubscriptionId,MeterCategory,MeterName,CostInBillingCurrency,BillingCurrency,Tags\r\n10/14/2026,sub-1,Azure OpenAI,gpt-4o-0806-Inp-glbl Tokens,{},USD,{}\r\n",
            csv_field(&cost),
            csv_field(&tags)
        );
        std::fs::write(&file, text).unwrap();
        if let Err(e) = ingest::parse_file(&file, &opts(Some(Format::Azure))) {
            check_error(&e, &file);
        }
    }

    #[test]
    fn text_parsers_never_panic_and_stay_in_their_vocabulary(s in any::<String>()) {
        let u = spendlens::normalise::usage_type(&s);
        prop_assert!(spendlens::schema::USAGE_TYPES.contains(&u), "{u}");
        let _ = spendlens::normalise::model(&s);
        let _ = spendlens::normalise::pricing_detail(&s);
        let _ = spendlens::normalise::aws_usage_type_region(&s);
        let _ = spendlens::normalise::token_unit_multiplier(&s);
        let _ = spendlens::ingest::canonical_tags(&s);
    }

    #[test]
    fn any_config_text_is_parsed_or_rejected_naming_the_file(s in prop_oneof![
        any::<String>(),
        "\\[(attribution|anomalies|gcp|azure|aws|nightly)\\]\n[a-z_]{1,12} = (\"[a-z]{0,5}\"|[0-9]{1,3}|\\[\\])",
    ]) {
        let path = Path::new("fuzz/spendlens.toml");
        if let Err(e) = spendlens::config::Config::parse(&s, path) {
            prop_assert!(e.to_string().contains("fuzz/spendlens.toml"), "{e}");
        }
    }
}

#[test]
fn odd_but_valid_files_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    // A file with no header at all (0 bytes, or a BOM alone) is a cut-short download: an
    // error naming the file, never an empty export.
    for name in ["empty.csv", "empty.jsonl", "bom-only.csv"] {
        let file = dir.path().join(name);
        std::fs::write(
            &file,
            if name == "bom-only.csv" {
                "\u{feff}"
            } else {
                ""
            },
        )
        .unwrap();
        let e = ingest::parse_file(&file, &opts(None)).expect_err(name);
        assert!(
            e.to_string().contains(name) && e.to_string().contains("empty"),
            "{e}"
        );
    }
    // BOM, CRLF, and tags holding commas, quotes, unicode and markup, in an Azure export.
    let file = dir.path().join("azure.csv");
    let tags = r#""team": "search, core", "feature": "say \"hi\" ✓", "note": "<script>x</script>""#;
    std::fs::write(
        &file,
        format!(
            "\u{feff}Date,SubscriptionId,MeterCategory,MeterName,CostInBillingCurrency,BillingCurrency,Tags\r\n10/14/2026,sub-1,Azure OpenAI,gpt-4o-0806-Inp-glbl Tokens,1.25,USD,{}\r\n",
            csv_field(tags)
        ),
    )
    .unwrap();
    let p = ingest::parse_file(&file, &opts(None)).unwrap();
    assert_eq!(p.rows_kept, 1);
    let stored: serde_json::Value = serde_json::from_str(
        p.frame
            .column("tags")
            .unwrap()
            .str()
            .unwrap()
            .get(0)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stored["team"], "search, core");
    assert_eq!(stored["feature"], "say \"hi\" ✓");
    assert_eq!(stored["note"], "<script>x</script>");
}

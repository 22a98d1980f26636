//! End-to-end tests: the real binary and library on the real public sample exports in
//! `../shared/data/` and on the generated demo data.

// A scenario test reads top to bottom as the user's session it replays; the 120-line limit
// is for the code under test.
#![allow(clippy::too_many_lines)]

mod aws;
mod azure;
mod billing;
mod budgets;
mod faults;
mod gcp;
mod hostile;
mod incidents;
mod nightly;
mod parsers;
mod parts;
mod rollups;
mod stand_in;

use polars::prelude::*;
use serde_json::Value;
use spendlens::ingest::{self, IngestOptions};
use spendlens::normalise::ServiceFilter;
use spendlens::schema;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `../shared/data` next to the repository (where the sample exports live).
fn shared(rel: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let p = root.join("../shared/data").join(rel);
    assert!(p.exists(), "sample file missing: {}", p.display());
    p
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn data(&self) -> PathBuf {
        self.path("data")
    }
    /// Run spendlens with this environment's data dir and config path.
    /// Runs in the temp dir, so the default `./spendlens.toml` is this environment's.
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_spendlens"))
            .current_dir(self.dir.path())
            .arg("--data-dir")
            .arg(self.data())
            .args(args)
            .env_remove("SPENDLENS_CONFIG")
            .env_remove("SPENDLENS_DATA_DIR")
            .output()
            .unwrap()
    }
    fn config(&self, text: &str) {
        std::fs::write(self.path("spendlens.toml"), text).unwrap();
    }
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "spendlens {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "spendlens {args:?} should fail with 2; stdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }
    fn report_json(&self, extra: &[&str]) -> Value {
        let mut args = vec!["report", "--format", "json"];
        args.extend_from_slice(extra);
        serde_json::from_str(&self.ok(&args)).expect("report --format json prints only JSON")
    }
    /// Ingest one of the shared sample files, keeping every service.
    fn ingest_sample(&self, rel: &str) -> String {
        self.ok(&["ingest", "--services", "all", shared(rel).to_str().unwrap()])
    }
    fn manifest(&self) -> Option<String> {
        std::fs::read_to_string(self.data().join("manifest.json")).ok()
    }
}

/// The teams of a JSON report, in its order.
fn teams(report: &Value) -> Vec<&str> {
    report["by_team"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["team"].as_str().unwrap())
        .collect()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

fn all_services() -> IngestOptions {
    IngestOptions {
        format: None,
        services: ServiceFilter::All,
        source: None,
        part_bytes: spendlens::ingest::PART_BYTES,
        azure_view: None,
        dates: ingest::DateRange::standard(),
    }
}

/// Sum a money column of a CostRecord frame, optionally for one value of another column.
fn sum_where(df: &DataFrame, money: &str, filter: Option<(&str, &str)>) -> f64 {
    let mut lf = df.clone().lazy();
    if let Some((c, v)) = filter {
        lf = lf.filter(col(c).eq(lit(v)));
    }
    let out = lf.select([col(money).sum()]).collect().unwrap();
    out.column(money)
        .unwrap()
        .f64()
        .unwrap()
        .get(0)
        .unwrap_or(0.0)
}

// ---------------------------------------------------------------------------------------------
// Real sample exports reconcile to their documented totals.

#[test]
fn focus_sample_reconciles_by_provider_and_charge_category() {
    let parsed =
        ingest::parse_file(&shared("focus/focus-1.0_sample.csv"), &all_services()).unwrap();
    schema::validate_cost(&parsed.frame).unwrap();
    assert_eq!(parsed.rows_read, 1000);
    let df = &parsed.frame;
    // Totals from shared/data/README.md (exact decimals, rounded to cents).
    assert!(close(
        sum_where(df, "billed_cost", None),
        20.52022672899,
        1e-6
    ));
    assert!(close(
        sum_where(df, "effective_cost", None),
        14.97651418586,
        1e-6
    ));
    for (provider, billed, effective) in [
        ("aws", 18.01, 13.00),
        ("azure", 1.98, 1.98),
        ("oracle", 0.54, 0.00),
    ] {
        let b = sum_where(df, "billed_cost", Some(("provider_name", provider)));
        let e = sum_where(df, "effective_cost", Some(("provider_name", provider)));
        assert!(
            close(b, billed, 0.005) && close(e, effective, 0.005),
            "{provider}: {b} {e}"
        );
    }
    // Credits and adjustments keep their FOCUS ChargeCategory.
    for (category, billed, effective) in [
        ("Usage", 22.86, 17.98),
        ("Adjustment", 0.27, 0.00),
        ("Credit", -2.61, -3.00),
    ] {
        let b = sum_where(df, "billed_cost", Some(("charge_category", category)));
        let e = sum_where(df, "effective_cost", Some(("charge_category", category)));
        assert!(
            close(b, billed, 0.005) && close(e, effective, 0.005),
            "{category}: {b} {e}"
        );
    }
    let committed = df
        .clone()
        .lazy()
        .filter(col("pricing_category").eq(lit("Committed")))
        .collect()
        .unwrap();
    assert!(
        committed.height() > 0,
        "Committed rows keep their pricing category"
    );
}

#[test]
fn every_sample_ingests_through_the_cli_and_the_report_reconciles() {
    for (file, billed, effective) in [
        ("focus/focus-1.0_sample.csv", 20.52, 14.98),
        ("azure/EA_ActualCost_Small.csv", 8.55, 8.55),
        ("azure/EA_AmortizedCost_Small.csv", 16.30, 16.30),
    ] {
        let env = Env::new();
        env.ok(&[
            "ingest",
            "--services",
            "all",
            shared(file).to_str().unwrap(),
        ]);
        let r = env.report_json(&[]);
        let t = &r["totals"];
        assert!(
            close(t["billed_cost"].as_f64().unwrap(), billed, 0.01),
            "{file}: {t}"
        );
        assert!(
            close(t["effective_cost"].as_f64().unwrap(), effective, 0.01),
            "{file}: {t}"
        );
        let parts = t["allocated_cost"].as_f64().unwrap() + t["unallocated_cost"].as_f64().unwrap();
        assert!(
            close(parts, effective, 0.01),
            "{file}: allocated + unallocated = total"
        );
        assert_eq!(r["currency"], "USD");
        for key in [
            "schema_version",
            "period",
            "by_provider",
            "by_team",
            "by_team_feature",
            "by_model",
            "incidents",
            "anomalies",
        ] {
            assert!(r.get(key).is_some(), "report JSON lacks `{key}`");
        }
        assert!(r["period"]["start"].is_string() && r["period"]["end"].is_string());
    }
}

#[test]
fn azure_header_only_export_ingests_as_nothing() {
    let env = Env::new();
    let out = env.ok(&["ingest", shared("azure/EA_NoRows.csv").to_str().unwrap()]);
    assert!(out.contains("0 row(s) read"), "{out}");
}

#[test]
fn azure_tags_without_braces_attribute_and_casing_is_normalised() {
    let env = Env::new();
    env.config("[attribution.tags]\nteam = [\"CostCenter\"]\nfeature = [\"application\"]\n");
    env.ingest_sample("azure/EA_ActualCost_Small.csv");
    let r = env.report_json(&[]);
    let teams = teams(&r);
    assert!(
        teams.contains(&"1234") && teams.contains(&"subacm"),
        "{teams:?}"
    );
    // Untagged rows (the reservation purchase among them) stay visible as unallocated.
    assert!(teams.contains(&"unallocated"));
    let features: Vec<&str> = r["by_team_feature"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["feature"].as_str().unwrap())
        .collect();
    assert!(features.contains(&"databricks"), "{features:?}");
}

/// Convert koku's flattened GCP dump (dotted columns, Python-repr records) into the nested
/// newline-delimited JSON `bq extract` writes.
fn koku_to_bq_json(csv: &Path, out: &Path) {
    let df = CsvReadOptions::default()
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(csv.to_path_buf()))
        .unwrap()
        .finish()
        .unwrap();
    let numeric = [
        "cost",
        "currency_conversion_rate",
        "usage.amount",
        "usage.amount_in_pricing_units",
    ];
    let repr = ["project.labels", "labels", "system_labels", "credits"];
    let mut lines = String::new();
    for i in 0..df.height() {
        let mut row = serde_json::Map::new();
        for column in df.columns() {
            let name = column.name().as_str();
            let raw = column.str().unwrap().get(i);
            let value = match raw {
                None => Value::Null,
                Some(s) if numeric.contains(&name) => serde_json::from_str::<Value>(s).unwrap(),
                Some(s) if repr.contains(&name) => {
                    serde_json::from_str(&s.replace('\'', "\"").replace("None", "null")).unwrap()
                }
                // bq extract writes timestamps as `YYYY-MM-DD HH:MM:SS UTC`.
                Some(s) if name.ends_with("_time") => Value::String(s.replace("+00:00", " UTC")),
                Some(s) => Value::String(s.to_string()),
            };
            let mut parts: Vec<&str> = name.split('.').collect();
            let leaf = parts.pop().unwrap();
            let mut target = &mut row;
            for p in parts {
                target = target
                    .entry(p.to_string())
                    .or_insert_with(|| Value::Object(Default::default()))
                    .as_object_mut()
                    .unwrap();
            }
            target.insert(leaf.to_string(), value);
        }
        lines.push_str(&Value::Object(row).to_string());
        lines.push('\n');
    }
    std::fs::write(out, lines).unwrap();
}

#[test]
fn gcp_exports_reconcile_cost_and_credits_at_a_millionth() {
    let env = Env::new();
    for (file, rows, cost, credits) in [
        (
            "gcp/koku_gcp_billing_export_202011.csv",
            25,
            0.000032,
            -0.000032,
        ),
        ("gcp/koku_gcp_billing_export_202208.csv", 9, 0.000012, 0.0),
    ] {
        let json = env.path(&format!("{rows}.jsonl"));
        koku_to_bq_json(&shared(file), &json);
        let parsed = ingest::parse_file(&json, &all_services()).unwrap();
        schema::validate_cost(&parsed.frame).unwrap();
        assert_eq!(parsed.format, ingest::Format::Gcp);
        let usage = sum_where(
            &parsed.frame,
            "billed_cost",
            Some(("charge_category", "Usage")),
        );
        let credit = sum_where(
            &parsed.frame,
            "billed_cost",
            Some(("charge_category", "Credit")),
        );
        assert!(close(usage, cost, 1e-9), "{file}: usage {usage}");
        assert!(close(credit, credits, 1e-9), "{file}: credits {credit}");
        // Nested labels became tags.
        if rows == 25 {
            let tags = parsed.frame.column("tags").unwrap().str().unwrap().clone();
            assert!(
                tags.iter()
                    .flatten()
                    .any(|t| t.contains("goog-resource-type")),
                "labels kept as tags"
            );
            let details = parsed
                .frame
                .column("pricing_detail")
                .unwrap()
                .str()
                .unwrap()
                .clone();
            assert!(
                details.iter().flatten().any(|d| d == "promotion"),
                "credit type kept"
            );
        }

        // The same rows as Parquet with nested records (what `bq extract --destination_format
        // PARQUET` gives) ingest to the same money.
        let mut df = JsonReader::new(std::fs::File::open(&json).unwrap())
            .with_json_format(JsonFormat::JsonLines)
            .finish()
            .unwrap();
        let pq = env.path(&format!("{rows}.parquet"));
        ParquetWriter::new(std::fs::File::create(&pq).unwrap())
            .finish(&mut df)
            .unwrap();
        let from_parquet = ingest::parse_file(&pq, &all_services()).unwrap();
        let pq_usage = sum_where(
            &from_parquet.frame,
            "billed_cost",
            Some(("charge_category", "Usage")),
        );
        let pq_credit = sum_where(
            &from_parquet.frame,
            "billed_cost",
            Some(("charge_category", "Credit")),
        );
        assert!(
            close(pq_usage, cost, 1e-9) && close(pq_credit, credits, 1e-9),
            "parquet: {pq_usage} {pq_credit}"
        );
        assert_eq!(from_parquet.frame.height(), parsed.frame.height());
    }
}

#[test]
fn focus_parquet_ingests_like_focus_csv() {
    let env = Env::new();
    let csv = shared("focus/focus-1.0_sample.csv");
    let mut df = CsvReadOptions::default()
        .with_infer_schema_length(None)
        .with_parse_options(
            CsvParseOptions::default()
                .with_null_values(Some(NullValues::AllColumns(vec!["NULL".into()]))),
        )
        .try_into_reader_with_file_path(Some(csv.clone()))
        .unwrap()
        .finish()
        .unwrap();
    let pq = env.path("focus.parquet");
    ParquetWriter::new(std::fs::File::create(&pq).unwrap())
        .finish(&mut df)
        .unwrap();
    let a = ingest::parse_file(&csv, &all_services()).unwrap();
    let b = ingest::parse_file(&pq, &all_services()).unwrap();
    assert_eq!(b.format, ingest::Format::Focus);
    for money in ["billed_cost", "effective_cost"] {
        assert!(close(
            sum_where(&a.frame, money, None),
            sum_where(&b.frame, money, None),
            1e-9
        ));
    }
    assert_eq!(a.frame.height(), b.frame.height());
}

// ---------------------------------------------------------------------------------------------
// Bad input: clear errors naming file, line and column; nothing written.

/// The FOCUS sample with one edit applied to its text.
fn edited_focus(env: &Env, name: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    let text = std::fs::read_to_string(shared("focus/focus-1.0_sample.csv")).unwrap();
    let path = env.path(name);
    std::fs::write(&path, edit(&text)).unwrap();
    path
}

/// Split a CSV line at commas outside quotes (fields keep their quotes).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                fields.last_mut().unwrap().push(c);
            }
            ',' if !quoted => fields.push(String::new()),
            _ => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

/// Replace field `column` of line `line` (1-based file line; the header is line 1).
fn set_field(text: &str, line: usize, column: &str, value: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header = csv_fields(&lines[0]);
    let idx = header
        .iter()
        .position(|h| h.trim_matches('"') == column)
        .unwrap();
    let mut fields = csv_fields(&lines[line - 1]);
    assert_eq!(fields.len(), header.len());
    fields[idx] = value.to_string();
    lines[line - 1] = fields.join(",");
    lines.join("\n") + "\n"
}

/// Edit one field of the FOCUS sample, ingest it, and check the error names the file, the
/// line, the column and the offending value, and that nothing was written.
fn assert_rejected(line: usize, column: &str, value: &str, shown: &str) {
    let env = Env::new();
    let bad = edited_focus(&env, "edited.csv", |t| set_field(t, line, column, value));
    let err = env.fails(&["ingest", "--services", "all", bad.to_str().unwrap()]);
    for want in [
        "edited.csv",
        &format!("line {line},"),
        &format!("column `{column}`"),
        shown,
    ] {
        assert!(err.contains(want), "`{want}` not in: {err}");
    }
    assert!(env.manifest().is_none(), "nothing written");
}

#[test]
fn unparsable_number_is_named() {
    assert_rejected(418, "BilledCost", "12.5x", "`12.5x` is not a number");
    assert_rejected(3, "EffectiveCost", "NaN", "`NaN` is not a number");
}

#[test]
fn unparsable_date_is_named() {
    assert_rejected(
        7,
        "ChargePeriodStart",
        "\"31/09/2024 10:00\"",
        "`31/09/2024 10:00` is not a date",
    );
}

#[test]
fn unknown_charge_category_is_named() {
    assert_rejected(
        9,
        "ChargeCategory",
        "\"Bonus\"",
        "`Bonus` is not a charge category",
    );
}

#[test]
fn of_several_bad_values_the_first_in_the_file_is_named() {
    // Distinct values are checked in the order the file first holds them, so a file with
    // many bad rows is reported at its first, run after run.
    for _ in 0..3 {
        let env = Env::new();
        let bad = edited_focus(&env, "two_bad.csv", |t| {
            let t = set_field(t, 40, "ChargeCategory", "\"Bonus\"");
            set_field(&t, 12, "ChargeCategory", "\"Rebate\"")
        });
        let err = env.fails(&["ingest", "--services", "all", bad.to_str().unwrap()]);
        assert!(err.contains("line 12,"), "{err}");
        assert!(err.contains("`Rebate` is not a charge category"), "{err}");
        let bad = edited_focus(&env, "two_dates.csv", |t| {
            let t = set_field(t, 250, "ChargePeriodStart", "\"later\"");
            set_field(&t, 31, "ChargePeriodStart", "\"soon\"")
        });
        let err = env.fails(&["ingest", "--services", "all", bad.to_str().unwrap()]);
        assert!(err.contains("line 31,"), "{err}");
        assert!(err.contains("`soon` is not a date"), "{err}");
    }
}

#[test]
fn bad_and_mixed_currencies_are_named() {
    assert_rejected(
        101,
        "BillingCurrency",
        "\"EUR\"",
        "currency `EUR` differs from `USD`",
    );
    assert_rejected(
        55,
        "BillingCurrency",
        "\"US$\"",
        "`US$` is not a three-letter ISO 4217",
    );
}

#[test]
fn missing_required_column_is_named() {
    let env = Env::new();
    let bad = edited_focus(&env, "no_billed.csv", |t| {
        t.replacen("\"BilledCost\"", "\"Billed\"", 1)
    });
    // Without BilledCost the header no longer looks like FOCUS: say so and hint at --format.
    let err = env.fails(&["ingest", bad.to_str().unwrap()]);
    assert!(
        err.contains("no_billed.csv") && err.contains("--format"),
        "{err}"
    );
    let err = env.fails(&["ingest", "--format", "focus", bad.to_str().unwrap()]);
    assert!(
        err.contains("no_billed.csv") && err.contains("required column `BilledCost` is missing"),
        "{err}"
    );
    assert!(env.manifest().is_none());
}

#[test]
fn a_bad_file_leaves_the_store_exactly_as_it_was() {
    let env = Env::new();
    let good = shared("azure/EA_ActualCost_Small.csv");
    env.ok(&["ingest", "--services", "all", good.to_str().unwrap()]);
    let before = env.manifest().unwrap();
    let bad = edited_focus(&env, "bad.csv", |t| {
        set_field(t, 2, "EffectiveCost", "oops")
    });
    env.fails(&["ingest", "--services", "all", bad.to_str().unwrap()]);
    assert_eq!(env.manifest().unwrap(), before);
    let r = env.report_json(&[]);
    assert!(close(
        r["totals"]["effective_cost"].as_f64().unwrap(),
        8.55,
        0.01
    ));
}

// ---------------------------------------------------------------------------------------------
// Store: idempotent re-ingest, replacement of restated days, lock.

#[test]
fn reingesting_replaces_instead_of_double_counting() {
    let env = Env::new();
    let file = shared("focus/focus-1.0_sample.csv");
    env.ok(&["ingest", "--services", "all", file.to_str().unwrap()]);
    let first = env.report_json(&[]);
    let out = env.ok(&["ingest", "--services", "all", file.to_str().unwrap()]);
    assert!(
        out.contains("0 day partition(s) added, 55 replaced"),
        "{out}"
    );
    let second = env.report_json(&[]);
    assert_eq!(first["totals"], second["totals"]);

    // A restated export (one day's cost changed) replaces that day.
    let restated = edited_focus(&env, "restated.csv", |t| {
        set_field(t, 2, "BilledCost", "100.00000000000")
    });
    env.ok(&["ingest", "--services", "all", restated.to_str().unwrap()]);
    let third = env.report_json(&[]);
    let delta = third["totals"]["billed_cost"].as_f64().unwrap()
        - first["totals"]["billed_cost"].as_f64().unwrap();
    assert!(close(delta, 100.0 - 0.0000008, 1e-6), "{delta}");
}

#[test]
fn a_second_writer_is_refused_while_the_lock_is_held() {
    let env = Env::new();
    let store = spendlens::store::Store::new(env.data());
    let lock = store.lock().unwrap();
    let err = env.fails(&[
        "ingest",
        "--services",
        "all",
        shared("azure/EA_ActualCost_Small.csv").to_str().unwrap(),
    ]);
    assert!(
        err.contains("locked by another spendlens process")
            && err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    drop(lock);
    env.ingest_sample("azure/EA_ActualCost_Small.csv");
}

#[test]
fn a_lock_left_by_a_killed_process_does_not_block() {
    let env = Env::new();
    // A child that takes the lock and is killed while holding it.
    let mut child = Command::new(env!("CARGO_BIN_EXE_spendlens"))
        .arg("--data-dir")
        .arg(env.data())
        .args(["ingest", "--format", "gcp", "/dev/stdin"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the child holds the lock (its pid is written into the lock file).
    let lock_file = env.data().join("spendlens.lock");
    for _ in 0..200 {
        if std::fs::read_to_string(&lock_file).is_ok_and(|s| s.trim() == child.id().to_string()) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    env.ingest_sample("azure/EA_ActualCost_Small.csv");
}

// ---------------------------------------------------------------------------------------------
// Attribution and config.

#[test]
fn unknown_config_keys_are_rejected_with_their_name() {
    let env = Env::new();
    env.ingest_sample("azure/EA_ActualCost_Small.csv");
    env.config("[attribution]\nteam_tag = \"team\"\n");
    let err = env.fails(&["report"]);
    assert!(
        err.contains("team_tag") && err.contains("spendlens.toml"),
        "{err}"
    );
}

#[test]
fn an_explicit_config_that_does_not_exist_is_an_error() {
    let env = Env::new();
    env.ingest_sample("azure/EA_ActualCost_Small.csv");
    // The default ./spendlens.toml is optional ...
    env.ok(&["report"]);
    // ... a config the user names must exist.
    let err = env.fails(&["--config", "missing.toml", "report"]);
    assert!(err.contains("missing.toml"), "{err}");
}

fn demo(env: &Env) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_spendlens"))
        .args(["demo", "--format", "json", "--dir"])
        .arg(env.path("demo"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn demo_builds_a_store_and_attributes_every_dollar() {
    let env = Env::new();
    let report = demo(&env);
    let teams = teams(&report);
    assert!(teams.len() >= 6, "five teams and unallocated: {teams:?}");
    assert!(teams.contains(&"unallocated"));
    assert_eq!(report["by_provider"].as_array().unwrap().len(), 3);

    // Money in = money out: the stored CostRecords sum to the attributed total, to the cent.
    let store = spendlens::store::Store::new(env.path("demo/data"));
    let raw = store
        .scan(spendlens::store::Table::Cost)
        .unwrap()
        .unwrap()
        .collect()
        .unwrap();
    let config = spendlens::config::Config::load(&env.path("demo/spendlens.toml"), true).unwrap();
    let attributed = spendlens::attribute::Attributor::new(&config.attribution)
        .apply(raw.clone().lazy())
        .unwrap();
    for money in ["billed_cost", "effective_cost"] {
        let before = sum_where(&raw, money, None);
        let after = sum_where(&attributed, money, None);
        assert!(
            close(before, after, 0.01),
            "{money}: {before} in, {after} out"
        );
    }
    // Each shared cost splits back to exactly what was shared, day by day.
    let shared_in = sum_where(&raw, "effective_cost", Some(("usage_type", "provisioned")));
    let split_out = attributed
        .clone()
        .lazy()
        .filter(col("allocation").str().starts_with(lit("split:")))
        .select([col("effective_cost").sum()])
        .collect()
        .unwrap();
    let split_out = split_out
        .column("effective_cost")
        .unwrap()
        .f64()
        .unwrap()
        .get(0)
        .unwrap();
    assert!(
        close(shared_in, split_out, 1e-6),
        "{shared_in} shared, {split_out} split"
    );
    // Rules, aliases and key variants all attributed something.
    let allocations: Vec<String> = attributed
        .column("allocation")
        .unwrap()
        .str()
        .unwrap()
        .unique()
        .unwrap()
        .iter()
        .flatten()
        .map(str::to_string)
        .collect();
    for want in [
        "tag:team",
        "tag:Team",
        "tag:cost-center",
        "rule:legal-resource-group",
        "split:bedrock-provisioned-throughput",
        "split:azure-ptu-reservation",
        "unallocated",
    ] {
        assert!(
            allocations.iter().any(|a| a == want),
            "{want} missing from {allocations:?}"
        );
    }
    // The report's totals match the store for its period.
    let t = &report["totals"];
    let parts = t["allocated_cost"].as_f64().unwrap() + t["unallocated_cost"].as_f64().unwrap();
    assert!(close(parts, t["effective_cost"].as_f64().unwrap(), 0.01));
}

#[test]
fn demo_hides_a_4x_day_with_flat_traffic() {
    let env = Env::new();
    demo(&env);
    let store = spendlens::store::Store::new(env.path("demo/data"));
    let config = spendlens::config::Config::load(&env.path("demo/spendlens.toml"), true).unwrap();
    let costs = store.scan(spendlens::store::Table::Cost).unwrap().unwrap();
    let attributed = spendlens::attribute::Attributor::new(&config.attribution)
        .apply(costs)
        .unwrap();
    let daily = attributed
        .lazy()
        .filter(
            col("feature")
                .eq(lit("rag-answer"))
                .and(col("usage_type").neq(lit("provisioned"))),
        )
        .group_by([col("charge_period_start")])
        .agg([col("effective_cost").sum(), col("consumed_quantity").sum()])
        .sort(["charge_period_start"], Default::default())
        .collect()
        .unwrap();
    let cost: Vec<f64> = daily
        .column("effective_cost")
        .unwrap()
        .f64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    let tokens: Vec<f64> = daily
        .column("consumed_quantity")
        .unwrap()
        .f64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    let day = spendlens::demo::SPIKE_DAY as usize;
    // Compare with the same weekday one week earlier.
    let cost_ratio = cost[day] / cost[day - 7];
    let token_ratio = tokens[day] / tokens[day - 7];
    assert!(
        cost_ratio > 3.0 && cost_ratio < 5.0,
        "cost ratio {cost_ratio}"
    );
    assert!(
        token_ratio > 0.8 && token_ratio < 1.25,
        "token ratio {token_ratio}"
    );
}

#[test]
fn report_period_filters_and_previous_period_movers() {
    let env = Env::new();
    demo(&env);
    let mut args = vec![
        "--data-dir".to_string(),
        env.path("demo/data").display().to_string(),
    ];
    args.extend(
        [
            "--config",
            env.path("demo/spendlens.toml").to_str().unwrap(),
            "report",
            "--format",
            "json",
            "--from",
            "2026-10-14",
            "--to",
            "2026-10-14",
        ]
        .map(String::from),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_spendlens"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["period"]["start"], "2026-10-14");
    assert_eq!(r["previous_period"]["start"], "2026-10-13");
    // The spike day's biggest mover involves the model switch.
    let movers = r["top_movers"].as_array().unwrap();
    assert!(
        movers
            .iter()
            .any(|m| m["value"] == "anthropic.claude-sonnet-4"
                && m["change"].as_f64().unwrap() > 500.0),
        "{movers:?}"
    );
}

#[test]
fn markdown_report_of_the_demo() {
    let env = Env::new();
    let out = Command::new(env!("CARGO_BIN_EXE_spendlens"))
        .args(["demo", "--dir"])
        .arg(env.path("demo"))
        .output()
        .unwrap();
    assert!(out.status.success());
    insta::assert_snapshot!(String::from_utf8(out.stdout).unwrap());
}

#[test]
fn csv_report_has_one_line_per_rollup_row() {
    let env = Env::new();
    env.ingest_sample("focus/focus-1.0_sample.csv");
    let csv = env.ok(&["report", "--format", "csv"]);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "section,provider_name,team,feature,model,allocation,effective_cost,currency"
    );
    assert!(
        csv.lines().any(|l| l.starts_with("provider,oracle,")),
        "{csv}"
    );
}

#[test]
fn a_record_with_too_many_fields_is_named_by_line() {
    let env = Env::new();
    let bad = edited_focus(&env, "ragged.csv", |t| {
        set_field(t, 12, "BilledCost", "1,5")
    });
    let err = env.fails(&["ingest", "--services", "all", bad.to_str().unwrap()]);
    assert!(
        err.contains("ragged.csv")
            && err.contains("line 12")
            && err.contains("45 fields but the header has 44"),
        "{err}"
    );
}

#[test]
fn focus_1_2_column_names_ingest() {
    // FOCUS 1.2 keeps every column spendlens needs; later versions call the provider
    // ServiceProviderName. Extra columns are ignored.
    let env = Env::new();
    let newer = edited_focus(&env, "focus12.csv", |t| {
        let (header, body) = t.split_once('\n').unwrap();
        let header = header.replace("\"ProviderName\"", "\"ServiceProviderName\"");
        let body: String = body.lines().map(|l| format!("{l},\"Billing\"\n")).collect();
        format!("{header},\"InvoiceId\"\n{body}")
    });
    let parsed = ingest::parse_file(&newer, &all_services()).unwrap();
    assert!(close(
        sum_where(&parsed.frame, "billed_cost", None),
        20.52022672899,
        1e-6
    ));
    assert!(close(
        sum_where(
            &parsed.frame,
            "billed_cost",
            Some(("provider_name", "azure"))
        ),
        1.98,
        0.005
    ));
}

#[test]
fn the_service_filter_comes_from_config_or_the_command_line() {
    let env = Env::new();
    env.config("[ingest]\nservices = [\"storage\"]\n");
    let out = env.ok(&[
        "ingest",
        shared("azure/EA_AmortizedCost_Small.csv").to_str().unwrap(),
    ]);
    assert!(
        out.contains("skipped") && out.contains("use --services all"),
        "{out}"
    );
    let r = env.report_json(&[]);
    let kept = r["totals"]["effective_cost"].as_f64().unwrap();
    assert!(kept > 0.0 && kept < 16.0, "only Storage rows kept: {kept}");
    // The command line wins over the config.
    env.ok(&[
        "ingest",
        "--services",
        "all",
        shared("azure/EA_AmortizedCost_Small.csv").to_str().unwrap(),
    ]);
    let r = env.report_json(&[]);
    assert!(close(
        r["totals"]["effective_cost"].as_f64().unwrap(),
        16.30,
        0.01
    ));
}

#[test]
fn hostile_tag_values_are_escaped_in_markdown_and_csv() {
    let env = Env::new();
    let hostile = edited_focus(&env, "hostile.csv", |t| {
        set_field(
            t,
            2,
            "Tags",
            r#""{""team"": ""<script>alert(1)</script>|x"", ""feature"": ""=cmd()""}""#,
        )
    });
    env.ok(&["ingest", "--services", "all", hostile.to_str().unwrap()]);
    let md = env.ok(&["report"]);
    assert!(!md.contains("<script>"), "{md}");
    assert!(md.contains("\\<script\\>alert(1)\\</script\\>\\|x"), "{md}");
    let csv = env.ok(&["report", "--format", "csv"]);
    assert!(
        csv.contains(",'=cmd(),") && !csv.contains(",=cmd(),"),
        "{csv}"
    );
}

// ---------------------------------------------------------------------------------------------
// Anomalies and investigation.

/// Run spendlens against the demo store of `env`.
fn on_demo(env: &Env, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spendlens"))
        .arg("--data-dir")
        .arg(env.path("demo/data"))
        .arg("--config")
        .arg(env.path("demo/spendlens.toml"))
        .args(args)
        .output()
        .unwrap()
}

fn demo_json(env: &Env, args: &[&str]) -> Value {
    let out = on_demo(env, args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn find<'a>(anomalies: &'a Value, date: &str, dimension: &str, value: &str) -> &'a Value {
    anomalies
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["date"] == date && a["dimension"] == dimension && a["value"] == value)
        .unwrap_or_else(|| panic!("no {dimension}={value} anomaly on {date} in {anomalies:#}"))
}

#[test]
fn the_4x_flat_traffic_day_reads_as_a_model_mix_change() {
    let env = Env::new();
    demo(&env);
    let found = demo_json(&env, &["anomalies", "--series", "--format", "json"]);
    let found = &found["anomalies"];
    let a = find(found, "2026-10-14", "team_feature", "search/rag-answer");
    assert_eq!(a["kind"], "spike");
    assert!(
        ["high", "critical"].contains(&a["severity"].as_str().unwrap()),
        "{a}"
    );
    let impact = a["impact"].as_f64().unwrap();
    assert!(close(
        a["actual"].as_f64().unwrap() - a["expected"].as_f64().unwrap(),
        impact,
        0.02
    ));
    // Root cause: the new model, first.
    let top = &a["root_causes"][0];
    assert_eq!(top["dimension"], "model");
    assert_eq!(top["value"], "anthropic.claude-sonnet-4");
    // Flat traffic: the change is mix, not volume.
    let d = &a["decomposition"];
    let (volume, mix, rate, other) = (
        d["volume"].as_f64().unwrap(),
        d["mix"].as_f64().unwrap(),
        d["rate"].as_f64().unwrap(),
        d["other"].as_f64().unwrap(),
    );
    assert!(mix > 0.8 * impact, "{d}");
    assert!(volume.abs() < 0.1 * impact, "{d}");
    assert!(
        close(volume + mix + rate + other, impact, 0.05),
        "decomposition sums to the impact: {d}"
    );
    // The model that was switched away from shows as a drop.
    let haiku = find(found, "2026-10-14", "model", "anthropic.claude-3-5-haiku");
    assert_eq!(haiku["kind"], "drop");
}

#[test]
fn every_decomposition_and_root_cause_set_adds_up() {
    let env = Env::new();
    demo(&env);
    let found = demo_json(&env, &["anomalies", "--series", "--format", "json"]);
    assert_eq!(found["schema_version"], 2);
    let incidents = demo_json(&env, &["anomalies", "--format", "json"]);
    let rows: Vec<&Value> = found["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .chain(incidents["incidents"].as_array().unwrap())
        .collect();
    assert!(rows.len() > 2);
    for a in rows {
        let impact = a["impact"].as_f64().unwrap();
        if let Some(d) = a["decomposition"].as_object() {
            let sum: f64 = ["volume", "mix", "rate", "credits", "other"]
                .iter()
                .map(|k| d[*k].as_f64().unwrap())
                .sum();
            assert!(close(sum, impact, 0.05), "{a}");
        }
        assert!(a["duration_days"].as_u64().unwrap() >= 1);
    }
}

#[test]
fn fail_on_severity_sets_exit_code_1() {
    let env = Env::new();
    demo(&env);
    let out = on_demo(&env, &["anomalies", "--fail-on", "high"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = on_demo(&env, &["anomalies", "--fail-on", "critical"]);
    assert_eq!(out.status.code(), Some(0));
    // Outside the spike's days nothing is high.
    let out = on_demo(
        &env,
        &["anomalies", "--from", "2026-10-20", "--fail-on", "high"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_lost_tag_is_one_incident_rated_by_the_spend_that_moved() {
    let env = Env::new();
    demo(&env);
    // From 2026-10-20 the marketing deployment's tags are gone, in both of Azure's views.
    let lost: Vec<String> = (20..=31)
        .map(|d| format!(",10/{d}/2026,10/{d}/2026,10/{d}/2026,"))
        .collect();
    let tags = r#""""cost-center"": ""Marketing "",""app"": ""copywriter""""#;
    // What moved on the first day: the copywriter's own cost that day (the actual view),
    // read from the export as the test edits it.
    let mut moved = 0.0;
    for view in ["actualcost", "amortizedcost"] {
        let path = env.path(&format!("demo/exports/azure_cost_details_mca_{view}.csv"));
        let text = std::fs::read_to_string(&path).unwrap();
        let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
        let cost_at = header
            .iter()
            .position(|h| *h == "costInBillingCurrency")
            .unwrap();
        let edited: String = text
            .lines()
            .map(|l| {
                if l.contains("copywriter") && lost.iter().any(|d| l.contains(d.as_str())) {
                    if view == "actualcost" && l.contains(lost[0].as_str()) {
                        // The tags cell is quoted JSON with commas: count fields before it.
                        let before_tags = &l[..l.find(tags).unwrap()];
                        let fields: Vec<&str> = before_tags.split(',').collect();
                        moved += fields[cost_at].parse::<f64>().unwrap();
                    }
                    l.replace(tags, "")
                } else {
                    l.to_string()
                }
            })
            .map(|l| l + "\n")
            .collect();
        assert_ne!(edited, text, "the edit applies");
        std::fs::write(&path, edited).unwrap();
        let out = on_demo(&env, &["ingest", path.to_str().unwrap()]);
        assert!(out.status.success());
    }
    assert!(
        moved > 50.0,
        "the copywriter spends about $70 a day: {moved}"
    );
    let found = demo_json(
        &env,
        &["anomalies", "--from", "2026-10-15", "--format", "json"],
    );
    let incidents = found["incidents"].as_array().unwrap();
    assert_eq!(
        incidents.len(),
        1,
        "one incident, not a row per series: {found:#}"
    );
    let i = &incidents[0];
    assert_eq!(i["kind"], "tag_lost", "{i}");
    assert_eq!(i["start"], "2026-10-20");
    assert!(
        i["headline"]["value"]
            .as_str()
            .unwrap()
            .starts_with("marketing"),
        "{i}"
    );
    let members: Vec<String> = i["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}={}",
                m["dimension"].as_str().unwrap(),
                m["value"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        members.contains(&"team=unallocated".to_string()),
        "{members:?}"
    );
    // It lasts as long as the spend stays unallocated: to the last day of the data.
    assert_eq!(i["end"], "2026-10-31");
    assert_eq!(i["duration_days"], 12);
    // Rated by the spend that moved (the team's loss: at least the deployment's own cost,
    // plus its share of the PTU split), not by what is left once `unallocated` gained it
    // back: 2x the $50 floor is medium, 5x high.
    let lost = -i["impact"].as_f64().unwrap();
    assert!(lost >= moved - 0.01, "{i} moved {moved}");
    let floor = 50.0;
    let by_moved = if lost >= 5.0 * floor {
        "high"
    } else if lost >= 2.0 * floor {
        "medium"
    } else {
        "low"
    };
    assert_eq!(i["severity"], by_moved, "{i}");
    assert!(i["note"].as_str().unwrap().contains("unallocated"), "{i}");
    // `--series` still has both sides, each saying what happened.
    let series = demo_json(
        &env,
        &[
            "anomalies",
            "--series",
            "--from",
            "2026-10-15",
            "--format",
            "json",
        ],
    );
    let drop = find(&series["anomalies"], "2026-10-20", "team", "marketing");
    assert!(
        drop["note"].as_str().unwrap().contains("unallocated"),
        "{drop}"
    );
    // And `investigate` on the team names it.
    let text = on_demo(&env, &["investigate", "--team", "marketing"]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("tag lost"), "{text}");
}

#[test]
fn report_json_carries_anomalies_with_their_explanations() {
    let env = Env::new();
    let r = demo(&env);
    let anomalies = &r["anomalies"];
    let a = find(anomalies, "2026-10-14", "team", "search");
    for key in [
        "date",
        "dimension",
        "value",
        "kind",
        "actual",
        "expected",
        "impact",
        "impact_pct",
        "severity",
        "root_causes",
        "decomposition",
    ] {
        assert!(a.get(key).is_some(), "anomaly lacks `{key}`: {a}");
    }
    let cause = &a["root_causes"][0];
    for key in ["dimension", "value", "impact"] {
        assert!(cause.get(key).is_some());
    }
    for key in ["volume", "mix", "rate"] {
        assert!(a["decomposition"][key].is_number());
    }
}

#[test]
fn investigate_focuses_on_the_spike_and_shows_unit_costs() {
    let env = Env::new();
    demo(&env);
    let inv = demo_json(
        &env,
        &["investigate", "--team", "search", "--format", "json"],
    );
    assert_eq!(inv["focus"]["date"], "2026-10-14");
    assert_eq!(inv["movers"][0]["value"], "anthropic.claude-sonnet-4");
    assert_eq!(inv["daily"].as_array().unwrap().len(), 90);
    let before = inv["unit_costs_before"]["per_1k_tokens"].as_f64().unwrap();
    let after = inv["unit_costs_after"]["per_1k_tokens"].as_f64().unwrap();
    assert!(after > 2.0 * before, "{before} -> {after}");
    assert!(inv["unit_costs_after"]["per_request"].is_null());
    let d = &inv["decomposition"];
    assert!(
        d["mix"].as_f64().unwrap() > d["volume"].as_f64().unwrap().abs() * 5.0,
        "{d}"
    );

    // Globs, a chosen day, and the text view.
    let inv = demo_json(
        &env,
        &[
            "investigate",
            "--where",
            "model=anthropic.claude-*",
            "--at",
            "2026-10-07",
            "--format",
            "json",
        ],
    );
    assert_eq!(inv["focus"]["date"], "2026-10-07");
    let text = on_demo(
        &env,
        &["investigate", "--team", "search", "--feature", "rag-answer"],
    );
    let text = String::from_utf8(text.stdout).unwrap();
    for want in [
        "focus 2026-10-14",
        "top movers",
        "per 1K tokens",
        "why it changed: volume",
        "mix +",
    ] {
        assert!(text.contains(want), "`{want}` missing:\n{text}");
    }
}

/// One team is investigated from its daily sums and the rows of the days it looks at (its
/// events, the focus day and their reference days); the same selection written as a glob
/// reads every row it picks: the answers are the same, on an event and on a quiet day.
#[test]
fn investigate_answers_alike_from_the_sums_and_from_every_row() {
    let env = Env::new();
    let mut rows = Vec::new();
    for day in 0..70 {
        let wobble = ((day * 7) % 13) as f64;
        rows.push((
            day,
            "search",
            if day == 60 { 900.0 } else { 300.0 + wobble },
        ));
        rows.push((day, "ads", 200.0 + wobble));
    }
    let file = env.path("synthetic.csv");
    synthetic_focus(&file, &rows);
    env.ok(&["ingest", file.to_str().unwrap()]);
    for at in [None, Some("2026-02-10")] {
        let mut answers = Vec::new();
        for chosen in ["team=search", "team=searc*"] {
            let mut args = vec!["investigate", "--where", chosen, "--format", "json"];
            args.extend(at.iter().flat_map(|d| ["--at", d]));
            // The selection as written is the only difference.
            let mut inv: Value = serde_json::from_str(&env.ok(&args)).unwrap();
            inv.as_object_mut().unwrap().remove("selection");
            for a in inv["anomalies"].as_array_mut().unwrap() {
                a.as_object_mut().unwrap().remove("value");
            }
            answers.push(inv);
        }
        let focus = &answers[0]["focus"];
        assert_eq!(focus["date"], at.unwrap_or("2026-03-02"), "{focus}");
        assert_eq!(focus["reference_days"].as_array().unwrap().len(), 4);
        assert!(answers[0]["unit_costs_before"]["tokens"].as_f64().unwrap() > 0.0);
        assert_eq!(answers[0], answers[1], "--at {at:?}");
    }
}

#[test]
fn investigate_rejects_unknown_dimensions_and_empty_selections() {
    let env = Env::new();
    demo(&env);
    let out = on_demo(&env, &["investigate", "--where", "squad=x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown dimension `squad`"));
    let out = on_demo(&env, &["investigate", "--team", "nobody"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nothing in the store matches team=nobody")
    );
}

/// A minimal FOCUS file: one row per (day index, team, cost), Bedrock input tokens at a fixed
/// price, days counted from 2026-01-01.
fn synthetic_focus(path: &Path, rows: &[(i64, &str, f64)]) {
    let start = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let mut text = String::from("BilledCost,EffectiveCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ProviderName,ServiceName,ChargeCategory,ChargeDescription,ConsumedQuantity,ConsumedUnit,SubAccountId,Tags\n");
    for (day, team, cost) in rows {
        let d = start + chrono::Duration::days(*day);
        let tags = format!("\"{{\"\"team\"\": \"\"{team}\"\"}}\"");
        text.push_str(&format!(
            "{cost},{cost},USD,{d} 00:00:00,{} 00:00:00,AWS,Amazon Bedrock,Usage,Amazon Nova Pro input tokens,{},Tokens,111122223333,{tags}\n",
            d + chrono::Duration::days(1),
            cost / 0.8 * 1e6,
        ));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn floors_keep_small_jumps_quiet_and_a_ramp_is_one_event() {
    let env = Env::new();
    let mut rows = Vec::new();
    for day in 0..60 {
        // $3 -> $12 and $300 -> $1,200 on day 45.
        rows.push((day, "small", if day == 45 { 12.0 } else { 3.0 }));
        rows.push((day, "big", if day == 45 { 1200.0 } else { 300.0 }));
        // From day 50, 20% a day.
        rows.push((
            day,
            "growing",
            if day < 50 {
                400.0
            } else {
                400.0 * 1.2f64.powi((day - 49) as i32)
            },
        ));
    }
    let file = env.path("synthetic.csv");
    synthetic_focus(&file, &rows);
    env.ok(&["ingest", file.to_str().unwrap()]);
    let found: Value =
        serde_json::from_str(&env.ok(&["anomalies", "--series", "--format", "json"])).unwrap();
    let found = &found["anomalies"];
    let teams: Vec<(&str, &str, &str)> = found
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["dimension"] == "team")
        .map(|a| {
            (
                a["value"].as_str().unwrap(),
                a["kind"].as_str().unwrap(),
                a["date"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(teams.contains(&("big", "spike", "2026-02-15")), "{teams:?}");
    assert!(
        !teams.iter().any(|t| t.0 == "small"),
        "$3 -> $12 is not an alert: {teams:?}"
    );
    let growing: Vec<_> = teams.iter().filter(|t| t.0 == "growing").collect();
    assert_eq!(growing.len(), 1, "{growing:?}");
    assert_eq!(growing[0].1, "ramp");
    // Traffic grew with spend: the ramp reads as volume.
    let ramp = find(found, growing[0].2, "team", "growing");
    let d = &ramp["decomposition"];
    assert!(
        d["volume"].as_f64().unwrap() > 0.9 * ramp["impact"].as_f64().unwrap(),
        "{d}"
    );
}

// ---------------------------------------------------------------------------------------------
// Unit economics and advice.

#[test]
fn advise_on_the_demo() {
    let env = Env::new();
    demo(&env);
    let a = demo_json(&env, &["advise", "--format", "json"]);
    assert!(
        !a["catalog"]["source"].as_str().unwrap().is_empty()
            && !a["catalog"]["as_of"].as_str().unwrap().is_empty()
    );
    // The demo bills at list price: Claude 3.5 Sonnet is $3 / $15 per 1M tokens.
    let ts = a["unit_costs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["team"] == "support" && u["feature"] == "ticket-summary")
        .unwrap();
    assert!(
        close(ts["per_1k_input_tokens"].as_f64().unwrap(), 0.003, 1e-6),
        "{ts}"
    );
    assert!(
        close(ts["per_1k_output_tokens"].as_f64().unwrap(), 0.015, 1e-6),
        "{ts}"
    );
    assert_eq!(
        a["price_checks"].as_array().unwrap().len(),
        0,
        "list prices match the catalog: {}",
        a["price_checks"]
    );
    let commitment = |model: &str| {
        a["commitments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["model"] == model)
            .unwrap()
            .clone()
    };
    // Nova Pro's Provisioned Throughput ($20/hour) has no measured Nova Pro tokens: its
    // utilisation is unknown, not 0%, and nothing is advised from it.
    let nova = commitment("amazon.nova-pro");
    assert_eq!(nova["action"], "no_usage_data", "{nova}");
    assert!(nova["utilisation"].is_null(), "{nova}");
    assert!(
        close(
            nova["commitment_cost_per_day"].as_f64().unwrap(),
            20.0 * 24.0,
            0.01
        ),
        "{nova}"
    );
    assert_eq!(commitment("anthropic.claude-3-5-sonnet")["action"], "buy");
    // Output-light traffic on top-tier models gets tiering hints with their assumptions.
    let hint = a["tiering"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["feature"] == "chat-assist")
        .unwrap();
    assert_eq!(hint["cheaper_model"], "gpt-4o-mini");
    assert!(hint["monthly_saving"].as_f64().unwrap() > 1000.0);
    assert!(hint["assumptions"].as_str().unwrap().contains("estimate"));
    // The report carries unit costs too.
    let r = demo(&Env::new());
    assert!(r["unit_costs"].as_array().unwrap().len() >= 9);
}

#[test]
fn billed_prices_off_list_are_flagged() {
    // Nova Pro input billed at $1.60 per 1M tokens: twice the $0.80 list price.
    let env = Env::new();
    let file = env.path("nova.csv");
    std::fs::write(
        &file,
        "BilledCost,EffectiveCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ProviderName,ServiceName,ChargeCategory,ChargeDescription,ConsumedQuantity,ConsumedUnit,Tags\n\
         16.0,16.0,USD,2026-10-01 00:00:00,2026-10-02 00:00:00,AWS,Amazon Bedrock,Usage,Amazon Nova Pro input tokens,10000000,Tokens,\"{\"\"team\"\": \"\"search\"\"}\"\n\
         3.2,3.2,USD,2026-10-01 00:00:00,2026-10-02 00:00:00,AWS,Amazon Bedrock,Usage,Amazon Nova Pro output tokens,1000000,Tokens,\"{\"\"team\"\": \"\"search\"\"}\"\n\
         1.6,1.6,USD,2026-10-01 00:00:00,2026-10-02 00:00:00,AWS,Amazon Bedrock,Usage,Amazon Nova Pro batch output tokens,1000000,Tokens,\"{\"\"team\"\": \"\"search\"\"}\"\n",
    )
    .unwrap();
    env.ok(&["ingest", file.to_str().unwrap()]);
    let a: Value = serde_json::from_str(&env.ok(&["advise", "--format", "json"])).unwrap();
    let checks = a["price_checks"].as_array().unwrap();
    // Batch output at half the list price is batch pricing, not an error.
    assert_eq!(checks.len(), 1, "only the input price is off: {checks:?}");
    assert_eq!(checks[0]["usage_type"], "input_tokens");
    assert_eq!(checks[0]["billed_per_1m"], 1.6);
    assert_eq!(checks[0]["catalog_per_1m"], 0.8);
    assert_eq!(checks[0]["difference_pct"], 1.0);
    // A config override of the list price makes the same bill match.
    env.config("[prices.\"amazon.nova-pro\"]\ninput = 1.6\noutput = 3.2\n");
    let a: Value = serde_json::from_str(&env.ok(&["advise", "--format", "json"])).unwrap();
    assert_eq!(a["price_checks"].as_array().unwrap().len(), 0);
    let text = env.ok(&["advise"]);
    assert!(
        text.contains("unit costs") && text.contains("amazon.nova-pro"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// Crash safety.

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The store's partitions as (source, day, rows): what a re-run must leave as it was.
fn partitions(data: &Path) -> Vec<(String, String, u64)> {
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("manifest.json")).unwrap())
            .unwrap();
    m["partitions"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| {
            (
                p["source"].as_str().unwrap().to_string(),
                p["day"].as_str().unwrap().to_string(),
                p["rows"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn total(data: &Path) -> f64 {
    let out = Command::new(env!("CARGO_BIN_EXE_spendlens"))
        .arg("--data-dir")
        .arg(data)
        .args(["--config", "/dev/null", "report", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the store must stay readable: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    r["totals"]["effective_cost"].as_f64().unwrap()
}

#[test]
fn an_ingest_killed_at_any_point_leaves_the_store_before_or_after() {
    let env = Env::new();
    demo(&env);
    let exports = env.path("demo/exports");
    let file = |name: &str| exports.join(name).display().to_string();
    let (aws, azure, gcp) = (
        file("aws_focus_1.0.csv"),
        file("azure_cost_details_mca_amortizedcost.csv"),
        file("gcp_billing_export.jsonl"),
    );
    let ingest = |data: &Path, files: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_spendlens"))
            .arg("--data-dir")
            .arg(data)
            .args(["--config", "/dev/null", "ingest"])
            .args(files)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    // "before": AWS only; "after": all three providers.
    let before_dir = env.path("before");
    assert!(ingest(&before_dir, &[&aws]).wait().unwrap().success());
    let before = total(&before_dir);
    let after_dir = env.path("after");
    copy_dir(&before_dir, &after_dir);
    let started = std::time::Instant::now();
    assert!(ingest(&after_dir, &[&azure, &gcp])
        .wait()
        .unwrap()
        .success());
    let duration = started.elapsed().as_millis() as u64;
    let after = total(&after_dir);
    assert!(after > before + 1.0);

    // Kill the same ingest at spread-out points of its run, many times.
    let mut seed: u64 = 0x5eed;
    for i in 0..12 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let at = (seed >> 33) % (duration + 50);
        let dir = env.path(&format!("crash{i}"));
        copy_dir(&before_dir, &dir);
        let mut child = ingest(&dir, &[&azure, &gcp]);
        std::thread::sleep(std::time::Duration::from_millis(at));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let now = total(&dir);
        assert!(
            close(now, before, 0.005) || close(now, after, 0.005),
            "kill at {at} ms: {now} is neither {before} nor {after}"
        );
        // The next run takes over the dead writer's lock and completes.
        assert!(
            ingest(&dir, &[&azure, &gcp]).wait().unwrap().success(),
            "re-run after kill at {at} ms"
        );
        assert!(close(total(&dir), after, 0.005));
    }
}

#[test]
fn a_store_in_two_currencies_is_reported_one_currency_at_a_time() {
    let env = Env::new();
    env.ingest_sample("focus/focus-1.0_sample.csv");
    let eur = edited_focus(&env, "eur.csv", |t| t.replace("\"USD\"", "\"EUR\""));
    env.ok(&[
        "ingest",
        "--services",
        "all",
        "--source",
        "focus-eur",
        eur.to_str().unwrap(),
    ]);
    let err = env.fails(&["report"]);
    assert!(
        err.contains("several currencies (EUR, USD)") && err.contains("hint: pass --currency"),
        "{err}"
    );
    for currency in ["EUR", "USD"] {
        let r = env.report_json(&["--currency", currency]);
        assert_eq!(r["currency"], currency);
        assert!(
            close(r["totals"]["billed_cost"].as_f64().unwrap(), 20.52, 0.01),
            "{currency}"
        );
    }
    let err = env.fails(&["report", "--currency", "GBP"]);
    assert!(
        err.contains("no costs in currency `GBP`") && err.contains("EUR, USD"),
        "{err}"
    );
}

#[test]
fn a_readable_config_holding_a_secret_is_warned_about_without_showing_it() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let path = env.path("spendlens.toml");
    // Settings named after tokens counted are not secrets.
    env.config("[ingest]\nservices = [\"all\"]\n# max_tokens = 4096\n# tokens_per_minute_per_unit = 1000\n");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    env.ingest_sample("focus/focus-1.0_sample.csv");
    let out = env.run(&["report"]);
    assert!(out.status.success());
    assert!(!String::from_utf8(out.stderr).unwrap().contains("warning"));
    env.config("[ingest]\nservices = [\"all\"]\n# webhook_token = xoxb-not-for-your-eyes\n");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    env.ingest_sample("focus/focus-1.0_sample.csv");
    let out = env.run(&["report"]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success());
    assert!(
        stderr.contains("warning: `") && stderr.contains("`webhook_token`"),
        "{stderr}"
    );
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert!(
        !stderr.contains("xoxb-not-for-your-eyes"),
        "the value itself is never shown"
    );
    // Only the owner can read it: no warning.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = env.run(&["report"]);
    assert!(!String::from_utf8(out.stderr).unwrap().contains("warning"));
}

/// The completion script installs as the docs say and completes subcommands and flags; the
/// manual page names every subcommand.
#[test]
fn completions_and_the_man_page_describe_every_command() {
    let env = Env::new();
    let script = env.path("spendlens.bash");
    std::fs::write(&script, env.ok(&["completions", "bash"])).unwrap();
    let complete = |words: &str| -> String {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source '{}'; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}}-1)); _spendlens spendlens \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; echo \"${{COMPREPLY[@]}}\"",
                script.display()
            ))
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(complete("spendlens bud").trim(), "budgets");
    assert!(complete("spendlens nightly --fail-on-b").contains("--fail-on-budget"));
    let man = env.ok(&["man"]);
    assert!(man.contains(".TH spendlens 1"), "{man}");
    for sub in [
        "ingest",
        "report",
        "anomalies",
        "investigate",
        "reconcile",
        "budgets",
        "collect",
        "doctor",
        "advise",
        "nightly",
        "publish",
        "demo",
        "completions",
    ] {
        assert!(man.contains(sub), "{sub} missing from the man page");
    }
    for shell in ["zsh", "fish", "powershell"] {
        assert!(
            env.ok(&["completions", shell]).contains("budgets"),
            "{shell}"
        );
    }
}

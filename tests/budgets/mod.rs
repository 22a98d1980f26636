//! Budgets: every figure checked against totals this test computes from the spend it
//! writes (a team spending the same every day, so the forecast's answer is known too), over
//! month, quarter, fiscal-quarter and year periods; thresholds crossed by spend and by
//! forecast; a selector matching nothing; a month with no data yet; another currency; and
//! the forecast's backtest against its targets.

mod nightly;

use super::Env;
use serde_json::Value;
use std::path::Path;

/// FOCUS rows from 2026-01-01 to 2026-03-10 (69 days): `search` $100 a day effective ($110
/// billed), `ads` $40 a day, in `currency`.
fn spend(path: &Path, currency: &str) {
    spend_days(path, currency, 0..69);
}

/// The same spend on the days `days` counts from 2026-01-01.
fn spend_days(path: &Path, currency: &str, days: std::ops::Range<i64>) {
    let start = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let mut text = String::from("BilledCost,EffectiveCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ProviderName,ServiceName,ChargeCategory,ChargeDescription,ConsumedQuantity,ConsumedUnit,SubAccountId,Tags\n");
    for day in days {
        let d = start + chrono::Duration::days(day);
        for (team, billed, effective) in [("search", 110.0, 100.0), ("ads", 40.0, 40.0)] {
            text.push_str(&format!(
                "{billed},{effective},{currency},{d} 00:00:00,{} 00:00:00,AWS,Amazon Bedrock,Usage,Amazon Nova Pro input tokens,1000000,Tokens,111122223333,\"{{\"\"team\"\": \"\"{team}\"\"}}\"\n",
                d + chrono::Duration::days(1),
            ));
        }
    }
    std::fs::write(path, text).unwrap();
}

fn setup(budgets: &str) -> Env {
    let env = Env::new();
    let file = env.path("spend.csv");
    spend(&file, "USD");
    env.ok(&["ingest", file.to_str().unwrap()]);
    env.config(budgets);
    env
}

fn budgets(env: &Env, extra: &[&str]) -> Value {
    let mut args = vec!["budgets", "--format", "json"];
    args.extend_from_slice(extra);
    let v: Value = serde_json::from_str(&env.ok(&args)).unwrap();
    assert_eq!(v["schema_version"], 2);
    v
}

fn named<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == name)
        .unwrap_or_else(|| panic!("no budget {name} in {v:#}"))
}

fn money(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

const BUDGETS: &str = r#"
[[budgets]]
name = "search-march"
selector = { team = "search" }
amount = 5000
currency = "USD"
period = "month"

[[budgets]]
name = "search-tight"
selector = { team = "search" }
amount = 2000
currency = "USD"
period = "month"

[[budgets]]
name = "search-fiscal-quarter"
selector = { team = "sea*" }
amount = 10000
currency = "USD"
period = "quarter"
start_month = 2

[[budgets]]
name = "all-year"
amount = 60000
currency = "USD"
period = "year"
cost = "billed"

[[budgets]]
name = "ads-march"
selector = { team = "ads", provider = "aws" }
amount = 9999
currency = "USD"
period = "month"
thresholds = [10, 90]
[budgets.amounts]
"2026-03" = 2000

[[budgets]]
name = "fiscal-year"
amount = 5000
currency = "USD"
period = "year"
start_month = 7
"#;

#[test]
fn budgets_hold_month_quarter_fiscal_and_year_periods_to_the_cent() {
    let env = setup(BUDGETS);
    let v = budgets(&env, &[]);
    assert_eq!(v["at"], "2026-03-10", "the store's last day");
    // March so far: 10 days of $100; the rest of March (21 days) forecast at $100 a day.
    let b = named(&v, "search-march");
    assert_eq!(b["period"]["start"], "2026-03-01");
    assert_eq!(b["period"]["end"], "2026-03-31");
    assert_eq!(money(&b["spent"]), 10.0 * 100.0);
    assert!((money(&b["forecast"]) - 31.0 * 100.0).abs() < 0.01, "{b}");
    assert!(money(&b["forecast_low"]) <= 3100.0 && money(&b["forecast_high"]) >= 3100.0);
    assert_eq!(money(&b["used_pct"]), 20.0);
    assert_eq!(b["days_left"], 21);
    assert_eq!(b["status"], "ok");
    // 50% of 5,000 is reached by the forecast on the 25th day; 80% and 100% never.
    assert_eq!(b["crossed"].as_array().unwrap().len(), 1, "{b}");
    assert_eq!(b["crossed"][0]["threshold"], 50.0);
    assert_eq!(b["crossed"][0]["day"], "2026-03-25");
    assert_eq!(b["crossed"][0]["kind"], "forecast");
    // 2,000: half spent on the 10th; 80% (1,600) forecast on the 16th, 100% on the 20th.
    let t = named(&v, "search-tight");
    assert_eq!(t["status"], "forecast_over");
    let crossed: Vec<(f64, &str, &str)> = t["crossed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["threshold"].as_f64().unwrap(),
                c["day"].as_str().unwrap(),
                c["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        crossed,
        vec![
            (50.0, "2026-03-10", "actual"),
            (80.0, "2026-03-16", "forecast"),
            (100.0, "2026-03-20", "forecast")
        ]
    );
    // A fiscal quarter from February: Feb (28 days) and March so far; 51 days to forecast.
    let q = named(&v, "search-fiscal-quarter");
    assert_eq!(q["period"]["start"], "2026-02-01");
    assert_eq!(q["period"]["end"], "2026-04-30");
    assert_eq!(money(&q["spent"]), 38.0 * 100.0);
    assert!((money(&q["forecast"]) - 89.0 * 100.0).abs() < 0.01, "{q}");
    // The whole store, billed: 69 days of $110 + $40.
    let y = named(&v, "all-year");
    assert_eq!(y["period"]["start"], "2026-01-01");
    assert_eq!(money(&y["spent"]), 69.0 * 150.0);
    // A per-period amount replaces the default; both thresholds reached by spend ($40 x 10
    // = $400 >= 10% of 2,000 on the 5th) or forecast (90%: $1,800 on the 45th day: never).
    let a = named(&v, "ads-march");
    assert_eq!(money(&a["amount"]), 2000.0);
    assert_eq!(a["crossed"][0]["day"], "2026-03-05");
    assert_eq!(a["crossed"].as_array().unwrap().len(), 1, "{a}");
    // A fiscal year from July began before the store's first day: spend counts from that
    // day ($140 a day: 50% of 5,000 on the 18th day), and the report says so.
    let f = named(&v, "fiscal-year");
    assert_eq!(f["period"]["start"], "2025-07-01");
    assert_eq!(f["period"]["end"], "2026-06-30");
    assert_eq!(money(&f["spent"]), 69.0 * 140.0);
    assert_eq!(f["status"], "over");
    assert_eq!(f["crossed"][0]["day"], "2026-01-18", "{f}");
    assert!(
        f["notes"].to_string().contains("counted from 2026-01-01"),
        "{f}"
    );
    // Contributors: what grew over the same days before the period (nothing here).
    assert!(b["contributors"].as_array().unwrap().is_empty(), "{b}");
}

#[test]
fn a_month_with_no_data_yet_is_forecast_from_the_last_stored_days() {
    let env = setup(BUDGETS);
    let v = budgets(&env, &["--at", "2026-04-02"]);
    let b = named(&v, "search-march");
    assert_eq!(b["period"]["start"], "2026-04-01");
    assert_eq!(money(&b["spent"]), 0.0);
    // April's 30 days at the level of the last stored weeks ($100 a day).
    assert!((money(&b["forecast"]) - 3000.0).abs() < 0.01, "{b}");
    let notes = b["notes"].to_string();
    assert!(
        notes.contains("no spend stored for this period yet"),
        "{notes}"
    );
}

#[test]
fn fail_on_sets_the_exit_code() {
    // Without the fiscal year (over): the worst is `forecast_over`.
    let env = setup(
        BUDGETS
            .split("[[budgets]]\nname = \"fiscal-year\"")
            .next()
            .unwrap(),
    );
    assert_eq!(
        env.run(&["budgets", "--fail-on", "over"]).status.code(),
        Some(0)
    );
    assert_eq!(
        env.run(&["budgets", "--fail-on", "warning"]).status.code(),
        Some(1)
    );
    let md = env.ok(&["budgets"]);
    assert!(
        md.contains("| search-tight | team=search | 2026-03-01 to 2026-03-31 |"),
        "{md}"
    );
    assert!(md.contains("forecast_over"), "{md}");
}

#[test]
fn bad_budgets_are_named() {
    let env = setup(
        "[[budgets]]\nname = \"nobody\"\nselector = { team = \"nobody\" }\namount = 10\ncurrency = \"USD\"\nperiod = \"month\"\n",
    );
    let out = env.run(&["budgets"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("budget `nobody`") && err.contains("matches no spend"),
        "{err}"
    );
    // Another currency is an error, never a conversion.
    env.config(
        "[[budgets]]\nname = \"euro\"\namount = 10\ncurrency = \"EUR\"\nperiod = \"month\"\n",
    );
    let out = env.run(&["budgets"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("budget `euro` is in EUR") && err.contains("USD"),
        "{err}"
    );
    // Unknown keys and selector dimensions are config errors naming them.
    for (text, want) in [
        ("colour = \"red\"\n", "colour"),
        ("selector = { region = \"eu\" }\n", "`region`"),
    ] {
        env.config(&format!("[[budgets]]\nname = \"x\"\namount = 10\ncurrency = \"USD\"\nperiod = \"month\"\n{text}"));
        let out = env.run(&["budgets"]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{want}: {err}");
    }
}

/// The forecast's backtest against the targets the docs state: MAPE at most 10% on the
/// demo at mid-month; the 80% interval holding 70% to 90% of the months' totals, all
/// checkpoints of the demo and synthetic series together.
#[test]
fn the_forecast_meets_its_backtest_targets() {
    use spendlens::eval;
    let dir = tempfile::tempdir().unwrap();
    let end = chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
    eval::demo::run(dir.path(), end).unwrap();
    let demo = eval::forecast::backtest("demo", &eval::demo::daily_series(dir.path()).unwrap());
    let mid = demo.iter().find(|s| s.day == 14).unwrap();
    assert!(mid.forecasts >= 10, "{mid:?}");
    assert!(mid.mape <= 0.10, "{mid:?}");
    let synthetic = eval::forecast::backtest("synthetic", &eval::forecast::synthetic(70, 7));
    let (held, all) = demo.iter().chain(&synthetic).fold((0.0, 0.0), |(h, n), s| {
        (h + s.coverage * s.forecasts as f64, n + s.forecasts as f64)
    });
    let coverage = held / all;
    assert!(
        (0.70..=0.90).contains(&coverage),
        "coverage {coverage}: {demo:?} {synthetic:?}"
    );
}

//! Numbers that match the bill (issue 26): files that are not exports, Cost Explorer's
//! vendor services, Azure's two views, restatements, currencies and `reconcile`. Every
//! expected total is computed here from the test's own input or a documented sample total.

use super::{shared, Env};

#[test]
fn a_zero_byte_file_is_an_error_naming_it_and_the_store_is_untouched() {
    let env = Env::new();
    env.ingest_sample("azure/EA_ActualCost_Small.csv");
    let before = env.manifest().unwrap();
    for (name, bytes) in [
        ("cut.csv", &b""[..]),
        ("cut.jsonl", b""),
        ("bom.csv", b"\xEF\xBB\xBF"),
    ] {
        let file = env.path(name);
        std::fs::write(&file, bytes).unwrap();
        let err = env.fails(&["ingest", file.to_str().unwrap()]);
        assert!(err.contains(name) && err.contains("empty"), "{err}");
        assert_eq!(env.manifest().unwrap(), before, "{name} changed the store");
    }
    // A header-only export is an export of a period without charges: valid, and empty.
    let out = env.ok(&["ingest", shared("azure/EA_NoRows.csv").to_str().unwrap()]);
    assert!(out.contains("0 row(s) read"), "{out}");
}

#[test]
fn a_file_that_is_not_the_format_given_is_an_error_naming_it() {
    let env = Env::new();
    let focus = shared("focus/focus-1.0_sample.csv");
    let azure = shared("azure/EA_ActualCost_Small.csv");
    let not_parquet = env.path("export.parquet");
    std::fs::write(&not_parquet, "Date,Cost\n10/14/2026,1.0\n").unwrap();
    for (format, file) in [
        ("azure", &focus),
        ("focus", &azure),
        ("gcp", &azure),
        ("focus", &not_parquet),
    ] {
        let err = env.fails(&["ingest", "--format", format, file.to_str().unwrap()]);
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(err.contains(name), "--format {format} {name}: {err}");
        assert!(
            env.manifest().is_none(),
            "--format {format} {name} wrote the store"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Cost Explorer finds the Bedrock services itself.

use super::aws::{ce_result, days_ago, scan, AwsEnv, BedrockFaults};
use super::stand_in::{Reply, Request, StandIn};
use serde_json::{json, Value};

/// SERVICE values of the proxy's account: Bedrock's own, four vendors' editions (their real
/// names), and two services that are not Bedrock.
const ACCOUNT_SERVICES: [&str; 7] = [
    "AWS Lambda",
    "Amazon Bedrock",
    "Amazon Simple Storage Service",
    "Claude 3.5 Sonnet (Amazon Bedrock Edition)",
    "Claude Sonnet 4 (Amazon Bedrock Edition)",
    "Llama 3.1 405B Instruct (Amazon Bedrock Edition)",
    "Mistral Large (Amazon Bedrock Edition)",
];

/// Send `req` to moto unchanged and turn its answer into a reply.
fn relay(moto_port: u16, req: &Request) -> Reply {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", moto_port)).unwrap();
    let mut head = format!("{} {} HTTP/1.1\r\n", req.method, req.target);
    for (k, v) in &req.headers {
        if !k.eq_ignore_ascii_case("connection") {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str("connection: close\r\n\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(req.body.as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .lines()
        .next()
        .and_then(|line| line.split_once(' '))
        .map_or("", |(_, status)| status);
    Reply::status(
        Box::leak(status.to_string().into_boxed_str()),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// A proxy in front of moto (which does not serve `GetDimensionValues`): that call is
/// answered with the documented JSON — values containing the search string, two a page with
/// `NextPageToken` — and every other call goes through to moto.
fn dimension_values_proxy(moto_port: u16) -> StandIn {
    StandIn::start(move |req, _| {
        let target = req.header("x-amz-target").unwrap_or_default();
        if !target.ends_with(".GetDimensionValues") {
            return relay(moto_port, req);
        }
        let ask = req.json();
        assert_eq!(ask["Dimension"], "SERVICE", "{ask}");
        let search = ask["SearchString"].as_str().unwrap_or("").to_lowercase();
        let matching: Vec<&str> = ACCOUNT_SERVICES
            .into_iter()
            .filter(|s| s.to_lowercase().contains(&search))
            .collect();
        let from: usize = ask["NextPageToken"]
            .as_str()
            .map_or(0, |t| t.trim_start_matches("from-").parse().unwrap());
        let page = &matching[from..(from + 2).min(matching.len())];
        let mut body = json!({
            "DimensionValues": page.iter().map(|v| json!({"Value": v, "Attributes": {}})).collect::<Vec<_>>(),
            "ReturnSize": page.len(),
            "TotalSize": matching.len(),
        });
        if from + 2 < matching.len() {
            body["NextPageToken"] = json!(format!("from-{}", from + 2));
        }
        Reply::ok(body)
    })
}

fn operation(req: &Request) -> &str {
    let target = req.header("x-amz-target").unwrap_or_default();
    target.rsplit('.').next().unwrap_or_default()
}

/// `collect --from d1 --to d2` with every AWS endpoint at `proxy`; its stdout, once it
/// succeeded.
fn collect_through(
    env: &AwsEnv,
    proxy: &StandIn,
    d1: chrono::NaiveDate,
    d2: chrono::NaiveDate,
) -> String {
    let (from, to) = (d1.to_string(), d2.to_string());
    let out = env
        .command_via(&proxy.url(), &["collect", "--from", &from, "--to", &to])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn cost_explorer_collects_every_bedrock_vendor_service_by_default() {
    let env = AwsEnv::new(BedrockFaults::default());
    let ce_only = "[aws]\nregions = [\"us-east-1\"]\n[aws.profiles]\nenabled = false\n[aws.cloudwatch]\nenabled = false\n[aws.cost_explorer]\ntag_keys = []\n";
    std::fs::write(env.path("spendlens.toml"), ce_only).unwrap();
    let proxy = dimension_values_proxy(env.moto.port);
    let (d1, d2) = (days_ago(3), days_ago(2));
    let groups = [
        (
            "Amazon Bedrock",
            "USE1-NovaLite-input-tokens",
            3.0,
            3.0,
            50e6,
        ),
        (
            "Claude 3.5 Sonnet (Amazon Bedrock Edition)",
            "USE1-MP:USE1_InputTokenCount-Units",
            41.25,
            41.25,
            13.75e6,
        ),
        (
            "Claude Sonnet 4 (Amazon Bedrock Edition)",
            "USE1-MP:USE1_OutputTokenCount-Units",
            120.5,
            120.5,
            8.0e6,
        ),
        (
            "Llama 3.1 405B Instruct (Amazon Bedrock Edition)",
            "USE1-MP:USE1_InputTokenCount-Units",
            7.2,
            7.2,
            3e6,
        ),
        (
            "Mistral Large (Amazon Bedrock Edition)",
            "USE1-MP:USE1_OutputTokenCount-Units",
            2.4,
            2.4,
            2e5,
        ),
    ];
    env.moto
        .queue_cost_and_usage(vec![ce_result(&[d1, d2], true, &groups, None)]);
    let expected: f64 = 2.0 * groups.iter().map(|g| g.2).sum::<f64>();

    let text = collect_through(&env, &proxy, d1, d2);
    assert!(
        text.contains("5 service(s) found matching \"Bedrock\""),
        "{text}"
    );

    // Three pages of service names, each asked for SERVICE values matching "Bedrock".
    let requests = proxy.requests();
    let discovery: Vec<Value> = requests
        .iter()
        .filter(|r| operation(r) == "GetDimensionValues")
        .map(Request::json)
        .collect();
    assert_eq!(discovery.len(), 3, "{discovery:?}");
    assert!(discovery.iter().all(|d| d["SearchString"] == "Bedrock"));
    assert_eq!(discovery[2]["NextPageToken"], "from-4");
    // Spend is asked for exactly the five Bedrock services, none of the others.
    let spend = requests
        .iter()
        .find(|r| operation(r) == "GetCostAndUsage")
        .expect("GetCostAndUsage went through the proxy")
        .json();
    let mut asked: Vec<&str> = spend["Filter"]["Dimensions"]["Values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    asked.sort_unstable();
    let bedrock: Vec<&str> = ACCOUNT_SERVICES
        .into_iter()
        .filter(|s| s.contains("Bedrock"))
        .collect();
    assert_eq!(asked, bedrock);
    // Every vendor's spend is stored.
    let cost = scan(&env.data(), spendlens::store::Table::Cost);
    let stored: f64 = cost
        .column("billed_cost")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .flatten()
        .sum();
    assert!((stored - expected).abs() < 1e-9, "{stored} != {expected}");
    // What Cost Explorer answered is what is stored and attributed.
    let out = env
        .command_via(&proxy.url(), &["reconcile", "--format", "json"])
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{r:#}");
    let read: f64 = r["reconciliation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["read"]["billed"].as_f64().unwrap())
        .sum();
    assert_eq!(cents(read), cents(expected));

    // An explicit list still overrides the search: no discovery call, the list is asked for
    // (the days were estimated, so they are asked for again).
    std::fs::write(
        env.path("spendlens.toml"),
        format!("{ce_only}services = [\"Amazon Bedrock\"]\n"),
    )
    .unwrap();
    env.moto
        .queue_cost_and_usage(vec![ce_result(&[d1, d2], false, &groups[..1], None)]);
    let before = proxy.requests().len();
    collect_through(&env, &proxy, d1, d2);
    let later = &proxy.requests()[before..];
    assert!(later.iter().all(|r| operation(r) != "GetDimensionValues"));
    let spend = later
        .iter()
        .find(|r| operation(r) == "GetCostAndUsage")
        .unwrap()
        .json();
    assert_eq!(
        spend["Filter"]["Dimensions"]["Values"],
        json!(["Amazon Bedrock"])
    );
}

// ---------------------------------------------------------------------------------------------
// Azure's actual and amortized views of one account, paired by billing month.

/// Each sample's `Cost` summed exactly enough for cents (documented: 8.55 and 16.30), and
/// its reservation purchases (actual view only).
fn azure_totals(rel: &str) -> (f64, f64) {
    let text = std::fs::read_to_string(shared(rel)).unwrap();
    let mut rows = text.trim_start_matches('\u{feff}').lines();
    let header = super::csv_fields(rows.next().unwrap());
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (cost, charge) = (at("Cost"), at("ChargeType"));
    let (mut total, mut purchases) = (0.0, 0.0);
    for line in rows {
        let f = super::csv_fields(line);
        let v: f64 = f[cost].parse().unwrap();
        total += v;
        if f[charge] == "Purchase" {
            purchases += v;
        }
    }
    (total, purchases)
}

fn billed_and_effective(env: &Env) -> (f64, f64) {
    let r = env.report_json(&[]);
    (
        r["totals"]["billed_cost"].as_f64().unwrap(),
        r["totals"]["effective_cost"].as_f64().unwrap(),
    )
}

fn cents(v: f64) -> i64 {
    (v * 100.0).round() as i64
}

#[test]
fn azure_actual_and_amortized_views_pair_in_any_order_or_command() {
    let actual = shared("azure/EA_ActualCost_Small.csv");
    let amortized = shared("azure/EA_AmortizedCost_Small.csv");
    let (billed, purchases) = azure_totals("azure/EA_ActualCost_Small.csv");
    let (effective, none) = azure_totals("azure/EA_AmortizedCost_Small.csv");
    assert_eq!((cents(billed), cents(effective), none), (855, 1630, 0.0));
    let (a, m) = (actual.to_str().unwrap(), amortized.to_str().unwrap());
    for order in [
        vec![vec![a], vec![m]],
        vec![vec![m], vec![a]],
        vec![vec![a, m]],
        vec![vec![m, a]],
    ] {
        let env = Env::new();
        for files in &order {
            let mut args = vec!["ingest", "--services", "all"];
            args.extend(files);
            env.ok(&args);
        }
        let (b, e) = billed_and_effective(&env);
        assert_eq!(
            (cents(b), cents(e)),
            (cents(billed), cents(effective)),
            "{order:?}"
        );
        let r = env.report_json(&[]);
        assert_eq!(
            r["cost_views"],
            json!([]),
            "{order:?}: both views are present"
        );
        // Ingesting a view again replaces it: still no double count.
        env.ok(&["ingest", "--services", "all", a]);
        let (b, e) = billed_and_effective(&env);
        assert_eq!((cents(b), cents(e)), (cents(billed), cents(effective)));
    }

    // One view alone is used for both columns, and the report says which view is missing.
    let env = Env::new();
    let out = env.ok(&["ingest", "--services", "all", a]);
    assert!(
        out.contains("Azure actual cost view (from its name)"),
        "{out}"
    );
    let (b, e) = billed_and_effective(&env);
    assert_eq!((cents(b), cents(e)), (cents(billed), cents(billed)));
    let r = env.report_json(&[]);
    assert_eq!(
        r["cost_views"][0]["missing"], "amortized",
        "{}",
        r["cost_views"]
    );
    assert_eq!(r["cost_views"][0]["month"], "2023-09");
    let md = env.ok(&["report"]);
    assert!(md.contains("the amortized view is missing"), "{md}");
    assert!(purchases > 3.0, "the actual sample has its 3.25 purchase");
}

#[test]
fn an_azure_view_is_told_by_name_content_or_flag() {
    let env = Env::new();
    // Content: renamed so the name says nothing.
    let plain_actual = env.path("september.csv");
    std::fs::copy(shared("azure/EA_ActualCost_Small.csv"), &plain_actual).unwrap();
    let plain_amortized = env.path("september-2.csv");
    std::fs::copy(shared("azure/EA_AmortizedCost_Small.csv"), &plain_amortized).unwrap();
    for (file, told) in [
        (
            &plain_actual,
            "Azure actual cost view (from its content: a commitment purchase)",
        ),
        (
            &plain_amortized,
            "Azure amortized cost view (from its content: reservation usage with a cost)",
        ),
    ] {
        let out = env.ok(&["ingest", "--services", "all", file.to_str().unwrap()]);
        assert!(out.contains(told), "{out}");
    }
    let (b, e) = billed_and_effective(&env);
    assert_eq!((cents(b), cents(e)), (855, 1630));

    // The flag overrides both: read as actual, the amortized file replaces the actual days
    // of its source instead of pairing (the user said so), and nothing is added twice.
    let env = Env::new();
    let out = env.ok(&[
        "ingest",
        "--services",
        "all",
        "--azure-view",
        "actual",
        plain_amortized.to_str().unwrap(),
    ]);
    assert!(out.contains("(given with --azure-view)"), "{out}");
    let (b, e) = billed_and_effective(&env);
    assert_eq!((cents(b), cents(e)), (1630, 1630));
}

// ---------------------------------------------------------------------------------------------
// `reconcile`: as read = stored = counted = attributed, per source and billing period.

use chrono::Datelike;
use polars::prelude::*;
use std::collections::BTreeMap;

/// The FOCUS sample's BilledCost and EffectiveCost per (BillingAccountId, billing month),
/// summed here from the file (`NULL` and empty count as 0).
fn focus_totals_by_account_and_period(rel: &str) -> BTreeMap<(String, String), (f64, f64)> {
    let df = CsvReadOptions::default()
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(shared(rel)))
        .unwrap()
        .finish()
        .unwrap();
    let text = |c: &str| df.column(c).unwrap().str().unwrap().clone();
    let (account, period, billed, effective) = (
        text("BillingAccountId"),
        text("BillingPeriodStart"),
        text("BilledCost"),
        text("EffectiveCost"),
    );
    let number = |v: Option<&str>| v.and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let mut out: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
    for i in 0..df.height() {
        let key = (
            format!("focus:{}", account.get(i).unwrap()),
            period.get(i).unwrap()[..7].to_string(),
        );
        let t = out.entry(key).or_default();
        t.0 += number(billed.get(i));
        t.1 += number(effective.get(i));
    }
    out
}

fn reconcile_json(env: &Env, args: &[&str]) -> (Option<i32>, Value, String) {
    let mut all = vec!["reconcile", "--format", "json"];
    all.extend_from_slice(args);
    let out = env.run(&all);
    let json = serde_json::from_slice(&out.stdout).expect("reconcile --format json prints JSON");
    (
        out.status.code(),
        json,
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn money(v: &Value) -> (f64, f64) {
    (
        v["billed"].as_f64().unwrap(),
        v["effective"].as_f64().unwrap(),
    )
}

#[test]
fn the_shared_samples_reconcile_to_the_cent_per_source_and_billing_period() {
    let env = Env::new();
    let focus = "focus/focus-1.0_sample.csv";
    for rel in [
        focus,
        "azure/EA_ActualCost_Small.csv",
        "azure/EA_AmortizedCost_Small.csv",
    ] {
        env.ingest_sample(rel);
    }
    let (code, r, stderr) = reconcile_json(&env, &[]);
    assert_eq!(code, Some(0), "{stderr}\n{r:#}");
    assert_eq!(r["ok"], true);
    assert!(r["schema_version"].is_number());
    let rows = r["reconciliation"].as_array().unwrap();
    let row = |source: &str, period: &str| {
        rows.iter()
            .find(|x| x["source"] == source && x["period"] == period)
            .unwrap_or_else(|| panic!("no row for {source} {period}: {r:#}"))
    };
    // FOCUS: per billing account and BillingPeriodStart month, as the file says (the Oracle
    // row of October's invoice is its own period).
    let expected = focus_totals_by_account_and_period(focus);
    assert!(expected.len() >= 4, "{expected:?}");
    for ((source, period), (billed, effective)) in &expected {
        let x = row(source, period);
        for figure in ["read", "stored", "counted", "attributed"] {
            let (b, e) = money(&x[figure]);
            assert_eq!(
                (cents(b), cents(e)),
                (cents(*billed), cents(*effective)),
                "{source} {period} {figure}"
            );
        }
    }
    // Azure: the actual view counts as billed cost, the amortized view as effective cost.
    let (billed, _) = azure_totals("azure/EA_ActualCost_Small.csv");
    let (effective, _) = azure_totals("azure/EA_AmortizedCost_Small.csv");
    let actual = row("azure_export:8611537", "2023-09");
    let amortized = row("azure_export:8611537:amortized", "2023-09");
    assert_eq!(cents(money(&actual["read"]).0), cents(billed));
    assert_eq!(money(&actual["counted"]).1, 0.0);
    assert_eq!(cents(money(&amortized["attributed"]).1), cents(effective));
    assert_eq!(money(&amortized["counted"]).0, 0.0);
    assert!(
        actual["notes"][0].as_str().unwrap().contains("paired"),
        "{actual:#}"
    );
    // The report counts what reconcile counts.
    let report = env.report_json(&["--from", "2023-09-01", "--to", "2023-09-30"]);
    assert_eq!(
        cents(report["totals"]["billed_cost"].as_f64().unwrap()),
        cents(billed)
    );
    assert_eq!(
        cents(report["totals"]["effective_cost"].as_f64().unwrap()),
        cents(effective)
    );
    let md = env.ok(&["reconcile"]);
    assert!(md.contains("**Every source reconciles**"), "{md}");
    // The report carries the same figures, from what was recorded with each partition.
    let report = env.report_json(&[]);
    let carried = report["reconciliation"].as_array().unwrap();
    assert_eq!(carried.len(), rows.len(), "{:#}", report["reconciliation"]);
    for x in carried {
        let y = row(x["source"].as_str().unwrap(), x["period"].as_str().unwrap());
        for figure in ["read", "stored", "counted"] {
            let ((b1, e1), (b2, e2)) = (money(&x[figure]), money(&y[figure]));
            assert_eq!(
                (cents(b1), cents(e1)),
                (cents(b2), cents(e2)),
                "{figure} of {x:#}"
            );
        }
        assert_eq!(x["ok"], true);
    }
}

#[test]
fn the_demo_reconciles_and_its_report_counts_the_same() {
    let env = Env::new();
    let demo = super::demo(&env);
    let r = super::demo_json(
        &env,
        &[
            "reconcile",
            "--from",
            "2026-10-02",
            "--to",
            "2026-10-31",
            "--format",
            "json",
        ],
    );
    let rows = r["reconciliation"].as_array().unwrap();
    let sum = |figure: &str, column: &str| -> f64 {
        rows.iter()
            .map(|x| x[figure][column].as_f64().unwrap())
            .sum()
    };
    // The demo's report is of those 30 days: its totals are what reconcile counts.
    for (column, total) in [("billed", "billed_cost"), ("effective", "effective_cost")] {
        let reported = demo["totals"][total].as_f64().unwrap();
        assert_eq!(cents(sum("counted", column)), cents(reported), "{column}");
        assert_eq!(
            cents(sum("attributed", column)),
            cents(reported),
            "{column}"
        );
    }
    // Every provider's source is there, and the Azure views are paired.
    for source in ["focus:", "gcp_export:", "azure_export:"] {
        assert!(
            rows.iter()
                .any(|x| x["source"].as_str().unwrap().starts_with(source)),
            "{source}"
        );
    }
}

#[test]
fn a_stored_day_that_differs_from_what_was_read_fails_reconcile_naming_it() {
    use spendlens::store::{Store, Table};
    let env = Env::new();
    env.ingest_sample("focus/focus-1.0_sample.csv");
    let store = Store::new(env.data());
    // A day's partition rewritten behind the ledger's back (as a bug or a hand edit would):
    // its costs doubled.
    let entry = store
        .manifest()
        .unwrap()
        .partitions
        .values()
        .find(|p| p.table == Table::Cost && p.source == "focus:1234567890123")
        .cloned()
        .unwrap();
    let part = store
        .scan(Table::Cost)
        .unwrap()
        .unwrap()
        .filter(col("source").eq(lit(entry.source.clone())))
        .filter(spendlens::schema::between(entry.day, entry.day))
        .collect()
        .unwrap();
    let added: f64 = part
        .column("billed_cost")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .flatten()
        .sum();
    assert!(added.abs() > 0.01, "the day has money to double: {added}");
    let doubled = part
        .lazy()
        .with_columns([(col("billed_cost") * lit(2.0)).alias("billed_cost")])
        .collect()
        .unwrap();
    {
        let lock = store.lock().unwrap();
        store.replace(&lock, Table::Cost, &doubled, &[]).unwrap();
    }
    let (code, r, stderr) = reconcile_json(&env, &[]);
    assert_eq!(code, Some(1), "{r:#}");
    assert_eq!(r["ok"], false);
    let bad: Vec<&Value> = r["reconciliation"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["ok"] == false)
        .collect();
    assert_eq!(bad.len(), 1, "{bad:#?}");
    let period = entry.day.format("%Y-%m").to_string();
    assert_eq!(bad[0]["source"], "focus:1234567890123");
    assert_eq!(bad[0]["period"], period.as_str());
    assert_eq!(bad[0]["largest_difference_day"], entry.day.to_string());
    let (b, _) = money(&bad[0]["stored_vs_read"]);
    assert_eq!(cents(b), cents(added));
    let md = env.ok(&["report"]);
    assert!(
        md.contains("1 source billing period(s) do not reconcile"),
        "{md}"
    );
    assert!(
        stderr.contains("focus:1234567890123")
            && stderr.contains(&period)
            && stderr.contains(&entry.day.to_string()),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// Restatements: newer month-to-date exports, late credits, corrections.

/// One FOCUS row: (charge day, billing period month, category, class, billed).
type FocusRow<'a> = (&'a str, &'a str, &'a str, &'a str, f64);

/// A minimal FOCUS 1.1 export of Bedrock rows on one billing account.
fn focus_export(env: &Env, name: &str, rows: &[FocusRow]) -> std::path::PathBuf {
    let mut text = String::from("BillingAccountId,BillingPeriodStart,ChargePeriodStart,ChargePeriodEnd,ProviderName,ServiceName,ChargeCategory,ChargeClass,BilledCost,EffectiveCost,BillingCurrency,SubAccountId,Tags\n");
    for (day, period, category, class, billed) in rows {
        let start = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap();
        text.push_str(&format!(
            "acct-1,{period}-01 00:00:00,{day} 00:00:00,{} 00:00:00,AWS,Amazon Bedrock,{category},{class},{billed},{billed},USD,111122223333,\"{{\"\"team\"\":\"\"search\"\"}}\"\n",
            start.succ_opt().unwrap()
        ));
    }
    let path = env.path(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Cost per charge day in the store, from the report's daily rows (the exports here bill
/// what they charge: billed = effective).
fn cost_by_day(env: &Env) -> BTreeMap<String, f64> {
    let r = env.report_json(&["--daily-series", "0"]);
    let mut out = BTreeMap::new();
    for d in r["daily"].as_array().unwrap() {
        *out.entry(d["date"].as_str().unwrap().to_string())
            .or_insert(0.0) += d["effective_cost"].as_f64().unwrap_or(0.0);
    }
    out
}

#[test]
fn a_newer_export_restates_its_days_keeps_dropped_ones_named_and_late_credits_land_on_their_day() {
    let env = Env::new();
    let days = [
        "2026-10-01",
        "2026-10-02",
        "2026-10-03",
        "2026-10-04",
        "2026-10-05",
    ];
    let first: Vec<FocusRow> = days
        .iter()
        .zip(1..)
        .map(|(day, n)| (*day, "2026-10", "Usage", "", 10.0 * f64::from(n)))
        .collect();
    // Month to date a week later: the 2nd restated, the 5th no longer there, the 6th new, a
    // credit for the 3rd arriving late, and a correction of September's invoice billed on
    // October's (FOCUS ChargeClass = Correction, charge day in September).
    let second: Vec<FocusRow> = vec![
        ("2026-10-01", "2026-10", "Usage", "", 10.0),
        ("2026-10-02", "2026-10", "Usage", "", 50.0),
        ("2026-10-03", "2026-10", "Usage", "", 30.0),
        ("2026-10-03", "2026-10", "Credit", "", -7.0),
        ("2026-10-04", "2026-10", "Usage", "", 40.0),
        ("2026-10-06", "2026-10", "Usage", "", 60.0),
        ("2026-09-30", "2026-10", "Adjustment", "Correction", -3.5),
    ];
    let a = focus_export(&env, "month-to-date-1.csv", &first);
    let b = focus_export(&env, "month-to-date-2.csv", &second);
    env.ok(&["ingest", a.to_str().unwrap()]);
    let out = env.ok(&["ingest", b.to_str().unwrap()]);
    // The dropped day is named and kept.
    assert!(
        out.contains("holds 1 stored day(s)") && out.contains("2026-10-05"),
        "{out}"
    );

    // Each day is what the newest export says; the dropped day what the first said.
    let mut expected: BTreeMap<String, f64> = BTreeMap::new();
    for (day, _, _, _, billed) in &second {
        *expected.entry((*day).to_string()).or_insert(0.0) += billed;
    }
    let dropped = first.iter().find(|r| r.0 == "2026-10-05").unwrap();
    expected.insert(dropped.0.to_string(), dropped.4);
    let stored = cost_by_day(&env);
    assert_eq!(
        stored
            .iter()
            .map(|(d, v)| (d.clone(), cents(*v)))
            .collect::<Vec<_>>(),
        expected
            .iter()
            .map(|(d, v)| (d.clone(), cents(*v)))
            .collect::<Vec<_>>()
    );

    // Reconcile: everything as read is stored; the correction is kept on its charge day,
    // counted on October's invoice, and shown.
    let (code, r, stderr) = reconcile_json(&env, &[]);
    assert_eq!(code, Some(0), "{stderr}\n{r:#}");
    let rows = r["reconciliation"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "one source, one billing period: {r:#}");
    let october = &rows[0];
    assert_eq!(october["period"], "2026-10");
    let invoiced: f64 = expected.values().sum();
    assert_eq!(cents(money(&october["read"]).0), cents(invoiced));
    assert_eq!(cents(money(&october["corrections"]).0), cents(-3.5));
    assert!(
        october["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("2026-09-30")),
        "{october:#}"
    );
}

// ---------------------------------------------------------------------------------------------
// Currencies and invoice months as the bill states them.

#[test]
fn currencies_and_invoice_months_are_kept_as_the_bill_states_them() {
    let env = Env::new();
    // GCP in yen, a usage day on the next month's invoice, a credit.
    let day = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
    let rows = [
        ("2026-10-30", "202610", 500.0, vec![]),
        ("2026-10-31", "202611", 700.0, vec![]),
        ("2026-11-01", "202611", 1100.0, vec![-100.0]),
    ];
    let mut jsonl = String::new();
    let mut by_invoice: BTreeMap<String, f64> = BTreeMap::new();
    for (d, invoice, cost, credits) in &rows {
        let mut row = super::gcp::export_row(
            day(d),
            "proj-a",
            &[],
            &[],
            "Vertex AI",
            "Gemini 2.5 Pro Input Tokens",
            *cost,
            1e6,
            credits,
        );
        row["currency"] = json!("JPY");
        row["invoice"]["month"] = json!(invoice);
        jsonl.push_str(&format!("{row}\n"));
        *by_invoice
            .entry(format!("{}-{}", &invoice[..4], &invoice[4..]))
            .or_insert(0.0) += cost + credits.iter().sum::<f64>();
    }
    let gcp = env.path("billing.jsonl");
    std::fs::write(&gcp, jsonl).unwrap();
    // Azure in euros.
    let azure = env.path("EA_ActualCost_EUR.csv");
    let text = std::fs::read_to_string(shared("azure/EA_ActualCost_Small.csv")).unwrap();
    std::fs::write(&azure, text.replace(",USD,", ",EUR,")).unwrap();
    let (euros, _) = azure_totals("azure/EA_ActualCost_Small.csv");
    env.ok(&[
        "ingest",
        "--services",
        "all",
        gcp.to_str().unwrap(),
        azure.to_str().unwrap(),
    ]);

    let (code, r, stderr) = reconcile_json(&env, &[]);
    assert_eq!(code, Some(0), "{stderr}\n{r:#}");
    let rows = r["reconciliation"].as_array().unwrap();
    // GCP: one row per invoice month, in yen; the 31 October usage is on November's invoice.
    for (period, total) in &by_invoice {
        let x = rows
            .iter()
            .find(|x| {
                x["source"].as_str().unwrap().starts_with("gcp_export:")
                    && x["period"] == period.as_str()
            })
            .unwrap_or_else(|| panic!("no {period} row: {r:#}"));
        assert_eq!(x["currency"], "JPY");
        assert_eq!(cents(money(&x["read"]).0), cents(*total), "{period}");
        assert_eq!(cents(money(&x["counted"]).0), cents(*total), "{period}");
    }
    // One invoice month, whatever the charge days: November's yen include 31 October.
    let (code, november, _) = reconcile_json(&env, &["--period", "2026-11", "--currency", "JPY"]);
    assert_eq!(code, Some(0));
    let november = november["reconciliation"].as_array().unwrap();
    assert_eq!(november.len(), 1, "{november:#?}");
    assert_eq!(
        cents(money(&november[0]["read"]).0),
        cents(by_invoice["2026-11"])
    );
    assert!(env
        .fails(&["reconcile", "--period", "2026-13"])
        .contains("YYYY-MM"));
    let azure_row = rows.iter().find(|x| x["currency"] == "EUR").unwrap();
    assert_eq!(cents(money(&azure_row["read"]).0), cents(euros));
    // Never added together: a report needs one currency, and gives that currency's total.
    let err = env.fails(&["report"]);
    assert!(
        err.contains("several currencies") && err.contains("EUR") && err.contains("JPY"),
        "{err}"
    );
    let yen = env.report_json(&["--currency", "JPY"]);
    let total: f64 = by_invoice.values().sum();
    assert_eq!(
        cents(yen["totals"]["billed_cost"].as_f64().unwrap()),
        cents(total)
    );
    assert_eq!(yen["currency"], "JPY");
}

// ---------------------------------------------------------------------------------------------
// Cost Explorer's final days are pulled again inside the restate window.

#[test]
fn cost_explorer_final_days_inside_restate_days_are_pulled_again() {
    let env = AwsEnv::new(BedrockFaults::default());
    std::fs::write(
        env.path("spendlens.toml"),
        "[aws]\nregions = [\"us-east-1\"]\n[aws.profiles]\nenabled = false\n[aws.cloudwatch]\nenabled = false\n[aws.cost_explorer]\ntag_keys = []\nservices = [\"Amazon Bedrock\"]\nlookback_days = 14\n\n[nightly]\nrestate_days = 3\n",
    )
    .unwrap();
    let proxy = dimension_values_proxy(env.moto.port);
    let group = |amount: f64| {
        [(
            "Amazon Bedrock",
            "USE1-NovaLite-input-tokens",
            amount,
            amount,
            1e6,
        )]
    };
    // Five days, all final, 10.00 a day.
    let days: Vec<chrono::NaiveDate> = (2..=6).rev().map(days_ago).collect();
    env.moto
        .queue_cost_and_usage(vec![ce_result(&days, false, &group(10.0), None)]);
    collect_through(&env, &proxy, days[0], days[4]);
    // Cost Explorer restates the last days to 25.00. A nightly run asks again for what its
    // lookback does not hold as final (14 to 7 days ago: nothing billed) and for the
    // restate window (3 to 1 days ago), never for the final days before it.
    let restated: Vec<chrono::NaiveDate> = (2..=3).rev().map(days_ago).collect();
    env.moto.queue_cost_and_usage(vec![
        ce_result(&[], false, &[], None),
        ce_result(&restated, false, &group(25.0), None),
    ]);
    let before = proxy.requests().len();
    let out = env
        .command_via(
            &proxy.url(),
            &["nightly", "--out", env.path("out").to_str().unwrap()],
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let asked: Vec<(String, String)> = proxy.requests()[before..]
        .iter()
        .filter(|r| operation(r) == "GetCostAndUsage")
        .map(|r| {
            let p = &r.json()["TimePeriod"];
            (
                p["Start"].as_str().unwrap().to_string(),
                p["End"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let restate_from = days_ago(3).to_string();
    assert!(
        asked.iter().any(|(start, _)| *start == restate_from),
        "{asked:?}"
    );
    for d in &days[..3] {
        let d = d.to_string();
        assert!(
            asked
                .iter()
                .all(|(start, end)| !(start.as_str() <= d.as_str() && d.as_str() < end.as_str())),
            "final day {d} outside the restate window was asked again: {asked:?}"
        );
    }
    // Each day is what Cost Explorer said last about it.
    let cost = scan(&env.data(), spendlens::store::Table::Cost);
    let by_day = cost
        .lazy()
        .group_by([col("charge_period_start")
            .cast(DataType::Date)
            .cast(DataType::String)
            .alias("day")])
        .agg([col("billed_cost").sum()])
        .collect()
        .unwrap();
    let stored: BTreeMap<String, i64> = by_day
        .column("day")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .zip(by_day.column("billed_cost").unwrap().f64().unwrap().iter())
        .map(|(d, v)| (d.unwrap().to_string(), cents(v.unwrap())))
        .collect();
    let expected: BTreeMap<String, i64> = days
        .iter()
        .map(|d| {
            (
                d.to_string(),
                if restated.contains(d) { 2500 } else { 1000 },
            )
        })
        .collect();
    assert_eq!(stored, expected);
}

#[test]
fn cost_explorer_keeps_the_currency_it_reports() {
    let env = AwsEnv::new(BedrockFaults::default());
    std::fs::write(
        env.path("spendlens.toml"),
        "[aws]\nregions = [\"us-east-1\"]\n[aws.profiles]\nenabled = false\n[aws.cloudwatch]\nenabled = false\n[aws.cost_explorer]\ntag_keys = []\nservices = [\"Amazon Bedrock\"]\n",
    )
    .unwrap();
    let (d1, d2) = (days_ago(3), days_ago(2));
    // An account billed in euros: every amount's Unit is EUR.
    let result = ce_result(
        &[d1, d2],
        false,
        &[(
            "Amazon Bedrock",
            "EUC1-NovaLite-input-tokens",
            4.2,
            4.2,
            1e6,
        )],
        None,
    );
    let euros: Value =
        serde_json::from_str(&result.to_string().replace("\"USD\"", "\"EUR\"")).unwrap();
    env.moto.queue_cost_and_usage(vec![euros]);
    let out = env.run(&[
        "collect",
        "--from",
        &d1.to_string(),
        "--to",
        &d2.to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cost = scan(&env.data(), spendlens::store::Table::Cost);
    let currencies: Vec<String> = cost
        .column("billing_currency")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|c| c.unwrap().to_string())
        .collect();
    assert!(
        !currencies.is_empty() && currencies.iter().all(|c| c == "EUR"),
        "{currencies:?}"
    );
    let r: Value =
        serde_json::from_slice(&env.run(&["reconcile", "--format", "json"]).stdout).unwrap();
    assert!(
        r["reconciliation"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["currency"] == "EUR"),
        "{r:#}"
    );
    assert_eq!(r["ok"], true);
}

#[test]
fn the_bigquery_collector_keeps_the_currency_and_the_invoice_month() {
    use super::gcp::{export_row, BqEmulator, GcpEnv};
    let bq = BqEmulator::start();
    bq.create_export_table();
    let day = days_ago(3);
    // Billed in yen, on the invoice of the month after the usage day (a late row).
    let next_month = (day.with_day(1).unwrap() + chrono::Duration::days(32))
        .format("%Y%m")
        .to_string();
    let rows: Vec<(f64, Vec<f64>)> = vec![(1200.0, vec![-200.0]), (300.0, vec![])];
    let mut export = Vec::new();
    for (cost, credits) in &rows {
        let mut row = export_row(
            day,
            "p-a",
            &[],
            &[],
            "Vertex AI",
            "Gemini 2.5 Pro Text Input - Predictions",
            *cost,
            1e6,
            credits,
        );
        row["currency"] = json!("JPY");
        row["invoice"]["month"] = json!(next_month);
        export.push(row);
    }
    bq.insert(&export);
    let invoiced: f64 = rows.iter().map(|(c, cr)| c + cr.iter().sum::<f64>()).sum();
    let env = GcpEnv::new(&format!(
        "endpoint = \"{}\"\ncredentials = \"anonymous\"\nlate_days = 3",
        bq.url()
    ));
    let out = env.run(&[
        "collect",
        "--from",
        &day.to_string(),
        "--to",
        &day.to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = env.json(&["reconcile", "--format", "json"]);
    let rows = r["reconciliation"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{r:#}");
    let period = format!("{}-{}", &next_month[..4], &next_month[4..]);
    assert_eq!(rows[0]["period"], period.as_str());
    assert_eq!(rows[0]["currency"], "JPY");
    assert_eq!(cents(money(&rows[0]["read"]).0), cents(invoiced));
    assert_eq!(cents(money(&rows[0]["attributed"]).0), cents(invoiced));
    assert_eq!(r["ok"], true);
}

#[test]
fn the_cost_management_collector_keeps_the_currency_it_reports() {
    use super::azure::{azure_handler, days_ago, scenario, AzureEnv};
    // The documented answers, for an account billed in euros.
    let inner = azure_handler(false, 1.0);
    let server = StandIn::start(move |req, n| {
        let mut reply = inner(req, n);
        reply.body =
            serde_json::from_str(&reply.body.to_string().replace("\"USD\"", "\"EUR\"")).unwrap();
        reply
    });
    let env = AzureEnv::new(&server.url(), "");
    let (d1, d2) = (days_ago(4).to_string(), days_ago(3).to_string());
    let out = env.run(&["collect", "--from", &d1, "--to", &d2]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = env.run(&["reconcile", "--format", "json"]);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{r:#}");
    let rows = r["reconciliation"].as_array().unwrap();
    assert!(
        !rows.is_empty() && rows.iter().all(|x| x["currency"] == "EUR"),
        "{r:#}"
    );
    // Billed from the ActualCost query, effective from the AmortizedCost query, in euros.
    let actual: f64 = scenario().iter().map(|s| s.3).sum();
    let amortized: f64 = scenario().iter().map(|s| s.4).sum();
    let sum = |figure: &str, column: &str| -> f64 {
        rows.iter()
            .map(|x| x[figure][column].as_f64().unwrap())
            .sum()
    };
    assert_eq!(cents(sum("read", "billed")), cents(actual));
    assert_eq!(cents(sum("attributed", "effective")), cents(amortized));
}

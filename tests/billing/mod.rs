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
        .unwrap_or("")
        .splitn(2, ' ')
        .nth(1)
        .unwrap_or("");
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

    let out = env
        .command_via(
            &proxy.url(),
            &[
                "collect",
                "--from",
                &d1.to_string(),
                "--to",
                &d2.to_string(),
            ],
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    let out = env
        .command_via(
            &proxy.url(),
            &[
                "collect",
                "--from",
                &d1.to_string(),
                "--to",
                &d2.to_string(),
            ],
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    let out = env.ok(&[
        "ingest",
        "--services",
        "all",
        plain_actual.to_str().unwrap(),
    ]);
    assert!(
        out.contains("Azure actual cost view (from its content: a commitment purchase)"),
        "{out}"
    );
    let out = env.ok(&[
        "ingest",
        "--services",
        "all",
        plain_amortized.to_str().unwrap(),
    ]);
    assert!(
        out.contains("Azure amortized cost view (from its content"),
        "{out}"
    );
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

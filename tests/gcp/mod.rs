//! The BigQuery billing-export collector end to end: the real binary and Google's
//! `google-cloud-bigquery` client against the `bqemulator` BigQuery emulator (a table with
//! the export's real schema, loaded over `tabledata.insertAll`, queried by the production
//! SQL), and against a local server answering the documented JSON where the emulator cannot
//! show a behaviour (a job not done on the first poll, paging, a bytes estimate over the cap,
//! access denied).

use super::stand_in::{Reply, StandIn};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const TABLE: &str = "gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9";
const PROJECT: &str = "test-proj";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Minimal HTTP/1.1 JSON request (the tests' own loader; the collector uses the real client).
pub fn http(method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = TcpStream::connect(host).unwrap();
    let text = body
        .map(std::string::ToString::to_string)
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    // Chunked answers: take the JSON between the first `{` and the last `}`.
    let json = match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) => serde_json::from_str(&body[a..=b]).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (status, json)
}

/// A `bqemulator` on a free port, stopped on drop.
pub struct BqEmulator {
    pub port: u16,
    child: Child,
}

impl BqEmulator {
    pub fn start() -> BqEmulator {
        let port = free_port();
        let child = Command::new("bqemulator")
            .args([
                "start",
                "--rest-port",
                &port.to_string(),
                "--grpc-port",
                "0",
            ])
            .args(["--project", PROJECT, "--log-level", "warning"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("bqemulator is needed for the BigQuery tests (.ci/run installs it)");
        super::stand_in::wait_for_port(port, "bqemulator", 90);
        BqEmulator { port, child }
    }
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    fn api(&self, path: &str) -> String {
        format!("{}/bigquery/v2/projects/{PROJECT}{path}", self.url())
    }
    /// Dataset `billing` and the export table with the real billing-export schema,
    /// partitioned by day like the export.
    pub fn create_export_table(&self) {
        let (s, v) = http(
            "POST",
            &self.api("/datasets"),
            Some(&json!({"datasetReference": {"projectId": PROJECT, "datasetId": "billing"}})),
        );
        assert_eq!(s, 200, "{v}");
        let schema: Value = serde_json::from_str(
            &std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gcp/billing_export_schema.json"),
            )
            .unwrap(),
        )
        .unwrap();
        let (s, v) = http(
            "POST",
            &self.api("/datasets/billing/tables"),
            Some(&json!({
                "tableReference": {"projectId": PROJECT, "datasetId": "billing", "tableId": TABLE},
                "timePartitioning": {"type": "DAY"},
                "schema": {"fields": schema},
            })),
        );
        assert_eq!(s, 200, "{v}");
    }
    pub fn insert(&self, rows: &[Value]) {
        let rows: Vec<Value> = rows.iter().map(|r| json!({"json": r})).collect();
        let (s, v) = http(
            "POST",
            &self.api(&format!("/datasets/billing/tables/{TABLE}/insertAll")),
            Some(&json!({"rows": rows})),
        );
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["insertErrors"], json!([]), "{v}");
    }
}

impl Drop for BqEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One billing-export row as the export writes it.
#[allow(clippy::too_many_arguments)]
pub fn export_row(
    day: chrono::NaiveDate,
    project: &str,
    project_labels: &[(&str, &str)],
    labels: &[(&str, &str)],
    service: &str,
    sku: &str,
    cost: f64,
    tokens: f64,
    credits: &[f64],
) -> Value {
    let kv = |l: &[(&str, &str)]| -> Vec<Value> {
        l.iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect()
    };
    json!({
        "billing_account_id": "01A2B3-C4D5E6-F7A8B9",
        "service": {"id": "C7E2-9256-1C43", "description": service},
        "sku": {"id": format!("{:X}", sku.len() * 7919), "description": sku},
        "usage_start_time": format!("{day} 05:00:00 UTC"),
        "usage_end_time": format!("{day} 06:00:00 UTC"),
        "project": {"id": project, "number": "4815162342", "name": project, "labels": kv(project_labels)},
        "labels": kv(labels),
        "system_labels": [],
        "location": {"location": "us-central1", "country": "US", "region": "us-central1"},
        "export_time": format!("{} 02:00:00 UTC", day + chrono::Duration::days(1)),
        "cost": cost,
        "currency": "USD",
        "currency_conversion_rate": 1.0,
        "usage": {"amount": tokens, "unit": "count", "amount_in_pricing_units": tokens / 1e6, "pricing_unit": "1M count"},
        "credits": credits.iter().map(|a| json!({"name": "Vertex AI Trial Credit", "amount": a, "full_name": null, "id": "PROMO-1", "type": "PROMOTION"})).collect::<Vec<_>>(),
        "invoice": {"month": day.format("%Y%m").to_string()},
        "cost_type": "regular",
    })
}

pub struct GcpEnv {
    pub dir: tempfile::TempDir,
}

impl GcpEnv {
    pub fn new(gcp_section: &str) -> GcpEnv {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("spendlens.toml"),
            format!("[gcp]\nbilling_table = \"{PROJECT}.billing.{TABLE}\"\n{gcp_section}\n"),
        )
        .unwrap();
        GcpEnv { dir }
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    /// Run spendlens with no Google credentials from the machine (HOME is the temp dir).
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }
    /// The spendlens command with no Google credentials from the machine, not yet started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_spendlens"));
        c.current_dir(self.dir.path())
            .arg("--data-dir")
            .arg(self.path("data"))
            .args(args)
            .env("HOME", self.dir.path())
            .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
            .env_remove("CLOUDSDK_CONFIG")
            .env_remove("GCE_METADATA_HOST")
            .env_remove("SPENDLENS_CONFIG");
        c
    }
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

pub fn days_ago(n: i64) -> chrono::NaiveDate {
    chrono::Utc::now().date_naive() - chrono::Duration::days(n)
}

#[test]
fn the_production_query_runs_against_the_emulator_and_a_rerun_adds_nothing() {
    let bq = BqEmulator::start();
    bq.create_export_table();
    let (d1, d2) = (days_ago(3), days_ago(2));
    let pro_in = "Gemini 2.5 Pro Text Input - Predictions";
    let search = [("team", "search"), ("cost-center", "cc-100")];
    bq.insert(&[
        // Two export rows of the same day, SKU and labels: one daily row comes back.
        export_row(
            d1,
            "p-search",
            &search,
            &[("feature", "rag-answer")],
            "Vertex AI",
            pro_in,
            12.5,
            1e7,
            &[-2.5],
        ),
        export_row(
            d1,
            "p-search",
            &search,
            &[("feature", "rag-answer")],
            "Vertex AI",
            pro_in,
            7.5,
            6e6,
            &[-1.5],
        ),
        export_row(
            d1,
            "p-search",
            &search,
            &[("feature", "rag-answer")],
            "Vertex AI",
            "Gemini 2.5 Pro Text Output - Predictions",
            30.0,
            3e6,
            &[],
        ),
        // Resource labels win over project labels; values are normalised.
        export_row(
            d2,
            "p-search",
            &search,
            &[("team", "Research "), ("feature", "eval")],
            "Vertex AI",
            "Gemini 1.5 Flash Character Input - Predictions",
            3.0,
            4e6,
            &[],
        ),
        export_row(
            d2,
            "p-misc",
            &[],
            &[],
            "Gemini API",
            "Gemini 2.5 Flash Input Tokens",
            1.25,
            5e6,
            &[],
        ),
        // Not an LLM service: the query leaves it in BigQuery.
        export_row(
            d2,
            "p-search",
            &search,
            &[],
            "Cloud Storage",
            "Standard Storage US Multi-region",
            100.0,
            1.0,
            &[],
        ),
        // Outside the window.
        export_row(
            days_ago(9),
            "p-search",
            &search,
            &[],
            "Vertex AI",
            pro_in,
            50.0,
            1e6,
            &[],
        ),
    ]);
    let env = GcpEnv::new(&format!(
        "endpoint = \"{}\"\ncredentials = \"anonymous\"\nlate_days = 3",
        bq.url()
    ));
    let (from, to) = (d1.to_string(), d2.to_string());
    let out = env.run(&["collect", "--from", &from, "--to", &to]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("dry run: "),
        "the dry run's estimate is logged: {stderr}"
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("gcp_export:01A2B3-C4D5E6-F7A8B9: "),
        "{stdout}"
    );
    assert!(stdout.contains("from 4 result row(s)"), "{stdout}");

    let report = env.json(&["report", "--from", &from, "--to", &to, "--format", "json"]);
    let total = 12.5 + 7.5 + 30.0 + 3.0 + 1.25;
    let credits = -2.5 - 1.5;
    assert!(
        (report["totals"]["effective_cost"].as_f64().unwrap() - (total + credits)).abs() < 1e-9,
        "{report:#}"
    );
    let team = |name: &str| {
        report["by_team"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["team"] == name)
            .map(|t| t["effective_cost"].as_f64().unwrap())
    };
    assert!((team("search").unwrap() - (12.5 + 7.5 + 30.0 + credits)).abs() < 1e-9);
    assert!(
        (team("research").unwrap() - 3.0).abs() < 1e-9,
        "resource label over project label"
    );
    assert!((team("unallocated").unwrap() - 1.25).abs() < 1e-9);
    let models: Vec<&str> = report["by_model"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["model"].as_str())
        .collect();
    assert!(
        models.contains(&"gemini-2.5-pro") && models.contains(&"gemini-1.5-flash"),
        "{models:?}"
    );
    let store = super::aws::scan(&env.path("data"), spendlens::store::Table::Cost);
    let usage_types: Vec<String> = store
        .column("usage_type")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .map(str::to_string)
        .collect();
    for t in ["input_tokens", "output_tokens", "input_characters"] {
        assert!(usage_types.iter().any(|u| u == t), "{t} in {usage_types:?}");
    }
    let charge: Vec<String> = store
        .column("charge_category")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .map(str::to_string)
        .collect();
    assert_eq!(
        charge.iter().filter(|c| *c == "Credit").count(),
        1,
        "the day's credits are one Credit row"
    );

    // Again: the same days are replaced, nothing is added.
    let before = super::partitions(&env.path("data"));
    let out = env.run(&["collect", "--from", &from, "--to", &to]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(super::partitions(&env.path("data")), before);
    // Row order within a partition is not part of the contract: compare as sorted sets.
    let sorted = |df: polars::prelude::DataFrame| {
        df.sort(
            [
                "charge_period_start",
                "sub_account_id",
                "model",
                "usage_type",
                "charge_category",
                "billed_cost",
            ],
            Default::default(),
        )
        .unwrap()
    };
    let store = sorted(store);
    let again = sorted(super::aws::scan(
        &env.path("data"),
        spendlens::store::Table::Cost,
    ));
    let differs: Vec<String> = store
        .columns()
        .iter()
        .filter(|c| {
            !again
                .column(c.name())
                .map(|a| {
                    a.as_materialized_series()
                        .equals_missing(c.as_materialized_series())
                })
                .unwrap_or(false)
        })
        .map(|c| c.name().to_string())
        .collect();
    assert!(
        again.height() == store.height() && differs.is_empty(),
        "the re-run changed the stored rows: {} vs {} rows, columns {differs:?}",
        again.height(),
        store.height()
    );

    // The same bill ingested from a `bq extract` file replaces the collected days rather
    // than adding to them (one source name for one billing account).
    let jsonl: String = [export_row(
        d1,
        "p-search",
        &search,
        &[("feature", "rag-answer")],
        "Vertex AI",
        pro_in,
        20.0,
        16e6,
        &[-4.0],
    )]
    .iter()
    .map(|r| r.to_string() + "\n")
    .collect();
    std::fs::write(env.path("extract.jsonl"), jsonl).unwrap();
    assert!(env
        .run(&["ingest", env.path("extract.jsonl").to_str().unwrap()])
        .status
        .success());
    let after = env.json(&["report", "--from", &from, "--to", &from, "--format", "json"]);
    assert!(
        (after["totals"]["effective_cost"].as_f64().unwrap() - 16.0).abs() < 1e-9,
        "{after:#}"
    );
}

/// The documented answers of the BigQuery REST API for one query job that is not done on
/// its first poll and returns its rows over two pages.
fn bigquery_stand_in(bytes_estimate: i64, denied: Option<&'static str>) -> StandIn {
    StandIn::start(bigquery_handler(bytes_estimate, denied, 1.0))
}

/// The handler behind [`bigquery_stand_in`]; costs are multiplied by `scale`.
pub fn bigquery_handler(
    bytes_estimate: i64,
    denied: Option<&'static str>,
    scale: f64,
) -> impl Fn(&super::stand_in::Request, usize) -> Reply + Send + Sync + 'static {
    let polls = std::sync::atomic::AtomicUsize::new(0);
    move |req: &super::stand_in::Request, _| {
        if let Some(permission) = denied {
            let message = format!("Access Denied: Project {PROJECT}: User does not have {permission} permission in project {PROJECT}.");
            return Reply::status(
                "403 Forbidden",
                json!({"error": {"code": 403, "message": message, "errors": [{"message": message, "domain": "global", "reason": "accessDenied"}], "status": "PERMISSION_DENIED"}}),
            );
        }
        let job = json!({"projectId": PROJECT, "jobId": "job_spendlens_1", "location": "US"});
        let schema = json!({"fields": [
            {"name": "billing_account_id", "type": "STRING"}, {"name": "usage_date", "type": "DATE"},
            {"name": "project_id", "type": "STRING"}, {"name": "service", "type": "STRING"},
            {"name": "sku_id", "type": "STRING"}, {"name": "sku", "type": "STRING"},
            {"name": "region", "type": "STRING"}, {"name": "project_labels", "type": "STRING"},
            {"name": "resource_labels", "type": "STRING"}, {"name": "cost_type", "type": "STRING"},
            {"name": "currency", "type": "STRING"}, {"name": "invoice_month", "type": "STRING"},
            {"name": "cost", "type": "FLOAT"},
            {"name": "usage_amount", "type": "FLOAT"}, {"name": "usage_unit", "type": "STRING"},
            {"name": "credits", "type": "FLOAT"}, {"name": "export_rows", "type": "INTEGER"}]});
        let row = |day: &str, cost: &str| {
            let cost = (cost.parse::<f64>().unwrap() * scale).to_string();
            json!({"f": [
            {"v": "01A2B3-C4D5E6-F7A8B9"}, {"v": day}, {"v": "p-search"}, {"v": "Vertex AI"},
            {"v": "AB12"}, {"v": "Gemini 2.5 Pro Text Input - Predictions"}, {"v": "us-central1"},
            {"v": "[{\"key\":\"team\",\"value\":\"search\"}]"}, {"v": "[]"}, {"v": "regular"},
            {"v": "USD"}, {"v": day.replace('-', "")[..6].to_string()}, {"v": cost}, {"v": "1000000"}, {"v": "count"}, {"v": "-0.5"}, {"v": "1"}]})
        };
        let d1 = days_ago(3).to_string();
        let d2 = days_ago(2).to_string();
        let path = req.target.split('?').next().unwrap_or("");
        match (req.method.as_str(), path) {
            // jobs.insert: the dry run.
            ("POST", p) if p.ends_with("/jobs") => Reply::ok(json!({
                "kind": "bigquery#job", "id": format!("{PROJECT}:US.job_dry"),
                "jobReference": {"projectId": PROJECT, "location": "US"},
                "configuration": req.json()["configuration"].clone(),
                "status": {"state": "DONE"},
                "statistics": {"creationTime": "1795518135166", "totalBytesProcessed": bytes_estimate.to_string(),
                    "query": {"totalBytesProcessed": bytes_estimate.to_string(), "totalBytesBilled": "0", "cacheHit": false, "statementType": "SELECT", "schema": schema}},
            })),
            // jobs.query: accepted, not done yet.
            ("POST", p) if p.ends_with("/queries") => Reply::ok(json!({
                "kind": "bigquery#queryResponse", "jobReference": job, "jobComplete": false,
            })),
            // getQueryResults: not done on the first poll, then two pages.
            ("GET", p) if p.contains("/queries/job_spendlens_1") => {
                if polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    // The first poll: still running.
                    return Reply::ok(
                        json!({"kind": "bigquery#getQueryResultsResponse", "jobReference": job, "jobComplete": false}),
                    );
                }
                if req.target.contains("maxResults=0") {
                    // A status poll: done; no rows asked for, so a token for the first page.
                    return Reply::ok(
                        json!({"kind": "bigquery#getQueryResultsResponse", "jobReference": job, "jobComplete": true,
                        "schema": schema, "totalRows": "2", "pageToken": "page-1", "totalBytesProcessed": bytes_estimate.to_string()}),
                    );
                }
                if req.target.contains("pageToken=page-2") {
                    Reply::ok(
                        json!({"kind": "bigquery#getQueryResultsResponse", "jobReference": job, "jobComplete": true,
                        "schema": schema, "totalRows": "2", "rows": [row(&d2, "4.5")], "totalBytesProcessed": bytes_estimate.to_string()}),
                    )
                } else {
                    Reply::ok(
                        json!({"kind": "bigquery#getQueryResultsResponse", "jobReference": job, "jobComplete": true,
                        "schema": schema, "totalRows": "2", "rows": [row(&d1, "10.0")], "pageToken": "page-2", "totalBytesProcessed": bytes_estimate.to_string()}),
                    )
                }
            }
            ("GET", p) if p.contains("/jobs/job_spendlens_1") => Reply::ok(json!({
                "kind": "bigquery#job", "jobReference": job, "status": {"state": "DONE"},
                "configuration": {"query": {"query": "…"}},
                "statistics": {"query": {"totalBytesProcessed": bytes_estimate.to_string(), "schema": schema}},
            })),
            _ => Reply::status(
                "404 Not Found",
                json!({"error": {"code": 404, "message": format!("no route {} {}", req.method, req.target), "status": "NOT_FOUND"}}),
            ),
        }
    }
}

#[test]
fn a_job_not_done_at_first_is_polled_its_pages_followed_and_the_byte_cap_enforced() {
    let server = bigquery_stand_in(12_345, None);
    let (from, to) = (days_ago(3).to_string(), days_ago(2).to_string());
    let env = GcpEnv::new(&format!(
        "endpoint = \"{}\"\ncredentials = \"anonymous\"\nmaximum_bytes_billed = 1000000",
        server.url()
    ));
    let out = env.run(&["collect", "--from", &from, "--to", &to]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}\n{:#?}", server.requests());
    assert!(stderr.contains("dry run: 12345 byte(s)"), "{stderr}");
    let log = server.requests();
    // First the dry run, then the query carrying the cap and the named parameters.
    assert!(
        log[0].json()["configuration"]["dryRun"] == json!(true),
        "{:?}",
        log[0]
    );
    let query = log
        .iter()
        .find(|r| r.method == "POST" && r.target.contains("/queries"))
        .expect("jobs.query");
    let q = query.json();
    assert_eq!(q["maximumBytesBilled"], json!("1000000"), "{q:#}");
    assert_eq!(q["parameterMode"], "NAMED");
    let names: Vec<&str> = q["queryParameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["start_date", "end_date", "late_days", "services"]);
    assert!(q["query"]
        .as_str()
        .unwrap()
        .contains(&format!("`{PROJECT}.billing.{TABLE}`")));
    assert!(
        log.iter().any(|r| r.target.contains("pageToken=page-2")),
        "the second page was fetched: {:#?}",
        log.iter()
            .map(|r| format!("{} {}", r.method, r.target))
            .collect::<Vec<_>>()
    );
    let gets = log
        .iter()
        .filter(|r| r.method == "GET" && r.target.contains("/queries/job_spendlens_1"))
        .count();
    assert!(
        gets >= 3,
        "an unfinished poll, then two pages: {gets} getQueryResults"
    );
    let report = env.json(&["report", "--from", &from, "--to", &to, "--format", "json"]);
    assert!(
        (report["totals"]["effective_cost"].as_f64().unwrap() - (10.0 + 4.5 - 1.0)).abs() < 1e-9,
        "{report:#}"
    );

    // A query the dry run prices over the cap is never run.
    let capped = bigquery_stand_in(5_000_000_000, None);
    let env = GcpEnv::new(&format!(
        "endpoint = \"{}\"\ncredentials = \"anonymous\"\nmaximum_bytes_billed = 1000000000",
        capped.url()
    ));
    let out = env.run(&["collect", "--from", &from, "--to", &to]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("would process 5000000000 bytes, over maximum_bytes_billed = 1000000000; nothing was run"), "{stderr}");
    assert!(
        !capped
            .requests()
            .iter()
            .any(|r| r.target.contains("/queries")),
        "no query job after the dry run"
    );
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("data/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["partitions"], json!({}), "nothing was stored");
    let run = &manifest["runs"]["gcp_export:01A2B3-C4D5E6-F7A8B9"];
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("maximum_bytes_billed"),
        "the failed run is recorded: {run}"
    );
}

#[test]
fn doctor_names_the_missing_bigquery_role_and_missing_credentials_fail_fast() {
    for (permission, role) in [
        ("bigquery.jobs.create", "BigQuery Job User"),
        ("bigquery.tables.getData", "BigQuery Data Viewer"),
    ] {
        let server = bigquery_stand_in(0, Some(permission));
        let env = GcpEnv::new(&format!(
            "endpoint = \"{}\"\ncredentials = \"anonymous\"",
            server.url()
        ));
        let out = env.run(&["doctor"]);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "{stdout}{}", text(&out.stderr));
        assert!(
            stdout.contains("FAILED: missing") && stdout.contains(role),
            "{permission}: {stdout}"
        );
    }
    // No Application Default Credentials anywhere: a clear error with the fix, at once.
    let env = GcpEnv::new("endpoint = \"http://127.0.0.1:9\"");
    let out = env.run(&["doctor"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout.contains("no Application Default Credentials found"),
        "{stdout}"
    );
    assert!(
        stdout.contains("gcloud auth application-default login"),
        "{stdout}"
    );
}

#[test]
fn the_queries_parse_as_bigquery_sql() {
    use sqlparser::dialect::BigQueryDialect;
    use sqlparser::parser::Parser;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("sql") {
            continue;
        }
        let sql = std::fs::read_to_string(&path).unwrap().replace(
            "{billing_table}",
            "`acme-billing.billing.gcp_billing_export_v1_X`",
        );
        let parsed = Parser::parse_sql(&BigQueryDialect {}, &sql)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(parsed.len(), 1, "{}: one statement", path.display());
        n += 1;
    }
    assert!(n >= 1, "no .sql files in queries/");
    // And the collector runs exactly the file it ships.
    assert!(
        spendlens::collect::gcp::sql(&format!("{PROJECT}.billing.{TABLE}"))
            .unwrap()
            .contains("DATE(_PARTITIONTIME) BETWEEN")
    );
    // A table name that could inject SQL is refused.
    assert!(spendlens::collect::gcp::sql("p.d.t` OR 1=1 --").is_err());
}

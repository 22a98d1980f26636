//! AWS collectors end to end: the real binary and the real `aws-sdk-*` clients against a
//! `moto` server (CloudWatch, Cost Explorer) and a local HTTP server that answers the Bedrock
//! inference-profile APIs, which moto lacks, with the JSON AWS documents.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A moto server on a free port, stopped on drop.
pub struct Moto {
    pub port: u16,
    child: Child,
}

impl Moto {
    pub fn start() -> Moto {
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with moto[server] is needed for the AWS tests (.ci/run installs it)");
        super::stand_in::wait_for_port(port, "moto (is `moto[server]` installed?)", 60);
        Moto { port, child }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// POST JSON to moto's control API.
    pub fn post(&self, path: &str, body: &Value) {
        let text = body.to_string();
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        )
        .unwrap();
        let mut response = String::new();
        s.read_to_string(&mut response).unwrap();
        assert!(
            response.starts_with("HTTP/1.1 20"),
            "moto refused {path}: {response}"
        );
    }

    /// Queue Cost Explorer results, handed out one per distinct request in order.
    pub fn queue_cost_and_usage(&self, results: Vec<Value>) {
        self.post(
            "/moto-api/static/ce/cost-and-usage-results",
            &json!({ "results": results }),
        );
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the Bedrock stand-in misbehaves.
#[derive(Default)]
pub struct BedrockFaults {
    /// Answer this many requests with 429 ThrottlingException first.
    pub throttle_first: usize,
    /// Answer ListTagsForResource with 403 AccessDeniedException.
    pub deny_tags: bool,
}

/// A local HTTP server answering `GET /inference-profiles` (two pages) and
/// `POST /listTagsForResource` with the documented JSON.
pub struct Bedrock {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<String>>>,
}

pub fn profile_arn(id: &str) -> String {
    format!("arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/{id}")
}

fn profile(id: &str, name: &str, model: &str) -> Value {
    json!({
        "inferenceProfileName": name,
        "description": format!("{name} traffic"),
        "createdAt": "2026-09-01T10:00:00Z",
        "updatedAt": "2026-09-01T10:00:00Z",
        "inferenceProfileArn": profile_arn(id),
        "models": [{"modelArn": format!("arn:aws:bedrock:us-east-1::foundation-model/{model}")}],
        "inferenceProfileId": id,
        "status": "ACTIVE",
        "type": "APPLICATION"
    })
}

fn tags_of(arn: &str) -> Value {
    let tags = if arn.ends_with("/k3v9rag0ans1") {
        json!([{"key": "team", "value": "search"}, {"key": "feature", "value": "rag-answer"}])
    } else if arn.ends_with("/p7ts2summ8ry") {
        json!([{"key": "team", "value": "support"}, {"key": "feature", "value": "ticket-summary"}])
    } else {
        json!([])
    };
    json!({ "tags": tags })
}

fn respond(s: &mut TcpStream, status: &str, error_type: Option<&str>, body: &Value) {
    let text = body.to_string();
    let error = error_type
        .map(|e| format!("x-amzn-ErrorType: {e}\r\n"))
        .unwrap_or_default();
    let _ = write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{error}Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn handle(mut s: TcpStream, faults: &Mutex<BedrockFaults>, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string();
    log.lock().unwrap().push(path.clone());
    let mut f = faults.lock().unwrap();
    if f.throttle_first > 0 {
        f.throttle_first -= 1;
        return respond(
            &mut s,
            "429 Too Many Requests",
            Some("ThrottlingException"),
            &json!({"message": "Too many requests, please wait before trying again."}),
        );
    }
    if path.starts_with("/inference-profiles") {
        assert!(
            path.contains("type=APPLICATION"),
            "only application profiles are listed: {path}"
        );
        let page = if path.contains("nextToken=page2") {
            json!({"inferenceProfileSummaries": [profile("x1sandbox0ds", "sandbox", "anthropic.claude-sonnet-4-20250514-v1:0")]})
        } else {
            json!({
                "inferenceProfileSummaries": [
                    profile("k3v9rag0ans1", "search-rag", "anthropic.claude-3-5-haiku-20241022-v1:0"),
                    profile("p7ts2summ8ry", "support-summaries", "anthropic.claude-3-5-sonnet-20240620-v1:0")
                ],
                "nextToken": "page2"
            })
        };
        respond(&mut s, "200 OK", None, &page);
    } else if path.starts_with("/listTagsForResource") {
        if f.deny_tags {
            return respond(
                &mut s,
                "403 Forbidden",
                Some("AccessDeniedException"),
                &json!({"message": "User: arn:aws:iam::111122223333:user/spendlens is not authorized to perform: bedrock:ListTagsForResource"}),
            );
        }
        let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let arn = req["resourceARN"].as_str().unwrap_or_default().to_string();
        respond(&mut s, "200 OK", None, &tags_of(&arn));
    } else {
        respond(
            &mut s,
            "404 Not Found",
            Some("ResourceNotFoundException"),
            &json!({"message": "no such route"}),
        );
    }
}

impl Bedrock {
    pub fn start(faults: BedrockFaults) -> Bedrock {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let faults = Arc::new(Mutex::new(faults));
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                handle(s, &faults, &log);
            }
        });
        Bedrock { port, requests }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A temp dir with a config naming the AWS sources, and the endpoints of the stand-ins.
pub struct AwsEnv {
    pub dir: tempfile::TempDir,
    pub moto: Moto,
    pub bedrock: Bedrock,
}

impl AwsEnv {
    pub fn new(faults: BedrockFaults) -> AwsEnv {
        let env = AwsEnv {
            dir: tempfile::tempdir().unwrap(),
            moto: Moto::start(),
            bedrock: Bedrock::start(faults),
        };
        std::fs::write(
            env.path("spendlens.toml"),
            "[aws]\nregions = [\"us-east-1\"]\nmax_attempts = 4\n\n[aws.cost_explorer]\ntag_keys = [\"team\", \"feature\"]\nservices = [\"Amazon Bedrock\", \"Claude 3.5 Haiku (Amazon Bedrock Edition)\"]\n",
        )
        .unwrap();
        env
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn data(&self) -> PathBuf {
        self.path("data")
    }

    /// Run spendlens with the standard AWS environment pointing at the stand-ins and dummy
    /// credentials; nothing from the machine's own AWS configuration leaks in.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command_via(&self.moto.url(), args).output().unwrap()
    }

    /// The spendlens command with this environment's AWS settings, every AWS endpoint at
    /// `endpoint` (e.g. a fault proxy in front of moto), not yet started.
    pub fn command_via(&self, endpoint: &str, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_spendlens"));
        c.current_dir(self.dir.path())
            .arg("--data-dir")
            .arg(self.data())
            .args(args)
            .env_remove("AWS_PROFILE")
            .env_remove("SPENDLENS_CONFIG")
            .env("AWS_CONFIG_FILE", self.path("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.path("no-aws-credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ACCESS_KEY_ID", "AKIASPENDLENSTEST000")
            .env("AWS_SECRET_ACCESS_KEY", "spendlens-test-secret-do-not-log")
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ENDPOINT_URL_BEDROCK", self.bedrock.url());
        c
    }

    pub fn manifest(&self) -> String {
        std::fs::read_to_string(self.data().join("manifest.json")).unwrap_or_default()
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// A CloudWatch client on moto, for seeding metrics.
pub async fn cloudwatch(moto: &Moto) -> aws_sdk_cloudwatch::Client {
    let config = aws_sdk_cloudwatch::Config::builder()
        .behavior_version(aws_sdk_cloudwatch::config::BehaviorVersion::latest())
        .region(aws_sdk_cloudwatch::config::Region::new("us-east-1"))
        .endpoint_url(moto.url())
        .credentials_provider(aws_sdk_cloudwatch::config::Credentials::new(
            "AKIASEED", "seed", None, None, "test",
        ))
        .build();
    aws_sdk_cloudwatch::Client::from_conf(config)
}

/// Put one daily datapoint of `metric` for `model_id` at noon of `day`.
pub async fn put_metric(
    client: &aws_sdk_cloudwatch::Client,
    model_id: &str,
    metric: &str,
    day: chrono::NaiveDate,
    value: f64,
) {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let ts = day.and_hms_opt(12, 0, 0).unwrap().and_utc().timestamp();
    client
        .put_metric_data()
        .namespace("AWS/Bedrock")
        .metric_data(
            MetricDatum::builder()
                .metric_name(metric)
                .dimensions(Dimension::builder().name("ModelId").value(model_id).build())
                .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_secs(ts))
                .value(value)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// One Cost Explorer result: days × groups of (key1, key2, unblended, amortized, quantity).
pub fn ce_result(
    days: &[chrono::NaiveDate],
    estimated: bool,
    groups: &[(&str, &str, f64, f64, f64)],
    next: Option<&str>,
) -> Value {
    let results: Vec<Value> = days
        .iter()
        .map(|d| {
            json!({
                "TimePeriod": {"Start": d.to_string(), "End": d.succ_opt().unwrap().to_string()},
                "Total": {},
                "Groups": groups.iter().map(|(k1, k2, u, a, q)| json!({
                    "Keys": [k1, k2],
                    "Metrics": {
                        "UnblendedCost": {"Amount": u.to_string(), "Unit": "USD"},
                        "AmortizedCost": {"Amount": a.to_string(), "Unit": "USD"},
                        "UsageQuantity": {"Amount": q.to_string(), "Unit": "N/A"}
                    }
                })).collect::<Vec<_>>(),
                "Estimated": estimated
            })
        })
        .collect();
    let mut v =
        json!({"ResultsByTime": results, "DimensionValueAttributes": [], "GroupDefinitions": []});
    if let Some(t) = next {
        v["NextPageToken"] = json!(t);
    }
    v
}

pub fn scan(dir: &Path, table: spendlens::store::Table) -> polars::prelude::DataFrame {
    spendlens::store::Store::new(dir)
        .scan(table)
        .unwrap()
        .expect("table has data")
        .collect()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------

use polars::prelude::*;
use spendlens::store::Table;

pub fn days_ago(n: i64) -> chrono::NaiveDate {
    chrono::Utc::now().date_naive() - chrono::Duration::days(n)
}

const HAIKU: &str = "Claude 3.5 Haiku (Amazon Bedrock Edition)";
pub const BEDROCK: &str = "Amazon Bedrock";

/// Seed two days of CloudWatch metrics and Cost Explorer results (base query in two pages,
/// then one query per tag key).
fn seed(env: &AwsEnv, d1: chrono::NaiveDate, d2: chrono::NaiveDate) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cw = cloudwatch(&env.moto).await;
        let rag = profile_arn("k3v9rag0ans1");
        for (day, tokens, calls) in [(d1, 1000.0, 10.0), (d2, 1200.0, 12.0)] {
            put_metric(&cw, &rag, "InputTokenCount", day, tokens).await;
            put_metric(&cw, &rag, "Invocations", day, calls).await;
        }
        put_metric(
            &cw,
            "anthropic.claude-3-5-haiku-20241022-v1:0",
            "Invocations",
            d1,
            5.0,
        )
        .await;
        // A day Cost Explorer has not billed yet: only usage knows about it.
        put_metric(&cw, &rag, "InputTokenCount", d2.succ_opt().unwrap(), 5e6).await;
    });
    let base = [
        (
            HAIKU,
            "USE1-MP:USE1_InputTokenCount-Units",
            10.0,
            10.0,
            12.5e6,
        ),
        (
            HAIKU,
            "USE1-MP:USE1_OutputTokenCount-Units",
            20.0,
            20.0,
            5e6,
        ),
        (BEDROCK, "USE1-NovaLite-input-tokens", 3.0, 3.0, 50e6),
    ];
    env.moto.queue_cost_and_usage(vec![
        ce_result(&[d1], false, &base, Some("page-2")),
        ce_result(&[d2], false, &base, None),
        ce_result(
            &[d1, d2],
            false,
            &[
                (HAIKU, "team$search", 24.0, 24.0, 0.0),
                (HAIKU, "team$", 6.0, 6.0, 0.0),
                (BEDROCK, "team$search", 3.0, 3.0, 0.0),
            ],
            None,
        ),
        ce_result(
            &[d1, d2],
            false,
            &[
                (HAIKU, "feature$rag-answer", 30.0, 30.0, 0.0),
                (BEDROCK, "feature$query-rewrite", 3.0, 3.0, 0.0),
            ],
            None,
        ),
    ]);
}

fn sum(df: &DataFrame, column: &str, filter: Option<Expr>) -> f64 {
    let mut lf = df.clone().lazy();
    if let Some(f) = filter {
        lf = lf.filter(f);
    }
    let out = lf.select([col(column).sum()]).collect().unwrap();
    out.column(column)
        .unwrap()
        .f64()
        .unwrap()
        .get(0)
        .unwrap_or(0.0)
}

#[test]
fn aws_collectors_fill_the_store_and_a_rerun_adds_nothing() {
    let env = AwsEnv::new(BedrockFaults::default());
    let (d1, d2, d3) = (days_ago(4), days_ago(3), days_ago(2));
    seed(&env, d1, d2);
    let (from, to) = (d1.to_string(), d3.to_string());
    let out = env.run(&["collect", "--from", &from, "--to", &to]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("aws_profiles:us-east-1: 3 application inference profile(s)"),
        "{text}"
    );
    assert!(text.contains("4 paid request(s) ($0.04)"), "{text}");

    // Cost Explorer spend reconciles, split by tag shares, usage types parsed.
    let cost = scan(&env.data(), Table::Cost);
    spendlens::schema::validate_cost(&cost).unwrap();
    assert!((sum(&cost, "billed_cost", None) - 66.0).abs() < 1e-9);
    let search = sum(
        &cost,
        "effective_cost",
        Some(
            col("tags")
                .str()
                .contains_literal(lit("\"team\":\"search\"")),
        ),
    );
    assert!((search - 54.0).abs() < 1e-9, "{search}");
    let models: Vec<String> = cost
        .column("model")
        .unwrap()
        .str()
        .unwrap()
        .unique()
        .unwrap()
        .iter()
        .flatten()
        .map(String::from)
        .collect();
    assert!(
        models.contains(&"anthropic.claude-3-5-haiku".to_string())
            && models.contains(&"amazon.nova-lite".to_string()),
        "{models:?}"
    );
    let output_tokens = sum(
        &cost,
        "effective_cost",
        Some(col("usage_type").eq(lit("output_tokens"))),
    );
    assert!((output_tokens - 40.0).abs() < 1e-9);
    let regions: Vec<String> = cost
        .column("region_id")
        .unwrap()
        .str()
        .unwrap()
        .unique()
        .unwrap()
        .iter()
        .flatten()
        .map(String::from)
        .collect();
    assert_eq!(regions, ["us-east-1"]);

    // Profiles with their tags; CloudWatch usage mapped to them.
    let profiles = scan(&env.data(), Table::Profiles);
    assert_eq!(profiles.height(), 3);
    let usage = scan(&env.data(), Table::Usage);
    spendlens::schema::validate_usage(&usage).unwrap();
    let rag = usage
        .clone()
        .lazy()
        .filter(col("resource_id").eq(lit(profile_arn("k3v9rag0ans1"))))
        .collect()
        .unwrap();
    assert_eq!(rag.height(), 3);
    assert_eq!(sum(&rag, "input_tokens", None), 2200.0 + 5e6);
    assert_eq!(sum(&rag, "invocations", None), 22.0);
    assert_eq!(
        rag.column("model").unwrap().str().unwrap().get(0),
        Some("anthropic.claude-3-5-haiku")
    );
    let plain = usage
        .clone()
        .lazy()
        .filter(col("resource_id").is_null())
        .collect()
        .unwrap();
    assert_eq!(sum(&plain, "invocations", None), 5.0);

    // A billed row that names the profile but carries no tag (cost allocation tag not active
    // yet) is attributed by the profile's tags.
    let focus = env.path("untagged.csv");
    std::fs::write(
        &focus,
        format!(
            "BilledCost,EffectiveCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ProviderName,ServiceName,ChargeCategory,ResourceId,SubAccountId\n\
             7.0,7.0,USD,{d1} 00:00:00,{d2} 00:00:00,AWS,Amazon Bedrock,Usage,{},111122223333\n",
            profile_arn("k3v9rag0ans1")
        ),
    )
    .unwrap();
    assert!(env
        .run(&["ingest", focus.to_str().unwrap()])
        .status
        .success());

    // The report attributes by the collected tags.
    let report = env.run(&["report", "--format", "json"]);
    let r: Value = serde_json::from_slice(&report.stdout).unwrap();
    let team = |name: &str| {
        r["by_team"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["team"] == name)
            .map(|t| t["effective_cost"].as_f64().unwrap())
    };
    assert_eq!(team("search"), Some(54.0 + 7.0));
    assert_eq!(team("unallocated"), Some(12.0));
    let features = r["by_team_feature"].as_array().unwrap();
    assert!(features
        .iter()
        .any(|f| f["feature"] == "rag-answer" && f["effective_cost"].as_f64().unwrap() >= 7.0));

    // Unit costs per request from CloudWatch invocations (via the profile's tags), and the
    // unbilled day estimated from usage at list price.
    let advice = env.run(&["advise", "--format", "json"]);
    assert!(advice.status.success(), "{}", stderr(&advice));
    let advice: Value = serde_json::from_slice(&advice.stdout).unwrap();
    let rag = advice["unit_costs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["feature"] == "rag-answer" && u["model"] == "anthropic.claude-3-5-haiku")
        .unwrap_or_else(|| panic!("{advice:#}"));
    // Haiku is $30/day, 80% search x 100% rag-answer, over two days; 22 invocations.
    assert_eq!(rag["requests"], 22.0);
    assert!(
        (rag["per_request"].as_f64().unwrap() - 48.0 / 22.0).abs() < 1e-5,
        "{rag}"
    );
    let estimate = &advice["estimates"][0];
    assert_eq!(estimate["date"], d3.to_string(), "{advice:#}");
    assert_eq!(estimate["model"], "anthropic.claude-3-5-haiku");
    // 5M input tokens at Claude 3.5 Haiku's list $0.80 per 1M.
    assert_eq!(estimate["estimated_cost"], 4.0);

    // investigate shows the same per-request cost for a day: $24 of Haiku over 12 calls.
    let inv = env.run(&[
        "investigate",
        "--team",
        "search",
        "--feature",
        "rag-answer",
        "--at",
        &d2.to_string(),
        "--format",
        "json",
    ]);
    assert!(inv.status.success(), "{}", stderr(&inv));
    let inv: Value = serde_json::from_slice(&inv.stdout).unwrap();
    assert_eq!(inv["unit_costs_after"]["per_request"], 2.0, "{inv:#}");

    // Days that came back final are not asked for again; the one Cost Explorer had nothing
    // for yet is (three paid requests: the base query and one per tag key). Nothing changes.
    let before = env.manifest();
    let cost_before: Vec<String> = before
        .lines()
        .filter(|l| l.contains("cost/"))
        .map(String::from)
        .collect();
    let again = env.run(&["collect", "--from", &from, "--to", &to]);
    assert!(again.status.success(), "{}", stderr(&again));
    let text = stdout(&again);
    assert!(
        text.contains("2 skipped as already final")
            && text.contains("; 3 paid request(s)")
            && text.contains("cloudwatch:us-east-1: nothing to fetch"),
        "{text}"
    );
    let cost_after: Vec<String> = env
        .manifest()
        .lines()
        .filter(|l| l.contains("cost/"))
        .map(String::from)
        .collect();
    assert_eq!(cost_before, cost_after);
    for o in [&out, &again, &report] {
        assert!(
            !stdout(o).contains("spendlens-test-secret")
                && !stderr(o).contains("spendlens-test-secret")
        );
    }
}

#[test]
fn throttling_is_retried_and_access_denied_names_the_action() {
    // Two 429s, then answers: the SDK's retry carries the run through.
    let env = AwsEnv::new(BedrockFaults {
        throttle_first: 2,
        ..Default::default()
    });
    let out = env.run(&[
        "collect",
        "--from",
        &days_ago(3).to_string(),
        "--to",
        &days_ago(3).to_string(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("3 application inference profile(s)"));
    assert!(
        env.bedrock.requests.lock().unwrap().len() >= 2 + 2 + 3,
        "retried requests were made"
    );

    // Access denied on tags: that source fails naming the action; the others still land.
    let env = AwsEnv::new(BedrockFaults {
        deny_tags: true,
        ..Default::default()
    });
    let d = days_ago(3);
    env.moto.queue_cost_and_usage(vec![ce_result(
        &[d],
        true,
        &[(BEDROCK, "USE1-NovaLite-input-tokens", 3.0, 3.0, 1e6)],
        None,
    )]);
    let out = env.run(&["collect", "--from", &d.to_string(), "--to", &d.to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("`bedrock:ListTagsForResource` was denied")
            && err.contains("spendlens doctor --policy"),
        "{err}"
    );
    assert!(!err.contains("spendlens-test-secret"));
    assert!(
        !env.manifest().contains("profiles/"),
        "no partial profile snapshot"
    );
    assert!(
        env.manifest().contains("cost/aws_cost_explorer"),
        "Cost Explorer still collected"
    );

    let doctor = env.run(&["doctor"]);
    assert_eq!(doctor.status.code(), Some(2));
    let text = stdout(&doctor);
    assert!(
        text.contains("bedrock:ListInferenceProfiles")
            && text
                .lines()
                .any(|l| l.starts_with("bedrock:ListTagsForResource")
                    && l.contains("FAILED: denied")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("cloudwatch:GetMetricData") && l.ends_with("ok")),
        "{text}"
    );
}

#[test]
fn a_failed_source_leaves_its_stored_days_untouched() {
    let env = AwsEnv::new(BedrockFaults::default());
    let d = days_ago(5);
    env.moto.queue_cost_and_usage(vec![
        ce_result(
            &[d],
            true,
            &[(BEDROCK, "USE1-NovaLite-input-tokens", 3.0, 3.0, 1e6)],
            None,
        ),
        ce_result(&[d], true, &[(BEDROCK, "team$search", 3.0, 3.0, 0.0)], None),
        ce_result(&[d], true, &[(BEDROCK, "feature$x", 3.0, 3.0, 0.0)], None),
    ]);
    let args = ["collect", "--from", &d.to_string(), "--to", &d.to_string()];
    assert!(env.run(&args).status.success());
    let before = scan(&env.data(), Table::Cost);
    // The day was estimated, so the next run asks again, and this time the answer is broken.
    let mut broken = ce_result(
        &[d],
        false,
        &[(BEDROCK, "USE1-NovaLite-input-tokens", 3.0, 3.0, 1e6)],
        None,
    );
    broken["ResultsByTime"][0]["Groups"][0]["Metrics"]["UnblendedCost"]["Amount"] = json!("3,00");
    let mut broken_with_token = broken.clone();
    broken_with_token["NextPageToken"] = json!("again");
    // Distinct request bodies take the next queued result: make the retry's body differ by
    // asking for a wider window, whose first page is broken.
    env.moto.queue_cost_and_usage(vec![broken]);
    let out = env.run(&[
        "collect",
        "--from",
        &d.to_string(),
        "--to",
        &days_ago(4).to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("UnblendedCost amount `3,00` is not a number"),
        "{}",
        stderr(&out)
    );
    let after = scan(&env.data(), Table::Cost);
    assert_eq!(before, after);
}

#[test]
fn doctor_prints_the_minimal_policy() {
    let out = Command::new(env!("CARGO_BIN_EXE_spendlens"))
        .args(["doctor", "--policy"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let policy: Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions: Vec<&str> = policy["Statement"][0]["Action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "bedrock:ListInferenceProfiles",
            "bedrock:ListTagsForResource",
            "cloudwatch:GetMetricData",
            "cloudwatch:ListMetrics",
            "ce:GetDimensionValues",
            "ce:GetCostAndUsage"
        ]
    );
}

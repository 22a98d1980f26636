//! The Azure Cost Management collector end to end: the real binary, authenticated by the
//! `azure_identity` crate against a local HTTPS OAuth token endpoint, querying a local server
//! that answers the Query API and Azure Resource Manager with the JSON their documentation
//! gives (`properties.columns` / `rows` / `nextLink`, 429 with `retry-after`, ARM errors).

use super::stand_in::{Reply, StandIn};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

const SUB: &str = "00000000-0000-0000-0000-0000000000aa";
const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const CLIENT_SECRET: &str = "spendlens-azure-client-secret-do-not-log";
const ACCESS_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.spendlens-test-access-token";

/// The Microsoft identity platform's token endpoint, over HTTPS with a self-signed
/// certificate the test trusts through `SSL_CERT_FILE`.
struct TokenServer {
    port: u16,
    cert: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl TokenServer {
    fn start() -> TokenServer {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let ok = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            // An end-entity certificate (webpki refuses a CA certificate as a server's).
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .args(["-addext", "extendedKeyUsage=serverAuth"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl makes the token server's certificate");
        assert!(ok.success());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = format!(
            r#"
import http.server, ssl, json, urllib.parse
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = urllib.parse.parse_qs(self.rfile.read(int(self.headers["content-length"])).decode())
        ok = self.path == "/{TENANT}/oauth2/v2.0/token" and body.get("client_secret") == ["{CLIENT_SECRET}"] \
            and body.get("grant_type") == ["client_credentials"]
        reply = {{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": "{ACCESS_TOKEN}"}} if ok else \
            {{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.", "error_codes": [7000215]}}
        data = json.dumps(reply).encode()
        self.send_response(200 if ok else 401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", {port}), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("{}", "{}")
s.socket = ctx.wrap_socket(s.socket, server_side=True)
s.serve_forever()
"#,
            cert.display(),
            key.display()
        );
        let child = Command::new("python3")
            .args(["-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        super::stand_in::wait_for_port(port, "the token server", 20);
        TokenServer {
            port,
            cert,
            child,
            _dir: dir,
        }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn resource(rg: &str, account: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/{account}")
}

pub fn days_ago(n: i64) -> chrono::NaiveDate {
    chrono::Utc::now().date_naive() - chrono::Duration::days(n)
}

fn date_number(d: chrono::NaiveDate) -> i64 {
    d.format("%Y%m%d").to_string().parse().unwrap()
}

/// (day, resource, meter, actual, amortized, quantity) rows of the scenario.
pub fn scenario() -> Vec<(chrono::NaiveDate, String, &'static str, f64, f64, f64)> {
    let (d1, d2) = (days_ago(4), days_ago(3));
    let search = resource("rg-search", "aoai-search");
    let untagged = resource("rg-search", "aoai-untagged");
    let ptu = resource("rg-shared", "aoai-ptu");
    vec![
        (
            d1,
            search.clone(),
            "gpt-4o-0806-Inp-glbl Tokens",
            25.0,
            25.0,
            10_000.0,
        ),
        (
            d1,
            search.clone(),
            "gpt-4o-0806-Outp-glbl Tokens",
            40.0,
            40.0,
            4_000.0,
        ),
        (
            d2,
            search.clone(),
            "gpt-4o-mini-0718-Inp-DZ Tokens",
            3.0,
            3.0,
            20_000.0,
        ),
        (
            d2,
            untagged.clone(),
            "gpt-4o-0806-Batch-Inp-glbl Tokens",
            5.0,
            5.0,
            4_000.0,
        ),
        // A PTU reservation: bought on d1 (actual), spread over its days (amortized).
        (
            d1,
            ptu.clone(),
            "Provisioned Managed Global PTU",
            300.0,
            100.0,
            24.0,
        ),
        (
            d2,
            ptu.clone(),
            "Provisioned Managed Global PTU",
            0.0,
            100.0,
            24.0,
        ),
    ]
}

fn columns(second: &[&str]) -> Value {
    let mut c = vec![
        json!({"name": "Cost", "type": "Number"}),
        json!({"name": "UsageQuantity", "type": "Number"}),
        json!({"name": "UsageDate", "type": "Number"}),
        json!({"name": "ResourceId", "type": "String"}),
    ];
    for s in second {
        c.push(json!({"name": s, "type": "String"}));
    }
    c.push(json!({"name": "Currency", "type": "String"}));
    Value::Array(c)
}

/// The Query API and ARM as documented, with a 429 on the first AmortizedCost query and
/// the ActualCost answer split over two pages.
fn azure_stand_in(deny: bool) -> StandIn {
    StandIn::start(azure_handler(deny, 1.0))
}

/// The handler behind [`azure_stand_in`]; amounts are multiplied by `scale`.
pub fn azure_handler(
    deny: bool,
    scale: f64,
) -> impl Fn(&super::stand_in::Request, usize) -> Reply + Send + Sync + 'static {
    let throttled = std::sync::atomic::AtomicBool::new(false);
    move |req: &super::stand_in::Request, _| {
        let url = |q: &str| format!("http://{}{}", req.header("host").unwrap_or(""), q);
        if req.header("authorization") != Some(&format!("Bearer {ACCESS_TOKEN}")) {
            return Reply::status(
                "401 Unauthorized",
                json!({"error": {"code": "InvalidAuthenticationToken", "message": "The access token is invalid."}}),
            );
        }
        if deny {
            return Reply::status(
                "403 Forbidden",
                json!({"error": {"code": "AuthorizationFailed",
                "message": format!("The client 'spendlens' with object id 'aaaa' does not have authorization to perform action 'Microsoft.CostManagement/query/action' over scope '/subscriptions/{SUB}' or the scope is invalid. If access was recently granted, please refresh your credentials.")}}),
            );
        }
        let path = req.target.split('?').next().unwrap_or("");
        if req.method == "GET" && path == format!("/subscriptions/{SUB}/resourcegroups") {
            return Reply::ok(json!({"value": [
                {"id": format!("/subscriptions/{SUB}/resourceGroups/rg-search"), "name": "rg-search", "type": "Microsoft.Resources/resourceGroups",
                 "location": "eastus", "tags": {"team": "search", "owner": "alice"}, "properties": {"provisioningState": "Succeeded"}},
                {"id": format!("/subscriptions/{SUB}/resourceGroups/rg-shared"), "name": "rg-shared", "type": "Microsoft.Resources/resourceGroups",
                 "location": "eastus", "properties": {"provisioningState": "Succeeded"}},
            ]}));
        }
        if req.method != "POST"
            || path != format!("/subscriptions/{SUB}/providers/Microsoft.CostManagement/query")
        {
            return Reply::status(
                "404 Not Found",
                json!({"error": {"code": "NotFound", "message": "no such route"}}),
            );
        }
        let body = req.json();
        let view = body["type"].as_str().unwrap_or("");
        let second = &body["dataset"]["grouping"][1];
        let envelope = |columns: Value, rows: Vec<Value>, next: Option<String>| {
            json!({"id": format!("subscriptions/{SUB}/providers/Microsoft.CostManagement/query/6d4c7e4e-0000-0000-0000-000000000000"),
                   "name": "6d4c7e4e-0000-0000-0000-000000000000", "type": "Microsoft.CostManagement/query",
                   "location": null, "sku": null, "eTag": null,
                   "properties": {"nextLink": next, "columns": columns, "rows": rows}})
        };
        if second["type"] == "TagKey" {
            let key = second["name"].as_str().unwrap();
            // Only aoai-search carries resource tags.
            let rows: Vec<Value> = scenario()
                .into_iter()
                .map(|(d, r, _, _, amortized, q)| {
                    let (tk, tv) = match (r.contains("aoai-search"), key) {
                        (true, "team") => ("team", "search"),
                        (true, "feature") => ("feature", "rag-answer"),
                        _ => ("", ""),
                    };
                    json!([amortized * scale, q, date_number(d), r, tk, tv, "USD"])
                })
                .collect();
            return Reply::ok(envelope(columns(&["TagKey", "TagValue"]), rows, None));
        }
        if view == "AmortizedCost" && !throttled.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Reply::status(
                "429 Too Many Requests",
                json!({"error": {"code": "429", "message": "Too many requests. Please retry."}}),
            )
            .header(
                "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after",
                "1",
            );
        }
        let rows: Vec<Value> = scenario()
            .into_iter()
            .filter(|(_, _, _, actual, amortized, _)| {
                if view == "ActualCost" {
                    *actual != 0.0
                } else {
                    *amortized != 0.0
                }
            })
            .map(|(d, r, m, actual, amortized, q)| {
                // Azure varies the casing of resource ids between answers.
                let r = if view == "AmortizedCost" {
                    r.to_lowercase()
                } else {
                    r
                };
                json!([
                    scale
                        * if view == "ActualCost" {
                            actual
                        } else {
                            amortized
                        },
                    q,
                    date_number(d),
                    r,
                    m,
                    "USD"
                ])
            })
            .collect();
        if view == "ActualCost" {
            let page2 = req.target.contains("skiptoken=page2");
            let (first, rest) = rows.split_at(2);
            return if page2 {
                Reply::ok(envelope(columns(&["Meter"]), rest.to_vec(), None))
            } else {
                let next = url(&format!("/subscriptions/{SUB}/providers/Microsoft.CostManagement/query?api-version=2023-11-01&$skiptoken=page2"));
                Reply::ok(envelope(columns(&["Meter"]), first.to_vec(), Some(next)))
            };
        }
        Reply::ok(envelope(columns(&["Meter"]), rows, None))
    }
}

pub struct AzureEnv {
    pub dir: tempfile::TempDir,
    token: TokenServer,
}

impl AzureEnv {
    pub fn new(endpoint: &str, extra: &str) -> AzureEnv {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("spendlens.toml"),
            format!(
                "[azure]\nscope = \"/subscriptions/{SUB}\"\nendpoint = \"{endpoint}\"\ntag_keys = [\"team\", \"feature\"]\nmax_attempts = 3\n{extra}\n"
            ),
        )
        .unwrap();
        AzureEnv {
            dir,
            token: TokenServer::start(),
        }
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }
    /// The spendlens command with this environment's credentials, not yet started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_spendlens"));
        c.current_dir(self.dir.path())
            .arg("--data-dir")
            .arg(self.path("data"))
            .args(args)
            .env("HOME", self.dir.path())
            .env("AZURE_TENANT_ID", TENANT)
            .env("AZURE_CLIENT_ID", "22222222-0000-0000-0000-000000000000")
            .env("AZURE_CLIENT_SECRET", CLIENT_SECRET)
            .env(
                "AZURE_AUTHORITY_HOST",
                format!("https://127.0.0.1:{}", self.token.port),
            )
            .env("SSL_CERT_FILE", &self.token.cert)
            .env_remove("SPENDLENS_CONFIG");
        c
    }
    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

#[test]
fn cost_management_is_paged_retried_tagged_and_a_rerun_adds_nothing() {
    let server = azure_stand_in(false);
    let env = AzureEnv::new(
        &server.url(),
        "inherit_resource_group_tags = true\n\n[[attribution.splits]]\nname = \"ptu\"\nmatch = { provider_name = \"azure\", usage_type = \"provisioned\" }\ndriver = \"spend\"\ndriver_match = { provider_name = \"azure\" }\n",
    );
    let (d1, d2) = (days_ago(4).to_string(), days_ago(3).to_string());
    let out = env.run(&["collect", "--from", &d1, "--to", &d2]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}\n{:#?}", server.requests());
    let source = format!("azure_cost_management:subscriptions/{SUB}");
    assert!(stdout.contains(&format!("{source}: ")), "{stdout}");
    assert!(
        stdout.contains("1 retried"),
        "the 429 was retried: {stdout}"
    );
    let log = server.requests();
    assert!(
        log.iter().any(|r| r.target.contains("skiptoken=page2")),
        "nextLink was followed"
    );
    assert!(log
        .iter()
        .all(|r| r.header("authorization") == Some(&format!("Bearer {ACCESS_TOKEN}"))));
    let first = log[0].json();
    assert_eq!(first["dataset"]["granularity"], "Daily");
    assert_eq!(
        first["dataset"]["filter"]["dimensions"]["name"],
        "ServiceName"
    );

    let report = env.json(&["report", "--from", &d1, "--to", &d2, "--format", "json"]);
    let amortized: f64 = scenario().iter().map(|r| r.4).sum();
    let actual: f64 = scenario().iter().map(|r| r.3).sum();
    assert!(
        (report["totals"]["effective_cost"].as_f64().unwrap() - amortized).abs() < 1e-9,
        "{report:#}"
    );
    assert!(
        (report["totals"]["billed_cost"].as_f64().unwrap() - actual).abs() < 1e-9,
        "{report:#}"
    );
    // Everything is the search team's: aoai-search by its tags, aoai-untagged by its
    // resource group's, the PTU by the split (search is the only team with spend).
    assert_eq!(
        report["by_team"].as_array().unwrap().len(),
        1,
        "{:#} {:#}",
        report["by_team"],
        report["by_allocation"]
    );
    assert_eq!(report["by_team"][0]["team"], "search");
    let store = super::aws::scan(&env.path("data"), spendlens::store::Table::Cost);
    let df = polars::prelude::IntoLazy::lazy(store)
        .select([
            polars::prelude::col("model"),
            polars::prelude::col("usage_type"),
            polars::prelude::col("pricing_detail"),
            polars::prelude::col("pricing_category"),
        ])
        .collect()
        .unwrap();
    let rows: Vec<String> = (0..df.height())
        .map(|i| {
            df.columns()
                .iter()
                .map(|c| c.get(i).unwrap().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    for want in [
        r#""gpt-4o" "input_tokens" "global" "Standard""#,
        r#""gpt-4o" "output_tokens" "global" "Standard""#,
        r#""gpt-4o-mini" "input_tokens" "data_zone" "Standard""#,
        r#""gpt-4o" "input_tokens" "batch" "Standard""#,
        r#"null "provisioned" "reservation" "Committed""#,
    ] {
        assert!(rows.iter().any(|r| r.contains(want)), "{want} in {rows:#?}");
    }
    // The secret and the token reached no output.
    for s in [CLIENT_SECRET, ACCESS_TOKEN] {
        assert!(!stdout.contains(s) && !stderr.contains(s));
        assert!(!std::fs::read_to_string(env.path("data/manifest.json"))
            .unwrap()
            .contains(s));
    }

    // Again: the same days are replaced, not added.
    let out = env.run(&["collect", "--from", &d1, "--to", &d2]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again = env.json(&["report", "--from", &d1, "--to", &d2, "--format", "json"]);
    assert_eq!(again["totals"], report["totals"]);
}

#[test]
fn access_denied_names_the_role_and_leaves_the_store_alone() {
    let server = azure_stand_in(true);
    let env = AzureEnv::new(&server.url(), "");
    let out = env.run(&["doctor"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("missing role Cost Management Reader on the scope: AuthorizationFailed"),
        "{stdout}"
    );
    let out = env.run(&[
        "collect",
        "--from",
        &days_ago(4).to_string(),
        "--to",
        &days_ago(3).to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("Microsoft.CostManagement/query/action"),
        "{}",
        text(&out.stderr)
    );
    assert!(!env.path("data/cost").exists(), "nothing was written");
}

#[test]
fn scopes_and_table_names_from_config_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    for (section, bad) in [
        (
            "[azure]\nscope = \"/subscriptions/x/../../evil?api-version=1\"",
            "[azure] scope",
        ),
        (
            "[azure]\nscope = \"https://evil.example/subscriptions/x\"",
            "[azure] scope",
        ),
        (
            "[gcp]\nbilling_table = \"proj.ds.t` WHERE 1=1 --\"",
            "[gcp] billing_table",
        ),
        ("[gcp]\nbilling_table = \"only.two\"", "[gcp] billing_table"),
        (
            "[azure]\nscope = \"/subscriptions/x\"\nendpoint = \"http://evil.example\"",
            "[azure] endpoint",
        ),
    ] {
        std::fs::write(dir.path().join("c.toml"), section).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_spendlens"))
            .arg("--config")
            .arg(dir.path().join("c.toml"))
            .args(["doctor"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{section}");
        assert!(
            text(&out.stderr).contains(bad),
            "{section}: {}",
            text(&out.stderr)
        );
    }
}

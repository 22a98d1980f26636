//! The nightly job end to end: the real binary on the demo exports; the dashboard rendered by
//! headless Chromium; feeds published into a real PostgreSQL server that the test starts on
//! 127.0.0.1, and every Grafana panel's SQL run against them; the digest posted to a local
//! webhook server.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

/// A demo directory (exports, config with `[nightly] exports`, store).
struct Demo {
    dir: tempfile::TempDir,
}

impl Demo {
    fn new() -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_spendlens"))
            .args(["demo", "--dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Demo { dir }
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    /// Add lines to the demo config (after `[nightly]` when `nightly` is set).
    fn configure(&self, nightly: &str, extra: &str) {
        let path = self.path("spendlens.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.replacen("[nightly]\n", &format!("[nightly]\n{nightly}\n"), 1);
        std::fs::write(&path, format!("{text}\n{extra}\n")).unwrap();
    }
    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_spendlens"));
        c.arg("--config")
            .arg(self.path("spendlens.toml"))
            .arg("--data-dir")
            .arg(self.path("data"))
            .args(args)
            .env_remove("SPENDLENS_POSTGRES_URL")
            .env_remove("SPENDLENS_WEBHOOK_URL");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }
    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[])
    }
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "spendlens {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }
    /// `report --format json` over `from..=to`.
    fn report(&self, from: &str, to: &str) -> Value {
        self.json(&["report", "--from", from, "--to", to, "--format", "json"])
    }
    fn nightly(&self, extra: &[&str]) -> Output {
        let out = self.path("out");
        let mut args = vec!["nightly", "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.run(&args)
    }
    fn out_json(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.path("out/report.json")).unwrap())
            .unwrap()
    }
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).to_string()
}

fn money(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// `rows[].key -> rows[].effective_cost` of a report section.
fn by(report: &Value, section: &str, key: &str) -> Vec<(String, f64)> {
    report[section]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[key].as_str().unwrap_or("(no model)").to_string(),
                money(&r["effective_cost"]),
            )
        })
        .collect()
}

#[test]
fn nightly_writes_the_report_and_dashboard_and_a_rerun_changes_nothing() {
    let demo = Demo::new();
    let out = demo.nightly(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    // Not a terminal: progress is plain lines, one per step.
    assert!(
        stderr.contains("nightly: ingesting 4 export file(s)"),
        "{stderr}"
    );
    assert!(!stderr.contains('\r'), "{stderr}");
    // The digest on stdout: headline, month forecast, incidents with their causes.
    let digest = text(&out.stdout);
    assert!(
        digest.starts_with("# spendlens report: 2026-10-02 to 2026-10-31"),
        "{digest}"
    );
    assert!(digest.contains("forecast for the month"), "{digest}");
    let switch = demo.out_json()["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["start"] == "2026-10-14")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        digest.contains(&format!("- {switch} high spike")) && digest.contains("open (1 day)"),
        "{digest}"
    );
    for f in ["report.md", "report.json", "report.html", "dashboard.html"] {
        assert!(demo.path("out").join(f).is_file(), "{f} missing");
    }
    // The nightly report is `report` over the last 30 days, plus its digest sections.
    let nightly = demo.out_json();
    let report = demo.report("2026-10-02", "2026-10-31");
    assert_eq!(nightly["totals"], report["totals"]);
    assert_eq!(nightly["by_team_feature"], report["by_team_feature"]);
    // Daily rows add up to the total: what the dashboard charts is what the report says.
    let daily: f64 = nightly["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| money(&r["effective_cost"]))
        .sum();
    assert!((daily - money(&nightly["totals"]["effective_cost"])).abs() < 0.01);
    // Month to date: October in full, forecast = MTD on the month's last day; September is
    // the previous month, loaded in full.
    let m = &nightly["month"];
    assert_eq!(m["month"], "2026-10");
    assert_eq!(m["days_elapsed"], 31);
    assert_eq!(m["forecast"], m["month_to_date"]);
    let october: f64 = demo.report("2026-10-01", "2026-10-31")["totals"]["effective_cost"]
        .as_f64()
        .unwrap();
    assert!((money(&m["month_to_date"]) - october).abs() < 0.01);
    let september = demo.report("2026-09-01", "2026-09-30");
    assert!(
        (money(&m["previous_month"]) - money(&september["totals"]["effective_cost"])).abs() < 0.01
    );
    // Yesterday (the last day) against the same weekday of the four weeks before.
    let d = &nightly["latest_day"];
    assert_eq!(d["date"], "2026-10-31");
    assert_eq!(
        d["reference_days"],
        serde_json::json!(["2026-10-24", "2026-10-17", "2026-10-10", "2026-10-03"])
    );
    // Teams carry their trend against the previous period.
    let search = nightly["by_team"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["team"] == "search")
        .unwrap();
    let before = demo.report("2026-09-02", "2026-10-01");
    let search_before = by(&before, "by_team", "team")
        .into_iter()
        .find(|(t, _)| t == "search")
        .unwrap()
        .1;
    assert!((money(&search["previous_effective_cost"]) - search_before).abs() < 0.01);
    // Every export was a source that ran fine; none is stale.
    let sources = nightly["sources"].as_array().unwrap();
    assert!(
        sources
            .iter()
            .filter(|s| s["source"].as_str().unwrap().starts_with("export:"))
            .count()
            == 4
    );
    assert!(sources.iter().all(|s| s["stale"] == false), "{sources:#?}");

    // The HTML report needs nothing from the network and runs no script.
    let html = std::fs::read_to_string(demo.path("out/report.html")).unwrap();
    assert!(!html.contains("<script"), "the report page is static");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no remote resources"
    );
    assert!(
        html.contains("<svg") && html.contains("class=\"anomaly-marker\" data-date=\"2026-10-14\"")
    );
    let dash = std::fs::read_to_string(demo.path("out/dashboard.html")).unwrap();
    assert!(!dash.contains("src=\"http") && !dash.contains("href=\"http"));

    // A re-run re-ingests the same exports: the store and the numbers stay as they were.
    let partitions = super::partitions(&demo.path("data"));
    let again = demo.nightly(&[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(super::partitions(&demo.path("data")), partitions);
    let second = demo.out_json();
    assert_eq!(second["totals"], nightly["totals"]);
    assert_eq!(second["daily"], nightly["daily"]);
}

#[test]
fn fail_on_anomaly_looks_at_the_days_the_run_could_change() {
    let demo = Demo::new();
    // The 4x day (2026-10-14, high) is 17 days before the last day: outside the default
    // restate window of 3 days, so tonight's run does not fail on it ...
    let out = demo.nightly(&["--fail-on-anomaly", "high"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // ... inside a 20-day window it does, at `high` but not at `critical`.
    demo.configure("restate_days = 20", "");
    let out = demo.nightly(&["--fail-on-anomaly", "high"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("open incident(s) at or above `high` severity since 2026-10-12")
    );
    assert!(
        demo.path("out/report.html").is_file(),
        "outputs are written before the verdict"
    );
    let out = demo.nightly(&["--fail-on-anomaly", "critical"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Acknowledging the incident changes the exit code and nothing else in the outputs
    // but its status.
    let before = demo.out_json();
    let incident = before["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["start"] == "2026-10-14")
        .unwrap()
        .clone();
    let id = incident["id"].as_str().unwrap();
    demo.ok(&["anomalies", "ack", id, "--as", "expected"]);
    let out = demo.nightly(&["--fail-on-anomaly", "high"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let after = demo.out_json();
    let without_status = |r: &Value| {
        let mut r = r.clone();
        for i in r["incidents"].as_array_mut().unwrap() {
            let i = i.as_object_mut().unwrap();
            i.remove("status");
            i.remove("acknowledgement");
        }
        r.as_object_mut().unwrap().remove("sources");
        r
    };
    assert_eq!(without_status(&after), without_status(&before));
    let acked = after["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap();
    assert_eq!(acked["status"], "acked");
}

pub(crate) const SECRET: &str = "spendlens-nightly-secret-do-not-log";

#[test]
fn a_failing_source_is_stale_in_the_report_and_the_others_still_land() {
    let demo = Demo::new();
    // Cost Explorer on a port nothing listens on (one attempt), and an export path that does
    // not exist: both fail, the three demo exports still land.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    demo.configure(
        "exports = [\"exports\", \"missing-dir\"]",
        "[aws]\nregions = [\"us-east-1\"]\nmax_attempts = 1\n[aws.profiles]\nenabled = false\n[aws.cloudwatch]\nenabled = false\n",
    );
    let text_of = std::fs::read_to_string(demo.path("spendlens.toml")).unwrap();
    std::fs::write(
        demo.path("spendlens.toml"),
        text_of.replacen("exports = [\"exports\"]\n", "", 1),
    )
    .unwrap();
    let out = demo.path("out");
    let endpoint = format!("http://127.0.0.1:{closed}");
    let run = demo.run_with(
        &["nightly", "--out", out.to_str().unwrap()],
        &[
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "AKIASPENDLENSNIGHTLY"),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_CONFIG_FILE", "/nonexistent"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("error: aws_cost_explorer"), "{stderr}");
    assert!(stderr.contains("missing-dir` does not exist"), "{stderr}");
    assert!(
        stderr.contains("2 part(s) of the nightly run failed"),
        "{stderr}"
    );
    let report = demo.out_json();
    let sources = report["sources"].as_array().unwrap();
    let ce = sources
        .iter()
        .find(|s| s["source"] == "aws_cost_explorer")
        .expect("CE in sources");
    assert_eq!(ce["stale"], true);
    assert_eq!(ce["stale_since"], "never collected");
    assert!(
        // The first call of the run (finding the Bedrock services) is the one named.
        ce["error"]
            .as_str()
            .unwrap()
            .contains("ce GetDimensionValues failed"),
        "{ce}"
    );
    assert!(sources
        .iter()
        .any(|s| s["source"].as_str().unwrap().ends_with("missing-dir") && s["stale"] == true));
    // The exports landed: the report is the full demo month.
    assert!(money(&report["totals"]["effective_cost"]) > 70_000.0);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("source aws\\_cost\\_explorer is **stale** since never collected"),
        "{md}"
    );
    // The credentials reached no output.
    for f in ["report.md", "report.json", "report.html", "dashboard.html"] {
        assert!(
            !std::fs::read_to_string(out.join(f))
                .unwrap()
                .contains(SECRET),
            "{f}"
        );
    }
    assert!(!stderr.contains(SECRET) && !text(&run.stdout).contains(SECRET));
    assert!(!std::fs::read_to_string(demo.path("data/manifest.json"))
        .unwrap()
        .contains(SECRET));
}

// ---------------------------------------------------------------------------------------------
// The webhook.

/// A local HTTP server answering every request with `status`; keeps the requests' bodies.
pub(crate) struct Webhook {
    port: u16,
    pub(crate) bodies: Arc<Mutex<Vec<(String, String)>>>,
}

impl Webhook {
    pub(crate) fn start(status: &'static str) -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let keep = bodies.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (path, body) = read_request(&stream);
                keep.lock().unwrap().push((path, body));
                let mut s = stream;
                let reply = if status.starts_with("200") {
                    "ok"
                } else {
                    "invalid_token"
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                );
            }
        });
        Webhook { port, bodies }
    }
    pub(crate) fn url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/services/T0000/B0000/{SECRET}",
            self.port
        )
    }
}

fn read_request(stream: &TcpStream) -> (String, String) {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut len = 0;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        if h.trim().is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    (path, String::from_utf8(body).unwrap())
}

#[test]
fn the_digest_is_posted_to_a_slack_compatible_webhook() {
    let demo = Demo::new();
    let hook = Webhook::start("200 OK");
    let out = demo.nightly(&["--post", &hook.url()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let posted = hook.bodies.lock().unwrap().clone();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].0, format!("/services/T0000/B0000/{SECRET}"));
    let body: Value = serde_json::from_str(&posted[0].1).unwrap();
    let digest = body["text"].as_str().unwrap();
    assert_eq!(
        digest,
        text(&out.stdout),
        "the posted digest is the printed one"
    );
    let n = demo.out_json()["incidents"].as_array().unwrap().len();
    assert!(
        n >= 1 && digest.contains(&format!("*Incidents* ({n} in the period, {n} open)")),
        "{digest}"
    );

    // A webhook that refuses: the run says so (without the URL, a secret) and exits 2, after
    // writing the report.
    let refusing = Webhook::start("403 Forbidden");
    std::fs::remove_dir_all(demo.path("out")).unwrap();
    let out = demo.run_with(
        &["nightly", "--out", demo.path("out").to_str().unwrap()],
        &[("SPENDLENS_WEBHOOK_URL", refusing.url().as_str())],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the webhook answered 403 Forbidden: invalid_token"),
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET) && !text(&out.stdout).contains(SECRET));
    assert!(demo.path("out/report.json").is_file());
    // Nothing listening: a clear error, no URL.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = demo.nightly(&["--post", &format!("http://127.0.0.1:{port}/hook/{SECRET}")]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("posting the digest to the webhook: sending failed"),
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// The dashboard in a real browser.

fn chromium(args: &[&str], page: &str) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let mut c = Command::new("chromium");
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(args)
    .arg(page)
    .stdin(Stdio::null());
    let out = c
        .output()
        .expect("Debian's chromium is needed for the dashboard test (.ci/run installs it)");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        text(&out.stderr)
    );
    out
}

/// Console messages Chromium logged for the page (errors, warnings, logs).
fn console_messages(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

/// `data-key` -> `data-total` of the legend of chart `id` in a dumped DOM.
fn legend(dom: &str, id: &str) -> Vec<(String, f64)> {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    let end = dom[start..].find("</ul>").unwrap() + start;
    let re = regex::Regex::new(r#"<li data-key="([^"]*)" data-total="([^"]*)""#).unwrap();
    re.captures_iter(&dom[start..end])
        .map(|c| (html_unescape(&c[1]), c[2].parse().unwrap()))
        .collect()
}

fn html_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

fn assert_same_rollup(chart: Vec<(String, f64)>, report: Vec<(String, f64)>, what: &str) {
    let mut a = chart;
    let mut b = report;
    a.sort_by(|x, y| x.0.cmp(&y.0));
    b.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        a.iter().map(|x| &x.0).collect::<Vec<_>>(),
        b.iter().map(|x| &x.0).collect::<Vec<_>>(),
        "{what}: keys"
    );
    for ((k, x), (_, y)) in a.iter().zip(&b) {
        assert!((x - y).abs() < 0.01, "{what} {k}: chart {x} vs report {y}");
    }
}

#[test]
fn the_dashboard_renders_in_headless_chromium_with_the_report_numbers() {
    let demo = Demo::new();
    let out = demo.nightly(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = demo.out_json();
    let page = format!("file://{}", demo.path("out/dashboard.html").display());

    let run = chromium(&["--dump-dom"], &page);
    let dom = text(&run.stdout);
    assert!(
        console_messages(&text(&run.stderr)).is_empty(),
        "console: {:?}",
        console_messages(&text(&run.stderr))
    );
    assert_same_rollup(
        legend(&dom, "chart-provider"),
        by(&report, "by_provider", "provider_name"),
        "provider",
    );
    assert_same_rollup(
        legend(&dom, "chart-team"),
        by(&report, "by_team", "team"),
        "team",
    );
    assert_same_rollup(
        legend(&dom, "chart-model"),
        by(&report, "by_model", "model"),
        "model",
    );
    // Each chart draws one bar segment per (day, key) with spend, and the 4x day is marked.
    assert!(
        dom.matches("class=\"anomaly-marker\" data-date=\"2026-10-14\"")
            .count()
            >= 3,
        "anomaly markers"
    );
    assert!(dom.contains("<td>rag-answer</td>"), "team × feature table");
    // One budget chart per budget, each with the spend of its period so far: the `search`
    // budget's is October's spend of team search as the report sums it.
    let charts = budget_charts(&dom);
    let names: Vec<&str> = report["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        charts.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        names
    );
    let october = demo.report("2026-10-01", "2026-10-31");
    let search_october = by(&october, "by_team", "team")
        .into_iter()
        .find(|(t, _)| t == "search")
        .unwrap()
        .1;
    let search = charts.iter().find(|c| c.0 == "search").unwrap();
    assert!(
        (search.2 - search_october).abs() < 0.005,
        "{search:?} vs {search_october}"
    );
    assert_eq!(dom.matches("class=\"budget-amount\"").count(), names.len());

    // Filters from the address: one team over ten days equals `report` for those days.
    let filtered = chromium(
        &["--dump-dom"],
        &format!("{page}#from=2026-10-10&to=2026-10-19&team=search"),
    );
    let dom = text(&filtered.stdout);
    assert!(console_messages(&text(&filtered.stderr)).is_empty());
    let ten = demo.report("2026-10-10", "2026-10-19");
    let search = by(&ten, "by_team", "team")
        .into_iter()
        .filter(|(t, _)| t == "search")
        .collect();
    assert_same_rollup(legend(&dom, "chart-team"), search, "team=search");
    let features: Vec<(String, f64)> = ten["by_team_feature"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["team"] == "search")
        .map(|r| {
            (
                r["feature"].as_str().unwrap().to_string(),
                money(&r["effective_cost"]),
            )
        })
        .collect();
    let re = regex::Regex::new(r#"data-team="search" data-feature="([^"]*)" data-value="([^"]*)""#)
        .unwrap();
    let shown: Vec<(String, f64)> = re
        .captures_iter(&dom)
        .map(|c| (c[1].to_string(), c[2].parse().unwrap()))
        .collect();
    assert_same_rollup(shown, features, "team × feature for search");
    // The team's budgets: those pinning it and those over every team.
    let shown: Vec<String> = budget_charts(&dom).into_iter().map(|c| c.0).collect();
    let expected: Vec<String> = report["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["selector"]["team"].as_str().is_none_or(|t| t == "search"))
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(shown, expected);

    // The screenshot a reader of the README sees.
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        &[
            "--window-size=1100,1800",
            &format!("--screenshot={}", shot.display()),
        ],
        &page,
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        png.len() > 20_000,
        "a screenshot of charts, not a blank page: {} bytes",
        png.len()
    );
}

/// `(name, amount, spent)` of each budget chart in a dumped dashboard.
fn budget_charts(dom: &str) -> Vec<(String, f64, f64)> {
    let re =
        regex::Regex::new(r#"data-budget="([^"]*)" data-amount="([^"]*)" data-spent="([^"]*)""#)
            .unwrap();
    re.captures_iter(dom)
        .map(|c| {
            (
                html_unescape(&c[1]),
                c[2].parse().unwrap(),
                c[3].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn hostile_tags_cannot_inject_markup_into_the_html_pages() {
    let demo = Demo::new();
    // A tag value that tries to close the data script and open its own.
    let csv = demo.path("exports/aws_focus_1.0.csv");
    let original = std::fs::read_to_string(&csv).unwrap();
    let hostile = original.replace(
        "\"\"team\"\":\"\"search\"\"",
        "\"\"team\"\":\"\"</script><script>alert(1)</script><img src=x onerror=alert(2)>\"\"",
    );
    assert!(
        hostile != original,
        "the demo export carries team tags in this spelling"
    );
    std::fs::write(&csv, hostile).unwrap();
    let out = demo.nightly(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let html = std::fs::read_to_string(demo.path("out/report.html")).unwrap();
    assert!(
        !html.contains("<script") && !html.contains("<img"),
        "report.html"
    );
    assert!(html.contains("&lt;/script&gt;&lt;script&gt;alert(1)"));
    let dash = std::fs::read_to_string(demo.path("out/dashboard.html")).unwrap();
    assert_eq!(
        dash.matches("<script").count(),
        2,
        "only the data and code scripts"
    );
    assert!(!dash.contains("<img"));
    // And the browser shows the value as text, with no script run.
    let page = format!("file://{}", demo.path("out/dashboard.html").display());
    let run = chromium(&["--dump-dom"], &page);
    assert!(
        console_messages(&text(&run.stderr)).is_empty(),
        "{:?}",
        console_messages(&text(&run.stderr))
    );
    assert!(text(&run.stdout).contains("&lt;/script&gt;&lt;script&gt;alert(1)"));
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL and Grafana.

/// A throwaway PostgreSQL cluster on 127.0.0.1 (Debian's server binaries), stopped on drop.
pub(crate) struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl Postgres {
    pub(crate) fn start() -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("Debian's postgresql is needed for the publish test (.ci/run installs it)")
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").exists())
            .max()
            .expect("no /usr/lib/postgresql/*/bin/initdb");
        let dir = tempfile::tempdir().unwrap();
        let uid = text(&Command::new("id").arg("-u").output().unwrap().stdout);
        // initdb refuses to run as root: run the server as Debian's `postgres` user then.
        let as_postgres = uid.trim() == "0";
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = Postgres {
            dir,
            bin,
            port,
            as_postgres,
        };
        let data = pg.dir.path().join("data");
        pg.cmd(
            "initdb",
            &[
                "-A",
                "trust",
                "-U",
                "spendlens",
                "-D",
                data.to_str().unwrap(),
            ],
        );
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            pg.dir.path().display()
        );
        let log = pg.dir.path().join("log");
        pg.cmd(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &opts,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
        pg
    }
    fn cmd(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let out = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .output()
        } else {
            Command::new(&exe).args(args).output()
        }
        .unwrap();
        assert!(
            out.status.success(),
            "{tool}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    pub(crate) fn url(&self) -> String {
        format!(
            "postgres://spendlens:unused-password@127.0.0.1:{}/postgres",
            self.port
        )
    }
    pub(crate) fn query(
        &self,
        sql: &str,
    ) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, conn) =
                tokio_postgres::connect(&self.url(), tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            client.query(sql, &[]).await
        })
    }
    /// Run several statements (a DDL script).
    fn batch(&self, sql: &str) -> Result<(), tokio_postgres::Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, conn) =
                tokio_postgres::connect(&self.url(), tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            client.batch_execute(sql).await
        })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        self.cmd(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"],
        );
    }
}

fn sums(pg: &Postgres, sql: &str) -> Vec<(String, f64)> {
    pg.query(sql)
        .unwrap()
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, f64>(1)))
        .collect()
}

/// Expand the Grafana macros and variables the dashboard uses, as Grafana's PostgreSQL data
/// source does: `$__timeFilter(col)` becomes a BETWEEN over RFC 3339 times, a single-value
/// variable its value, a multi-value one (All selected) its values quoted and joined.
fn grafana_expand(sql: &str, from: &str, to: &str, vars: &[(&str, Vec<String>, bool)]) -> String {
    let re = regex::Regex::new(r"\$__timeFilter\(([^)]*)\)").unwrap();
    let mut s = re
        .replace_all(sql, |c: &regex::Captures| {
            format!("{} BETWEEN '{from}T00:00:00Z' AND '{to}T23:59:59Z'", &c[1])
        })
        .to_string();
    for (name, values, multi) in vars {
        let v = if *multi {
            values
                .iter()
                .map(|v| format!("'{}'", v.replace('\'', "''")))
                .collect::<Vec<_>>()
                .join(",")
        } else {
            values[0].clone()
        };
        s = s
            .replace(&format!("${{{name}}}"), &v)
            .replace(&format!("${name}"), &v);
    }
    assert!(!s.contains('$'), "unexpanded macro or variable in: {s}");
    s
}

#[test]
fn publish_to_postgres_is_idempotent_per_day_and_every_grafana_panel_runs() {
    let pg = Postgres::start();
    let demo = Demo::new();
    let publish = |from: &str, to: &str| {
        let out = demo.run_with(
            &["publish", "--from", from, "--to", to],
            &[("SPENDLENS_POSTGRES_URL", pg.url().as_str())],
        );
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            !stdout.contains("unused-password"),
            "the password stays out: {stdout}"
        );
        stdout
    };
    // The DDL a DBA can apply ahead of time runs as printed (and again: it is idempotent).
    let ddl = demo.ok(&["publish", "--print-schema"]);
    assert!(
        ddl.contains("CREATE TABLE IF NOT EXISTS spendlens_daily_cost"),
        "{ddl}"
    );
    for _ in 0..2 {
        pg.batch(&ddl).expect("the printed schema applies");
    }
    let first = publish("2026-10-02", "2026-10-31");
    assert!(first.contains("0 row(s) removed"), "{first}");
    let by_provider = "SELECT provider, sum(effective_cost)::float8 FROM spendlens_daily_cost GROUP BY 1 ORDER BY 1";
    let report = demo.report("2026-10-02", "2026-10-31");
    assert_same_rollup(
        sums(&pg, by_provider),
        by(&report, "by_provider", "provider_name"),
        "published by provider",
    );
    let rows = |pg: &Postgres| {
        pg.query("SELECT count(*) FROM spendlens_daily_cost")
            .unwrap()[0]
            .get::<_, i64>(0)
    };
    let count = rows(&pg);
    // Again: the same days are replaced, not added.
    let second = publish("2026-10-02", "2026-10-31");
    assert!(
        second.contains(&format!("{count} row(s) removed, {count} written")),
        "{second}"
    );
    assert_same_rollup(
        sums(&pg, by_provider),
        by(&report, "by_provider", "provider_name"),
        "after a re-publish",
    );
    // An overlapping period replaces only its own days; earlier days stay.
    publish("2026-09-20", "2026-10-05");
    let wide = demo.report("2026-09-20", "2026-10-31");
    assert_same_rollup(
        sums(&pg, by_provider),
        by(&wide, "by_provider", "provider_name"),
        "two overlapping publishes",
    );
    let anomalies = pg
        .query("SELECT count(*) FROM spendlens_anomalies WHERE day = '2026-10-14'")
        .unwrap()[0]
        .get::<_, i64>(0);
    assert!(anomalies >= 5, "the 4x day's anomalies are published");
    // The budgets of each publish's last day, as the report has them; each day kept.
    let published: Vec<(String, f64)> = pg
        .query("SELECT name, spent::float8 FROM spendlens_budgets WHERE at = '2026-10-31' ORDER BY name")
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut expected: Vec<(String, f64)> = report["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["name"].as_str().unwrap().to_string(), money(&b["spent"])))
        .collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!expected.is_empty());
    assert_same_rollup(published, expected, "published budgets");
    let days = pg
        .query("SELECT count(DISTINCT at) FROM spendlens_budgets")
        .unwrap()[0]
        .get::<_, i64>(0);
    assert_eq!(days, 2, "the budgets of 2026-10-31 and of 2026-10-05");

    // Every query in the Grafana dashboard runs against the published tables.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards/spendlens.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let distinct = |column: &str| -> Vec<String> {
        pg.query(&format!(
            "SELECT DISTINCT {column} FROM spendlens_daily_cost ORDER BY 1"
        ))
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
    };
    let vars = [
        ("currency", vec!["USD".to_string()], false),
        ("provider", distinct("provider"), true),
        ("team", distinct("team"), true),
        ("feature", distinct("feature"), true),
    ];
    let mut queries: Vec<(String, String)> = Vec::new();
    for v in dashboard["templating"]["list"].as_array().unwrap() {
        queries.push((
            format!("variable {}", v["name"]),
            v["query"].as_str().unwrap().to_string(),
        ));
    }
    for a in dashboard["annotations"]["list"].as_array().unwrap() {
        if let Some(sql) = a["target"]["rawSql"].as_str() {
            queries.push((format!("annotation {}", a["name"]), sql.to_string()));
        }
    }
    for p in dashboard["panels"].as_array().unwrap() {
        assert_eq!(p["datasource"]["uid"], "spendlens-postgres");
        for t in p["targets"].as_array().unwrap() {
            queries.push((
                format!("panel {}", p["title"]),
                t["rawSql"].as_str().unwrap().to_string(),
            ));
        }
    }
    assert!(queries.len() >= 14, "{} queries", queries.len());
    for (what, sql) in &queries {
        let sql = grafana_expand(sql, "2026-10-02", "2026-10-31", &vars);
        let rows = pg
            .query(&sql)
            .unwrap_or_else(|e| panic!("{what} fails: {e}\n{sql}"));
        assert!(
            !rows.is_empty(),
            "{what} returns no rows over the demo month:\n{sql}"
        );
    }
    // The provider panel's numbers are the report's.
    let panel = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["title"] == "Spend by provider")
        .unwrap();
    let sql = grafana_expand(
        panel["targets"][0]["rawSql"].as_str().unwrap(),
        "2026-10-02",
        "2026-10-31",
        &vars,
    );
    let mut totals: std::collections::BTreeMap<String, f64> = Default::default();
    for r in pg
        .query(&format!("SELECT metric, spend::float8 FROM ({sql}) p"))
        .unwrap()
    {
        *totals.entry(r.get::<_, String>(0)).or_default() += r.get::<_, f64>(1);
    }
    assert_same_rollup(
        totals.into_iter().collect(),
        by(&report, "by_provider", "provider_name"),
        "Grafana provider panel",
    );

    // A server that is not there: a clear error naming the redacted URL, exit 2.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = demo.run(&[
        "publish",
        "--postgres",
        &format!("postgres://u:hunter2@127.0.0.1:{port}/db"),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "PostgreSQL at postgres://u:***@127.0.0.1:{port}/db"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn parquet_and_csv_feeds_hold_the_report_numbers() {
    let demo = Demo::new();
    let (pq, csv) = (demo.path("feed-parquet"), demo.path("feed-csv"));
    let out = demo.nightly(&[
        "--parquet",
        pq.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = demo.out_json();
    use polars::prelude::*;
    let df = LazyFrame::scan_parquet(
        PlRefPath::new(pq.join("daily_cost.parquet").to_str().unwrap()),
        Default::default(),
    )
    .unwrap()
    .group_by([col("provider")])
    .agg([col("effective_cost").sum()])
    .collect()
    .unwrap();
    let got: Vec<(String, f64)> = df
        .column("provider")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .zip(df.column("effective_cost").unwrap().f64().unwrap().iter())
        .map(|(p, v)| (p.unwrap().to_string(), v.unwrap()))
        .collect();
    assert_same_rollup(
        got,
        by(&report, "by_provider", "provider_name"),
        "parquet feed",
    );
    let text_csv = std::fs::read_to_string(csv.join("daily_cost.csv")).unwrap();
    let header = text_csv.lines().next().unwrap();
    assert_eq!(header, "day,currency,provider,account,region,team,feature,model,usage_type,allocation,effective_cost,billed_cost,tokens");
    let total: f64 = text_csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(10).unwrap().parse::<f64>().unwrap())
        .sum();
    assert!((total - money(&report["totals"]["effective_cost"])).abs() < 0.01);
    // One line per incident, with its id and status, in CSV and Parquet alike.
    let incidents = std::fs::read_to_string(csv.join("incidents.csv")).unwrap();
    let ids: Vec<&str> = report["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(incidents.lines().count() - 1, ids.len(), "{incidents}");
    assert!(incidents
        .lines()
        .next()
        .unwrap()
        .starts_with("id,start_day,end_day,currency"));
    for id in &ids {
        assert!(incidents.contains(&format!("{id},")), "{id} in {incidents}");
    }
    let pq_incidents = LazyFrame::scan_parquet(
        PlRefPath::new(pq.join("incidents.parquet").to_str().unwrap()),
        Default::default(),
    )
    .unwrap()
    .collect()
    .unwrap();
    assert_eq!(pq_incidents.height(), ids.len());
    let anomalies = std::fs::read_to_string(csv.join("anomalies.csv")).unwrap();
    assert_eq!(
        anomalies.lines().count() - 1,
        report["anomalies"].as_array().unwrap().len()
    );
}

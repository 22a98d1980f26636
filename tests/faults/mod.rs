//! Fault injection for the collectors: the local servers throttle, fail with 5xx, reset the
//! connection, truncate or garble the body, answer late, never answer, or repeat a page
//! token. Each run must either complete (the retry shows in the outcome) or fail that source
//! cleanly: exit 2, the source named, the run recorded as failed (so reports mark it stale),
//! and the stored days exactly as they were. Nothing may hang: every run is under the
//! `[collect] deadline_secs` of its config, and this harness kills (and fails) a run that
//! outlives it by far.

use super::stand_in::{Fault, Reply, Request, StandIn};
use serde_json::json;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Run `cmd`, killing it (and failing the test) if it is still running after `limit`.
fn run_bounded(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the run hung (killed after {limit:?}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How one faulty run ended.
#[derive(Debug, PartialEq)]
enum Outcome {
    Completed,
    FailedCleanly,
}

/// Check the contract and say which way the run went.
fn judge(out: &Output, data: &Path, source: &str, before: f64, after: f64, what: &str) -> Outcome {
    judge_by(out, data, source, before, after, what, &|d| super::total(d))
}

/// [`judge`] with the stored state measured by `measure` (e.g. usage instead of cost).
fn judge_by(
    out: &Output,
    data: &Path,
    source: &str,
    before: f64,
    after: f64,
    what: &str,
    measure: &dyn Fn(&Path) -> f64,
) -> Outcome {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let now = measure(data);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("manifest.json")).unwrap())
            .unwrap();
    match out.status.code() {
        Some(0) => {
            assert!(
                (now - after).abs() < 1e-6,
                "{what}: completed but stored {now}, not {after}"
            );
            assert_eq!(manifest["runs"][source]["error"], json!(null), "{what}");
            Outcome::Completed
        }
        Some(2) => {
            assert!(
                (now - before).abs() < 1e-6,
                "{what}: failed but the store changed: {now} vs {before}\n{stderr}"
            );
            assert!(
                stderr.contains(&format!("error: {source}:")),
                "{what}: the failing source is named: {stderr}"
            );
            assert!(
                manifest["runs"][source]["error"].is_string(),
                "{what}: the failure is recorded for reports to mark the source stale"
            );
            Outcome::FailedCleanly
        }
        other => panic!("{what}: exit {other:?}: {stderr}"),
    }
}

/// Print what each fault led to, and check the ones the collector must retry through and
/// the ones it must fail on.
fn expect_outcomes(label: &str, seen: &[(&str, Outcome)], completes: &[&str], fails: &[&str]) {
    eprintln!("{label} faults: {seen:?}");
    let outcome = |name: &str| &seen.iter().find(|(w, _)| *w == name).unwrap().1;
    for name in completes {
        assert_eq!(outcome(name), &Outcome::Completed, "{label}: {name}");
    }
    for name in fails {
        assert_eq!(outcome(name), &Outcome::FailedCleanly, "{label}: {name}");
    }
}

/// A handler that answers the first `times` requests `when` picks with `fault` applied to
/// what `inner` would have said (or with `status` instead), then behaves.
fn faulty<H>(
    inner: H,
    when: fn(&Request) -> bool,
    times: usize,
    fault: Fault,
    status: Status,
) -> impl Fn(&Request, usize) -> Reply + Send + Sync + 'static
where
    H: Fn(&Request, usize) -> Reply + Send + Sync + 'static,
{
    let hits = Arc::new(AtomicUsize::new(0));
    move |req, n| {
        if when(req) && hits.fetch_add(1, Ordering::SeqCst) < times {
            if let Some((line, body, header)) = &status {
                let mut r = Reply::status(line, body.clone());
                if let Some((k, v)) = header {
                    r = r.header(k, v);
                }
                return r;
            }
            return inner(req, n).with_fault(fault);
        }
        inner(req, n)
    }
}

type Status = Option<(
    &'static str,
    serde_json::Value,
    Option<(&'static str, &'static str)>,
)>;

/// The faults every collector meets: (name, requests affected, fault, replacement answer).
fn faults(throttle: Status, unavailable: Status) -> Vec<(&'static str, usize, Fault, Status)> {
    vec![
        ("throttled", 1, Fault::None, throttle),
        ("5xx", 1, Fault::None, unavailable),
        ("connection reset", 1, Fault::Reset, None),
        ("truncated body", 1, Fault::Truncate, None),
        ("malformed JSON", 1, Fault::Malformed, None),
        ("slow answer", 1, Fault::Delay(3), None),
        ("no answer", usize::MAX, Fault::Delay(600), None),
    ]
}

#[test]
fn bigquery_faults_complete_or_fail_cleanly() {
    use super::gcp::{bigquery_handler, days_ago, GcpEnv};
    let (from, to) = (days_ago(3).to_string(), days_ago(2).to_string());
    let section = |url: &str| {
        format!("endpoint = \"{url}\"\ncredentials = \"anonymous\"\n\n[collect]\ndeadline_secs = 8")
    };
    let source = "gcp_export:01A2B3-C4D5E6-F7A8B9";
    let baseline_server = StandIn::start(bigquery_handler(0, None, 1.0));
    let baseline = GcpEnv::new(&section(&baseline_server.url()));
    assert!(baseline
        .run(&["collect", "--from", &from, "--to", &to])
        .status
        .success());
    let before = super::total(&baseline.path("data"));
    let after = 2.0 * (10.0 + 4.5) - 1.0;
    let query: fn(&Request) -> bool = |r| r.method == "POST" && r.target.contains("/queries");
    let throttle = Some((
        "429 Too Many Requests",
        json!({"error": {"code": 429, "message": "Exceeded rate limits: too many api requests per user per method for this user_method.", "errors": [{"message": "Exceeded rate limits", "domain": "usageLimits", "reason": "rateLimitExceeded"}], "status": "RESOURCE_EXHAUSTED"}}),
        None,
    ));
    let unavailable = Some((
        "503 Service Unavailable",
        json!({"error": {"code": 503, "message": "Error encountered during execution. Retrying may solve the problem.", "errors": [{"message": "Error encountered during execution.", "domain": "global", "reason": "backendError"}], "status": "UNAVAILABLE"}}),
        None,
    ));
    let mut seen = Vec::new();
    for (what, times, fault, status) in faults(throttle, unavailable) {
        let server = StandIn::start(faulty(
            bigquery_handler(0, None, 2.0),
            query,
            times,
            fault,
            status,
        ));
        let env = GcpEnv::new(&section(&server.url()));
        super::copy_dir(&baseline.path("data"), &env.path("data"));
        let out = run_bounded(
            env.command(&["collect", "--from", &from, "--to", &to]),
            Duration::from_secs(120),
        );
        seen.push((
            what,
            judge(&out, &env.path("data"), source, before, after, what),
        ));
    }
    // A page token that never ends: the deadline stops it.
    let inner = bigquery_handler(0, None, 2.0);
    let repeat = move |req: &Request, n: usize| {
        let mut r = inner(req, n);
        if req.target.contains("pageToken=page-") {
            r.body["pageToken"] = json!("page-1");
        }
        r
    };
    let server = StandIn::start(repeat);
    let env = GcpEnv::new(&section(&server.url()));
    super::copy_dir(&baseline.path("data"), &env.path("data"));
    let out = run_bounded(
        env.command(&["collect", "--from", &from, "--to", &to]),
        Duration::from_secs(120),
    );
    seen.push((
        "repeated page token",
        judge(
            &out,
            &env.path("data"),
            source,
            before,
            after,
            "repeated page token",
        ),
    ));
    // Transient faults are retried by the client; what cannot be read fails the source.
    expect_outcomes(
        "BigQuery",
        &seen,
        &[
            "throttled",
            "5xx",
            "connection reset",
            "truncated body",
            "slow answer",
        ],
        &["malformed JSON", "no answer", "repeated page token"],
    );
}

#[test]
fn cost_management_faults_complete_or_fail_cleanly() {
    use super::azure::{azure_handler, days_ago, AzureEnv};
    let (from, to) = (days_ago(4).to_string(), days_ago(3).to_string());
    let extra = "request_timeout_secs = 1\n\n[collect]\ndeadline_secs = 8";
    let source = "azure_cost_management:subscriptions/00000000-0000-0000-0000-0000000000aa";
    let baseline_server = StandIn::start(azure_handler(false, 1.0));
    let baseline = AzureEnv::new(&baseline_server.url(), extra);
    let out = baseline.run(&["collect", "--from", &from, "--to", &to]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = super::total(&baseline.path("data"));
    let after = 2.0 * before;
    let actual: fn(&Request) -> bool = |r| r.method == "POST" && r.body.contains("\"ActualCost\"");
    let throttle = Some((
        "429 Too Many Requests",
        json!({"error": {"code": "429", "message": "Too many requests. Please retry."}}),
        Some(("retry-after", "1")),
    ));
    let unavailable = Some((
        "503 Service Unavailable",
        json!({"error": {"code": "ServiceUnavailable", "message": "The service is temporarily unavailable."}}),
        None,
    ));
    let mut seen = Vec::new();
    for (what, times, fault, status) in faults(throttle, unavailable) {
        let server = StandIn::start(faulty(
            azure_handler(false, 2.0),
            actual,
            times,
            fault,
            status,
        ));
        let env = AzureEnv::new(&server.url(), extra);
        super::copy_dir(&baseline.path("data"), &env.path("data"));
        let out = run_bounded(
            env.command(&["collect", "--from", &from, "--to", &to]),
            Duration::from_secs(120),
        );
        seen.push((
            what,
            judge(&out, &env.path("data"), source, before, after, what),
        ));
    }
    // nextLink pointing back at the same page: stopped, not looped.
    let inner = azure_handler(false, 2.0);
    let repeat = move |req: &Request, n: usize| {
        let mut r = inner(req, n);
        if r.body["properties"]["nextLink"].is_string() || req.target.contains("skiptoken") {
            let host = req.header("host").unwrap_or("").to_string();
            r.body["properties"]["nextLink"] = json!(format!("http://{host}/subscriptions/00000000-0000-0000-0000-0000000000aa/providers/Microsoft.CostManagement/query?api-version=2023-11-01&$skiptoken=page2"));
        }
        r
    };
    let server = StandIn::start(repeat);
    let env = AzureEnv::new(&server.url(), extra);
    super::copy_dir(&baseline.path("data"), &env.path("data"));
    let out = run_bounded(
        env.command(&["collect", "--from", &from, "--to", &to]),
        Duration::from_secs(120),
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("page token repeated"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    seen.push((
        "repeated page token",
        judge(
            &out,
            &env.path("data"),
            source,
            before,
            after,
            "repeated page token",
        ),
    ));
    // Throttling, 5xx, resets, cut-off bodies and a late answer are retried; garbage and
    // silence fail.
    expect_outcomes(
        "Cost Management",
        &seen,
        &[
            "throttled",
            "5xx",
            "connection reset",
            "truncated body",
            "slow answer",
        ],
        &["malformed JSON", "no answer", "repeated page token"],
    );
}

/// A TCP proxy in front of moto that misbehaves for the first `times` Cost Explorer
/// requests, then relays every request to moto unchanged.
fn moto_proxy(moto_port: u16, times: usize, fault: Fault, status: Status) -> u16 {
    fault_proxy(
        moto_port,
        |head, _| head.contains("getcostandusage"),
        times,
        fault,
        status,
    )
}

/// A TCP proxy in front of `upstream` that misbehaves for the first `times` requests
/// `when` picks (by lower-case head and body), then relays every request unchanged.
fn fault_proxy(
    upstream: u16,
    when: fn(&str, &[u8]) -> bool,
    times: usize,
    fault: Fault,
    status: Status,
) -> u16 {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let hits = hits.clone();
            let status = status.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(client.try_clone().unwrap());
                let mut head = Vec::new();
                let mut len = 0;
                let mut head_text = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    head_text.push_str(&lower);
                    if line == "\r\n" {
                        break;
                    }
                    if !lower.starts_with("connection:") {
                        head.push(line);
                    }
                }
                let mut body = vec![0; len];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let mut client = client;
                let faulted =
                    when(&head_text, &body) && hits.fetch_add(1, Ordering::SeqCst) < times;
                if faulted {
                    let extra = match &status {
                        Some((_, _, Some((k, v)))) => format!("{k}: {v}\r\n"),
                        _ => String::new(),
                    };
                    let answer = |line: &str, body: &str| {
                        format!("HTTP/1.1 {line}\r\ncontent-type: application/x-amz-json-1.1\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())
                    };
                    match (fault, &status) {
                        (_, Some((line, b, _))) => {
                            // A JSON string is sent as it is (the XML of query-protocol APIs).
                            let text = match b {
                                serde_json::Value::String(xml) => xml.clone(),
                                other => other.to_string(),
                            };
                            let _ = client.write_all(answer(line, &text).as_bytes());
                            return;
                        }
                        (Fault::Reset, _) => {
                            let _ = client.shutdown(std::net::Shutdown::Both);
                            return;
                        }
                        (Fault::Truncate, _) => {
                            let full = "{\"ResultsByTime\": [{\"TimePeriod\": {\"Start\": \"2026-11-20\"}}], \"DimensionValueAttributes\": []}";
                            let mut text = answer("200 OK", full);
                            text.truncate(text.len() - full.len() / 2);
                            let _ = client.write_all(text.as_bytes());
                            let _ = client.shutdown(std::net::Shutdown::Both);
                            return;
                        }
                        (Fault::Malformed, _) => {
                            let _ = client.write_all(
                                answer("200 OK", "{\"ResultsByTime\": [[1, 2").as_bytes(),
                            );
                            return;
                        }
                        (Fault::Delay(secs), _) => std::thread::sleep(Duration::from_secs(secs)),
                        (Fault::Pause(ms), _) => std::thread::sleep(Duration::from_millis(ms)),
                        (Fault::None, None) => {}
                    }
                }
                // Relay to moto, one request per connection.
                let mut upstream = std::net::TcpStream::connect(("127.0.0.1", upstream)).unwrap();
                let mut request = head.concat();
                request.push_str("connection: close\r\n\r\n");
                let _ = upstream.write_all(request.as_bytes());
                let _ = upstream.write_all(&body);
                let mut response = Vec::new();
                let _ = upstream.read_to_end(&mut response);
                let _ = client.write_all(&response);
            });
        }
    });
    port
}

#[test]
fn cost_explorer_faults_complete_or_fail_cleanly() {
    use super::aws::{ce_result, AwsEnv, BedrockFaults, BEDROCK};
    let env = AwsEnv::new(BedrockFaults::default());
    std::fs::write(
        env.path("spendlens.toml"),
        "[aws]\nregions = [\"us-east-1\"]\nmax_attempts = 3\n[aws.profiles]\nenabled = false\n[aws.cloudwatch]\nenabled = false\n[aws.cost_explorer]\ntag_keys = []\nservices = [\"Amazon Bedrock\"]\n\n[collect]\ndeadline_secs = 8\n",
    )
    .unwrap();
    // moto answers one queued result per distinct request, and the same request the same
    // result after that: the baseline asks for one day, the faulty runs for two.
    let (d0, d) = (super::azure::days_ago(6), super::azure::days_ago(5));
    let (first, day) = (d0.to_string(), d.to_string());
    let nova = |scale: f64| {
        [(
            BEDROCK,
            "USE1-NovaLite-input-tokens",
            3.0 * scale,
            3.0 * scale,
            1e6,
        )]
    };
    env.moto
        .queue_cost_and_usage(vec![ce_result(&[d], true, &nova(1.0), None)]);
    let out = env.run(&["collect", "--from", &day, "--to", &day]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let baseline = env.path("baseline");
    super::copy_dir(&env.data(), &baseline);
    let (before, after) = (3.0, 12.0);
    env.moto
        .queue_cost_and_usage(vec![ce_result(&[d0, d], true, &nova(2.0), None)]);
    assert!((super::total(&baseline) - before).abs() < 1e-9);
    let throttle = Some((
        "400 Bad Request",
        json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
        None,
    ));
    let unavailable = Some((
        "503 Service Unavailable",
        json!({"__type": "ServiceUnavailableException", "message": "Service is unavailable"}),
        None,
    ));
    let mut seen = Vec::new();
    for (what, times, fault, status) in faults(throttle, unavailable) {
        let port = moto_proxy(env.moto.port, times, fault, status);
        let _ = std::fs::remove_dir_all(env.data());
        super::copy_dir(&baseline, &env.data());
        let out = run_bounded(
            env.command_via(
                &format!("http://127.0.0.1:{port}"),
                &["collect", "--from", &first, "--to", &day],
            ),
            Duration::from_secs(120),
        );
        seen.push((
            what,
            judge(&out, &env.data(), "aws_cost_explorer", before, after, what),
        ));
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("spendlens-test-secret-do-not-log"),
            "{what}: the secret key stays out of errors"
        );
    }
    expect_outcomes(
        "Cost Explorer",
        &seen,
        &["throttled", "5xx", "connection reset", "slow answer"],
        &["malformed JSON", "no answer"],
    );
}

#[test]
fn a_collect_killed_at_any_point_leaves_the_store_before_or_after() {
    use super::gcp::{bigquery_handler, days_ago, GcpEnv};
    let (from, to) = (days_ago(3).to_string(), days_ago(2).to_string());
    let section = |url: &str| format!("endpoint = \"{url}\"\ncredentials = \"anonymous\"");
    let baseline_server = StandIn::start(bigquery_handler(0, None, 1.0));
    let baseline = GcpEnv::new(&section(&baseline_server.url()));
    assert!(baseline
        .run(&["collect", "--from", &from, "--to", &to])
        .status
        .success());
    let before = super::total(&baseline.path("data"));
    let after = 2.0 * (10.0 + 4.5) - 1.0;
    // Every answer a little late, so kills land before, during and after the fetch and the
    // commit.
    let inner = bigquery_handler(0, None, 2.0);
    let slow = StandIn::start(move |req: &Request, n| inner(req, n).with_fault(Fault::Pause(300)));
    let env = GcpEnv::new(&section(&slow.url()));
    let started = Instant::now();
    super::copy_dir(&baseline.path("data"), &env.path("data"));
    assert!(env
        .run(&["collect", "--from", &from, "--to", &to])
        .status
        .success());
    let duration = started.elapsed().as_millis() as u64;
    assert!((super::total(&env.path("data")) - after).abs() < 1e-9);
    let mut seed: u64 = 0xc011ec7;
    for _ in 0..8 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let at = (seed >> 33) % (duration + 100);
        let crash = GcpEnv::new(&section(&slow.url()));
        let data = crash.path("data");
        super::copy_dir(&baseline.path("data"), &data);
        let mut child = crash
            .command(&["collect", "--from", &from, "--to", &to])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(at));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let now = super::total(&data);
        assert!(
            (now - before).abs() < 1e-9 || (now - after).abs() < 1e-9,
            "kill at {at} ms: {now} is neither {before} nor {after}"
        );
        // The next run takes over the dead writer's lock and completes.
        let out = crash.run(&["collect", "--from", &from, "--to", &to]);
        assert!(
            out.status.success(),
            "re-run after a kill at {at} ms: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!((super::total(&data) - after).abs() < 1e-9);
    }
}

#[test]
fn cloudwatch_faults_complete_or_fail_cleanly() {
    use super::aws::{cloudwatch, profile_arn, put_metric, AwsEnv, BedrockFaults};
    let env = AwsEnv::new(BedrockFaults::default());
    std::fs::write(
        env.path("spendlens.toml"),
        "[aws]\nregions = [\"us-east-1\"]\nmax_attempts = 3\n[aws.cost_explorer]\nenabled = false\n\n[collect]\ndeadline_secs = 8\n",
    )
    .unwrap();
    // Yesterday: not settled, so every run asks for it again.
    let d = super::azure::days_ago(1);
    let day = d.to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let put = |calls: f64| {
        rt.block_on(async {
            let cw = cloudwatch(&env.moto).await;
            put_metric(&cw, &profile_arn("k3v9rag0ans1"), "Invocations", d, calls).await;
        });
    };
    let invocations = |data: &Path| -> f64 {
        let Some(lf) = spendlens::store::Store::new(data)
            .scan(spendlens::store::Table::Usage)
            .unwrap()
        else {
            return 0.0;
        };
        let df = lf
            .select([polars::prelude::col("invocations").sum()])
            .collect()
            .unwrap();
        df.column("invocations")
            .unwrap()
            .f64()
            .unwrap()
            .get(0)
            .unwrap_or(0.0)
    };
    put(10.0);
    let out = env.run(&["collect", "--from", &day, "--to", &day]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let baseline = env.path("baseline");
    super::copy_dir(&env.data(), &baseline);
    let before = invocations(&baseline);
    assert_eq!(before, 10.0);
    put(10.0); // CloudWatch now sums 20 for the day
               // CloudWatch speaks the query protocol: errors are XML.
    let error = |code: &str, message: &str| {
        json!(format!("<ErrorResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>5a1e5b4c-0000-4000-8000-000000000000</RequestId></ErrorResponse>"))
    };
    let unavailable = Some((
        "503 Service Unavailable",
        error("ServiceUnavailable", "Service is unavailable"),
        None,
    ));
    let throttle = Some((
        "400 Bad Request",
        error("Throttling", "Rate exceeded"),
        None,
    ));
    let metric_data: fn(&str, &[u8]) -> bool =
        |_, body| String::from_utf8_lossy(body).contains("Action=GetMetricData");
    let mut seen = Vec::new();
    for (what, times, fault, status) in faults(throttle, unavailable) {
        let port = fault_proxy(env.moto.port, metric_data, times, fault, status);
        let _ = std::fs::remove_dir_all(env.data());
        super::copy_dir(&baseline, &env.data());
        let out = run_bounded(
            env.command_via(
                &format!("http://127.0.0.1:{port}"),
                &["collect", "--from", &day, "--to", &day],
            ),
            Duration::from_secs(120),
        );
        seen.push((
            what,
            judge_by(
                &out,
                &env.data(),
                "aws_cloudwatch:us-east-1",
                before,
                20.0,
                what,
                &invocations,
            ),
        ));
    }
    expect_outcomes(
        "CloudWatch",
        &seen,
        &["throttled", "5xx", "connection reset", "slow answer"],
        &["malformed JSON", "no answer"],
    );
}

#[test]
fn bedrock_profile_faults_complete_or_fail_cleanly() {
    use super::aws::{AwsEnv, BedrockFaults};
    let env = AwsEnv::new(BedrockFaults::default());
    std::fs::write(
        env.path("spendlens.toml"),
        "[aws]\nregions = [\"us-east-1\"]\nmax_attempts = 3\n[aws.cloudwatch]\nenabled = false\n[aws.cost_explorer]\nenabled = false\n\n[collect]\ndeadline_secs = 8\n",
    )
    .unwrap();
    let profiles = |data: &Path| -> f64 {
        spendlens::store::Store::new(data)
            .scan(spendlens::store::Table::Profiles)
            .unwrap()
            .map(|lf| lf.collect().unwrap().height() as f64)
            .unwrap_or(0.0)
    };
    let out = env.run(&["collect"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = profiles(&env.data());
    assert!(after >= 2.0, "the stand-in lists profiles over two pages");
    let bedrock_port: u16 = env
        .bedrock
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let throttle = Some((
        "429 Too Many Requests",
        json!({"message": "Too many requests, please wait before trying again."}),
        Some(("x-amzn-ErrorType", "ThrottlingException")),
    ));
    let unavailable = Some((
        "503 Service Unavailable",
        json!({"message": "Service unavailable"}),
        Some(("x-amzn-ErrorType", "ServiceUnavailableException")),
    ));
    let listing: fn(&str, &[u8]) -> bool = |head, _| head.contains("/inference-profiles");
    let mut seen = Vec::new();
    for (what, times, fault, status) in faults(throttle, unavailable) {
        let port = fault_proxy(bedrock_port, listing, times, fault, status);
        let _ = std::fs::remove_dir_all(env.data());
        let mut cmd = env.command_via(&env.moto.url(), &["collect"]);
        cmd.env(
            "AWS_ENDPOINT_URL_BEDROCK",
            format!("http://127.0.0.1:{port}"),
        );
        let out = run_bounded(cmd, Duration::from_secs(120));
        seen.push((
            what,
            judge_by(
                &out,
                &env.data(),
                "aws_profiles:us-east-1",
                0.0,
                after,
                what,
                &profiles,
            ),
        ));
    }
    expect_outcomes(
        "Bedrock profile",
        &seen,
        &["throttled", "5xx", "connection reset", "slow answer"],
        &["malformed JSON", "no answer"],
    );
}

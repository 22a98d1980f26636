//! Budgets in the nightly job: evaluated into the report files, announced once per budget,
//! period, threshold and kind (remembered in the store only when the digest got out), posted
//! as Slack Block Kit or JSON, and `--fail-on-budget` setting the exit code. Every crossing
//! day is computed here from the spend the test writes ($100 a day for `search`).

use super::super::nightly::Webhook;
use super::super::Env;
use super::spend_days;
use serde_json::Value;

/// A name with mrkdwn's control characters in it: Slack must get them escaped.
const NAME: &str = "search <tight> & co";

/// `search` gets 2,000 a month: 50% (1,000) is reached by spend on the 10th, 80% (1,600)
/// on the 16th and 100% on the 20th — spent or forecast at $100 a day.
fn config() -> String {
    format!(
        "[nightly]\nexports = [\"exports\"]\n\n[[budgets]]\nname = \"{NAME}\"\nselector = {{ team = \"search\" }}\namount = 2000\ncurrency = \"USD\"\nperiod = \"month\"\n"
    )
}

/// An environment whose export directory holds January 1 to March 10.
fn setup() -> Env {
    let env = Env::new();
    std::fs::create_dir_all(env.path("exports")).unwrap();
    spend_days(&env.path("exports/jan-mar10.csv"), "USD", 0..69);
    env.config(&config());
    env
}

/// `nightly` with `extra` arguments: its exit code, stdout and the report it wrote.
fn night(env: &Env, extra: &[&str]) -> (Option<i32>, String, Value) {
    let out_dir = env.path("out");
    let mut args = vec!["nightly", "--out", out_dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = env.run(&args);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap())
            .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap() + &String::from_utf8_lossy(&out.stderr),
        report,
    )
}

/// `(threshold, day, kind)` of a list of crossings or alerts.
fn crossings(v: &Value) -> Vec<(f64, String, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["threshold"].as_f64().unwrap(),
                c["day"].as_str().unwrap().to_string(),
                c["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn crossing(threshold: f64, day: &str, kind: &str) -> (f64, String, String) {
    (threshold, day.to_string(), kind.to_string())
}

/// `nightly` posting JSON to `hook`, with `extra` arguments.
fn json_night(env: &Env, hook: &Webhook, extra: &[&str]) -> (Option<i32>, String, Value) {
    let url = hook.url();
    let mut args = vec!["--post", &url, "--post-format", "json"];
    args.extend_from_slice(extra);
    night(env, &args)
}

/// The last body the webhook received, as JSON.
fn posted(hook: &Webhook) -> Value {
    let bodies = hook.bodies.lock().unwrap();
    serde_json::from_str(&bodies.last().expect("a post").1).unwrap()
}

#[test]
fn a_crossing_is_announced_once_and_only_after_the_digest_got_out() {
    let env = setup();
    let expected_first = vec![
        crossing(50.0, "2026-03-10", "actual"),
        crossing(80.0, "2026-03-16", "forecast"),
        crossing(100.0, "2026-03-20", "forecast"),
    ];
    // A webhook that refuses: the report says what would be announced, the run fails, and
    // nothing is remembered — the next night announces it again.
    let refusing = Webhook::start("403 Forbidden");
    let (code, said, report) = night(&env, &["--post", &refusing.url()]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("announced again next time"), "{said}");
    assert_eq!(crossings(&report["budget_alerts"]), expected_first);
    assert_eq!(report["budgets"][0]["spent"].as_f64(), Some(1000.0));
    assert_eq!(report["budgets"][0]["status"], "forecast_over");

    // Slack: Block Kit within Slack's limits, the crossings named, the name escaped, links.
    let hook = Webhook::start("200 OK");
    let base = "https://finops.example.com/spendlens";
    let (code, said, report) = night(
        &env,
        &["--post", &hook.url(), "--report-url", &format!("{base}/")],
    );
    assert_eq!(code, Some(0), "{said}");
    assert_eq!(crossings(&report["budget_alerts"]), expected_first);
    let body = posted(&hook);
    check_block_kit(&body);
    let blocks = body["blocks"].to_string();
    for want in [
        "search &lt;tight&gt; &amp; co: 50% reached on 2026-03-10; 80% forecast to be reached on 2026-03-16; 100% forecast to be reached on 2026-03-20",
        "1,000.00 of 2,000.00 USD spent",
        &format!("<{base}/report.html|report>"),
        &format!("<{base}/dashboard.html|dashboard>"),
    ] {
        assert!(blocks.contains(want), "{want} not in {blocks}");
    }
    assert!(!blocks.contains("<tight>"), "unescaped: {blocks}");
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("[report]({base}/report.html)")),
        "{text}"
    );

    // The same night again, as JSON: nothing new to announce; the budget still fails
    // `--fail-on-budget warning` (its forecast is over), not `over`.
    let (code, said, report) = json_night(&env, &hook, &["--fail-on-budget", "warning"]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains(&format!("{NAME} (forecast_over)")), "{said}");
    assert_eq!(report["budget_alerts"], Value::Array(vec![]));
    let body = posted(&hook);
    assert_eq!(body["schema_version"], 2);
    assert_eq!(body["kind"], "spendlens.digest");
    assert_eq!(body["budget_alerts"], Value::Array(vec![]));
    assert_eq!(body["budgets"][0]["name"], NAME);
    assert_eq!(body["budgets"][0]["spent"].as_f64(), Some(1000.0));
    assert_eq!(body["budgets"][0]["status"], "forecast_over");

    // Spend through March 16: 80% is now reached by spend — a new kind of crossing, announced;
    // 100% was already announced as forecast and is not repeated.
    spend_days(&env.path("exports/mar11-16.csv"), "USD", 69..75);
    let (code, said, report) = json_night(&env, &hook, &["--fail-on-budget", "over"]);
    assert_eq!(code, Some(0), "1,600 of 2,000 spent is not over: {said}");
    assert_eq!(
        crossings(&posted(&hook)["budget_alerts"]),
        vec![crossing(80.0, "2026-03-16", "actual")]
    );
    assert_eq!(report["budgets"][0]["spent"].as_f64(), Some(1600.0));

    // Through March 20: spent the amount — over, announced, and `--fail-on-budget over` fails.
    spend_days(&env.path("exports/mar17-20.csv"), "USD", 75..79);
    let (code, said, _) = json_night(&env, &hook, &["--fail-on-budget", "over"]);
    assert_eq!(code, Some(1), "{said}");
    assert_eq!(
        crossings(&posted(&hook)["budget_alerts"]),
        vec![crossing(100.0, "2026-03-20", "actual")]
    );
    // The store remembers each crossing once.
    let manifest: Value = serde_json::from_str(&env.manifest().unwrap()).unwrap();
    assert_eq!(manifest["announced"].as_array().unwrap().len(), 5);

    // April: a new period, so its crossings are announced afresh (April 1 alone: 100 spent,
    // 50% forecast for the 10th).
    spend_days(&env.path("exports/mar21-apr1.csv"), "USD", 79..91);
    let (_, said, report) = json_night(&env, &hook, &[]);
    assert_eq!(
        report["budgets"][0]["period"]["start"], "2026-04-01",
        "{said}"
    );
    let april = crossings(&posted(&hook)["budget_alerts"]);
    assert_eq!(
        april[0],
        crossing(50.0, "2026-04-10", "forecast"),
        "{april:?}"
    );
}

/// Slack's documented limits: at most 50 blocks, a header's plain text at most 150
/// characters, a section's text at most 3,000.
fn check_block_kit(body: &Value) {
    let blocks = body["blocks"].as_array().unwrap();
    assert!(!blocks.is_empty() && blocks.len() <= 50);
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= 150);
    for b in blocks {
        match b["type"].as_str().unwrap() {
            "header" => {}
            "section" => {
                assert_eq!(b["text"]["type"], "mrkdwn");
                assert!(b["text"]["text"].as_str().unwrap().chars().count() <= 3000);
            }
            "context" => assert!(b["elements"].as_array().unwrap().len() <= 10),
            other => panic!("unexpected block type {other}"),
        }
    }
}

#[test]
fn a_budget_that_cannot_be_evaluated_is_named_and_the_report_still_lands() {
    let env = setup();
    env.config(&format!(
        "{}\n[[budgets]]\nname = \"ghost\"\nselector = {{ team = \"nobody\" }}\namount = 10\ncurrency = \"USD\"\nperiod = \"month\"\n",
        config()
    ));
    let (code, said, report) = night(&env, &[]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("budget `ghost`"), "{said}");
    assert_eq!(report["budgets"][0]["name"], NAME);
    assert_eq!(report["budget_errors"][0]["name"], "ghost");
    let md = std::fs::read_to_string(env.path("out/report.md")).unwrap();
    assert!(md.contains("## Budgets on 2026-03-10"), "{md}");
    assert!(md.contains("budget \\`ghost\\`"), "{md}");
    let html = std::fs::read_to_string(env.path("out/report.html")).unwrap();
    assert!(html.contains("Budgets not evaluated"), "{html}");
}

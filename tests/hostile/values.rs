//! Hostile tag values end to end: quotes, SQL, a NUL byte, 10 KB, right-to-left and
//! zero-width marks, ANSI escapes, Markdown and HTML, formula prefixes — through ingest, the
//! report in every format, the Parquet and CSV feeds, PostgreSQL and the terminal views.
//! Data outputs keep every byte of the (attribution-normalised) value; views neutralise it.

use super::super::nightly::Postgres;
use super::super::Env;
use super::{row, texts, write};
use polars::prelude::SerReader;
use serde_json::Value;

/// The values, as tags hold them.
fn hostile() -> Vec<String> {
    vec![
        "o'brien \"quoted\"".into(),
        "x'); DROP TABLE spendlens_daily_cost; --".into(),
        "nul\u{0}byte".into(),
        "k".repeat(10 * 1024),
        "\u{202e}evil\u{202c}-zero\u{200b}width".into(),
        "\u{1b}[31mred\u{1b}]0;title\u{7}".into(),
        "| **bold** <img src=x onerror=alert(1)> [l](javascript:x)".into(),
        "=cmd|' /C calc'!A0".into(),
    ]
}

/// A team tag value as attribution stores it: words joined by `-`, lower case (see the
/// attribution docs); nothing else changes.
fn normalised(v: &str) -> String {
    v.split_whitespace()
        .collect::<Vec<_>>()
        .join("-")
        .to_lowercase()
}

#[test]
fn hostile_values_keep_every_byte_in_data_and_break_no_view() {
    let env = Env::new();
    let values = hostile();
    let expected: Vec<String> = values.iter().map(|v| normalised(v)).collect();
    let days: Vec<String> = (1..=9).map(|d| format!("2026-10-{d:02}")).collect();
    let rows: Vec<String> = days
        .iter()
        .flat_map(|d| values.iter().map(move |v| row("1.00", d, "acct", v)))
        .collect();
    env.ok(&["ingest", &write(&env, "hostile.csv", &rows)]);

    // JSON: every value exactly.
    let report = env.report_json(&[]);
    let teams: Vec<String> = report["by_team"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["team"].as_str().unwrap().to_string())
        .collect();
    for e in &expected {
        assert!(
            teams.contains(e),
            "lost in JSON: {:?}",
            &e[..e.len().min(40)]
        );
    }

    // Parquet feed: every value exactly; CSV feed: formulas neutralised, the rest exact.
    let feeds = env.path("feeds");
    let dir = feeds.to_str().unwrap();
    env.ok(&["publish", "--parquet", dir, "--csv", dir]);
    let parquet = texts(polars::prelude::ParquetReader::new(
        std::fs::File::open(feeds.join("daily_cost.parquet")).unwrap(),
    ));
    let csv = texts(
        polars::prelude::CsvReadOptions::default()
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(feeds.join("daily_cost.csv")))
            .unwrap(),
    );
    for e in &expected {
        assert!(parquet.contains(e), "lost in Parquet: {e:?}");
        let neutral = if e.starts_with(['=', '+', '-', '@']) {
            format!("'{e}")
        } else {
            e.clone()
        };
        assert!(
            csv.contains(&neutral),
            "CSV feed: {neutral:?} not in {csv:?}"
        );
    }

    // PostgreSQL: every value as a parameter, never as SQL; the table is still there.
    let pg = Postgres::start();
    let out = env.run(&["publish", "--postgres", &pg.url()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored: Vec<String> = pg
        .query("SELECT DISTINCT team FROM spendlens_daily_cost")
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for e in &expected {
        let want = e.replace('\u{0}', "\u{fffd}");
        assert!(stored.contains(&want), "lost in PostgreSQL: {want:?}");
    }

    views_stay_views(&env, &expected);
}

/// Markdown, CSV, HTML and the terminal views: no control character reaches a terminal, no
/// value breaks a table row, no markup runs.
fn views_stay_views(env: &Env, expected: &[String]) {
    let md = env.ok(&["report"]);
    assert!(
        !md.chars().any(|c| c.is_control() && c != '\n'),
        "control characters in Markdown"
    );
    let header = md
        .lines()
        .find(|l| l.starts_with("| team | effective"))
        .unwrap();
    let columns = |line: &str| line.replace("\\|", "").matches('|').count();
    let team_rows: Vec<&str> = md
        .lines()
        .skip_while(|l| !l.starts_with("| team | effective"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert_eq!(team_rows.len(), expected.len(), "{md}");
    for line in team_rows {
        assert_eq!(
            columns(line),
            columns(header),
            "a value broke the row: {line}"
        );
    }
    let html = env.ok(&["report", "--format", "html"]);
    assert!(!html.contains("<img"), "markup in the HTML report");
    assert!(
        html.contains("&lt;img-src=x-onerror=alert(1)&gt;"),
        "the value, escaped"
    );
    let csv = env.ok(&["report", "--format", "csv"]);
    assert!(
        !csv.lines()
            .any(|l| l.split(',').any(|c| c.starts_with("=cmd"))),
        "{csv}"
    );
    for args in [
        vec!["anomalies"],
        vec!["advise"],
        vec!["investigate", "--team", "o'brien-\"quoted\""],
    ] {
        let text = env.ok(&args);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "control characters in `{}`",
            args.join(" ")
        );
    }
    let _: Value = serde_json::from_str(&env.ok(&["anomalies", "--format", "json"])).unwrap();
}

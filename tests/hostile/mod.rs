//! Hostile and broken input, as a new user's trials found it: each defect of issue 32 that
//! silently lost, doubled or leaked something, with the behaviour that replaces it. Every
//! expected value is computed here from the rows the test writes.

mod values;

use super::Env;
use polars::prelude::SerReader;
use serde_json::Value;

const HEADER: &str = "BilledCost,EffectiveCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ProviderName,ServiceName,ChargeCategory,ChargeDescription,ConsumedQuantity,ConsumedUnit,BillingAccountId,SubAccountId,Tags";

/// One FOCUS row of Bedrock input tokens: `cost` on `day` for billing account `account`,
/// tagged with `team`.
fn row(cost: &str, day: &str, account: &str, team: &str) -> String {
    let next = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map(|d| (d + chrono::Duration::days(1)).to_string())
        .unwrap_or_else(|_| day.to_string());
    let tags = format!("{{\"team\": {}}}", serde_json::to_string(team).unwrap());
    format!(
        "{cost},{cost},USD,{day} 00:00:00,{next} 00:00:00,AWS,Amazon Bedrock,Usage,Amazon Nova Pro input tokens,1000,Tokens,{account},111122223333,\"{}\"\n",
        tags.replace('"', "\"\"")
    )
}

fn write(env: &Env, name: &str, rows: &[String]) -> String {
    let path = env.path(name);
    std::fs::write(&path, format!("{HEADER}\n{}", rows.concat())).unwrap();
    path.to_str().unwrap().to_string()
}

fn total(report: &Value) -> f64 {
    report["totals"]["effective_cost"].as_f64().unwrap()
}

#[test]
fn accounts_whose_names_a_lossy_replacement_made_equal_keep_their_own_money() {
    let env = Env::new();
    let mut rows = vec![
        row("45.00", "2026-10-01", "acct/1", "a"),
        row("10.00", "2026-10-01", "acct_1", "b"),
    ];
    let days: Vec<String> = (1..=30).map(|d| format!("2026-10-{d:02}")).collect();
    for d in &days {
        rows.push(row("5.00", d, "Zürich", "c"));
        rows.push(row("6.00", d, "Zärich", "d"));
    }
    let expected = 45.0 + 10.0 + 30.0 * (5.0 + 6.0);
    let file = write(&env, "accounts.csv", &rows);
    env.ok(&["ingest", &file]);
    let report = env.report_json(&["--from", "2026-10-01", "--to", "2026-10-30"]);
    assert!(
        (total(&report) - expected).abs() < 0.005,
        "{} vs {expected}",
        total(&report)
    );
    // Re-ingested (each source's days replaced, not another's): the same.
    env.ok(&["ingest", &file]);
    let again = env.report_json(&["--from", "2026-10-01", "--to", "2026-10-30"]);
    assert!((total(&again) - expected).abs() < 0.005);
    // A source name too long for a file name still lands.
    let long = "x".repeat(300);
    let file = write(&env, "long.csv", &[row("7.00", "2026-10-31", &long, "e")]);
    env.ok(&["ingest", &file]);
    let report = env.report_json(&["--from", "2026-10-31", "--to", "2026-10-31"]);
    assert!((total(&report) - 7.0).abs() < 0.005);
}

#[test]
fn dates_outside_the_accepted_range_are_refused_naming_file_line_and_column() {
    let env = Env::new();
    for (bad, line) in [("9999-12-31", 3), ("1900-01-01", 3)] {
        let file = write(
            &env,
            "dates.csv",
            &[
                row("1.00", "2026-10-01", "acct", "a"),
                row("2.00", bad, "acct", "a"),
            ],
        );
        let err = env.fails(&["ingest", &file]);
        assert!(
            err.contains(&format!("line {line}, column `ChargePeriodStart`"))
                && err.contains(&format!("`{bad} 00:00:00` is outside the dates")),
            "{err}"
        );
        assert!(env.manifest().is_none(), "nothing stored: {err}");
    }
    // The range is the config's to widen.
    env.config("[ingest]\nearliest = 1899-01-01\n");
    let file = write(&env, "old.csv", &[row("2.00", "1900-01-01", "acct", "a")]);
    env.ok(&["ingest", &file]);
}

#[test]
fn amounts_a_sum_would_overflow_are_refused() {
    let env = Env::new();
    let file = write(
        &env,
        "huge.csv",
        &[
            row("1.00", "2026-10-01", "acct", "a"),
            row("1e308", "2026-10-02", "acct", "a"),
        ],
    );
    let err = env.fails(&["ingest", &file]);
    assert!(
        err.contains("line 3, column `BilledCost`") && err.contains("beyond the largest value"),
        "{err}"
    );
    assert!(env.manifest().is_none());
}

#[test]
fn a_header_naming_a_column_twice_is_refused_with_both_positions() {
    let env = Env::new();
    let path = env.path("twice.csv");
    let body = row("3.00", "2026-10-01", "acct", "a");
    std::fs::write(
        &path,
        format!("{HEADER},BilledCost\n{},99.00\n", body.trim_end()),
    )
    .unwrap();
    let err = env.fails(&["ingest", path.to_str().unwrap()]);
    assert!(
        err.contains("line 1, column `BilledCost`") && err.contains("columns 1 and 15"),
        "{err}"
    );
}

#[test]
fn csv_feeds_neutralise_formula_cells_and_parquet_keeps_the_value() {
    let env = Env::new();
    // Team values as attribution normalises them (lower case, trimmed).
    let teams = ["=hyperlink(\"http://x\")", "@sum(1)", "+cmd", "-2+3"];
    let rows: Vec<String> = teams
        .iter()
        .map(|t| row("1.00", "2026-10-01", "acct", t))
        .collect();
    let file = write(&env, "formulas.csv", &rows);
    env.ok(&["ingest", &file]);
    let feeds = env.path("feeds");
    env.ok(&[
        "publish",
        "--csv",
        feeds.to_str().unwrap(),
        "--parquet",
        feeds.to_str().unwrap(),
    ]);
    let cells = texts(
        polars::prelude::CsvReadOptions::default()
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(feeds.join("daily_cost.csv")))
            .unwrap(),
    );
    for t in teams {
        assert!(
            cells.contains(&format!("'{t}")),
            "{t} not neutralised in {cells:?}"
        );
    }
    // Parquet is data for programs: the values as they were.
    let stored = texts(polars::prelude::ParquetReader::new(
        std::fs::File::open(feeds.join("daily_cost.parquet")).unwrap(),
    ));
    for t in teams {
        assert!(stored.iter().any(|s| s == t), "{t} lost in {stored:?}");
    }
}

/// The `team` column of the table `reader` reads.
fn texts(reader: impl SerReader<std::fs::File>) -> Vec<String> {
    let df = reader.finish().unwrap();
    df.column("team")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect()
}

#[test]
fn terminal_escapes_never_reach_the_markdown_report_or_digest() {
    let env = Env::new();
    let team = "red\u{1b}[31mteam\u{1b}]0;pwned\u{7}";
    let file = write(
        &env,
        "escapes.csv",
        &[row("4.00", "2026-10-01", "acct", team)],
    );
    env.ok(&["ingest", &file]);
    let md = env.ok(&["report"]);
    assert!(!md.contains('\u{1b}') && !md.contains('\u{7}'), "{md:?}");
    // The printable rest of the value stays (Markdown-escaped).
    assert!(md.contains(r"red\[31mteam\]0;pwned"), "{md}");
    let out = env.path("out");
    let digest = env.ok(&["nightly", "--out", out.to_str().unwrap()]);
    assert!(!digest.contains('\u{1b}'), "{digest:?}");
    // The data keeps every byte.
    let json = env.report_json(&[]);
    assert!(
        json["by_team"].to_string().contains("\\u001b[31mteam"),
        "{json}"
    );
}

#[test]
fn secrets_never_appear_in_config_errors() {
    let env = Env::new();
    for (config, secret) in [
        // A syntax error on the line holding a secret.
        (
            "[nightly]\nperiod_days = 30\nwebhook_token = \"hunter2\n",
            "hunter2",
        ),
        (
            "[nightly]\npostgres_url = \"postgres://u:pa@ss@db.internal/db\n",
            "ss@",
        ),
        // A value of the wrong type, echoed by the parser.
        (
            "[nightly]\nperiod_days = \"postgres://u:pa@ss@db.internal/db\"\n",
            "ss@",
        ),
    ] {
        env.config(config);
        let err = env.fails(&["report"]);
        assert!(err.contains("invalid config"), "{err}");
        assert!(err.contains("line "), "where it is: {err}");
        assert!(!err.contains(secret), "{secret} shown: {err}");
    }
}

#[test]
fn a_utf16_file_is_named_as_utf16_with_how_to_convert_it() {
    let env = Env::new();
    let text = format!("{HEADER}\n{}", row("1.00", "2026-10-01", "acct", "a"));
    for (name, bom, bytes) in [
        (
            "le-bom.csv",
            true,
            text.encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<u8>>(),
        ),
        (
            "be.csv",
            false,
            text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        ),
    ] {
        let mut content = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
        content.extend(bytes);
        let path = env.path(name);
        std::fs::write(&path, content).unwrap();
        let err = env.fails(&["ingest", path.to_str().unwrap()]);
        let want = if bom { "UTF-16 LE" } else { "UTF-16 BE" };
        assert!(err.contains(want) && err.contains("iconv"), "{err}");
        assert!(env.manifest().is_none());
    }
}

#[test]
fn a_bad_value_after_a_quoted_line_break_is_named_by_its_line() {
    let env = Env::new();
    let multi = row("1.00", "2026-10-01", "acct", "a").replacen(
        "Amazon Nova Pro input tokens",
        "\"Amazon Nova Pro\ninput tokens\"",
        1,
    );
    // Header on line 1, the two-line record on lines 2-3, the bad date on line 4.
    let file = write(
        &env,
        "multiline.csv",
        &[multi, row("2.00", "2026-13-45", "acct", "a")],
    );
    let err = env.fails(&["ingest", &file]);
    assert!(err.contains("line 4, column `ChargePeriodStart`"), "{err}");
}

#[test]
fn a_misspelt_selector_value_gets_the_nearest_held_value() {
    let env = Env::new();
    let rows: Vec<String> = (1..=9)
        .flat_map(|d| {
            let day = format!("2026-10-{d:02}");
            [
                row("3.00", &day, "acct", "search"),
                row("2.00", &day, "acct", "ads"),
            ]
        })
        .collect();
    let file = write(&env, "teams.csv", &rows);
    env.ok(&["ingest", &file]);
    let err = env.fails(&["investigate", "--team", "serch"]);
    assert!(
        err.contains("nothing in the store matches")
            && err.contains("did you mean --where team=search?"),
        "{err}"
    );
    // Nothing near: no guess.
    let err = env.fails(&["investigate", "--team", "legal"]);
    assert!(!err.contains("did you mean"), "{err}");
}

#[test]
fn a_second_nightly_waits_for_the_first_then_names_its_pid() {
    let env = Env::new();
    let file = write(&env, "spend.csv", &[row("1.00", "2026-10-01", "acct", "a")]);
    env.ok(&["ingest", &file]);
    let out = env.path("out");
    let out = out.to_str().unwrap();
    // This test process holds the store's lock, as a first nightly still running would.
    env.config("[nightly]\nlock_wait_secs = 1\n");
    let store = spendlens::store::Store::new(env.data());
    let held = store.lock().unwrap();
    let err = env.fails(&["nightly", "--out", out]);
    assert!(
        err.contains(&format!(
            "locked by another spendlens process (pid {}), after waiting 1 s",
            std::process::id()
        )),
        "{err}"
    );
    // Released while the second waits: it goes ahead.
    env.config("[nightly]\nlock_wait_secs = 120\n");
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        drop(held);
    });
    env.ok(&["nightly", "--out", out]);
    release.join().unwrap();
}

#[test]
fn a_full_disk_at_the_commit_names_the_store_and_leaves_it_as_it_was() {
    let env = Env::new();
    let first = write(&env, "first.csv", &[row("5.00", "2026-10-01", "acct", "a")]);
    env.ok(&["ingest", &first]);
    let manifest = env.manifest().unwrap();
    // The manifest's next version lands on a device that is always full.
    let tmp = env.data().join("manifest.json.tmp");
    std::os::unix::fs::symlink("/dev/full", &tmp).unwrap();
    let second = write(
        &env,
        "second.csv",
        &[row("7.00", "2026-10-02", "acct", "b")],
    );
    let err = env.fails(&["ingest", &second]);
    assert!(
        err.contains("no space left on the device")
            && err.contains(&env.data().display().to_string()),
        "{err}"
    );
    assert_eq!(env.manifest().unwrap(), manifest, "the store is as it was");
    assert!(
        std::fs::symlink_metadata(&tmp).is_err(),
        "nothing left behind"
    );
    // Space again: the next run lands, and only its partitions count.
    env.ok(&["ingest", &second]);
    let report = env.report_json(&[]);
    assert!((total(&report) - 12.0).abs() < 0.005, "{}", total(&report));
}

/// A tmpfs of `kb` kilobytes mounted on a fresh directory, unmounted on drop; `None` where
/// this process may not mount one (then the test says so and checks nothing).
struct TinyDisk {
    dir: tempfile::TempDir,
}

impl TinyDisk {
    fn mount(kb: u32) -> Option<TinyDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kb}k"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(TinyDisk { dir })
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_disk_while_writing_partitions_is_said_plainly_and_nothing_stays() {
    let Some(disk) = TinyDisk::mount(192) else {
        eprintln!("cannot mount a tmpfs here: the full-disk test needs root (CI runs as root)");
        return;
    };
    let env = Env::new();
    let rows: Vec<String> = (0..300)
        .map(|d| {
            let day =
                chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Duration::days(d);
            row("1.00", &day.to_string(), "acct", "a")
        })
        .collect();
    let file = write(&env, "year.csv", &rows);
    let data = disk.dir.path().join("data");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spendlens"))
        .args(["--data-dir", data.to_str().unwrap(), "ingest", &file])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no space left on the device") && err.contains(&data.display().to_string()),
        "{err}"
    );
    assert!(!err.contains("thrift"), "{err}");
    // Nothing of the failed run stays on the disk: no partition, no temporary file.
    let left: Vec<_> = walk(&data)
        .into_iter()
        .filter(|p| !p.ends_with("spendlens.lock"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

//! The attributed daily rollups beside the raw store: a cache that must never change an
//! answer, must follow the rules and the raw data, and must make a new day cost one day.

use super::*;
use spendlens::store::{Store, Table};
use std::collections::BTreeSet;

struct Demo {
    env: Env,
}

impl Demo {
    fn new() -> Demo {
        let env = Env::new();
        demo(&env);
        Demo { env }
    }
    fn data(&self) -> PathBuf {
        self.env.path("demo/data")
    }
    /// `spendlens ARGS` on the demo's store and config: its output, which must be a success.
    fn ok(&self, args: &[&str]) -> String {
        let out = on_demo(&self.env, args);
        assert!(
            out.status.success(),
            "spendlens {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
    /// `report --format json` with `extra` arguments, as text.
    fn report_with(&self, extra: &[&str]) -> String {
        let mut args = vec!["report", "--format", "json"];
        args.extend_from_slice(extra);
        self.ok(&args)
    }
    fn report(&self) -> String {
        self.report_with(&[])
    }
    /// Days of the stored cost partitions.
    fn stored_days(&self) -> BTreeSet<chrono::NaiveDate> {
        Store::new(self.data())
            .manifest()
            .unwrap()
            .partitions
            .values()
            .filter(|p| p.table == Table::Cost)
            .map(|p| p.day)
            .collect()
    }
    /// Days that have a rollup.
    fn rollup_days(&self) -> BTreeSet<String> {
        self.rollups()
            .iter()
            .map(|n| n.split('.').next().unwrap().to_string())
            .collect()
    }
    /// Rollup file names.
    fn rollups(&self) -> BTreeSet<String> {
        std::fs::read_dir(self.data().join("rollup/cost"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A file of `dir` (the first it lists).
fn first_file(dir: &std::path::Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

fn total(report: &str) -> f64 {
    let v: Value = serde_json::from_str(report).unwrap();
    v["totals"]["effective_cost"].as_f64().unwrap()
}

#[test]
fn reports_from_rollups_equal_reports_from_the_raw_store() {
    let demo = Demo::new();
    let days: BTreeSet<String> = demo
        .stored_days()
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    // The demo's own report left one rollup per stored day.
    assert_eq!(demo.rollup_days(), days);

    let from_rollups = demo.report();
    std::fs::remove_dir_all(demo.data().join("rollup")).unwrap();
    // Every day labelled afresh: the rows come from memory, and the rollups are written.
    let from_raw = demo.report();
    assert_eq!(
        from_rollups, from_raw,
        "the splits, rules and totals must not change"
    );
    assert_eq!(demo.rollup_days(), days);

    // A damaged rollup is a cache miss, not a wrong or failed report: the first file a scan
    // opens, and one in the middle.
    let rollups: Vec<String> = demo.rollups().into_iter().collect();
    for victim in [&rollups[0], &rollups[rollups.len() / 2]] {
        let victim = demo.data().join("rollup/cost").join(victim);
        std::fs::write(&victim, b"not parquet").unwrap();
        assert_eq!(demo.report(), from_raw);
    }
}

/// Sum of `money` over `rows` by the string at `key`.
fn by_key(rows: &Value, key: &str, money: &str) -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    for r in rows.as_array().unwrap() {
        let k = r[key].as_str().unwrap_or("(none)").to_string();
        *out.entry(k).or_insert(0.0) += r[money].as_f64().unwrap();
    }
    out
}

#[test]
fn totals_read_from_the_stored_sums_match_the_rows_and_survive_damage() {
    let demo = Demo::new();
    // Without shared-cost splits the report's totals, breakdowns and series come from the
    // sums stored beside each rollup; the daily rows are still summed from the rows.
    let config = demo.env.path("demo/spendlens.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let cut = text.find("[[attribution.splits]]").unwrap();
    let rest = text[cut..].find("\n# Commitments").unwrap();
    std::fs::write(&config, format!("{}{}", &text[..cut], &text[cut + rest..])).unwrap();
    std::fs::remove_dir_all(demo.data().join("rollup")).unwrap();

    let first = demo.report_with(&["--daily-series", "0"]);
    let v: Value = serde_json::from_str(&first).unwrap();
    let daily = &v["daily"];
    let team_of_rows = by_key(daily, "team", "effective_cost");
    let team_of_sums = by_key(&v["by_team"], "team", "effective_cost");
    assert_eq!(
        team_of_rows.keys().collect::<Vec<_>>(),
        team_of_sums.keys().collect::<Vec<_>>()
    );
    for (team, cost) in &team_of_rows {
        assert!(
            close(team_of_sums[team], *cost, 0.01),
            "{team}: {} vs {cost}",
            team_of_sums[team]
        );
    }
    let providers = by_key(&v["by_provider"], "provider_name", "effective_cost");
    for (provider, cost) in by_key(daily, "provider_name", "effective_cost") {
        assert!(close(providers[&provider], cost, 0.01), "{provider}");
    }
    let all: f64 = team_of_rows.values().sum();
    assert!(
        close(total(&first), all, 0.01),
        "{} vs {all}",
        total(&first)
    );
    let t = &v["totals"];
    assert!(close(
        t["allocated_cost"].as_f64().unwrap() + t["unallocated_cost"].as_f64().unwrap(),
        total(&first),
        0.005
    ));

    // Read back from disk, rebuilt when a sums file is damaged or the sums are gone: the
    // same report, and the anomalies (whose series come from the sums) too.
    let anomalies = || demo.ok(&["anomalies", "--format", "json"]);
    let found = anomalies();
    assert!(
        found.contains("\"dimension\""),
        "the demo's spike is found: {found}"
    );
    assert_eq!(demo.report_with(&["--daily-series", "0"]), first);
    let sums_dir = demo.data().join("rollup/sums");
    let victim = first_file(&sums_dir);
    std::fs::write(&victim, b"not parquet").unwrap();
    assert_eq!(demo.report_with(&["--daily-series", "0"]), first);
    let rebuilt = LazyFrame::scan_parquet(
        PlRefPath::new(victim.to_string_lossy().as_ref()),
        ScanArgsParquet::default(),
    )
    .and_then(polars::prelude::LazyFrame::collect);
    assert!(
        rebuilt.is_ok_and(|df| df.height() > 0),
        "the damaged sums are rebuilt"
    );
    std::fs::remove_dir_all(&sums_dir).unwrap();
    assert_eq!(anomalies(), found);
    assert_eq!(demo.report_with(&["--daily-series", "0"]), first);

    // A rollup that is whole Parquet but whose dictionary of a coded column cannot be read
    // (a stray rewrite, another tool's copy) is rebuilt too, never read as codes without
    // their strings.
    let victim = first_file(&demo.data().join("rollup/cost"));
    let mut rows = ParquetReader::new(std::fs::File::open(&victim).unwrap())
        .finish()
        .unwrap();
    assert_eq!(
        rows.column("team").unwrap().dtype(),
        &DataType::UInt32,
        "a rollup holds its own codes"
    );
    ParquetWriter::new(std::fs::File::create(&victim).unwrap())
        .with_key_value_metadata(Some(KeyValueMetadata::from_static(vec![(
            "spendlens.dictionary.team".to_string(),
            "not json".to_string(),
        )])))
        .finish(&mut rows)
        .unwrap();
    assert_eq!(demo.report_with(&["--daily-series", "0"]), first);
    let metadata = ParquetReader::new(std::fs::File::open(&victim).unwrap())
        .get_metadata()
        .unwrap()
        .clone();
    let dictionary = metadata
        .key_value_metadata()
        .iter()
        .flatten()
        .find(|kv| kv.key == "spendlens.dictionary.team")
        .and_then(|kv| kv.value.clone())
        .unwrap_or_default();
    assert!(
        dictionary.starts_with('['),
        "the damaged rollup is rebuilt: {dictionary}"
    );

    // One that cannot be removed (a directory in its place) is an error naming it, with
    // what to do.
    std::fs::remove_file(&victim).unwrap();
    std::fs::create_dir(&victim).unwrap();
    let out = on_demo(&demo.env, &["report", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let name = victim.file_name().unwrap().to_string_lossy();
    assert!(err.contains(name.as_ref()), "{err}");
    assert!(err.contains("hint: rollups are a cache"), "{err}");
    std::fs::remove_dir(&victim).unwrap();
    assert_eq!(demo.report_with(&["--daily-series", "0"]), first);

    // One that opens (its dictionaries whole) but whose money column is another type than
    // the other days' cannot be put together with them: an error naming it, with what to do.
    let reader = || ParquetReader::new(std::fs::File::open(&victim).unwrap());
    let metadata: Vec<(String, String)> = reader()
        .get_metadata()
        .unwrap()
        .key_value_metadata()
        .iter()
        .flatten()
        .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
        .collect();
    let mut rows = reader().finish().unwrap();
    let money = rows
        .columns()
        .iter()
        .find(|c| c.dtype() == &DataType::Float64)
        .map(|c| c.name().clone())
        .expect("a rollup holds money");
    let as_text = rows
        .column(&money)
        .unwrap()
        .cast(&DataType::String)
        .unwrap();
    rows.with_column(as_text).unwrap();
    ParquetWriter::new(std::fs::File::create(&victim).unwrap())
        .with_key_value_metadata(Some(KeyValueMetadata::from_static(metadata)))
        .finish(&mut rows)
        .unwrap();
    let out = on_demo(&demo.env, &["report", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(name.as_ref()), "{err}");
    assert!(err.contains("hint: rollups are a cache"), "{err}");
    std::fs::remove_file(&victim).unwrap();
    assert_eq!(demo.report_with(&["--daily-series", "0"]), first);
}

#[test]
fn a_report_of_the_last_week_reads_only_the_days_it_compares() {
    let demo = Demo::new();
    let days = demo.stored_days();
    let last = *days.last().unwrap();
    let from = last - chrono::Duration::days(6);
    // The week, and before it as many days as it has (the previous period, for movers) plus
    // the baseline's history.
    let first_needed = from - chrono::Duration::days(7 + spendlens::analyse::HISTORY_DAYS);
    let needed: BTreeSet<String> = days
        .iter()
        .filter(|d| **d >= first_needed)
        .map(std::string::ToString::to_string)
        .collect();
    assert!(
        needed.len() < days.len(),
        "the demo's history is too short for this test"
    );
    // Budgets read their own periods (a fiscal quarter, and as many days before it): this
    // is about the report's own reads, so the demo's budgets are left out.
    let config = demo.env.path("demo/spendlens.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.split("[[budgets]]").next().unwrap()).unwrap();
    std::fs::remove_dir_all(demo.data().join("rollup")).unwrap();
    let week = demo.report_with(&["--from", &from.to_string()]);
    assert_eq!(
        demo.rollup_days(),
        needed,
        "days labelled for a report of the last week"
    );
    // And the week's numbers are those of a report that read everything.
    let v: Value = serde_json::from_str(&week).unwrap();
    assert_eq!(v["period"]["start"], from.to_string());
    let everything: Value = serde_json::from_str(&demo.report()).unwrap();
    let week_total: f64 = everything["daily"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["date"].as_str().unwrap() >= from.to_string().as_str())
        .map(|d| d["effective_cost"].as_f64().unwrap())
        .sum();
    assert!(
        close(total(&week), week_total, 0.05),
        "{} vs {week_total}",
        total(&week)
    );
}

#[test]
fn a_changed_day_relabels_that_day_and_a_changed_rule_relabels_all() {
    let demo = Demo::new();
    let before = demo.report();
    let rollups_before = demo.rollups();

    // Re-collect one day (its partition replaced with doubled costs): only that day's rollup
    // is rebuilt, and the report moves by exactly the added amount.
    let store = Store::new(demo.data());
    let entry = store
        .manifest()
        .unwrap()
        .partitions
        .values()
        // Not one of Azure's paired views: each counts only one of the money columns.
        .find(|p| p.table == Table::Cost && !p.source.starts_with("azure_export:"))
        .cloned()
        .unwrap();
    let part = LazyFrame::scan_parquet(
        PlRefPath::new(demo.data().join(&entry.file).to_string_lossy().as_ref()),
        ScanArgsParquet::default(),
    )
    .unwrap()
    .collect()
    .unwrap();
    let added = sum_where(&part, "effective_cost", None);
    let doubled = part
        .lazy()
        .with_columns([
            (col("effective_cost") * lit(2.0)).alias("effective_cost"),
            (col("billed_cost") * lit(2.0)).alias("billed_cost"),
        ])
        .collect()
        .unwrap();
    {
        let lock = store.lock().unwrap();
        store.replace(&lock, Table::Cost, &doubled, &[]).unwrap();
    }
    let after = demo.report();
    let rollups_after = demo.rollups();
    let changed: Vec<&String> = rollups_after.difference(&rollups_before).collect();
    let day = entry.day.to_string();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(changed[0].starts_with(&day), "{changed:?} is not {day}");
    assert_eq!(
        demo.rollups().len(),
        rollups_before.len(),
        "the old one is removed"
    );
    assert!(
        close(total(&after) - total(&before), added, 0.011),
        "{} -> {} (+{added})",
        total(&before),
        total(&after)
    );

    // A changed rule applies to every day at once: every rollup is rebuilt.
    let rollups_mid = demo.rollups();
    let config = demo.env.path("demo/spendlens.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let rule = "set = { team = \"legal\", feature = \"contract-review\" }";
    assert!(
        text.contains(rule),
        "the demo config changed: update this test"
    );
    std::fs::write(
        &config,
        text.replace(rule, &rule.replace("\"legal\"", "\"legal-ops\"")),
    )
    .unwrap();
    let renamed = demo.report();
    let v: Value = serde_json::from_str(&renamed).unwrap();
    let teams = teams(&v);
    assert!(
        teams.contains(&"legal-ops") && !teams.contains(&"legal"),
        "{teams:?}"
    );
    assert!(close(total(&renamed), total(&after), 0.005));
    let rebuilt = demo.rollups();
    assert_eq!(rebuilt.len(), rollups_mid.len());
    assert!(
        rebuilt.is_disjoint(&rollups_mid),
        "some day kept its old labels"
    );
}

#[test]
fn summing_in_slices_changes_no_answer() {
    let demo = Demo::new();
    let whole: Value = serde_json::from_str(&demo.report()).unwrap();
    // The demo's window is a few thousand rows: slices of 97 cut it (and its days) often.
    for slice in ["97", "1"] {
        let sliced: Value =
            serde_json::from_str(&demo.report_with(&["--slice-rows", slice])).unwrap();
        assert_eq!(whole["totals"], sliced["totals"]);
        for list in ["daily", "unit_costs"] {
            let (a, b) = (
                whole[list].as_array().unwrap(),
                sliced[list].as_array().unwrap(),
            );
            assert!(!a.is_empty(), "the demo has {list}");
            assert_eq!(a.len(), b.len(), "{list} rows with slices of {slice}");
            for (x, y) in a.iter().zip(b) {
                let (mx, my) = (x["effective_cost"].as_f64(), y["effective_cost"].as_f64());
                assert!(close(mx.unwrap(), my.unwrap(), 1e-5), "{list}: {x} vs {y}");
                let text = |v: &Value| {
                    let mut v = v.clone();
                    v.as_object_mut().unwrap().retain(|_, f| !f.is_f64());
                    v
                };
                assert_eq!(text(x), text(y), "{list} with slices of {slice}");
            }
        }
    }
    let refused = on_demo(&demo.env, &["report", "--slice-rows", "0"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--slice-rows"));
}

#[test]
fn daily_rows_fold_small_series_and_keep_every_total() {
    let demo = Demo::new();
    let report = |series: &str| -> Value {
        serde_json::from_str(&demo.report_with(&["--daily-series", series])).unwrap()
    };
    let all = report("0");
    let folded = report("3");
    let rows = |r: &Value| r["daily"].as_array().unwrap().clone();
    let series = |r: &Value, other: bool| -> BTreeSet<String> {
        rows(r)
            .iter()
            .filter(|d| (d["feature"] == "(other)") == other)
            .map(|d| {
                format!(
                    "{}|{}|{}|{}",
                    d["provider_name"], d["team"], d["feature"], d["model"]
                )
            })
            .collect()
    };
    assert!(
        series(&all, false).len() > 3,
        "the demo has more than 3 series"
    );
    assert!(series(&all, true).is_empty());
    assert_eq!(series(&folded, false).len(), 3);
    assert!(!series(&folded, true).is_empty());
    // Per day, team and provider nothing is lost or moved.
    let sums = |r: &Value| {
        let mut m: std::collections::BTreeMap<String, f64> = Default::default();
        for d in rows(r) {
            *m.entry(format!(
                "{}|{}|{}",
                d["date"], d["team"], d["provider_name"]
            ))
            .or_default() += d["effective_cost"].as_f64().unwrap();
        }
        m
    };
    let (a, b) = (sums(&all), sums(&folded));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, v) in &a {
        assert!(close(*v, b[k], 1e-4), "{k}: {v} vs {}", b[k]);
    }
    assert_eq!(all["totals"], folded["totals"]);
}

#[test]
fn a_rule_on_a_column_the_rollups_leave_out_still_labels_the_rows() {
    let demo = Demo::new();
    let before: Value = serde_json::from_str(&demo.report()).unwrap();
    assert!(
        teams(&before).contains(&"unallocated"),
        "the demo has unallocated spend: update this test"
    );
    // Rollups do not keep `service_name` (no analysis reads it), yet a rule on it must
    // see every row's value when the rows are labelled.
    let config = demo.env.path("demo/spendlens.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let splits = text.find("[[attribution.splits]]").unwrap();
    let rule = "[[attribution.rules]]\nname = \"bedrock\"\nmatch = { service_name = \"*bedrock*\" }\nset = { team = \"bedrock-ops\" }\n\n";
    std::fs::write(
        &config,
        format!("{}{rule}{}", &text[..splits], &text[splits..]),
    )
    .unwrap();
    let after: Value = serde_json::from_str(&demo.report()).unwrap();
    let (teams_before, teams_after) = (
        by_key(&before["by_team"], "team", "effective_cost"),
        by_key(&after["by_team"], "team", "effective_cost"),
    );
    // The rule labels untagged AWS spend (which then also draws a share of the shared
    // costs split by usage): the unallocated share shrinks, the total stays.
    let taken = teams_after.get("bedrock-ops").copied().unwrap_or(0.0);
    assert!(taken > 0.0, "{teams_after:?}");
    assert!(
        teams_after["unallocated"] < teams_before["unallocated"] - 1000.0,
        "{teams_before:?} -> {teams_after:?}"
    );
    assert!(close(
        total(&after.to_string()),
        total(&before.to_string()),
        0.005
    ));
    let rollup = demo.rollups().into_iter().next().unwrap();
    let columns = LazyFrame::scan_parquet(
        PlRefPath::new(
            demo.data()
                .join("rollup/cost")
                .join(rollup)
                .to_string_lossy()
                .as_ref(),
        ),
        ScanArgsParquet::default(),
    )
    .unwrap()
    .collect_schema()
    .unwrap();
    assert!(columns.get("service_name").is_none() && columns.get("tags").is_none());
    assert!(columns.get("team").is_some());
}

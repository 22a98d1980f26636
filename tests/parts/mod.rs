//! Large files are read in parts (bounded memory): what lands in the store, and what an error
//! says, must not depend on where a file was cut.

use super::*;
use spendlens::store::{Store, Table};

/// Small enough to cut the 755 KB FOCUS sample into about fifteen parts (Parquet: into
/// parts of this / 256 rows).
const SMALL_PART: usize = 50_000;

fn with_parts(part_bytes: usize) -> IngestOptions {
    IngestOptions {
        part_bytes,
        ..all_services()
    }
}

/// The store's cost rows as stored: partitions in order, each partition's rows in the order
/// of its file, money rounded to 1e-9 (sums of parts may differ from one sum in the last bits
/// of a float, never by a cent).
fn stored_in_order(dir: &Path) -> DataFrame {
    Store::new(dir)
        .scan(Table::Cost)
        .unwrap()
        .expect("rows stored")
        .with_columns(
            ["billed_cost", "effective_cost", "consumed_quantity"]
                .map(|c| (col(c) * lit(1e9)).round(0, RoundMode::HalfToEven).alias(c)),
        )
        .collect()
        .unwrap()
}

/// [`stored_in_order`] in a fixed order: what is stored, whatever the order.
fn stored(dir: &Path) -> DataFrame {
    let keys: Vec<&str> = schema::COST_COLUMNS
        .iter()
        .map(|c| c.name)
        .filter(|n| !matches!(*n, "billed_cost" | "effective_cost" | "consumed_quantity"))
        .collect();
    stored_in_order(dir)
        .sort(keys, SortMultipleOptions::default().with_nulls_last(true))
        .unwrap()
}

#[test]
fn a_file_read_in_parts_stores_exactly_what_one_read_stores() {
    let env = Env::new();
    let csv = shared("focus/focus-1.0_sample.csv");
    // The same export as Parquet (all columns strings, nulls as nulls).
    let parquet = env.path("focus.parquet");
    let mut df = CsvReadOptions::default()
        .with_infer_schema_length(Some(0))
        .map_parse_options(|o| {
            o.with_null_values(Some(NullValues::AllColumns(vec!["NULL".into()])))
        })
        .try_into_reader_with_file_path(Some(csv.clone()))
        .unwrap()
        .finish()
        .unwrap();
    ParquetWriter::new(std::fs::File::create(&parquet).unwrap())
        .finish(&mut df)
        .unwrap();
    for file in [&csv, &parquet] {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let (whole, parts) = same_store_whole_and_in_parts(&env, &name, std::slice::from_ref(file));
        assert_eq!(whole.parsed[0].rows_read, 1000, "{name}");
        assert_eq!(
            parts.parsed[0].rows_read, 1000,
            "{name}: every record read once"
        );
        assert_eq!(
            parts.parsed[0].rows_kept, whole.parsed[0].rows_kept,
            "{name}"
        );
    }
}

/// Ingest `files` in one run whole and cut into small parts (into two stores named after
/// `name`): the stores must hold the same rows in the same order, and the spill must be gone.
fn same_store_whole_and_in_parts(
    env: &Env,
    name: &str,
    files: &[PathBuf],
) -> (
    spendlens::store::IngestReport,
    spendlens::store::IngestReport,
) {
    let run = |dir: &Path, opts: &IngestOptions| {
        let store = Store::new(dir);
        let lock = store.lock().unwrap();
        let report = spendlens::store::ingest_files(&store, &lock, files, opts).unwrap();
        assert!(report.failed.is_empty(), "{name}: {:?}", report.failed);
        report
    };
    let whole_dir = env.path(&format!("whole-{name}"));
    let parts_dir = env.path(&format!("parts-{name}"));
    let whole = run(&whole_dir, &all_services());
    let parts = run(&parts_dir, &with_parts(SMALL_PART));
    assert_eq!(
        parts.written, whole.written,
        "{name}: same partitions and rows"
    );
    assert!(
        stored(&parts_dir).equals_missing(&stored(&whole_dir)),
        "{name}: the store differs when the file is read in parts"
    );
    // Each day's rows in the order of the file, days merged from parts too.
    assert!(
        stored_in_order(&parts_dir).equals_missing(&stored_in_order(&whole_dir)),
        "{name}: the order of a day's rows depends on where the file was cut"
    );
    // The spill is gone once the write is committed, and every file on disk is live.
    let leftovers: Vec<String> = std::fs::read_dir(&parts_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".ingest-spill"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(
        cost_files_on_disk(&parts_dir),
        parts.written.added,
        "{name}: a partition file left behind"
    );
    (whole, parts)
}

/// Parquet files under the store's cost directory.
fn cost_files_on_disk(dir: &Path) -> usize {
    fn walk(p: &Path) -> usize {
        std::fs::read_dir(p)
            .map(|d| {
                d.flatten()
                    .map(|e| match e.path() {
                        sub if sub.is_dir() => walk(&sub),
                        f if f.extension().is_some_and(|x| x == "parquet") => 1,
                        _ => 0,
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(&dir.join("cost"))
}

/// The FOCUS sample as strings (nulls as nulls), in day order.
fn sample_in_day_order() -> DataFrame {
    CsvReadOptions::default()
        .with_infer_schema_length(Some(0))
        .map_parse_options(|o| {
            o.with_null_values(Some(NullValues::AllColumns(vec!["NULL".into()])))
        })
        .try_into_reader_with_file_path(Some(shared("focus/focus-1.0_sample.csv")))
        .unwrap()
        .finish()
        .unwrap()
        .sort(
            ["ChargePeriodStart"],
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .unwrap()
}

fn write_parquet(path: &Path, df: &DataFrame) {
    ParquetWriter::new(std::fs::File::create(path).unwrap())
        .finish(&mut df.clone())
        .unwrap();
}

#[test]
fn an_export_in_day_order_is_stored_the_same_however_it_is_cut() {
    // Parts of an export in day order write their inner days straight to the store; rows of
    // such a day that turn up later (in a later part, or in another file of the run) must
    // still be merged with them, in file order.
    let env = Env::new();
    let sorted = sample_in_day_order();
    let in_order = env.path("in-order.parquet");
    write_parquet(&in_order, &sorted);
    same_store_whole_and_in_parts(&env, "in-order", std::slice::from_ref(&in_order));

    // The first 300 rows again at the end: their days were inside the first parts.
    let recurring = env.path("recurring.parquet");
    write_parquet(&recurring, &sorted.vstack(&sorted.head(Some(300))).unwrap());
    same_store_whole_and_in_parts(&env, "recurring", &[recurring]);

    // A second, small file of the same source with rows of days from the middle (of other
    // accounts: rows of one key from two files of a run are summed only where a file was
    // cut, which is another matter).
    let middle = env.path("middle.parquet");
    let other_accounts = sorted
        .slice(470, 30)
        .lazy()
        .with_column(concat_str([col("SubAccountId"), lit("-b")], "", true).alias("SubAccountId"))
        .collect()
        .unwrap();
    write_parquet(&middle, &other_accounts);
    same_store_whole_and_in_parts(&env, "two-files", &[in_order.clone(), middle]);

    // A bad value in the last part: nothing of the file is stored, not even the days its
    // earlier parts wrote.
    let mut bad = sorted.clone();
    let cost = bad.column("BilledCost").unwrap().str().unwrap().clone();
    let cost: StringChunked = cost
        .iter()
        .enumerate()
        .map(|(i, v)| if i == 950 { Some("not a number") } else { v })
        .collect();
    bad.with_column(cost.with_name("BilledCost".into()).into_column())
        .unwrap();
    let bad_file = env.path("bad.parquet");
    write_parquet(&bad_file, &bad);
    let dir = env.path("bad-store");
    let store = Store::new(&dir);
    let lock = store.lock().unwrap();
    let report =
        spendlens::store::ingest_files(&store, &lock, &[bad_file], &with_parts(SMALL_PART))
            .unwrap();
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    assert!(store.files(Table::Cost).unwrap().is_empty());
    assert_eq!(cost_files_on_disk(&dir), 0, "partition files left behind");
    assert!(!store.spill_dir().exists(), "spill files left behind");
}

#[test]
fn a_bad_value_in_a_late_part_names_the_same_line_as_a_whole_read() {
    let env = Env::new();
    let text = std::fs::read_to_string(shared("focus/focus-1.0_sample.csv")).unwrap();
    let last = text.trim_end().rsplit('\n').next().unwrap();
    let line = text.trim_end().matches('\n').count() + 1;
    for (bad, says) in [
        (
            ",\"XYZ1\",",
            "`XYZ1` is not a three-letter ISO 4217 currency code",
        ),
        (",\"EUR\",", "EUR"),
    ] {
        let edited = format!(
            "{}{}\n",
            &text.trim_end()[..text.trim_end().len() - last.len()],
            last.replacen(",\"USD\",", bad, 1)
        );
        let file = env.path("focus-edited.csv");
        std::fs::write(&file, edited).unwrap();
        let whole = ingest::parse_file(&file, &all_services())
            .unwrap_err()
            .to_string();
        let parts = ingest::parse_file(&file, &with_parts(SMALL_PART))
            .unwrap_err()
            .to_string();
        assert!(whole.contains(says), "{whole}");
        assert!(whole.contains(&format!("line {line}")), "{whole}");
        assert_eq!(
            parts, whole,
            "the message must not depend on where the file was cut"
        );
        // And nothing is stored from a file that fails, even after parts were spilled.
        let dir = env.path("store");
        let store = Store::new(&dir);
        let lock = store.lock().unwrap();
        let report = spendlens::store::ingest_files(
            &store,
            &lock,
            std::slice::from_ref(&file),
            &with_parts(SMALL_PART),
        )
        .unwrap();
        assert_eq!(report.failed.len(), 1);
        assert!(store.files(Table::Cost).unwrap().is_empty());
        assert!(!store.spill_dir().exists(), "spill files left behind");
    }
}

#[test]
fn parquet_money_typed_as_numbers_is_stored_as_its_text_would_be() {
    // A Parquet export types its costs and quantities as numbers; they are read as numbers
    // (not written out as text and parsed back) and must land exactly as the text does.
    let env = Env::new();
    let text = sample_in_day_order();
    let typed = text
        .clone()
        .lazy()
        .with_columns(
            ["BilledCost", "EffectiveCost", "ConsumedQuantity"]
                .map(|c| col(c).strict_cast(DataType::Float64)),
        )
        .collect()
        .unwrap();
    let ingest_whole = |name: &str, df: &DataFrame| {
        let file = env.path(&format!("{name}.parquet"));
        write_parquet(&file, df);
        let dir = env.path(&format!("store-{name}"));
        let store = Store::new(&dir);
        let lock = store.lock().unwrap();
        let report =
            spendlens::store::ingest_files(&store, &lock, &[file], &all_services()).unwrap();
        assert!(report.failed.is_empty(), "{name}: {:?}", report.failed);
        stored_in_order(&dir)
    };
    let from_text = ingest_whole("text", &text);
    assert!(from_text.height() > 0);
    assert!(
        ingest_whole("typed", &typed).equals_missing(&from_text),
        "numbers typed by the file are stored differently from the same numbers as text"
    );

    // A typed NaN is refused like the text `NaN`, naming its row, column and value.
    let mut bad = typed.clone();
    let cost: Float64Chunked = bad
        .column("EffectiveCost")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, v)| if i == 41 { Some(f64::NAN) } else { v })
        .collect();
    bad.with_column(cost.with_name("EffectiveCost".into()).into_column())
        .unwrap();
    let file = env.path("nan.parquet");
    write_parquet(&file, &bad);
    let err = ingest::parse_file(&file, &all_services())
        .unwrap_err()
        .to_string();
    for want in [
        "nan.parquet",
        "line 42,",
        "column `EffectiveCost`",
        "`NaN` is not a number",
    ] {
        assert!(err.contains(want), "`{want}` not in: {err}");
    }
}

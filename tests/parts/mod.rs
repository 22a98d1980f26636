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

fn ingest(dir: &Path, file: &Path, opts: &IngestOptions) -> ingest::IngestReport {
    let store = Store::new(dir);
    let lock = store.lock().unwrap();
    ingest::ingest_files(&store, &lock, &[file.to_path_buf()], opts).unwrap()
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
        let whole_dir = env.path(&format!("whole-{name}"));
        let parts_dir = env.path(&format!("parts-{name}"));
        let whole = ingest(&whole_dir, file, &all_services());
        let parts = ingest(&parts_dir, file, &with_parts(SMALL_PART));
        assert!(whole.failed.is_empty(), "{name}: {:?}", whole.failed);
        assert!(parts.failed.is_empty(), "{name}: {:?}", parts.failed);
        assert_eq!(whole.parsed[0].rows_read, 1000, "{name}");
        assert_eq!(
            parts.parsed[0].rows_read, 1000,
            "{name}: every record read once"
        );
        assert_eq!(
            parts.parsed[0].rows_kept, whole.parsed[0].rows_kept,
            "{name}"
        );
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
        // The spill is gone once the write is committed.
        let leftovers: Vec<String> = std::fs::read_dir(&parts_dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with(".ingest-spill"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
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
        let report = ingest::ingest_files(
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

//! Attributed daily rollups kept beside the raw cost partitions.
//!
//! Layout: `<data_dir>/rollup/cost/<day>.<key>.parquet`, one file per day holding that day's
//! CostRecords already attributed (team, feature, allocation, …; shared rows still marked
//! `split:<name>`, divided when read) without the columns no analysis reads (the raw `tags`
//! JSON, service name, source, …). `<key>` fingerprints what
//! the file was computed from: the day's raw partition files (their names carry the write
//! generation) and the attribution rules and profile tags. A rollup whose key no longer
//! matches is simply not used and is replaced when its day is next read, so a nightly run
//! with a year of history and one new day attributes one day.
//!
//! Dimension columns are stored as the file's own codes with their dictionary in the footer
//! (see `RollupFile`): written and read as plain integers, the strings looked up once per file.
//!
//! Rollups are a cache: they are written without the write lock (two processes computing the
//! same day write the same bytes, and the rename is atomic), and a rollup that cannot be read
//! is recomputed from the raw partitions, which stay the truth.

use super::{Store, StoreError, Table};
use chrono::NaiveDate;
use polars::prelude::*;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// Bump when the rollup's content changes meaning (its columns or how they are computed).
const ROLLUP_FORMAT: u32 = 4;

/// Prefix of the Parquet metadata key that holds a coded column's dictionary.
const DICTIONARY: &str = "spendlens.dictionary.";

/// A stable 64-bit FNV-1a hash (std's hasher may change between Rust releases).
pub(crate) fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(&[0xff]) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// One day of the cost table as a rollup sees it.
#[derive(Debug, Clone)]
pub(crate) struct CostDay {
    pub day: NaiveDate,
    /// Raw partition files of the day (absolute paths).
    pub files: Vec<PathBuf>,
    /// Rows in those files.
    pub rows: usize,
    /// The rollup file for this day under the attribution fingerprint it was asked with.
    pub rollup: PathBuf,
    /// The day's sums by dimension (computed from the rollup's rows, same key).
    pub sums: PathBuf,
    /// Azure sources whose two cost views this day's month holds (see [`super::views`]):
    /// their rows count billed cost from one view and effective cost from the other.
    pub paired_views: Vec<String>,
}

impl CostDay {
    /// Both the rollup and its sums are on disk.
    pub(crate) fn rolled_up(&self) -> bool {
        self.rollup.exists() && self.sums.exists()
    }
}

impl Store {
    /// The stored days of the cost table within `start..=end`, each with its raw files and the
    /// rollup file that matches `attribution` (a fingerprint of the rules that label rows).
    pub(crate) fn cost_days(
        &self,
        start: NaiveDate,
        end: NaiveDate,
        attribution: u64,
    ) -> Result<Vec<CostDay>, StoreError> {
        let manifest = self.manifest()?;
        let mut days: BTreeMap<NaiveDate, (Vec<&str>, usize)> = BTreeMap::new();
        for p in manifest.partitions.values() {
            if p.table == Table::Cost && p.day >= start && p.day <= end {
                let day = days.entry(p.day).or_default();
                day.0.push(&p.file);
                day.1 += p.rows;
            }
        }
        let format = ROLLUP_FORMAT.to_le_bytes();
        let fingerprint = attribution.to_le_bytes();
        let pairing = super::views::Pairing::of(&manifest);
        Ok(days
            .into_iter()
            .map(|(day, (mut files, rows))| {
                files.sort_unstable();
                // A day's rows count differently once its month's other view arrives.
                let paired_views = pairing.paired_on(day);
                let mut parts: Vec<&[u8]> = vec![&format, &fingerprint];
                parts.extend(files.iter().map(|f| f.as_bytes()));
                parts.extend(paired_views.iter().map(String::as_bytes));
                let key = fnv1a(&parts);
                CostDay {
                    day,
                    files: files.iter().map(|f| self.dir.join(f)).collect(),
                    rows,
                    rollup: self.rollup_dir().join(format!("{day}.{key:016x}.parquet")),
                    sums: self.sums_dir().join(format!("{day}.{key:016x}.parquet")),
                    paired_views,
                }
            })
            .collect())
    }

    fn rollup_dir(&self) -> PathBuf {
        self.dir.join("rollup").join(Table::Cost.name())
    }

    fn sums_dir(&self) -> PathBuf {
        self.dir.join("rollup").join("sums")
    }

    /// Write one day's rollup and its sums (temp file + rename each; the sums first, so a
    /// rollup on disk whose sums are not is only an interrupted write, rebuilt when read)
    /// and remove that day's outdated ones.
    pub(crate) fn write_rollup(
        &self,
        day: &CostDay,
        frame: &DataFrame,
        sums: &DataFrame,
    ) -> Result<(), StoreError> {
        // A cache, rebuilt when damaged: not compressed. Its dimensions are dictionary codes
        // already and its amounts barely compress, so compressing costs CPU for little disk
        // and reads are no faster. Read whole (its day is chosen by name), so no statistics
        // to compute.
        let none = StatisticsOptions {
            min_value: false,
            max_value: false,
            distinct_count: false,
            null_count: false,
            binary_statistics_truncate_length: None,
        };
        for (path, frame) in [(&day.sums, sums), (&day.rollup, frame)] {
            let (mut coded, dictionaries) =
                own_codes(frame).map_err(|cause| StoreError::Polars {
                    path: path.clone(),
                    cause,
                })?;
            let metadata = KeyValueMetadata::from_static(dictionaries);
            super::write_parquet(
                path,
                &mut coded,
                ParquetCompression::Uncompressed,
                none,
                Some(metadata),
            )?;
        }
        let prefix = format!("{}.", day.day);
        for (dir, current) in [
            (self.rollup_dir(), &day.rollup),
            (self.sums_dir(), &day.sums),
        ] {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let path = e.path();
                let name = e.file_name().to_string_lossy().to_string();
                if name.starts_with(&prefix) && name.ends_with(".parquet") && &path != current {
                    let _ = fs::remove_file(&path);
                }
            }
        }
        Ok(())
    }
}

/// `frame` with each Categorical column as the file's own codes (UInt32, numbered from 0 in
/// order of first appearance by [`crate::coded::code_numbers`], nulls kept) and each such
/// column's dictionary (a JSON array of its strings, code `i` the `i`th; `null` where the
/// column has nulls) under the metadata key `spendlens.dictionary.<column>`.
///
/// Polars writes a Categorical column by remapping every row's code through a set sized to
/// all of the process's categories, and reads one back by looking every row's string up in
/// them (a large share of the anomaly step's CPU); with its own codes a file is
/// written and read as plain integers, and its strings are looked up once per file and
/// value ([`RollupFile`]). The same rows give the same bytes in any process.
fn own_codes(frame: &DataFrame) -> PolarsResult<(DataFrame, Vec<(String, String)>)> {
    let mut out = frame.clone();
    let mut dictionaries = Vec::new();
    for (name, dtype) in frame.schema().iter() {
        let DataType::Categorical(_, mapping) = dtype else {
            continue;
        };
        let physical = frame.column(name)?.to_physical_repr();
        let codes = physical.u32()?;
        let (distinct, own) = crate::coded::code_numbers(codes);
        let strings = distinct
            .into_iter()
            .map(|code| {
                code.map(|code| {
                    mapping.cat_to_str(code).ok_or_else(|| {
                        polars_err!(ComputeError: "column `{name}` holds code {code}, not a category")
                    })
                })
                .transpose()
            })
            .collect::<PolarsResult<Vec<Option<&str>>>>()?;
        let own = own
            .cast(&DataType::UInt32)?
            .u32()?
            .clone()
            .with_name(name.clone())
            .with_validity(codes.rechunk_validity());
        out.with_column(own.into_column())?;
        let json = serde_json::to_string(&strings)
            .map_err(|e| polars_err!(ComputeError: "dictionary of `{name}`: {e}"))?;
        dictionaries.push((format!("{DICTIONARY}{name}"), json));
    }
    Ok((out, dictionaries))
}

/// A rollup (or sums) file written by [`Store::write_rollup`], opened: its footer read and
/// each coded column's dictionary looked up in the global categories (once per file and
/// value, not per row).
pub(crate) struct RollupFile {
    path: PathBuf,
    /// Per coded column, the global code of each of the file's own codes.
    tables: Vec<(String, Vec<u32>)>,
    /// The Categorical type those codes are of. Held, as it keeps the global categories
    /// alive: polars drops them (and their codes) once no dtype refers to them.
    dtype: DataType,
}

impl RollupFile {
    /// The file this reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn open(path: &Path) -> Result<RollupFile, StoreError> {
        let polars = |cause| StoreError::Polars {
            path: path.to_path_buf(),
            cause,
        };
        let file = File::open(path).map_err(super::io_err(path))?;
        let mut reader = ParquetReader::new(file);
        let metadata = reader.get_metadata().map_err(polars)?;
        let dtype = crate::schema::categorical();
        let DataType::Categorical(_, mapping) = &dtype else {
            unreachable!("categorical() is Categorical")
        };
        let mut tables = Vec::new();
        for kv in metadata.key_value_metadata().iter().flatten() {
            let Some(column) = kv.key.strip_prefix(DICTIONARY) else {
                continue;
            };
            let strings: Vec<Option<String>> =
                serde_json::from_str(kv.value.as_deref().unwrap_or("")).map_err(|e| {
                    polars(polars_err!(ComputeError: "dictionary of `{column}` unreadable: {e}"))
                })?;
            // The code of the rows that are null is never read: any code stands for it.
            let table = strings
                .iter()
                .map(|s| s.as_deref().map_or(Ok(0), |s| mapping.insert_cat(s)))
                .collect::<PolarsResult<Vec<u32>>>()
                .map_err(polars)?;
            tables.push((column.to_string(), table));
        }
        // Every dimension is written with its dictionary: one without (a file rewritten by
        // another tool) would be read as bare numbers.
        for field in metadata.schema_descr.fields() {
            let name = field.name();
            let coded = tables.iter().any(|(column, _)| column == name);
            if crate::schema::CATEGORICAL_COLUMNS.contains(&name) && !coded {
                return Err(polars(
                    polars_err!(ComputeError: "column `{name}` has no dictionary"),
                ));
            }
        }
        // The footer is read again when the rows are: kept for every day of a window, the
        // footers (dictionaries included) would hold memory for nothing.
        Ok(RollupFile {
            path: path.to_path_buf(),
            tables,
            dtype,
        })
    }

    /// The file's rows that `filter` keeps (all without one), with `columns` (all without
    /// them), coded columns as Categorical. Only the columns asked for or filtered on are
    /// decoded.
    pub fn read(
        &self,
        filter: Option<&Expr>,
        columns: Option<&[&str]>,
    ) -> Result<DataFrame, StoreError> {
        let polars = |cause| StoreError::Polars {
            path: self.path.clone(),
            cause,
        };
        let file = File::open(&self.path).map_err(super::io_err(&self.path))?;
        let read_columns = columns.map(|names| {
            let mut read: Vec<String> =
                names.iter().map(std::string::ToString::to_string).collect();
            let filtered = filter
                .into_iter()
                .flat_map(std::iter::IntoIterator::into_iter);
            for name in filtered.filter_map(|e| match e {
                Expr::Column(name) => Some(name),
                _ => None,
            }) {
                if !read.iter().any(|r| r == name.as_str()) {
                    read.push(name.to_string());
                }
            }
            read
        });
        let mut df = ParquetReader::new(file)
            .with_columns(read_columns)
            .read_parallel(ParallelStrategy::None)
            .finish()
            .map_err(polars)?;
        for (name, table) in &self.tables {
            let Some(index) = df.get_column_index(name) else {
                continue;
            };
            let codes = df.drop_in_place(name).map_err(polars)?;
            let decoded = translate(codes, table, &self.dtype)
                .map_err(|cause| polars(polars_err!(ComputeError: "column `{name}`: {cause}")))?;
            df.insert_column(index, decoded).map_err(polars)?;
        }
        if filter.is_none() && columns.is_none() {
            return Ok(df);
        }
        let read = df.height();
        let kept = picked(df.lazy(), filter, columns)
            .collect()
            .map_err(polars)?;
        if kept.height() * 2 > read {
            return Ok(kept);
        }
        // A filter that keeps one run of rows returns a slice of the file's decoded columns,
        // which would keep all of them alive (a few MB of sums holding a whole file's
        // columns). Copied out, they are freed now.
        let rows = IdxCa::from_vec("".into(), (0..kept.height() as IdxSize).collect());
        kept.take(&rows).map_err(polars)
    }
}

/// The rows of `rows` that `filter` keeps (all without one), with `columns` (all without
/// them).
pub(crate) fn picked(
    rows: LazyFrame,
    filter: Option<&Expr>,
    columns: Option<&[&str]>,
) -> LazyFrame {
    let rows = match filter {
        Some(f) => rows.filter(f.clone()),
        None => rows,
    };
    match columns {
        Some(names) => rows.select(names.iter().map(|n| col(*n)).collect::<Vec<_>>()),
        None => rows,
    }
}

/// A file's own codes as codes of the global categories (`table[own]`), nulls kept;
/// translated in place where the column's buffer is not shared.
#[allow(unsafe_code)]
fn translate(codes: Column, table: &[u32], dtype: &DataType) -> PolarsResult<Column> {
    let series = codes.take_materialized_series();
    let mut global = series.u32()?.clone();
    drop(series);
    if let Some(beyond) = global.max().filter(|&m| m as usize >= table.len()) {
        polars_bail!(ComputeError: "code {beyond} is beyond its dictionary of {}", table.len());
    }
    // A null row's code may be anything within the dictionary (or 0 with an empty one).
    global.apply_mut(|own| table.get(own as usize).copied().unwrap_or(0));
    // SAFETY: every code comes from `table`, filled by the categories of `dtype`.
    let ca = unsafe { Categorical32Chunked::from_cats_and_dtype_unchecked(global, dtype.clone()) };
    Ok(ca.into_series().into_column())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_codes_read_back_as_the_same_categories_filtered_and_projected() {
        // Two files coded on their own, nulls in both, one value shared, one file with a
        // column of nulls only: read back, each row's text is what was written.
        let frame = |teams: &[Option<&str>], model: &[Option<&str>], cost: &[f64]| {
            let df = df!("team" => teams, "model" => model, "effective_cost" => cost).unwrap();
            crate::schema::categoricals(df).unwrap()
        };
        let a = frame(
            &[Some("search"), None, Some("ads"), Some("search")],
            &[Some("m1"), Some("m2"), None, Some("m1")],
            &[1.0, 2.0, 3.0, 4.0],
        );
        let b = frame(&[Some("ads"), Some("chat")], &[None, None], &[5.0, 6.0]);
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let day = |n: u32, name: &str| CostDay {
            day: NaiveDate::from_ymd_opt(2026, 1, n).unwrap(),
            files: Vec::new(),
            rows: 0,
            rollup: dir.path().join(format!("{name}.parquet")),
            sums: dir.path().join(format!("{name}.sums.parquet")),
            paired_views: Vec::new(),
        };
        for (d, df) in [(day(1, "a"), &a), (day(2, "b"), &b)] {
            store.write_rollup(&d, df, df).unwrap();
            // On disk: plain integers numbered from 0, not the process's codes.
            let raw = ParquetReader::new(File::open(&d.rollup).unwrap())
                .finish()
                .unwrap();
            assert_eq!(raw.column("team").unwrap().dtype(), &DataType::UInt32);
            let max = raw.column("team").unwrap().u32().unwrap().max();
            assert!(max.is_none_or(|m| (m as usize) < df.height()));
            let back = RollupFile::open(&d.rollup)
                .unwrap()
                .read(None, None)
                .unwrap();
            assert!(back.column("team").unwrap().dtype().is_categorical());
            let text = crate::schema::without_categoricals;
            assert!(text(back)
                .unwrap()
                .equals_missing(&text(df.clone()).unwrap()));
        }
        let read = RollupFile::open(&day(1, "a").rollup)
            .unwrap()
            .read(
                Some(&col("team").eq(lit("search"))),
                Some(&["effective_cost", "model"]),
            )
            .unwrap();
        let expected = df!("effective_cost" => [1.0, 4.0], "model" => ["m1", "m1"]).unwrap();
        assert!(crate::schema::without_categoricals(read)
            .unwrap()
            .equals_missing(&expected));
        // A code beyond the file's dictionary is an error naming the file, not a wrong row.
        let path = dir.path().join("bad.parquet");
        let mut bad = df!("team" => [0u32, 7]).unwrap();
        ParquetWriter::new(File::create(&path).unwrap())
            .with_key_value_metadata(Some(KeyValueMetadata::from_static(vec![(
                format!("{DICTIONARY}team"),
                "[\"search\"]".to_string(),
            )])))
            .finish(&mut bad)
            .unwrap();
        let err = RollupFile::open(&path)
            .unwrap()
            .read(None, None)
            .unwrap_err();
        assert!(err.to_string().contains("bad.parquet"), "{err}");
        assert!(err.to_string().contains("beyond its dictionary"), "{err}");
        // A dimension stored without its dictionary does not open (it is then rebuilt).
        ParquetWriter::new(File::create(&path).unwrap())
            .finish(&mut bad)
            .unwrap();
        let err = RollupFile::open(&path)
            .err()
            .expect("no dictionary, no open");
        assert!(err.to_string().contains("has no dictionary"), "{err}");
    }
}

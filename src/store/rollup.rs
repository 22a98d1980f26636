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
//! Rollups are a cache: they are written without the write lock (two processes computing the
//! same day write the same bytes, and the rename is atomic), and a rollup that cannot be read
//! is recomputed from the raw partitions, which stay the truth.

use super::{Store, StoreError, Table};
use chrono::NaiveDate;
use polars::prelude::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

/// Bump when the rollup's content changes meaning (its columns or how they are computed).
const ROLLUP_FORMAT: u32 = 3;

/// A stable 64-bit FNV-1a hash (std's hasher may change between Rust releases).
pub fn fnv1a(parts: &[&[u8]]) -> u64 {
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
pub struct CostDay {
    pub day: NaiveDate,
    /// Raw partition files of the day (absolute paths).
    pub files: Vec<PathBuf>,
    /// Rows in those files.
    pub rows: usize,
    /// The rollup file for this day under the attribution fingerprint it was asked with.
    pub rollup: PathBuf,
    /// The day's sums by dimension (computed from the rollup's rows, same key).
    pub sums: PathBuf,
}

impl CostDay {
    /// Both the rollup and its sums are on disk.
    pub fn rolled_up(&self) -> bool {
        self.rollup.exists() && self.sums.exists()
    }
}

impl Store {
    /// The stored days of the cost table within `start..=end`, each with its raw files and the
    /// rollup file that matches `attribution` (a fingerprint of the rules that label rows).
    pub fn cost_days(
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
        Ok(days
            .into_iter()
            .map(|(day, (mut files, rows))| {
                files.sort_unstable();
                let mut parts: Vec<&[u8]> = vec![&format, &fingerprint];
                parts.extend(files.iter().map(|f| f.as_bytes()));
                let key = fnv1a(&parts);
                CostDay {
                    day,
                    files: files.iter().map(|f| self.dir.join(f)).collect(),
                    rows,
                    rollup: self.rollup_dir().join(format!("{day}.{key:016x}.parquet")),
                    sums: self.sums_dir().join(format!("{day}.{key:016x}.parquet")),
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
    pub fn write_rollup(
        &self,
        day: &CostDay,
        frame: &mut DataFrame,
        sums: &mut DataFrame,
    ) -> Result<(), StoreError> {
        // A cache, rebuilt when damaged: not compressed. Its dimensions are dictionary codes
        // already and its amounts barely compress; at 10M rows the files take 350 MB where
        // LZ4 took 302 MB, and the first report writes them 0.2-0.3 s sooner (compressing
        // them cost 0.3-0.4 s of CPU), with no slower reads. Read whole (its day is chosen
        // by name), so no statistics to compute.
        let none = StatisticsOptions {
            min_value: false,
            max_value: false,
            distinct_count: false,
            null_count: false,
            binary_statistics_truncate_length: None,
        };
        super::write_parquet(&day.sums, sums, ParquetCompression::Uncompressed, none)?;
        super::write_parquet(&day.rollup, frame, ParquetCompression::Uncompressed, none)?;
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

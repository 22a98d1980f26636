//! [`Spill`]: daily rows of large files' parts waiting to be merged into partitions, held in
//! memory while few and on disk (Parquet under the data directory) when many.

use crate::ingest::{daily::merge_rows, polars_err, IngestError};
use crate::schema;
use chrono::NaiveDate;
use polars::prelude::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Days per batch when partitions are written from the spill are chosen so a batch holds
/// about this many rows.
const SPILL_BATCH_ROWS: usize = 1_000_000;

/// At most this many rows of days held by several pieces are merged in one batch (the
/// merge groups by every column: several hundred bytes a row).
const SPILL_MERGE_ROWS: usize = 250_000;

/// Parts' daily rows are held in memory up to this many rows; beyond it they go to disk.
const SPILL_HOLD_ROWS: usize = 1_000_000;

/// Daily rows of large files' parts, waiting to be merged into partitions: held in memory
/// while they are few, on disk (Parquet under the data directory) when they are many.
pub(super) struct Spill {
    dir: PathBuf,
    held: Vec<(usize, DataFrame)>,
    held_rows: usize,
    files: Vec<(usize, PathBuf)>,
    /// Per day of the kept pieces: (rows, pieces holding that day). A day in one piece is
    /// written as it is; a day in several is merged first.
    days: std::collections::BTreeMap<NaiveDate, (usize, usize)>,
    /// Pieces of the file being read (kept or discarded when it ends).
    pending: Vec<(usize, Vec<(NaiveDate, usize)>)>,
    next: usize,
    /// Whether any piece was written at all (a file read in more than one part).
    pub(super) used: bool,
}

impl Spill {
    pub(super) fn new(dir: PathBuf) -> Spill {
        Spill {
            dir,
            held: Vec::new(),
            held_rows: 0,
            files: Vec::new(),
            days: Default::default(),
            pending: Vec::new(),
            next: 0,
            used: false,
        }
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IngestError {
        let path = path.to_path_buf();
        move |source| IngestError::Io {
            file: path,
            cause: source,
        }
    }

    /// Add a piece of daily rows (of `file`, for messages).
    pub(super) fn write(&mut self, frame: DataFrame, file: &Path) -> Result<(), IngestError> {
        self.add(frame, file, true)
    }

    /// [`Spill::write`], to disk at once unless `hold` (a slice of a part would keep the
    /// whole part's buffers alive while held).
    pub(super) fn add(
        &mut self,
        frame: DataFrame,
        file: &Path,
        hold: bool,
    ) -> Result<(), IngestError> {
        let perr = polars_err(file);
        let days = frame
            .clone()
            .lazy()
            .group_by([col("charge_period_start").cast(DataType::Date).alias("day")])
            .agg([len().cast(DataType::UInt64).alias("rows")])
            .collect()
            .map_err(&perr)?;
        let d = days
            .column("day")
            .map_err(&perr)?
            .date()
            .map_err(&perr)?
            .physical()
            .clone();
        let n = days
            .column("rows")
            .map_err(&perr)?
            .u64()
            .map_err(&perr)?
            .clone();
        let counts = d
            .iter()
            .zip(n.iter())
            .filter_map(|(d, n)| Some((schema::date_of_day_number(d?), n? as usize)))
            .collect();
        let id = self.next;
        self.next += 1;
        self.used = true;
        self.pending.push((id, counts));
        self.held_rows += frame.height();
        self.held.push((id, frame));
        if !hold || self.held_rows > SPILL_HOLD_ROWS {
            std::fs::create_dir_all(&self.dir).map_err(Self::io(&self.dir))?;
            for (id, mut frame) in std::mem::take(&mut self.held) {
                let path = self.dir.join(format!("{id}.parquet"));
                let file = std::fs::File::create(&path).map_err(Self::io(&path))?;
                let mut out = std::io::BufWriter::new(file);
                ParquetWriter::new(&mut out)
                    .with_compression(ParquetCompression::Lz4Raw)
                    .with_row_group_size(Some(64 * 1024))
                    .finish(&mut frame)
                    .map_err(&perr)?;
                std::io::Write::flush(&mut out).map_err(Self::io(&path))?;
                self.files.push((id, path));
            }
            self.held_rows = 0;
        }
        Ok(())
    }

    /// Add a piece of rows that belong to a file already kept.
    pub(super) fn write_kept(&mut self, frame: DataFrame, file: &Path) -> Result<(), IngestError> {
        self.write(frame, file)?;
        if let Some((_, counts)) = self.pending.pop() {
            for (d, n) in counts {
                let e = self.days.entry(d).or_default();
                e.0 += n;
                e.1 += 1;
            }
        }
        Ok(())
    }

    /// Whether some piece, kept or pending, holds rows of `day`.
    pub(super) fn holds(&self, day: NaiveDate) -> bool {
        self.days.contains_key(&day)
            || self
                .pending
                .iter()
                .any(|(_, counts)| counts.iter().any(|(d, _)| *d == day))
    }

    /// The file ended well: its pieces count towards the write.
    pub(super) fn keep(&mut self) {
        for (_, counts) in self.pending.drain(..) {
            for (d, n) in counts {
                let e = self.days.entry(d).or_default();
                e.0 += n;
                e.1 += 1;
            }
        }
    }

    /// The file failed: its pieces are dropped.
    pub(super) fn discard(&mut self) {
        let ids: BTreeSet<usize> = self.pending.drain(..).map(|(id, _)| id).collect();
        self.held.retain(|(id, f)| {
            let keep = !ids.contains(id);
            if !keep {
                self.held_rows -= f.height();
            }
            keep
        });
        self.files.retain(|(id, path)| {
            let keep = !ids.contains(id);
            if !keep {
                let _ = std::fs::remove_file(path);
            }
            keep
        });
    }

    /// Every kept row, lazily, in the order the pieces were written (the pieces on disk are
    /// older than those held).
    pub(super) fn rows(&self) -> PolarsResult<LazyFrame> {
        let mut parts: Vec<LazyFrame> = Vec::new();
        if !self.files.is_empty() {
            parts.push(LazyFrame::scan_parquet_files(
                self.files
                    .iter()
                    .map(|(_, p)| PlRefPath::new(p.to_string_lossy().as_ref()))
                    .collect(),
                ScanArgsParquet::default(),
            )?);
        }
        parts.extend(self.held.iter().map(|(_, f)| f.clone().lazy()));
        match parts.len() {
            0 => Ok(schema::empty_cost().lazy()),
            _ => concat(parts, UnionArgs::default()),
        }
    }

    /// Runs of consecutive stored days of about [`SPILL_BATCH_ROWS`] rows, each with the
    /// days in it that more than one piece holds.
    pub(super) fn day_batches(&self) -> Vec<(NaiveDate, NaiveDate, Vec<NaiveDate>)> {
        let mut out: Vec<(NaiveDate, NaiveDate, Vec<NaiveDate>)> = Vec::new();
        let (mut rows, mut merged) = (0, 0);
        for (&day, &(n, pieces)) in &self.days {
            let m = if pieces > 1 { n } else { 0 };
            match out.last_mut() {
                Some((_, last, _))
                    if rows + n <= SPILL_BATCH_ROWS && merged + m <= SPILL_MERGE_ROWS =>
                {
                    *last = day;
                    rows += n;
                    merged += m;
                }
                _ => {
                    out.push((day, day, Vec::new()));
                    (rows, merged) = (n, m);
                }
            }
            if pieces > 1 {
                out.last_mut().expect("just pushed").2.push(day);
            }
        }
        out
    }

    /// The partitions' rows of one batch: days held by several pieces merged, the others
    /// as they are.
    pub(super) fn batch(
        &self,
        all: &LazyFrame,
        (first, last, split): &(NaiveDate, NaiveDate, Vec<NaiveDate>),
    ) -> PolarsResult<DataFrame> {
        let _t = crate::timing::phase("ingest: merge a batch of days");
        let rows = all.clone().filter(schema::between(*first, *last));
        let days_in_batch = self.days.range(first..=last).count();
        if split.is_empty() {
            return rows.collect();
        }
        if split.len() == days_in_batch {
            return merge_rows(rows.collect()?);
        }
        let day = col("charge_period_start")
            .cast(DataType::Date)
            .cast(DataType::Int32);
        let in_split = split.iter().fold(lit(false), |acc, d| {
            acc.or(day.clone().eq(lit(schema::day_number(*d))))
        });
        concat(
            [
                merge_rows(rows.clone().filter(in_split.clone()).collect()?)?.lazy(),
                rows.filter(in_split.not()),
            ],
            UnionArgs::default(),
        )?
        .collect()
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

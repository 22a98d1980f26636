//! Ingest into the store: export files parsed part by part ([`crate::ingest`]) and their
//! daily rows committed in one atomic store write, with memory bounded by a part.

use super::ledger::ReadTotal;
use super::spill::Spill;
use super::{BatchWriter, Store, StoreLock, Table, WriteSummary};
use crate::ingest::{polars_err, IngestError, IngestOptions, Parsed};
use crate::schema;
use chrono::NaiveDate;
use polars::prelude::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Outcome of ingesting several files.
#[derive(Debug)]
pub struct IngestReport {
    pub parsed: Vec<Parsed>,
    pub failed: Vec<IngestError>,
    pub written: WriteSummary,
    /// Per source, stored days of the months this ingest covered that it did not cover (a
    /// newer month-to-date export that dropped them): kept as they were, and named.
    pub not_covered: Vec<(String, Vec<NaiveDate>)>,
}

/// Ingest `files` into the store. Files that fail to parse are reported and write nothing;
/// the rest are written in one atomic store commit. Files of the same source in one run are
/// combined (an export split into parts); across runs a (source, day) partition is replaced.
///
/// Memory stays bounded on large files: a file larger than one part is parsed part by part;
/// the days inside a part in day order are written to the store at once (`Direct`), the
/// other daily rows spilled to Parquet files under the data directory, and their partitions
/// written from the spill a few days at a time. One manifest commit makes all of it live.
pub fn ingest_files(
    store: &Store,
    lock: &StoreLock,
    files: &[PathBuf],
    opts: &IngestOptions,
) -> Result<IngestReport, IngestError> {
    let mut parsed = Vec::new();
    let mut failed = Vec::new();
    let mut spill = Spill::new(store.spill_dir());
    let no_final = BTreeSet::new();
    let mut direct = Direct {
        store,
        lock,
        final_days: &no_final,
        writer: None,
        pending: Vec::new(),
    };
    for f in files {
        let mut whole: Option<Parsed> = None;
        let result = read_while_writing(f, opts, &mut |p| {
            match whole.as_mut() {
                None => whole = Some(p),
                Some(w) => {
                    // A second part: from here on this file's rows go to the store or the
                    // spill as each part is read.
                    let mut p = p;
                    for frame in [&mut w.frame, &mut p.frame] {
                        if frame.height() > 0 {
                            let frame = std::mem::replace(frame, schema::empty_cost());
                            direct.route(frame, f, &mut spill)?;
                        }
                    }
                    w.absorb(p);
                }
            }
            Ok(())
        });
        match result {
            Ok(()) => {
                spill.keep();
                direct.pending.clear();
                parsed.extend(whole);
            }
            Err(e) => {
                spill.discard();
                direct.discard()?;
                failed.push(e);
            }
        }
    }
    let mut covered: Vec<(String, NaiveDate)> =
        parsed.iter().flat_map(|p| p.covered.clone()).collect();
    covered.sort();
    covered.dedup();
    let combined_err = |source| IngestError::Polars {
        file: PathBuf::from("(combined)"),
        cause: source,
    };
    let read: Vec<ReadTotal> = parsed.iter().flat_map(|p| p.read.clone()).collect();
    let not_covered = stored_days_not_covered(store, &covered)?;
    let _t = crate::timing::phase("ingest: merge and write partitions");
    let written = if parsed.is_empty() {
        WriteSummary::default()
    } else if !spill.used && direct.writer.is_none() {
        let frames: Vec<LazyFrame> = parsed.iter().map(|p| p.frame.clone().lazy()).collect();
        let combined = concat(frames, UnionArgs::default())
            .and_then(polars::prelude::LazyFrame::collect)
            .map_err(combined_err)?;
        let no_final = BTreeSet::new();
        store.replace_marking(lock, Table::Cost, &combined, &covered, (&no_final, &read))?
    } else {
        // The small files' rows join the spill, so every day is written from one place.
        for p in parsed.iter_mut().filter(|p| p.frame.height() > 0) {
            let frame = std::mem::replace(&mut p.frame, schema::empty_cost());
            direct.spill(frame, &p.file, &mut spill)?;
            spill.keep();
        }
        let mut writer = direct.into_writer()?;
        let all = spill.rows().map_err(combined_err)?;
        for batch in spill.day_batches() {
            writer.write(&spill.batch(&all, &batch).map_err(combined_err)?)?;
        }
        writer.record(&read);
        writer.commit(&covered)?
    };
    Ok(IngestReport {
        parsed,
        failed,
        written,
        not_covered,
    })
}

/// Per source of `covered`, the stored days in the months `covered` has days of that it does
/// not cover: a month-to-date export replaces the days it covers, and the ones it no
/// longer has are kept and named rather than silently deleted.
fn stored_days_not_covered(
    store: &Store,
    covered: &[(String, NaiveDate)],
) -> Result<Vec<(String, Vec<NaiveDate>)>, IngestError> {
    use chrono::Datelike;
    let month = |d: NaiveDate| (d.year(), d.month());
    let mut months: std::collections::BTreeMap<&str, BTreeSet<(i32, u32)>> = Default::default();
    for (source, day) in covered {
        months
            .entry(source.as_str())
            .or_default()
            .insert(month(*day));
    }
    let covered: BTreeSet<(&str, NaiveDate)> =
        covered.iter().map(|(s, d)| (s.as_str(), *d)).collect();
    let mut out: std::collections::BTreeMap<String, Vec<NaiveDate>> = Default::default();
    for p in store.manifest()?.partitions.values() {
        let in_month = months
            .get(p.source.as_str())
            .is_some_and(|m| m.contains(&month(p.day)));
        if p.table == Table::Cost && in_month && !covered.contains(&(p.source.as_str(), p.day)) {
            out.entry(p.source.clone()).or_default().push(p.day);
        }
    }
    Ok(out.into_iter().collect())
}

/// [`crate::ingest::parse_parts`] with each part handed to `each` on this thread while the next part is
/// parsed on another: writing a part (Parquet encoding, mostly one core's work) overlaps
/// reading and checking the next. At most one parsed part waits. The first error wins: a
/// part's error stops the reading after the parts before it were handed over; an error of
/// `each` stops the reading at the next part.
fn read_while_writing(
    file: &Path,
    opts: &IngestOptions,
    each: &mut dyn FnMut(Parsed) -> Result<(), IngestError>,
) -> Result<(), IngestError> {
    std::thread::scope(|scope| {
        let (parts, parsed) = std::sync::mpsc::sync_channel::<Parsed>(1);
        let reader = scope.spawn(move || {
            crate::ingest::parse_parts(file, opts, &mut |p| {
                // Sending fails only once `each` failed; its error is the one reported.
                parts.send(p).map_err(|_| IngestError::Io {
                    file: file.to_path_buf(),
                    cause: std::io::Error::other("stopped: writing failed"),
                })
            })
        });
        let written = parsed.iter().try_for_each(&mut *each);
        drop(parsed);
        let read = reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        written.and(read)
    })
}

/// Partitions written straight to the store as a large file's parts are read: the days
/// inside a part whose rows are in day order (an export sorted by day, the usual case), which
/// no other part can hold. Such a day is encoded once instead of spilled, read back and
/// encoded again; the first and last day of a part, which neighbouring parts may continue,
/// go through the spill. A day written here that a later part holds after all (a file not
/// in day order) is taken back into the spill, so every day is still written whole.
struct Direct<'a> {
    store: &'a Store,
    lock: &'a StoreLock,
    final_days: &'a BTreeSet<(String, NaiveDate)>,
    /// Opened at the first partition written.
    writer: Option<BatchWriter<'a>>,
    /// Partitions written from the file being read (taken back if it fails).
    pending: Vec<(String, NaiveDate)>,
}

impl<'a> Direct<'a> {
    /// The run's store write, opened on first use.
    fn writer(&mut self) -> Result<&mut BatchWriter<'a>, IngestError> {
        if self.writer.is_none() {
            self.writer = Some(self.store.writer(self.lock, Table::Cost, self.final_days)?);
        }
        Ok(self.writer.as_mut().expect("just opened"))
    }

    /// The run's store write, to finish and commit.
    fn into_writer(mut self) -> Result<BatchWriter<'a>, IngestError> {
        self.writer()?;
        Ok(self.writer.take().expect("just opened"))
    }

    /// Send one part's daily rows to the store or the spill (see [`Direct`]).
    fn route(
        &mut self,
        frame: DataFrame,
        file: &Path,
        spill: &mut Spill,
    ) -> Result<(), IngestError> {
        let perr = polars_err(file);
        let days: Vec<i32> = frame
            .column("charge_period_start")
            .and_then(|c| c.cast(&DataType::Date))
            .and_then(|c| c.cast(&DataType::Int32))
            .and_then(|c| Ok(c.i32()?.into_no_null_iter().collect()))
            .map_err(&perr)?;
        self.reclaim(&frame, file, spill)?;
        // The days strictly between the part's first and last, when its rows are in day
        // order and no earlier part left rows of them in the spill.
        let (start, end) = match (days.first(), days.last()) {
            (Some(first), Some(last)) if days.is_sorted() => (
                days.partition_point(|d| d <= first),
                days.partition_point(|d| d < last),
            ),
            _ => (0, 0),
        };
        let mut inner: Vec<i32> = days.get(start..end).unwrap_or_default().to_vec();
        inner.dedup();
        if inner.is_empty()
            || inner
                .iter()
                .any(|d| spill.holds(schema::date_of_day_number(*d)))
        {
            return spill.write(frame, file);
        }
        let sources = frame
            .column("source")
            .and_then(|c| c.str())
            .map_err(&perr)?;
        let written: PlHashSet<(&str, i32)> = sources
            .iter()
            .zip(&days)
            .skip(start)
            .take(end - start)
            .map(|(source, day)| (source.unwrap_or_default(), *day))
            .collect();
        let written: Vec<(String, NaiveDate)> = written
            .into_iter()
            .map(|(source, day)| (source.to_string(), schema::date_of_day_number(day)))
            .collect();
        let _t = crate::timing::phase("ingest: write a part's inner days");
        // Counted before the write: a write that fails part way leaves some written, and
        // the failed file must take those back too.
        self.pending.extend(written);
        self.writer()?
            .write(&frame.slice(start as i64, end - start))?;
        // Slices: held, they would keep the whole part's buffers alive.
        spill.add(frame.slice(0, start), file, false)?;
        spill.add(frame.slice(end as i64, frame.height() - end), file, false)
    }

    /// Rows for the spill: their days this run already wrote are taken back first.
    fn spill(
        &mut self,
        frame: DataFrame,
        file: &Path,
        spill: &mut Spill,
    ) -> Result<(), IngestError> {
        self.reclaim(&frame, file, spill)?;
        spill.write(frame, file)
    }

    /// Take back into the spill every partition this run wrote that `frame` has rows of,
    /// so those rows are merged with these (ahead of them: they were read first).
    fn reclaim(
        &mut self,
        frame: &DataFrame,
        file: &Path,
        spill: &mut Spill,
    ) -> Result<(), IngestError> {
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        let perr = polars_err(file);
        let keys = frame
            .clone()
            .lazy()
            .select([
                col("source"),
                col("charge_period_start").cast(DataType::Date).alias("day"),
            ])
            .unique_stable(None, UniqueKeepStrategy::First)
            .collect()
            .map_err(&perr)?;
        let sources = keys.column("source").and_then(|c| c.str()).map_err(&perr)?;
        let days = keys.column("day").and_then(|c| c.date()).map_err(&perr)?;
        for (source, day) in sources.iter().zip(days.physical().iter()) {
            let (Some(source), Some(day)) = (source, day) else {
                continue;
            };
            let day = schema::date_of_day_number(day);
            if !writer.holds(source, day) {
                continue;
            }
            let rows = writer.take_back(source, day)?;
            let key = (source.to_string(), day);
            match self.pending.iter().position(|k| *k == key) {
                // Written from the file being read: its rows stay that file's.
                Some(i) => {
                    self.pending.remove(i);
                    spill.write(rows, file)?;
                }
                None => spill.write_kept(rows, file)?,
            }
        }
        Ok(())
    }

    /// The file being read failed: what it wrote is taken back and dropped.
    fn discard(&mut self) -> Result<(), IngestError> {
        for (source, day) in self.pending.drain(..) {
            if let Some(writer) = self.writer.as_mut().filter(|w| w.holds(&source, day)) {
                writer.take_back(&source, day)?;
            }
        }
        Ok(())
    }
}

//! The cost lake: Parquet files under a data directory, partitioned by source and day.
//!
//! Layout:
//! ```text
//! <data_dir>/spendlens.lock                 exclusive lock held by the one writing process
//! <data_dir>/manifest.json                  the live partitions; replaced atomically
//! <data_dir>/<table>/<source>/<day>.<generation>.parquet
//! ```
//! The manifest is the commit point. A write puts every new partition file in place under a
//! fresh generation number, then swaps in a new manifest (temp file, fsync, rename), then
//! deletes the files it superseded. Readers only read files the manifest lists, so they see
//! the store either wholly before or wholly after a write, never half of one; a crash leaves
//! at worst unlisted files, which the next write removes. Replacing a partition (same table,
//! source and day) is how re-ingesting a file or re-collecting a day avoids double counting.

pub mod acks;
pub mod announced;
mod batch_writer;
mod ingest_write;
pub mod ledger;
mod partitions;
pub mod rollup;
mod spill;
pub mod views;

pub use batch_writer::BatchWriter;
pub use ingest_write::{ingest_files, IngestReport};
use partitions::split_partitions;

use chrono::NaiveDate;
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const MANIFEST: &str = "manifest.json";
const LOCK: &str = "spendlens.lock";
const SPILL_PREFIX: &str = ".ingest-spill-";
const MANIFEST_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store `{dir}` is locked by another spendlens process{holder}\nhint: wait for it to finish; the lock is released as soon as that process exits")]
    Locked { dir: PathBuf, holder: String },
    #[error("store `{path}`: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("store `{path}`: no space left on the device\nhint: free space on the disk holding the store (or point --data-dir elsewhere) and run again; nothing was committed, the store is as it was")]
    Full { path: PathBuf },
    #[error("store manifest `{path}` is unreadable: {message}\nhint: the store was written by an incompatible version or damaged by hand")]
    Manifest { path: PathBuf, message: String },
    #[error("store `{path}`: {cause}")]
    Polars { path: PathBuf, cause: PolarsError },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| match source.kind() {
        std::io::ErrorKind::StorageFull => StoreError::Full {
            path: path.to_path_buf(),
        },
        _ => StoreError::Io {
            path: path.to_path_buf(),
            cause: source,
        },
    }
}

/// The two tables of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Table {
    Cost,
    Usage,
    /// Snapshots of cloud resources that carry attribution tags (Bedrock inference profiles).
    Profiles,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Cost => "cost",
            Table::Usage => "usage",
            Table::Profiles => "profiles",
        }
    }
}

/// One partition: a table, a source, a day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct PartitionKey {
    pub table: Table,
    pub source: String,
    pub day: NaiveDate,
}

impl PartitionKey {
    fn id(&self) -> String {
        format!("{}/{}/{}", self.table.name(), self.source, self.day)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartitionEntry {
    pub table: Table,
    pub source: String,
    pub day: NaiveDate,
    /// Path relative to the data directory.
    pub file: String,
    pub rows: usize,
    /// The source said this day's numbers will not change (e.g. Cost Explorer no longer
    /// marks it estimated): collectors need not ask for it again.
    #[serde(default, rename = "final")]
    pub is_final: bool,
    /// A cost partition's money by billing period and currency, as written (none in
    /// partitions written before spendlens recorded them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sums: Vec<ledger::StoredSum>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub generation: u64,
    /// Keyed by `<table>/<source>/<day>`.
    pub partitions: BTreeMap<String, PartitionEntry>,
    /// The last collection run of each source (collectors and `nightly` exports), so a report
    /// can say which source is stale and since when.
    #[serde(default)]
    pub runs: BTreeMap<String, RunRecord>,
    /// Cost sources' own totals as read, keyed like their partitions by `<source>/<day>`
    /// and replaced with them (see [`ledger`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ledger: BTreeMap<String, Vec<ledger::ReadTotal>>,
    /// Verdicts on incidents, by incident id (see [`acks`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub acks: BTreeMap<String, acks::Ack>,
    /// Budget threshold crossings the nightly digest announced (see [`announced`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub announced: Vec<announced::Announcement>,
}

/// A source as a report shows it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SourceStatus {
    pub source: String,
    /// `cost`, `usage` or `profiles` (empty for a source that never stored anything).
    pub table: &'static str,
    pub first_day: Option<NaiveDate>,
    pub last_day: Option<NaiveDate>,
    /// Days stored.
    pub days: usize,
    pub last_attempt: Option<String>,
    pub last_success: Option<String>,
    pub error: Option<String>,
    pub stale: bool,
    /// The last success (a time), the first missing day, or `never collected`.
    pub stale_since: Option<String>,
}

/// How the last runs of one source went. Times are RFC 3339 UTC.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    pub last_attempt: String,
    pub last_success: Option<String>,
    /// The last attempt's error, when it failed (messages carry no credentials).
    pub error: Option<String>,
}

/// A handle on a data directory. Reading needs no lock; writing needs a [`StoreLock`].
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// Proof that this process holds the store's write lock. Released on drop or process exit
/// (including SIGKILL: it is an OS file lock, so a dead writer never leaves a stale lock).
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Store {
        Store { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Take the exclusive write lock, waiting up to `wait` for another process to release it
    /// (checked five times a second); then fails naming the holder's pid and the wait.
    pub fn lock_within(&self, wait: std::time::Duration) -> Result<StoreLock, StoreError> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            match self.lock() {
                Err(StoreError::Locked { dir, holder }) => {
                    if std::time::Instant::now() >= deadline {
                        return Err(StoreError::Locked {
                            dir,
                            holder: format!("{holder}, after waiting {} s", wait.as_secs()),
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                other => return other,
            }
        }
    }

    /// Take the exclusive write lock without waiting; fails naming the holder's pid.
    pub fn lock(&self) -> Result<StoreLock, StoreError> {
        fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let path = self.dir.join(LOCK);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                return Err(StoreError::Locked {
                    dir: self.dir.clone(),
                    holder: if pid.is_empty() {
                        String::new()
                    } else {
                        format!(" (pid {pid})")
                    },
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&path)(e)),
        }
        file.set_len(0).map_err(io_err(&path))?;
        write!(file, "{}", std::process::id()).map_err(io_err(&path))?;
        Ok(StoreLock { _file: file })
    }

    /// The live manifest (empty when the store has never been written).
    pub fn manifest(&self) -> Result<Manifest, StoreError> {
        let path = self.dir.join(MANIFEST);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Manifest {
                    version: MANIFEST_VERSION,
                    ..Manifest::default()
                })
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| StoreError::Manifest {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if manifest.version != MANIFEST_VERSION {
            return Err(StoreError::Manifest {
                path,
                message: format!("version {} (expected {MANIFEST_VERSION})", manifest.version),
            });
        }
        Ok(manifest)
    }

    /// Files of `table`, in partition order.
    pub fn files(&self, table: Table) -> Result<Vec<PathBuf>, StoreError> {
        Ok(self
            .manifest()?
            .partitions
            .values()
            .filter(|p| p.table == table)
            .map(|p| self.dir.join(&p.file))
            .collect())
    }

    /// Days of `source` in `table` whose stored numbers are final.
    pub(crate) fn final_days(
        &self,
        table: Table,
        source: &str,
    ) -> Result<std::collections::BTreeSet<NaiveDate>, StoreError> {
        Ok(self
            .manifest()?
            .partitions
            .values()
            .filter(|p| p.table == table && p.source == source && p.is_final)
            .map(|p| p.day)
            .collect())
    }

    /// A lazy scan over every live partition of `table`, or `None` when it has none.
    pub fn scan(&self, table: Table) -> Result<Option<LazyFrame>, StoreError> {
        let files = self.files(table)?;
        if files.is_empty() {
            return Ok(None);
        }
        let paths: Vec<PlRefPath> = files
            .iter()
            .map(|p| PlRefPath::new(p.to_string_lossy().as_ref()))
            .collect();
        let lf = LazyFrame::scan_parquet_files(paths.into_iter().collect(), scan_args(table))
            .map_err(|source| StoreError::Polars {
                path: self.dir.clone(),
                cause: source,
            })?;
        Ok(Some(lf))
    }

    /// Atomically replace partitions of `table`: for every (source, day) present in `frame`
    /// (its `source` column and the UTC day of `charge_period_start`), the stored partition is
    /// replaced by exactly these rows; `also_clear` lists (source, day) partitions to empty
    /// even if `frame` has no rows for them. All or nothing: on error the store is unchanged.
    pub fn replace(
        &self,
        lock: &StoreLock,
        table: Table,
        frame: &DataFrame,
        also_clear: &[(String, NaiveDate)],
    ) -> Result<WriteSummary, StoreError> {
        self.replace_marking(lock, table, frame, also_clear, (&Default::default(), &[]))
    }

    /// [`Store::replace`], marking the (source, day) partitions in `final_days` as final and
    /// recording the source's totals as read (`read`, see [`ledger`]) in the same commit.
    pub(crate) fn replace_marking(
        &self,
        lock: &StoreLock,
        table: Table,
        frame: &DataFrame,
        also_clear: &[(String, NaiveDate)],
        (final_days, read): (
            &std::collections::BTreeSet<(String, NaiveDate)>,
            &[ledger::ReadTotal],
        ),
    ) -> Result<WriteSummary, StoreError> {
        let mut writer = self.writer(lock, table, final_days)?;
        writer.write(frame)?;
        writer.record(read);
        writer.commit(also_clear)
    }

    /// A replace whose partitions are written as their rows arrive and made live together by
    /// [`BatchWriter::commit`]; dropped without a commit, it leaves the store as it was.
    pub fn writer<'a>(
        &'a self,
        _lock: &'a StoreLock,
        table: Table,
        final_days: &'a std::collections::BTreeSet<(String, NaiveDate)>,
    ) -> Result<BatchWriter<'a>, StoreError> {
        let manifest = self.manifest()?;
        Ok(BatchWriter {
            store: self,
            table,
            final_days,
            generation: manifest.generation + 1,
            before: manifest.partitions.clone(),
            manifest,
            written: Vec::new(),
            summary: WriteSummary::default(),
            committed: false,
            recorded: std::collections::BTreeSet::new(),
        })
    }

    /// Write the partition files of one batch of a replace under `generation` (in parallel:
    /// encoding and compressing a year of day files is most of a large write) and enter
    /// them in `manifest`.
    fn write_partitions(
        &self,
        manifest: &mut Manifest,
        summary: &mut WriteSummary,
        written: &mut Vec<PathBuf>,
        (table, generation, final_days): (
            Table,
            u64,
            &std::collections::BTreeSet<(String, NaiveDate)>,
        ),
        parts: Vec<(String, NaiveDate, DataFrame)>,
    ) -> Result<(), StoreError> {
        let rel = |source: &str, day: NaiveDate| {
            format!(
                "{}/{}/{}.{generation}.parquet",
                table.name(),
                partitions::source_dir(source),
                day
            )
        };
        let _t = crate::timing::phase("store: write partition files");
        let results = crate::parallel::on_all_cores(&parts, |(source, day, part)| {
            let path = self.dir.join(rel(source, *day));
            write_parquet(
                &path,
                &mut part.clone(),
                ParquetCompression::Zstd(None),
                StatisticsOptions::default(),
                None,
            )?;
            match table {
                Table::Cost => {
                    ledger::stored_sums(part).map_err(|cause| StoreError::Polars { path, cause })
                }
                _ => Ok(Vec::new()),
            }
        });
        let mut first_error = None;
        for ((source, day, part), result) in parts.into_iter().zip(results) {
            let sums = match result {
                Ok(sums) => sums,
                Err(e) => {
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            let rel = rel(&source, day);
            written.push(self.dir.join(&rel));
            let key = PartitionKey {
                table,
                source: source.clone(),
                day,
            };
            if manifest.partitions.contains_key(&key.id()) {
                summary.replaced += 1;
            } else {
                summary.added += 1;
            }
            summary.rows += part.height();
            manifest.partitions.insert(
                key.id(),
                PartitionEntry {
                    is_final: final_days.contains(&(source.clone(), day)),
                    table,
                    source,
                    day,
                    file: rel,
                    rows: part.height(),
                    sums,
                },
            );
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Every source in the store: its days, its last run, and whether it is stale as of
    /// `as_of` (its last run failed, or its cost / usage data ends more than
    /// `stale_after_days` before `as_of`).
    pub(crate) fn source_status(
        &self,
        as_of: NaiveDate,
        stale_after_days: u32,
    ) -> Result<Vec<SourceStatus>, StoreError> {
        let manifest = self.manifest()?;
        let mut out: BTreeMap<String, SourceStatus> = BTreeMap::new();
        for p in manifest.partitions.values() {
            let e = out.entry(p.source.clone()).or_insert_with(|| SourceStatus {
                source: p.source.clone(),
                table: p.table.name(),
                first_day: Some(p.day),
                last_day: Some(p.day),
                days: 0,
                ..SourceStatus::default()
            });
            e.first_day = e.first_day.min(Some(p.day));
            e.last_day = e.last_day.max(Some(p.day));
            e.days += 1;
        }
        for (source, run) in &manifest.runs {
            let e = out.entry(source.clone()).or_insert_with(|| SourceStatus {
                source: source.clone(),
                table: "",
                ..SourceStatus::default()
            });
            e.last_attempt = Some(run.last_attempt.clone());
            e.last_success = run.last_success.clone();
            e.error = run.error.clone();
        }
        for s in out.values_mut() {
            if s.error.is_some() {
                s.stale = true;
                s.stale_since = Some(
                    s.last_success
                        .clone()
                        .unwrap_or_else(|| "never collected".to_string()),
                );
            } else if let Some(last) = s.last_day.filter(|_| s.table != Table::Profiles.name()) {
                if (as_of - last).num_days() > i64::from(stale_after_days) {
                    s.stale = true;
                    s.stale_since = last.succ_opt().map(|d| d.to_string());
                }
            }
        }
        Ok(out.into_values().collect())
    }

    /// Record how sources' runs went at `at` (RFC 3339): `(source, error)`, in one atomic
    /// manifest commit. A failure keeps the time of the last success, which is when the
    /// source went stale.
    pub(crate) fn record_runs(
        &self,
        _lock: &StoreLock,
        at: &str,
        runs: &[(&str, Option<String>)],
    ) -> Result<(), StoreError> {
        let mut manifest = self.manifest()?;
        for (source, error) in runs {
            let record = manifest.runs.entry(source.to_string()).or_default();
            record.last_attempt = at.to_string();
            if error.is_none() {
                record.last_success = Some(at.to_string());
            }
            record.error = error.clone();
        }
        manifest.version = MANIFEST_VERSION;
        self.commit_manifest(&manifest)
    }

    fn commit_manifest(&self, manifest: &Manifest) -> Result<(), StoreError> {
        let path = self.dir.join(MANIFEST);
        let tmp = self.dir.join(format!("{MANIFEST}.tmp"));
        let text = serde_json::to_string_pretty(manifest).expect("manifest serialises");
        let written = File::create(&tmp).and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        });
        if let Err(e) = written.and_then(|()| fs::rename(&tmp, &path)) {
            // The old manifest stands; leave nothing of the new one behind.
            let _ = fs::remove_file(&tmp);
            return Err(io_err(&tmp)(e));
        }
        sync_dir(&self.dir);
        Ok(())
    }

    /// Delete partition files the manifest no longer lists (superseded, or left by a crash).
    fn collect_garbage(&self, manifest: &Manifest) {
        let live: std::collections::HashSet<PathBuf> = manifest
            .partitions
            .values()
            .map(|p| self.dir.join(&p.file))
            .collect();
        for table in [Table::Cost, Table::Usage, Table::Profiles] {
            let root = self.dir.join(table.name());
            let Ok(sources) = fs::read_dir(&root) else {
                continue;
            };
            for source in sources.flatten() {
                let Ok(files) = fs::read_dir(source.path()) else {
                    continue;
                };
                for f in files.flatten() {
                    let path = f.path();
                    if !live.contains(&path) {
                        let _ = fs::remove_file(&path);
                    }
                }
                let _ = fs::remove_dir(source.path()); // only succeeds when empty
            }
        }
        // Rollups of days the cost table no longer holds (stale ones of held days are
        // replaced when their day is next read).
        let cost_days: std::collections::HashSet<String> = manifest
            .partitions
            .values()
            .filter(|p| p.table == Table::Cost)
            .map(|p| p.day.to_string())
            .collect();
        if let Ok(entries) = fs::read_dir(self.dir.join("rollup").join(Table::Cost.name())) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                let day = name.split('.').next().unwrap_or_default();
                if !cost_days.contains(day) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        // Spill files of an ingest that died (the lock holder's own are read by now).
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(SPILL_PREFIX) {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
    }

    /// A fresh directory for this process' ingest spill files (see [`ingest_files`]).
    pub fn spill_dir(&self) -> PathBuf {
        self.dir
            .join(format!("{SPILL_PREFIX}{}", std::process::id()))
    }
}

/// How partitions of `table` are scanned: cost partitions against today's CostRecord
/// schema, a column added since a partition was written (`billing_period_start`) read as null.
pub(crate) fn scan_args(table: Table) -> ScanArgsParquet {
    match table {
        Table::Cost => ScanArgsParquet {
            schema: Some(std::sync::Arc::new(crate::schema::cost_schema())),
            allow_missing_columns: true,
            ..ScanArgsParquet::default()
        },
        _ => ScanArgsParquet::default(),
    }
}

/// What a write did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteSummary {
    pub added: usize,
    pub replaced: usize,
    pub cleared: usize,
    pub rows: usize,
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Write a Parquet file whole or not at all (a temp file of this process, then a rename; the
/// temp file is removed on failure). Not yet durable: [`make_durable`] flushes every file of a
/// write at once before the manifest names them.
/// A failed Parquet write as a store error: the device being full (which the writer reports
/// as a transport error of its encoder) said plainly, anything else as it came.
fn polars_write_err(path: &Path, cause: PolarsError) -> StoreError {
    let text = cause.to_string();
    if text.contains("os error 28") || text.contains("No space left on device") {
        StoreError::Full {
            path: path.to_path_buf(),
        }
    } else {
        StoreError::Polars {
            path: path.to_path_buf(),
            cause,
        }
    }
}

fn write_parquet(
    path: &Path,
    df: &mut DataFrame,
    compression: ParquetCompression,
    statistics: StatisticsOptions,
    metadata: Option<KeyValueMetadata>,
) -> Result<(), StoreError> {
    let parent = path.parent().expect("store files live in a directory");
    fs::create_dir_all(parent).map_err(io_err(parent))?;
    let tmp = path.with_extension(format!("parquet.{}.tmp", std::process::id()));
    let written = (|| {
        // Buffered: the Parquet writer writes its footer field by field, a system call each.
        let mut out = std::io::BufWriter::new(File::create(&tmp).map_err(io_err(&tmp))?);
        ParquetWriter::new(&mut out)
            .with_compression(compression)
            .with_statistics(statistics)
            .with_key_value_metadata(metadata)
            .finish(df)
            .map_err(|source| polars_write_err(&tmp, source))?;
        std::io::Write::flush(&mut out).map_err(io_err(&tmp))?;
        drop(out);
        fs::rename(&tmp, path).map_err(io_err(path))
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// Make `files` (and their directory entries) durable before a manifest names them. On
/// Linux one `syncfs` of the store's file system does it (a year of day partitions costs
/// one flush, not two fsyncs each); elsewhere, or if that fails, each file and directory is
/// synced.
#[allow(unsafe_code)]
fn make_durable(dir: &Path, files: &[PathBuf]) -> Result<(), StoreError> {
    if files.is_empty() {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let Ok(d) = File::open(dir) {
            // SAFETY: a plain syscall on a descriptor we own for the duration of the call.
            if unsafe { libc::syncfs(d.as_raw_fd()) } == 0 {
                return Ok(());
            }
        }
    }
    let mut dirs = std::collections::BTreeSet::new();
    for f in files {
        File::open(f)
            .and_then(|h| h.sync_all())
            .map_err(io_err(f))?;
        if let Some(parent) = f.parent() {
            dirs.insert(parent.to_path_buf());
        }
    }
    for d in dirs {
        sync_dir(&d);
    }
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of (source, day, line) -> the partitions split_partitions makes, with each one's
    /// lines in order.
    fn split(rows: &[(&str, i64, i64)]) -> Vec<(String, NaiveDate, Vec<i64>)> {
        let day_us = 86_400_000_000i64;
        let frame = df!(
            "source" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            "charge_period_start" => rows.iter().map(|r| r.1 * day_us).collect::<Vec<_>>(),
            "line" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        )
        .unwrap()
        .lazy()
        .with_column(col("charge_period_start").cast(crate::schema::timestamp()))
        .collect()
        .unwrap();
        split_partitions(&frame)
            .unwrap()
            .into_iter()
            .map(|(source, day, part)| {
                let lines = part.column("line").unwrap().i64().unwrap();
                (source, day, lines.into_no_null_iter().collect())
            })
            .collect()
    }

    #[test]
    fn partitions_keep_their_rows_in_order_whether_or_not_the_frame_is_sorted() {
        let day = |n: i64| crate::schema::date_of_day_number(n as i32);
        let want = vec![
            ("a".to_string(), day(10), vec![3, 4]),
            ("a".to_string(), day(11), vec![1, 2]),
            ("b".to_string(), day(10), vec![5, 6]),
        ];
        // Each partition in one run, runs out of order (a batch's merged days first).
        let clustered = [
            ("a", 11, 1),
            ("a", 11, 2),
            ("b", 10, 5),
            ("b", 10, 6),
            ("a", 10, 3),
            ("a", 10, 4),
        ];
        assert_eq!(split(&clustered), want);
        // A partition in two runs: sorted, each partition's rows staying in their order.
        let interleaved = [
            ("a", 11, 1),
            ("b", 10, 5),
            ("a", 10, 3),
            ("a", 11, 2),
            ("b", 10, 6),
            ("a", 10, 4),
        ];
        assert_eq!(split(&interleaved), want);
        assert!(split(&[]).is_empty());
    }
}

//! Analysis over the attributed cost lake: the attributed window of days every analysis
//! reads (`load_window_where`), sums by dimension, anomalies and their explanations,
//! investigation and advice.

pub mod advise;
pub mod anomalies;
pub mod budgets;
mod dimension;
pub mod investigate;
pub mod reconcile;
pub mod sums;

pub use dimension::Dimension;

use crate::attribute::Attributor;
use crate::store::rollup::CostDay;
use crate::store::{Store, Table};
use chrono::{Duration, NaiveDate};
use polars::prelude::*;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, thiserror::Error)]
pub enum AnalyseError {
    #[error("the store `{0}` holds no cost data yet\nhint: run `spendlens ingest FILE...` (or `spendlens demo`) first")]
    Empty(String),
    #[error("the store holds costs in several currencies ({0}) for this period\nhint: pass --currency with one of them; spendlens never adds up different currencies")]
    MixedCurrencies(String),
    #[error("no costs in currency `{wanted}` for this period (found: {found})")]
    NoSuchCurrency { wanted: String, found: String },
    #[error("--from {from} is after --to {to}")]
    BadPeriod { from: NaiveDate, to: NaiveDate },
    #[error("nothing in the store matches {0}\nhint: check the values with `spendlens report --format json` (by_team, by_model, …)")]
    NoMatch(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{cause}\nhint: rollups are a cache of the raw partitions: remove `{dir}` (or let spendlens write there) and the next command rebuilds them")]
    DamagedRollup {
        dir: String,
        cause: crate::store::StoreError,
    },
    #[error(transparent)]
    Attribute(#[from] crate::attribute::AttributeError),
    #[error("analysis query failed: {0}")]
    Polars(#[from] PolarsError),
}

pub use crate::schema::between;

/// `frame` summed a slice at a time: `pick` (a filter and the columns wanted) applied to
/// every slice of [`set_slice_rows`] rows, the picked rows grouped by `keys` with `values`
/// summed ([`crate::coded::sum_by`]), and the slices' sums summed again. Only one slice's
/// picked rows and codes are held at a time, where a group-by over the whole window holds
/// keys for every row at once.
pub(crate) fn sliced_sums(
    frame: &DataFrame,
    pick: impl Fn(LazyFrame) -> LazyFrame,
    keys: &[&str],
    values: &[&str],
) -> PolarsResult<DataFrame> {
    let sum = |df: &DataFrame| -> PolarsResult<DataFrame> {
        let codes = crate::coded::code_named(df, keys.iter().copied())?;
        crate::coded::sum_by(df, keys, &codes, values)
    };
    let rows = SLICE_ROWS.load(std::sync::atomic::Ordering::Relaxed);
    let mut partial = Vec::new();
    let mut offset = 0;
    while offset < frame.height() || partial.is_empty() {
        partial.push(sum(&pick(frame.slice(offset as i64, rows).lazy()).collect()?)?.lazy());
        offset += rows;
    }
    sum(&concat(partial, UnionArgs::default())?.collect()?)
}

/// Rows per slice of [`sliced_sums`] unless [`set_slice_rows`] says otherwise.
pub(crate) const DEFAULT_SLICE_ROWS: usize = 1 << 20;

static SLICE_ROWS: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(DEFAULT_SLICE_ROWS);

/// Rows per slice of [`sliced_sums`] for this process (`--slice-rows`): fewer rows, less memory
/// per group-by, more group-bys. Any size gives the same answers.
pub(crate) fn set_slice_rows(rows: usize) {
    SLICE_ROWS.store(rows.max(1), std::sync::atomic::Ordering::Relaxed);
}

/// Rows whose `__day` (a day number) is one of `days`.
pub(crate) fn on_days(days: impl IntoIterator<Item = i32>) -> Expr {
    days.into_iter()
        .fold(lit(false), |acc, d| acc.or(col("__day").eq(lit(d))))
}

/// Attributed cost rows of one currency for a span of days, read from the store.
pub struct CostWindow {
    /// Attributed CostRecords of `currency` from `load_start` to `end`.
    pub frame: DataFrame,
    /// The frame's sums by dimension as stored, when they are exactly the frame's (see
    /// [`CostWindow::sums`]).
    stored_sums: Option<DataFrame>,
    pub currency: String,
    /// The period asked for (defaults: the store's first and last day).
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// First and last stored day loaded (history included), `None` when none was.
    pub loaded: Option<(NaiveDate, NaiveDate)>,
}

/// Attributed UsageRecords from `start` to `end`, or `None` when the store has none.
pub(crate) fn load_usage(
    store: &Store,
    attributor: &Attributor,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<Option<DataFrame>, AnalyseError> {
    let Some(usage) = store.scan(Table::Usage)? else {
        return Ok(None);
    };
    let df = attributor.apply_usage(usage.filter(between(start, end)))?;
    Ok((df.height() > 0).then_some(df))
}

/// `now` against `before` as a ratio (0.25 = +25%), or `None` ("new") when `before` is
/// nothing or next to nothing (under 1% of `now`): +3,174,503% says less than "new".
pub(crate) fn change_ratio(now: f64, before: f64) -> Option<f64> {
    (before > 0.0 && before * 100.0 >= now.abs())
        .then(|| ((now - before) / before * 1e4).round() / 1e4)
}

/// Days of history loaded before a period so its first days have a baseline.
pub const HISTORY_DAYS: i64 = 35;

/// First and last day of the store's costs, `None` when it holds none.
pub(crate) fn bounds(store: &Store) -> Result<Option<(NaiveDate, NaiveDate)>, AnalyseError> {
    let days = store.cost_days(NaiveDate::MIN, NaiveDate::MAX, 0)?;
    Ok(days.first().zip(days.last()).map(|(a, b)| (a.day, b.day)))
}

/// The largest window read from rollups whose freed memory is kept until the command ends
/// ([`crate::memory::keep_freed`]): below it the memory kept is small against the page
/// faults saved; above it, it is not.
const KEEP_FREED_ROWS: usize = 20_000_000;

/// Raw rows labelled in one pass when rollups are (re)built (whole days, at least one):
/// bounds memory however long the history and however large a day.
const ROLLUP_BATCH_ROWS: usize = 1_000_000;

/// Labelled cost rows of some days and their [`sums`].
struct Labelled {
    rows: Parts,
    sums: Parts,
}

/// Frames labelled in this run and rollup files still to be read, in that order.
#[derive(Default)]
struct Parts {
    kept: Vec<DataFrame>,
    files: Vec<crate::store::rollup::RollupFile>,
}

impl Parts {
    /// The rows `filter` keeps (all without one) with `columns` (all without them): each
    /// rollup file read, decoded and filtered on its own (on all cores), so memory follows
    /// what is kept.
    fn read(
        &self,
        filter: Option<&Expr>,
        columns: Option<&[&str]>,
    ) -> Result<DataFrame, AnalyseError> {
        if columns.is_some_and(<[&str]>::is_empty) {
            // As polars selects no columns: nothing, and no file read.
            return Ok(DataFrame::empty());
        }
        let kept = crate::parallel::on_all_cores(&self.kept, |df| {
            crate::store::rollup::picked(df.clone().lazy(), filter, columns).collect()
        });
        let read = crate::parallel::on_all_cores(&self.files, |file| file.read(filter, columns));
        // A file that opened but does not read, or whose columns do not stack onto the
        // others', is named, with what to do (rollups are a cache).
        let damaged = |path: &std::path::Path, cause| AnalyseError::DamagedRollup {
            // `<data>/rollup/<table>/<file>`
            dir: path
                .parent()
                .and_then(std::path::Path::parent)
                .unwrap_or(path)
                .display()
                .to_string(),
            cause,
        };
        let read = read.into_iter().zip(&self.files).map(|(r, file)| {
            let path = file.path();
            Ok((r.map_err(|e| damaged(path, e))?, Some(path)))
        });
        let kept = kept.into_iter().map(|r| Ok::<_, AnalyseError>((r?, None)));
        let mut all: Option<DataFrame> = None;
        for part in kept.chain(read) {
            let (part, path) = part?;
            match &mut all {
                Some(all) => {
                    all.vstack_mut_owned(part).map_err(|cause| match path {
                        Some(path) => damaged(
                            path,
                            crate::store::StoreError::Polars {
                                path: path.to_path_buf(),
                                cause,
                            },
                        ),
                        None => cause.into(),
                    })?;
                }
                None => all = Some(part),
            }
        }
        Ok(all.unwrap_or_default())
    }
}

/// The labelled (attributed, splits not yet divided) costs of `days` and their sums, read
/// from the store's daily rollups; days whose rollup is missing or outdated are labelled
/// from the raw partitions first and their rollups written. Rows labelled here are used from
/// memory where a rollup could not be written (a read-only store), and, with `whole` (every
/// row of the days is wanted, not a selection, nor only their sums), where every day was
/// labelled here (the first report after a history is ingested: not read back); otherwise
/// the rollups are read, so the rows come in day order.
fn labelled_days(
    store: &Store,
    attributor: &Attributor,
    days: &[CostDay],
    whole: bool,
) -> Result<Option<Labelled>, AnalyseError> {
    // A rollup or sums file cut short or overwritten (a full disk, a stray copy) is only a
    // cache miss: it is removed here and its day labelled again. Checked on every file, as
    // a scan of many files reads the first one's footer only until it is collected.
    for d in days {
        for file in [&d.rollup, &d.sums] {
            if file.exists() && !parquet_ends(file) {
                let _ = std::fs::remove_file(file);
            }
        }
    }
    let missing: Vec<&CostDay> = days.iter().filter(|d| !d.rolled_up()).collect();
    let rows: usize = days.iter().map(|d| d.rows).sum();
    if whole && missing.is_empty() && rows <= KEEP_FREED_ROWS {
        // Every day is read from its rollup: the buffers the files are decoded into are
        // freed as the window is put together in one buffer per column, which then reuses
        // them rather than fault in (and have the kernel zero) as much memory again.
        crate::memory::keep_freed();
    }
    let all_missing = whole && missing.len() == days.len();
    let mut kept = Labelled {
        rows: Parts::default(),
        sums: Parts::default(),
    };
    let mut batches: Vec<Vec<&CostDay>> = Vec::new();
    let mut rows = 0;
    for day in missing {
        match batches.last_mut() {
            Some(batch) if rows + day.rows <= ROLLUP_BATCH_ROWS => {
                batch.push(day);
                rows += day.rows;
            }
            _ => {
                batches.push(vec![day]);
                rows = day.rows;
            }
        }
    }
    for batch in &batches {
        let t = crate::timing::phase("rollups: label a batch");
        let labelled = label_raw(attributor, batch)?;
        drop(t);
        let _t = crate::timing::phase("rollups: write a batch");
        let written = crate::parallel::on_all_cores(&labelled, |(day, frame, sums)| {
            store.write_rollup(day, frame, sums).is_ok()
        });
        for ((_, frame, sums), ok) in labelled.into_iter().zip(written) {
            if all_missing || !ok {
                kept.rows.kept.push(frame);
                kept.sums.kept.push(sums);
            }
        }
    }
    let on_disk: Vec<&CostDay> = if all_missing {
        Vec::new()
    } else {
        days.iter().filter(|d| d.rolled_up()).collect()
    };
    let mut labelled = kept;
    if !on_disk.is_empty() {
        // A damaged rollup is only a cache miss: remove the ones that do not open and build
        // them again (once; a store that cannot be written keeps its rows in memory).
        let opened = crate::parallel::on_all_cores(&on_disk, |d| {
            let open = crate::store::rollup::RollupFile::open;
            (open(&d.rollup), open(&d.sums))
        });
        let mut removed = false;
        let mut first_error = None;
        for (d, (rows, sums)) in on_disk.iter().zip(opened) {
            for (file, failed) in [(&d.rollup, rows.is_err()), (&d.sums, sums.is_err())] {
                if failed {
                    removed |= std::fs::remove_file(file).is_ok();
                }
            }
            match (rows, sums) {
                (Ok(rows), Ok(sums)) => {
                    labelled.rows.files.push(rows);
                    labelled.sums.files.push(sums);
                }
                (Err(e), _) | (_, Err(e)) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(cause) = first_error {
            if !removed {
                return Err(AnalyseError::DamagedRollup {
                    dir: store.dir().join("rollup").display().to_string(),
                    cause,
                });
            }
            return labelled_days(store, attributor, days, whole);
        }
    }
    if labelled.rows.kept.is_empty() && labelled.rows.files.is_empty() {
        return Ok(None);
    }
    Ok(Some(labelled))
}

/// Whether `path` starts and ends with Parquet's magic bytes (a file written whole).
fn parquet_ends(path: &std::path::Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let check = || -> std::io::Result<bool> {
        let mut f = std::fs::File::open(path)?;
        let (mut head, mut tail) = ([0u8; 4], [0u8; 4]);
        f.read_exact(&mut head)?;
        f.seek(SeekFrom::End(-4))?;
        f.read_exact(&mut tail)?;
        Ok(&head == b"PAR1" && &tail == b"PAR1")
    };
    check().unwrap_or(false)
}

/// CostRecord columns no analysis reads once rows are labelled: left out of the rollups
/// (smaller files, less memory per loaded row) unless a split's driver matches on one.
const NOT_ANALYSED: [&str; 7] = [
    "tags",
    "billing_period_start",
    "service_name",
    "pricing_category",
    "consumed_unit",
    "charge_period_end",
    "source",
];

/// Label the raw partitions of `days`: one frame per day, without the columns no analysis
/// reads ([`NOT_ANALYSED`]), and its [`sums`].
fn label_raw<'a>(
    attributor: &Attributor,
    days: &[&'a CostDay],
) -> Result<Vec<(&'a CostDay, DataFrame, DataFrame)>, AnalyseError> {
    let files: Vec<PlRefPath> = days
        .iter()
        .flat_map(|d| &d.files)
        .map(|p| PlRefPath::new(p.to_string_lossy().as_ref()))
        .collect();
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let needed = attributor.split_driver_columns();
    let dropped: Vec<&str> = NOT_ANALYSED
        .into_iter()
        .filter(|c| !needed.contains(*c))
        .collect();
    // What no analysis reads is not read at all, unless a row's labels depend on it.
    let keys = attributor.key_columns();
    let (labels_read, unread): (Vec<&str>, Vec<&str>) =
        dropped.iter().partition(|c| keys.iter().any(|k| k == *c));
    // Azure's paired views count one money column each; the rows' source says which.
    let paired = paired_view_days(days);
    let (unread, view_source): (Vec<&str>, Vec<&str>) = unread
        .into_iter()
        .partition(|c| paired.is_empty() || *c != "source");
    let t = crate::timing::phase("rollups: read raw");
    let raw = LazyFrame::scan_parquet_files(
        files.into_iter().collect(),
        crate::store::scan_args(crate::store::Table::Cost),
    )?
    .drop(cols(unread));
    let raw = crate::store::views::apply(raw, &paired)
        .drop(cols(view_source))
        .collect()?;
    drop(t);
    let t = crate::timing::phase("rollups: label");
    let labelled = attributor.label_costs(raw)?.drop_many(labels_read);
    // Rollups keep dimensions as dictionary codes: paid once here, not on every read.
    let mut labelled = crate::schema::categoricals(labelled)?;
    // One chunk per file read: the sums' group-bys below are slower over many.
    labelled.rechunk_mut_par();
    drop(t);
    // One pass splits the batch by day (sorted, then zero-copy slices), rather than one
    // filter over the whole batch per day.
    let mut labelled = labelled
        .lazy()
        .with_column(
            col("charge_period_start")
                .cast(DataType::Date)
                .cast(DataType::Int32)
                .alias("__rollup_day"),
        )
        .collect()?;
    // Partitions are read in day order and labelling keeps the rows' order: sort (a copy of
    // every column) only when a day's rows came out of order.
    if !labelled.column("__rollup_day")?.i32()?.iter().is_sorted() {
        labelled = labelled.sort(
            ["__rollup_day"],
            SortMultipleOptions::default().with_maintain_order(true),
        )?;
    }
    let rows = by_day(&labelled, "__rollup_day")?;
    let labelled = labelled.drop("__rollup_day")?;
    // Summed for the whole batch at once (a few group-bys, not a few per day).
    let _t = crate::timing::phase("rollups: sums");
    let sums = sums::of(labelled.clone().lazy())?.sort(
        ["__day"],
        SortMultipleOptions::default().with_maintain_order(true),
    )?;
    let sums_rows = by_day(&sums, "__day")?;
    let slice = |df: &DataFrame, ranges: &HashMap<i32, (usize, usize)>, day: NaiveDate| match ranges
        .get(&crate::schema::day_number(day))
    {
        Some(&(offset, len)) => df.slice(offset as i64, len),
        None => df.clear(),
    };
    Ok(days
        .iter()
        .map(|d| {
            (
                *d,
                slice(&labelled, &rows, d.day),
                slice(&sums, &sums_rows, d.day),
            )
        })
        .collect())
}

/// Per Azure source whose two views are paired on some of `days`, those days' numbers.
fn paired_view_days(days: &[&CostDay]) -> BTreeMap<String, Vec<i32>> {
    let mut paired: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for d in days {
        for source in &d.paired_views {
            paired
                .entry(source.clone())
                .or_default()
                .push(crate::schema::day_number(d.day));
        }
    }
    paired
}

/// The row range (offset, length) of each day in `df`, sorted by its Int32 day column `day`.
fn by_day(df: &DataFrame, day: &str) -> PolarsResult<HashMap<i32, (usize, usize)>> {
    let mut ranges: HashMap<i32, (usize, usize)> = HashMap::new();
    for (i, d) in df.column(day)?.i32()?.iter().enumerate() {
        if let Some(d) = d {
            let r = ranges.entry(d).or_insert((i, 0));
            r.1 += 1;
        }
    }
    Ok(ranges)
}

/// Load `from..=to` (defaults: the whole store) plus `extra_before` days of history,
/// attributed, in one currency: `currency` if given, else the only one of the period.
pub(crate) fn load_window(
    store: &Store,
    attributor: &Attributor,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    currency: Option<&str>,
    extra_before: i64,
) -> Result<CostWindow, AnalyseError> {
    load_window_where(
        store,
        attributor,
        from,
        to,
        currency,
        extra_before,
        Pick::default(),
    )
}

/// What of the window a command reads: by default every row and column.
#[derive(Default)]
pub(crate) struct Pick {
    /// Only the attributed rows this picks.
    pub rows: Option<Expr>,
    /// Only these columns (honoured where the window's sums are the stored ones: no rows
    /// picked, no splits): fewer columns read from the rollups, less memory.
    pub columns: Option<Vec<&'static str>>,
    /// Only the rows of these days (the rollups of the others are not read; the currency
    /// must then be given).
    pub days: Option<std::collections::BTreeSet<NaiveDate>>,
    /// Only the stored sums this picks (pushed into their scan; [`CostWindow::stored_sums`] are
    /// then only those).
    pub sums: Option<Expr>,
}

/// [`load_window`], keeping only the attributed rows and columns `pick` names (read from the
/// rollups with the filter and projection pushed into the scan, so memory follows the pick;
/// with shared-cost splits, whose drivers span every row and column, after the split).
pub(crate) fn load_window_where(
    store: &Store,
    attributor: &Attributor,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    currency: Option<&str>,
    extra_before: i64,
    pick: Pick,
) -> Result<CostWindow, AnalyseError> {
    let empty = || AnalyseError::Empty(store.dir().display().to_string());
    let all_days = store.cost_days(NaiveDate::MIN, NaiveDate::MAX, attributor.fingerprint())?;
    let (min, max) = all_days
        .first()
        .zip(all_days.last())
        .map(|(a, b)| (a.day, b.day))
        .ok_or_else(empty)?;
    let start = from.unwrap_or(min);
    let end = to.unwrap_or(max);
    if start > end {
        return Err(AnalyseError::BadPeriod {
            from: start,
            to: end,
        });
    }
    let load_start = start - Duration::days(extra_before);
    let days: Vec<CostDay> = all_days
        .into_iter()
        .filter(|d| d.day >= load_start && d.day <= end)
        .filter(|d| pick.days.as_ref().is_none_or(|only| only.contains(&d.day)))
        .collect();
    let loaded = days.first().zip(days.last()).map(|(a, b)| (a.day, b.day));
    let t = crate::timing::phase("window: rollups");
    let whole = pick.rows.is_none();
    // Every row of the days is read (not a selection, nor only their sums).
    let every_row = whole && pick.columns.as_ref().is_none_or(|c| !c.is_empty());
    let labelled = labelled_days(store, attributor, &days, every_row)?;
    drop(t);
    let _t = crate::timing::phase("window: read");
    let currency = window_currency(labelled.as_ref(), start, end, currency, pick.days.is_some())?;
    let in_window = || {
        col("billing_currency")
            .eq(lit(currency.clone()))
            .and(between(load_start, end))
    };
    // Where the window's sums are not the stored ones they are summed from its rows, which
    // then keep every column. The stored sums are of the rows as labelled: where rows are
    // divided (splits) or picked (a selection) after labelling, they are summed again from
    // the rows if asked for.
    let sums_stored = whole && !attributor.has_splits();
    let columns = pick.columns.as_deref().filter(|_| sums_stored);
    // Splits divide rows by drivers that span every row and column: rows are picked after.
    let (read_filter, picked_after) = match pick.rows {
        Some(f) if attributor.has_splits() => (in_window(), Some(f)),
        Some(f) => (in_window().and(f), None),
        None => (in_window(), None),
    };
    let (frame, stored_sums) = match labelled {
        Some(l) => {
            let sums = match &pick.sums {
                Some(f) => in_window().and(f.clone()),
                None => in_window(),
            };
            let stored_sums = if sums_stored {
                let mut s = l.sums.read(Some(&sums), None)?;
                s.rechunk_mut_par();
                Some(s)
            } else {
                None
            };
            (l.rows.read(Some(&read_filter), columns)?, stored_sums)
        }
        None => {
            let empty = attributor
                .label_costs(DataFrame::empty_with_schema(&crate::schema::cost_schema()))?;
            let rows = crate::store::rollup::picked(empty.lazy(), Some(&read_filter), columns);
            (rows.collect()?, None)
        }
    };
    // Splits write team / feature / allocation as text: they get plain strings.
    let frame = if attributor.has_splits() {
        split_then_pick(attributor, frame, picked_after)?
    } else {
        frame
    };
    // Rows from rollups are Categorical already; split or freshly labelled ones are cast.
    let mut frame = crate::schema::categoricals(frame)?;
    // One chunk per column, not one per rollup file: every later group-by would otherwise
    // gather from hundreds of chunks.
    let returned = crate::memory::return_freed_at_once();
    frame.rechunk_mut_par();
    drop(returned);
    Ok(CostWindow {
        stored_sums,
        frame,
        currency,
        start,
        end,
        loaded,
    })
}

/// The window's currency: the one asked for (which the stored days must hold, unless only
/// some days are read), else the only one stored (`USD` when none is). Several stored and
/// none asked for is an error: amounts in different currencies are never added up.
fn window_currency(
    labelled: Option<&Labelled>,
    start: NaiveDate,
    end: NaiveDate,
    currency: Option<&str>,
    some_days_only: bool,
) -> Result<String, AnalyseError> {
    let found: Vec<String> = match labelled {
        Some(l) => {
            let found_df = l
                .sums
                .read(Some(&between(start, end)), Some(&["billing_currency"]))?
                .lazy()
                .select([col("billing_currency")
                    .unique()
                    .sort(SortOptions::default())])
                .collect()?;
            crate::schema::text_values(found_df.column("billing_currency")?)?
                .iter()
                .flatten()
                .map(str::to_string)
                .collect()
        }
        None => Vec::new(),
    };
    Ok(match (currency, found.len()) {
        (Some(c), _) if found.iter().any(|f| f == c) || some_days_only => c.to_string(),
        (Some(c), n) if n > 0 => {
            return Err(AnalyseError::NoSuchCurrency {
                wanted: c.to_string(),
                found: found.join(", "),
            })
        }
        (Some(c), _) => c.to_string(),
        (None, 0) => "USD".to_string(),
        (None, 1) => found[0].clone(),
        (None, _) => return Err(AnalyseError::MixedCurrencies(found.join(", "))),
    })
}

/// The shared-cost splits applied to `frame`, then the rows a selection picks (splits
/// divide rows by drivers that span every row, so the pick comes after).
fn split_then_pick(
    attributor: &Attributor,
    frame: DataFrame,
    picked_after: Option<Expr>,
) -> Result<DataFrame, AnalyseError> {
    let df = attributor.split(crate::schema::without_categoricals(frame)?)?;
    Ok(match picked_after {
        Some(f) => df.lazy().filter(f).collect()?,
        None => df,
    })
}

impl CostWindow {
    /// The frame's sums as stored (of every row of the window's days, or those
    /// [`Pick::sums`] picked), if they were read.
    pub(crate) fn stored_sums(&self) -> Option<sums::Sums> {
        self.stored_sums.clone().map(sums::Sums)
    }

    /// The frame's sums by dimension ([`sums`]), for totals and series: as stored beside the
    /// rollups, or summed from the frame.
    pub fn sums(&self) -> PolarsResult<sums::Sums> {
        Ok(sums::Sums(match &self.stored_sums {
            Some(s) => s.clone(),
            None => sums::of(self.frame.clone().lazy())?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::Dimension;
    use polars::prelude::*;

    /// Rows with nulls, a `/` inside a team name and the placeholder values, as String and as
    /// Categorical (what a window holds).
    fn rows() -> DataFrame {
        df!(
            "provider_name" => ["aws", "aws", "azure", "gcp"],
            "team" => ["a/b", "a", "a", "ml"],
            "feature" => ["c", "b/c", "c", "chat"],
            "model" => [Some("m1"), None, Some("(no model)"), Some("m2")],
            "sub_account_id" => [Some("x"), None, Some("(none)"), Some("y")],
            "region_id" => [None, Some("r"), Some("r"), None],
            "resource_id" => [Some("res"), None, None, Some("res")],
            "usage_type" => ["input_tokens", "output_tokens", "other", "input_tokens"],
        )
        .expect("frame")
    }

    fn picked(df: &DataFrame, e: Expr) -> Vec<bool> {
        df.clone()
            .lazy()
            .with_column(e.alias("p"))
            .collect()
            .expect("query")
            .column("p")
            .expect("p")
            .bool()
            .expect("bool")
            .iter()
            .map(|v| v.unwrap_or(false))
            .collect()
    }

    #[test]
    fn matches_picks_exactly_the_rows_whose_value_is_equal() {
        let plain = rows();
        let coded = crate::schema::categoricals(plain.clone()).expect("cast");
        for df in [&plain, &coded] {
            for &dim in Dimension::ALL {
                let values = df
                    .clone()
                    .lazy()
                    .with_column(crate::schema::text(dim.expr()).alias("v"))
                    .collect()
                    .expect("values");
                let values =
                    crate::schema::text_values(values.column("v").expect("v")).expect("text");
                let mut wanted: Vec<String> = values.iter().flatten().map(String::from).collect();
                wanted.push("not-there".into());
                for v in wanted {
                    let expected: Vec<bool> =
                        values.iter().map(|x| x == Some(v.as_str())).collect();
                    assert_eq!(
                        picked(df, dim.matches(&v)),
                        expected,
                        "{} = {v}",
                        dim.name()
                    );
                }
            }
        }
    }
}

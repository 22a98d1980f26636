//! Billing export files -> daily CostRecord frames.
//!
//! Each format module (`focus`, `azure_export`, `gcp_export`) only *stages* a file: it maps the
//! file's columns onto a fixed set of string columns (see [`stage`]) and records which file
//! column each came from. Everything after that is shared (`finish`): parsing numbers and
//! timestamps ([`values`]), normalising categories, tags, providers, regions, models and
//! usage types (`lookup`, `hints`), the service filter, and aggregation to one row per day
//! and CostRecord key ([`daily`]). A value that cannot be parsed fails the whole file with
//! the file, line and column named. Writing the rows to the store is the store's job
//! (`store::ingest_files`).
//!
//! Reading a file: [`detect`] tells its container and format, [`chunks`] cuts a large file
//! into parts, [`read`] reads a part as string columns.

pub mod azure_export;
pub mod chunks;
pub mod daily;
pub mod detect;
pub mod finish;
pub mod focus;
pub mod gcp_export;
pub(crate) mod hints;
pub(crate) mod lookup;
pub mod read;
pub mod values;

use crate::normalise::ServiceFilter;
use crate::schema;
use chrono::NaiveDate;
use polars::prelude::*;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

pub use azure_export::{AzureView, ViewChoice};
pub use chunks::Part;
pub(crate) use detect::container_of;
pub use finish::finish;
pub(crate) use read::ExportTable;
pub use values::canonical_tags;

/// Staging column names: every format maps its file onto these (all strings).
pub mod stage {
    pub(crate) const LINE: &str = "__line";
    pub(crate) const START: &str = "start";
    pub(crate) const END: &str = "end";
    pub(crate) const PROVIDER: &str = "provider";
    pub(crate) const SERVICE: &str = "service";
    pub(crate) const ACCOUNT: &str = "account";
    pub(crate) const REGION: &str = "region";
    pub(crate) const RESOURCE: &str = "resource";
    pub(crate) const HINT: &str = "hint";
    pub(crate) const CHARGE_CATEGORY: &str = "charge_category";
    pub(crate) const PRICING_CATEGORY: &str = "pricing_category";
    pub(crate) const PRICING_DETAIL: &str = "pricing_detail";
    pub(crate) const QUANTITY: &str = "quantity";
    pub(crate) const UNIT: &str = "unit";
    pub(crate) const BILLED: &str = "billed";
    pub(crate) const EFFECTIVE: &str = "effective";
    pub(crate) const CURRENCY: &str = "currency";
    pub(crate) const TAGS: &str = "tags";
    pub(crate) const BILLING_ACCOUNT: &str = "billing_account";
    pub(crate) const BILLING_PERIOD: &str = "billing_period";
    pub(crate) const CHARGE_CLASS: &str = "charge_class";

    /// All staging columns except the line number, in a fixed order.
    pub(crate) const ALL: &[&str] = &[
        START,
        END,
        PROVIDER,
        SERVICE,
        ACCOUNT,
        REGION,
        RESOURCE,
        HINT,
        CHARGE_CATEGORY,
        PRICING_CATEGORY,
        PRICING_DETAIL,
        QUANTITY,
        UNIT,
        BILLED,
        EFFECTIVE,
        CURRENCY,
        TAGS,
        BILLING_ACCOUNT,
        BILLING_PERIOD,
        CHARGE_CLASS,
    ];
}

/// Export formats spendlens reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// FOCUS 1.0 / 1.1 / 1.2 (CSV or Parquet), any provider.
    Focus,
    /// Azure Cost Management cost details (EA or MCA, actual or amortized), CSV.
    Azure,
    /// GCP billing export as `bq extract` writes it (newline-delimited JSON or Parquet).
    Gcp,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Focus => "focus",
            Format::Azure => "azure_export",
            Format::Gcp => "gcp_export",
        }
    }
}

/// Container of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Container {
    Csv,
    Parquet,
    Ndjson,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("`{file}`: {cause}")]
    Io {
        file: PathBuf,
        cause: std::io::Error,
    },
    #[error("`{file}`: cannot tell the export format from its columns ({columns})\nhint: pass --format focus|azure|gcp")]
    UnknownFormat { file: PathBuf, columns: String },
    #[error("`{file}`: the file is empty ({bytes} bytes, no header row)\nhint: an export of a period without charges still has its header; download or export the file again")]
    EmptyFile { file: PathBuf, bytes: u64 },
    #[error("`{file}`: the file is {encoding} text; spendlens reads UTF-8\nhint: convert it, e.g. `iconv -f UTF-16 -t UTF-8 < '{file}' > converted.csv` (Excel: Save As → \"CSV UTF-8\")")]
    Encoding {
        file: PathBuf,
        encoding: &'static str,
    },
    #[error("`{file}`: required column `{column}` is missing ({format} export)\nhint: {hint}")]
    MissingColumn {
        file: PathBuf,
        column: String,
        format: &'static str,
        hint: String,
    },
    #[error("`{file}` line {line}, column `{column}`: {message}")]
    BadValue {
        file: PathBuf,
        line: u64,
        column: String,
        message: String,
    },
    #[error("`{file}` line {line}, column `{column}`: currency `{found}` differs from `{first}` on line {first_line}\nhint: a file must be in one billing currency; split it by currency and ingest each part")]
    MixedCurrency {
        file: PathBuf,
        line: u64,
        column: String,
        found: String,
        first: String,
        first_line: u64,
    },
    #[error("`{file}`: {cause}")]
    Polars { file: PathBuf, cause: PolarsError },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl IngestError {
    /// The file the error is about (none for a failed store commit).
    pub fn file(&self) -> Option<&Path> {
        match self {
            IngestError::Io { file, .. }
            | IngestError::UnknownFormat { file, .. }
            | IngestError::EmptyFile { file, .. }
            | IngestError::Encoding { file, .. }
            | IngestError::MissingColumn { file, .. }
            | IngestError::BadValue { file, .. }
            | IngestError::MixedCurrency { file, .. }
            | IngestError::Polars { file, .. } => Some(file),
            IngestError::Store(_) => None,
        }
    }
}

/// A staged file: string columns named by [`stage`] plus `__line` (1-based line in the file).
pub struct Staged {
    pub df: DataFrame,
    /// staging column -> the file's column it came from (for error messages).
    pub origin: HashMap<&'static str, String>,
}

/// Options for one ingest run.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub format: Option<Format>,
    pub services: ServiceFilter,
    /// Overrides the source name (default `<format>:<billing account>`).
    pub source: Option<String>,
    /// Read files larger than this in parts ([`PART_BYTES`] unless testing).
    pub part_bytes: usize,
    /// The view of Azure cost-details files (default: told from each file's name or content).
    pub azure_view: Option<AzureView>,
    /// The charge and billing dates accepted.
    pub dates: DateRange,
}

/// The charge and billing-period dates ingest accepts. A date outside is a typo or a
/// placeholder (`9999-12-31`, `1900-01-01`) that would move every report's period and hide
/// the real spend, so it is an error naming file, line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub earliest: chrono::NaiveDate,
    pub latest: chrono::NaiveDate,
}

impl DateRange {
    /// Days after today a charge may be dated (an invoice's billing period runs ahead).
    pub const DAYS_AHEAD: i64 = 366;

    /// From 2000-01-01 to a year after today.
    pub fn standard() -> DateRange {
        DateRange {
            earliest: chrono::NaiveDate::from_ymd_opt(2000, 1, 1).expect("a date"),
            latest: chrono::Utc::now().date_naive() + chrono::Duration::days(Self::DAYS_AHEAD),
        }
    }

    /// Whether the instant `micros` (UTC microseconds) falls on a day of the range.
    pub fn holds(&self, micros: i64) -> bool {
        chrono::DateTime::from_timestamp_micros(micros)
            .is_some_and(|t| (self.earliest..=self.latest).contains(&t.date_naive()))
    }
}

impl Default for DateRange {
    fn default() -> DateRange {
        DateRange::standard()
    }
}

/// What ingesting one file produced, before it is written.
#[derive(Debug)]
pub struct Parsed {
    pub file: PathBuf,
    pub format: Format,
    pub rows_read: usize,
    pub rows_kept: usize,
    /// Skipped by the service filter: (currency, effective cost) per currency.
    pub skipped_cost: Vec<(String, f64)>,
    pub skipped_services: BTreeSet<String>,
    pub frame: DataFrame,
    /// Every (source, day) the file covers, kept or not: those partitions are replaced.
    pub covered: Vec<(String, NaiveDate)>,
    /// An Azure cost-details file's view, and how it was told.
    pub view: Option<ViewChoice>,
    /// The file's own totals per source, day, billing period and currency, as read.
    pub read: Vec<crate::store::ledger::ReadTotal>,
}

impl Parsed {
    /// Nothing read from `file`.
    pub fn empty(file: &Path, format: Format) -> Parsed {
        Parsed {
            file: file.to_path_buf(),
            format,
            rows_read: 0,
            rows_kept: 0,
            skipped_cost: Vec::new(),
            skipped_services: BTreeSet::new(),
            frame: schema::empty_cost(),
            covered: Vec::new(),
            view: None,
            read: Vec::new(),
        }
    }
}

pub(crate) fn polars_err(file: &Path) -> impl Fn(PolarsError) -> IngestError + '_ {
    move |source| IngestError::Polars {
        file: file.to_path_buf(),
        cause: source,
    }
}

/// Large files are read in parts of about this many bytes of CSV (Parquet: this many / 256
/// rows), so ingest memory is bounded by the part, not the file.
pub const PART_BYTES: usize = 64 << 20;

/// Parse one file: detect container and format, stage, finish. A file larger than one part
/// is parsed part by part and the parts merged in memory (see `store::ingest_files` for the
/// bounded-memory path).
pub fn parse_file(file: &Path, opts: &IngestOptions) -> Result<Parsed, IngestError> {
    let mut whole: Option<Parsed> = None;
    let mut parts = 0;
    parse_parts(file, opts, &mut |p| {
        parts += 1;
        match whole.as_mut() {
            None => whole = Some(p),
            Some(w) => {
                w.frame
                    .vstack_mut_owned(p.frame.clone())
                    .map_err(polars_err(file))?;
                w.absorb(p);
            }
        }
        Ok(())
    })?;
    let mut whole = whole.ok_or_else(|| IngestError::UnknownFormat {
        file: file.to_path_buf(),
        columns: "the file is empty".into(),
    })?;
    if parts > 1 {
        whole.frame = daily::merge_rows(whole.frame).map_err(polars_err(file))?;
    }
    Ok(whole)
}

/// Parse `file` in parts, handing each part's [`Parsed`] to `each` as soon as it is done.
pub(crate) fn parse_parts(
    file: &Path,
    opts: &IngestOptions,
    each: &mut dyn FnMut(Parsed) -> Result<(), IngestError>,
) -> Result<(), IngestError> {
    parse_parts_by_record(file, opts, each).map_err(|e| match container_of(file) {
        Ok(Container::Csv) => read::at_physical_lines(file, e),
        _ => e,
    })
}

/// [`parse_parts`], its errors' lines counted in CSV records.
fn parse_parts_by_record(
    file: &Path,
    opts: &IngestOptions,
    each: &mut dyn FnMut(Parsed) -> Result<(), IngestError>,
) -> Result<(), IngestError> {
    let meta = std::fs::metadata(file).map_err(io_err(file))?;
    let container = container_of(file)?;
    // A file with no header at all is a cut-short download, not an export of a period
    // without charges (that one still has its header row and is valid, see below).
    if meta.len() <= 3
        && std::fs::read(file)
            .map(|b| {
                b.iter()
                    .all(|c| matches!(c, 0xEF | 0xBB | 0xBF | b'\r' | b'\n' | b' '))
            })
            .unwrap_or(false)
    {
        return Err(IngestError::EmptyFile {
            file: file.to_path_buf(),
            bytes: meta.len(),
        });
    }
    if container != Container::Parquet {
        detect::utf8_or_explain(file)?;
    }
    let format = match opts.format {
        Some(f) => f,
        None => detect::format_of(file, container, meta.len())?,
    };
    // An Azure file's view decides its source: told once for the whole file.
    let view = match format {
        Format::Azure => Some(azure_export::view_of(file, container, opts.azure_view)?),
        _ => None,
    };
    let viewed;
    let opts = match view {
        Some(choice) => {
            viewed = IngestOptions {
                azure_view: Some(choice.view),
                ..opts.clone()
            };
            &viewed
        }
        None => opts,
    };
    let mut parts = parts_of(file, container, format, meta.len(), opts.part_bytes.max(1))?;
    let mut currency = FileCurrency::default();
    loop {
        let tn = crate::timing::phase("ingest: read a part");
        let Some(part) = parts.next() else { break };
        drop(tn);
        let part = part.map_err(io_err(file))?;
        let t = crate::timing::phase("ingest: stage a part");
        let staged = match format {
            Format::Focus => focus::stage(file, container, &part)?,
            Format::Azure => azure_export::stage(file, container, &part)?,
            Format::Gcp => gcp_export::stage(file, container)?,
        };
        drop(part);
        drop(t);
        if staged.df.height() == 0 {
            continue;
        }
        currency.check(&staged, file)?;
        let t = crate::timing::phase("ingest: finish a part");
        let mut parsed = finish(staged, file, format, opts)?;
        parsed.view = view;
        drop(t);
        let _t = crate::timing::phase("ingest: keep a part's rows");
        each(parsed)?;
    }
    if currency.first.is_none() {
        // Only empty parts (a header without rows).
        let mut parsed = Parsed::empty(file, format);
        parsed.view = view;
        each(parsed)?;
    }
    Ok(())
}

/// An I/O error about `file`.
pub(crate) fn io_err(file: &Path) -> impl Fn(std::io::Error) -> IngestError + '_ {
    move |source| IngestError::Io {
        file: file.to_path_buf(),
        cause: source,
    }
}

/// The parts `file` is read in: CSV larger than a part in byte ranges, Parquet in row
/// ranges, anything else (GCP's JSON records) whole.
fn parts_of(
    file: &Path,
    container: Container,
    format: Format,
    len: u64,
    part_bytes: usize,
) -> Result<Box<dyn Iterator<Item = std::io::Result<Part>>>, IngestError> {
    Ok(match container {
        Container::Csv if format != Format::Gcp && len > part_bytes as u64 => {
            Box::new(chunks::CsvParts::open(file, part_bytes).map_err(io_err(file))?)
        }
        Container::Parquet if format != Format::Gcp => {
            let rows = ParquetReader::new(std::fs::File::open(file).map_err(io_err(file))?)
                .num_rows()
                .map_err(polars_err(file))? as u64;
            let per_part = (part_bytes as u64 / 256).max(1);
            if rows > per_part {
                Box::new(chunks::parquet_parts(rows, per_part).into_iter().map(Ok))
            } else {
                Box::new(std::iter::once(Ok(Part::Whole)))
            }
        }
        _ => Box::new(std::iter::once(Ok(Part::Whole))),
    })
}

/// One currency per file, across its parts too: (currency, line) of the first row.
#[derive(Default)]
struct FileCurrency {
    first: Option<(String, u64)>,
}

impl FileCurrency {
    /// Remember the first part's currency; fail on a later part's row in another one. Codes
    /// that are not currencies at all are reported by [`finish`], as in a file read whole.
    fn check(&mut self, staged: &Staged, file: &Path) -> Result<(), IngestError> {
        let perr = polars_err(file);
        let lines = staged.df.column(stage::LINE).map_err(&perr)?;
        let currencies = staged.df.column(stage::CURRENCY).map_err(&perr)?;
        let line = lines.u64().map_err(&perr)?;
        let currency = currencies.str().map_err(&perr)?;
        let Some((first, first_line)) = self.first.clone() else {
            self.first = currency
                .get(0)
                .map(|c| (c.to_string(), line.get(0).unwrap_or(0)));
            return Ok(());
        };
        let differs = |c: &str| c != first && schema::is_currency_code(c.trim());
        match currency.iter().position(|c| c.is_some_and(differs)) {
            None => Ok(()),
            Some(i) => Err(IngestError::MixedCurrency {
                file: file.to_path_buf(),
                line: line.get(i).unwrap_or(0),
                column: staged
                    .origin
                    .get(stage::CURRENCY)
                    .cloned()
                    .unwrap_or_default(),
                first_line,
                found: currency.get(i).unwrap_or_default().to_string(),
                first,
            }),
        }
    }
}

impl Parsed {
    /// Add another part's counts, skipped cost, and covered partitions (not its rows).
    pub(crate) fn absorb(&mut self, other: Parsed) {
        self.rows_read += other.rows_read;
        self.rows_kept += other.rows_kept;
        for (currency, cost) in other.skipped_cost {
            match self.skipped_cost.iter_mut().find(|(c, _)| *c == currency) {
                Some((_, total)) => *total += cost,
                None => self.skipped_cost.push((currency, cost)),
            }
        }
        self.skipped_services.extend(other.skipped_services);
        self.view = self.view.or(other.view);
        self.read = crate::store::ledger::merge(
            std::mem::take(&mut self.read).into_iter().chain(other.read),
        );
        self.covered.extend(other.covered);
        self.covered.sort();
        self.covered.dedup();
    }
}

/// Rows shaped like the GCP billing export (what the BigQuery collector fetches), parsed
/// exactly as an export file's rows are; `label` names the request in messages.
pub(crate) fn parse_gcp_rows(
    rows: &[serde_json::Value],
    label: &Path,
    opts: &IngestOptions,
) -> Result<Parsed, IngestError> {
    finish(
        gcp_export::stage_rows(rows, label)?,
        label,
        Format::Gcp,
        opts,
    )
}

/// Rows in the Azure cost-details layout (what the Cost Management collector builds from
/// Query API answers), all string columns, parsed exactly as an export file's rows are.
pub(crate) fn parse_azure_frame(
    df: DataFrame,
    label: &Path,
    opts: &IngestOptions,
) -> Result<Parsed, IngestError> {
    let table = ExportTable::from_frame(label, df, "Azure Cost Management query", "")?;
    finish(
        azure_export::stage_table(table)?,
        label,
        Format::Azure,
        opts,
    )
}

//! Billing export files -> CostRecord frames -> the store.
//!
//! Each format module (`focus`, `azure_export`, `gcp_export`) only *stages* a file: it maps the
//! file's columns onto a fixed set of string columns (see [`stage`]) and records which file
//! column each came from. Everything after that is shared: parsing numbers and timestamps,
//! normalising categories, tags, providers, regions, models and usage types, the service
//! filter, and aggregation to one row per day and CostRecord key. A value that cannot be
//! parsed fails the whole file with the file, line and column named; nothing of that file is
//! written.

pub mod azure_export;
pub mod chunks;
pub mod focus;
pub mod gcp_export;

use crate::coded::Coded;
use crate::normalise::{self, ServiceFilter};
use crate::schema;
use crate::store::{BatchWriter, Store, StoreLock, Table, WriteSummary};
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use polars::prelude::*;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

pub use chunks::Part;

/// Staging column names: every format maps its file onto these (all strings).
pub mod stage {
    pub const LINE: &str = "__line";
    pub const START: &str = "start";
    pub const END: &str = "end";
    pub const PROVIDER: &str = "provider";
    pub const SERVICE: &str = "service";
    pub const ACCOUNT: &str = "account";
    pub const REGION: &str = "region";
    pub const RESOURCE: &str = "resource";
    pub const HINT: &str = "hint";
    pub const CHARGE_CATEGORY: &str = "charge_category";
    pub const PRICING_CATEGORY: &str = "pricing_category";
    pub const PRICING_DETAIL: &str = "pricing_detail";
    pub const QUANTITY: &str = "quantity";
    pub const UNIT: &str = "unit";
    pub const BILLED: &str = "billed";
    pub const EFFECTIVE: &str = "effective";
    pub const CURRENCY: &str = "currency";
    pub const TAGS: &str = "tags";
    pub const BILLING_ACCOUNT: &str = "billing_account";

    /// All staging columns except the line number, in a fixed order.
    pub const ALL: &[&str] = &[
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
pub enum Container {
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
        }
    }
}

pub(crate) fn polars_err(file: &Path) -> impl Fn(PolarsError) -> IngestError + '_ {
    move |source| IngestError::Polars {
        file: file.to_path_buf(),
        cause: source,
    }
}

/// Detect container from the extension and first bytes.
pub fn container_of(file: &Path) -> Result<Container, IngestError> {
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_lowercase();
    Ok(match ext.as_str() {
        "parquet" | "pq" => Container::Parquet,
        "json" | "jsonl" | "ndjson" => Container::Ndjson,
        "csv" => Container::Csv,
        _ => {
            let mut head = [0u8; 4];
            let n = {
                use std::io::Read;
                let mut f = std::fs::File::open(file).map_err(|source| IngestError::Io {
                    file: file.to_path_buf(),
                    cause: source,
                })?;
                f.read(&mut head).unwrap_or(0)
            };
            if &head[..n.min(4)] == b"PAR1" {
                Container::Parquet
            } else if n > 0 && head[0] == b'{' {
                Container::Ndjson
            } else {
                Container::Csv
            }
        }
    })
}

/// Column names of a file, for format detection.
fn header_columns(file: &Path, container: Container) -> Result<Vec<String>, IngestError> {
    let io = |source| IngestError::Io {
        file: file.to_path_buf(),
        cause: source,
    };
    match container {
        Container::Parquet => {
            let mut f = std::fs::File::open(file).map_err(io)?;
            let schema = ParquetReader::new(&mut f)
                .schema()
                .map_err(polars_err(file))?;
            Ok(schema.iter_names().map(|n| n.to_string()).collect())
        }
        Container::Ndjson | Container::Csv => {
            use std::io::BufRead;
            let f = std::fs::File::open(file).map_err(io)?;
            let mut line = String::new();
            std::io::BufReader::new(f)
                .read_line(&mut line)
                .map_err(io)?;
            let line = line.trim_start_matches('\u{feff}').trim_end();
            Ok(if container == Container::Csv {
                split_csv_header(line)
            } else {
                match serde_json::from_str::<serde_json::Value>(line) {
                    Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
                    _ => Vec::new(),
                }
            })
        }
    }
}

fn split_csv_header(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() || !out.is_empty() {
        out.push(cur);
    }
    out
}

/// Which format a header belongs to.
pub fn detect(columns: &[String]) -> Option<Format> {
    let has = |name: &str| columns.iter().any(|c| c == name);
    let has_ci = |name: &str| columns.iter().any(|c| c.eq_ignore_ascii_case(name));
    if has("BilledCost") && has("ChargePeriodStart") {
        return Some(Format::Focus);
    }
    if (has_ci("Cost") || has_ci("CostInBillingCurrency") || has_ci("PreTaxCost"))
        && (has_ci("MeterCategory") || has_ci("MeterName"))
    {
        return Some(Format::Azure);
    }
    if has("billing_account_id") && has("cost") && (has("sku") || has("sku.description")) {
        return Some(Format::Gcp);
    }
    None
}

/// Read a CSV file with every column as a string, `NULL` and empty fields as null, a UTF-8
/// BOM stripped from the first column name, and a `__line` column (header is line 1).
pub(crate) fn read_csv_strings(file: &Path, part: &Part) -> Result<DataFrame, IngestError> {
    let null_values = || Some(NullValues::AllColumns(vec!["NULL".into(), "".into()]));
    let read = match part {
        Part::Csv {
            bytes,
            first_record,
            ..
        } => CsvReadOptions::default()
            .with_infer_schema_length(Some(0))
            .with_has_header(true)
            .with_raise_if_empty(false)
            .with_row_index(Some(RowIndex {
                name: stage::LINE.into(),
                offset: 2 + *first_record as IdxSize,
            }))
            .map_parse_options(|o| o.with_null_values(null_values()).with_missing_is_null(true))
            .into_reader_with_file_handle(std::io::Cursor::new(bytes.as_slice()))
            .finish(),
        _ => LazyCsvReader::new(PlRefPath::new(file.to_string_lossy().as_ref()))
            .with_infer_schema_length(Some(0))
            .with_has_header(true)
            .with_null_values(null_values())
            .with_missing_is_null(true)
            .with_raise_if_empty(false)
            .with_row_index(Some(RowIndex {
                name: stage::LINE.into(),
                offset: 2,
            }))
            .finish()
            .and_then(|lf| lf.collect()),
    };
    let mut df = read.map_err(|source| {
        // Polars does not say where a malformed record is; find it so the user can.
        let ragged = match part {
            Part::Csv {
                bytes, first_line, ..
            } => ragged_record_in(&String::from_utf8_lossy(bytes))
                .map(|(line, f, e)| (line + first_line - 2, f, e)),
            _ => ragged_record(file),
        };
        match ragged {
            Some((line, fields, expected)) => IngestError::BadValue {
                file: file.to_path_buf(),
                line,
                column: "(record)".into(),
                message: format!("has {fields} fields but the header has {expected} (an unquoted comma or a cut-off line?)"),
            },
            None => IngestError::Polars {
                file: file.to_path_buf(),
                cause: source,
            },
        }
    })?;
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    for name in names {
        let trimmed = name.trim_start_matches('\u{feff}');
        if trimmed != name {
            df.rename(&name, trimmed.into()).map_err(polars_err(file))?;
        }
    }
    // Quoted empty strings ("") are nulls too (FOCUS sample, Oracle rows).
    let exprs: Vec<Expr> = df
        .get_column_names()
        .iter()
        .filter(|n| n.as_str() != stage::LINE)
        .map(|n| {
            let c = col(n.as_str());
            when(c.clone().eq(lit("")))
                .then(lit(NULL).cast(DataType::String))
                .otherwise(c)
                .alias(n.as_str())
        })
        .collect();
    df.lazy()
        .with_columns(exprs)
        .with_column(col(stage::LINE).cast(DataType::UInt64))
        .collect()
        .map_err(polars_err(file))
}

/// The first CSV record whose field count differs from the header's: (line where the record
/// starts, its fields, the header's fields). Quotes, doubled quotes and quoted line breaks
/// are honoured.
fn ragged_record(file: &Path) -> Option<(u64, usize, usize)> {
    ragged_record_in(&std::fs::read_to_string(file).ok()?)
}

fn ragged_record_in(text: &str) -> Option<(u64, usize, usize)> {
    let (mut line, mut start_line, mut fields, mut quoted) = (1u64, 1u64, 1usize, false);
    let mut expected = None;
    let mut chars = text.trim_start_matches('\u{feff}').chars().peekable();
    let mut at_record_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields += 1,
            '\r' if !quoted => {}
            '\n' => {
                line += 1;
                if quoted {
                    continue;
                }
                if !at_record_start {
                    match expected {
                        None => expected = Some(fields),
                        Some(e) if e != fields => return Some((start_line, fields, e)),
                        _ => {}
                    }
                }
                fields = 1;
                start_line = line;
                at_record_start = true;
                continue;
            }
            _ => {}
        }
        at_record_start = false;
    }
    match expected {
        Some(e) if !at_record_start && e != fields => Some((start_line, fields, e)),
        _ => None,
    }
}

/// A part of a Parquet export with a `__line` column (1-based row number) and every column as
/// text, as a CSV reads, except nested columns (left as they are) and `numbers` (money and
/// quantities, matched case-insensitively) where the file types them as numbers: those are
/// kept as they are rather than written out as text and parsed back.
pub(crate) fn read_parquet_part(
    file: &Path,
    part: &Part,
    numbers: &[&str],
) -> Result<DataFrame, IngestError> {
    let lf = LazyFrame::scan_parquet(
        PlRefPath::new(file.to_string_lossy().as_ref()),
        ScanArgsParquet::default(),
    )
    .map_err(polars_err(file))?
    .with_row_index(stage::LINE, Some(1));
    let lf = match part {
        Part::Parquet { offset, len } => lf.slice(*offset as i64, *len as IdxSize),
        _ => lf,
    };
    let df = lf.collect().map_err(polars_err(file))?;
    let exprs: Vec<Expr> = df
        .schema()
        .iter()
        .filter(|(n, dt)| n.as_str() != stage::LINE && !dt.is_nested())
        .filter(|(n, dt)| {
            !(dt.is_primitive_numeric() && numbers.iter().any(|k| k.eq_ignore_ascii_case(n)))
        })
        .map(|(n, dt)| {
            let c = col(n.as_str());
            match dt {
                // ISO text so the shared timestamp parser reads it back exactly.
                DataType::Datetime(_, _) => {
                    c.dt().strftime("%Y-%m-%d %H:%M:%S%.f").alias(n.as_str())
                }
                _ => c.cast(DataType::String).alias(n.as_str()),
            }
        })
        .collect();
    df.lazy()
        .with_columns(exprs)
        .with_column(col(stage::LINE).cast(DataType::UInt64))
        .collect()
        .map_err(polars_err(file))
}

/// Parse one timestamp as UTC microseconds. Accepts ISO 8601 with `T` or space, optional
/// fraction, `Z` / `UTC` / `+HH:MM` suffixes, plain dates (`YYYY-MM-DD`, Azure's `MM/DD/YYYY`,
/// `YYYYMMDD`).
pub fn parse_timestamp(raw: &str) -> Option<i64> {
    let s = raw.trim();
    let s = s.strip_suffix(" UTC").unwrap_or(s);
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_micros());
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
            return Some(dt.timestamp_micros());
        }
    }
    let s = s.strip_suffix('Z').unwrap_or(s);
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(dt.and_utc().timestamp_micros());
        }
    }
    for fmt in ["%Y-%m-%d", "%m/%d/%Y", "%Y%m%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, fmt) {
            return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros());
        }
    }
    None
}

/// FOCUS ChargeCategory from any spelling (Azure ChargeType, GCP cost_type included).
fn charge_category(raw: &str) -> Option<&'static str> {
    Some(match raw.trim().to_lowercase().as_str() {
        "usage" | "regular" | "unusedreservation" | "unusedsavingsplan" => "Usage",
        "purchase" => "Purchase",
        "tax" => "Tax",
        "credit" | "refund" => "Credit",
        "adjustment" | "roundingadjustment" | "rounding_error" => "Adjustment",
        _ => return None,
    })
}

/// FOCUS PricingCategory from any spelling (Azure PricingModel included).
fn pricing_category(raw: &str) -> &'static str {
    match raw.trim().to_lowercase().as_str() {
        "standard" | "on-demand" | "ondemand" => "Standard",
        "committed" | "commitment-based" | "reservation" | "savingsplan" | "savings plan" => {
            "Committed"
        }
        "dynamic" | "spot" => "Dynamic",
        _ => "Other",
    }
}

/// Tags as a compact JSON object string. Accepts a JSON object, Azure's object body without
/// braces, or nothing (→ `{}`).
pub fn canonical_tags(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    if t.is_empty() {
        return Ok("{}".into());
    }
    let wrapped;
    let text = if t.starts_with('{') {
        t
    } else {
        wrapped = format!("{{{t}}}");
        &wrapped
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => {
            // Non-string values (numbers, booleans) become their JSON text.
            let map: serde_json::Map<String, serde_json::Value> = map
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        serde_json::Value::String(s) => serde_json::Value::String(s),
                        serde_json::Value::Null => serde_json::Value::String(String::new()),
                        other => serde_json::Value::String(other.to_string()),
                    };
                    (k, v)
                })
                .collect();
            Ok(serde_json::Value::Object(map).to_string())
        }
        Ok(_) => Err(format!("tags `{}` are not a JSON object", shorten(raw))),
        Err(e) => Err(format!("tags `{}` are not valid JSON ({e})", shorten(raw))),
    }
}

/// The first value of a string column ("" when null or empty).
fn first_string(df: &DataFrame, column: &str) -> PolarsResult<String> {
    Ok(df
        .column(column)?
        .str()?
        .get(0)
        .unwrap_or_default()
        .to_string())
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Lookup-table builder: map each unique value of a staging column through `f`, failing with
/// the first line holding a value `f` rejects.
struct Lookup<'a> {
    staged: &'a Staged,
    file: &'a Path,
}

impl<'a> Lookup<'a> {
    /// A staging column coded by its distinct values (a part's 256K hints are ~100-byte
    /// strings: each is hashed once).
    fn coded(&self, column: &str) -> Result<Coded<'a>, IngestError> {
        self.staged
            .df
            .column(column)
            .and_then(|c| c.str())
            .map(crate::coded::code)
            .map_err(polars_err(self.file))
    }

    /// Each row's answer: `rows` indexes `answers`.
    fn gather(&self, rows: &IdxCa, answers: Series) -> Result<Column, IngestError> {
        answers
            .take(rows)
            .map(IntoColumn::into_column)
            .map_err(polars_err(self.file))
    }

    fn line_of(&self, column: &str, value: &str) -> u64 {
        let df = &self.staged.df;
        let (Ok(c), Ok(lines)) = (df.column(column), df.column(stage::LINE)) else {
            return 0;
        };
        let (Ok(c), Ok(lines)) = (c.str(), lines.u64()) else {
            return 0;
        };
        c.iter()
            .position(|v| v == Some(value))
            .and_then(|i| lines.get(i))
            .unwrap_or(0)
    }

    fn bad(&self, column: &str, value: &str, message: String) -> IngestError {
        self.bad_at(column, self.line_of(column, value), message)
    }

    /// A bad value of `column` on `line` (of the file as its rows are numbered).
    fn bad_at(&self, column: &str, line: u64, message: String) -> IngestError {
        IngestError::BadValue {
            file: self.file.to_path_buf(),
            line,
            column: self
                .staged
                .origin
                .get(column)
                .cloned()
                .unwrap_or_else(|| column.to_string()),
            message,
        }
    }

    /// One string column per entry of `outputs`: `f`'s answers for each row's `column`.
    fn strings<F>(
        &self,
        column: &str,
        outputs: &[&str],
        mut f: F,
    ) -> Result<Vec<Column>, IngestError>
    where
        F: FnMut(Option<&str>) -> Result<Vec<Option<String>>, String>,
    {
        let coded = self.coded(column)?;
        let mut cols = builders(outputs, coded.keys.len());
        for k in &coded.keys {
            let vals = f(*k).map_err(|m| self.bad(column, k.unwrap_or(""), m))?;
            for (c, v) in cols.iter_mut().zip(vals) {
                c.append_option(v.as_deref());
            }
        }
        self.outputs(&coded.rows, cols)
    }

    /// The built answers gathered to the rows (`rows` indexes them).
    fn outputs(
        &self,
        rows: &IdxCa,
        answers: Vec<StringChunkedBuilder>,
    ) -> Result<Vec<Column>, IngestError> {
        answers
            .into_iter()
            .map(|b| self.gather(rows, b.finish().into_series()))
            .collect()
    }

    /// The rows of [`stage::HINT`] in pieces for [`HintMemo::look`] on every core, each
    /// piece (but the last) of `rows` rows.
    fn hint_pieces(&self, rows: usize) -> Result<Vec<StringChunked>, IngestError> {
        let hints = self
            .staged
            .df
            .column(stage::HINT)
            .and_then(|c| c.str())
            .map_err(polars_err(self.file))?;
        let rows = rows.max(1);
        Ok((0..hints.len().div_ceil(rows).max(1))
            .map(|i| hints.slice((i * rows) as i64, rows))
            .collect())
    }

    /// The model, usage type and pricing detail of each row's hint, from the pieces'
    /// [`HintMemo::look`]s in order: hints not remembered yet are answered (on every core)
    /// and remembered.
    fn hint_answers(
        &self,
        looked: Vec<(Vec<IdxSize>, Vec<&str>)>,
        outputs: &[&str; 3],
    ) -> Result<Vec<Column>, IngestError> {
        let mut memo = HINTS
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut new: Vec<&str> = looked.iter().flat_map(|(_, n)| n.iter().copied()).collect();
        if memo.hints.len() + new.len() > HINT_MEMO {
            // Forget the hints, not the answers: the looked-up rows hold answers' indexes.
            memo.hints.clear();
        }
        {
            let mut once = PlHashSet::new();
            new.retain(|h| once.insert(*h));
        }
        let pieces: Vec<&[&str]> = new.chunks(256).collect();
        for (piece, answers) in pieces.iter().zip(crate::timing::on_all_cores(&pieces, |p| {
            p.iter().map(|h| HintMemo::answer_of(h)).collect::<Vec<_>>()
        })) {
            for (hint, answer) in piece.iter().zip(answers) {
                memo.remember(hint, answer);
            }
        }
        let mut rows = Vec::with_capacity(looked.iter().map(|(r, _)| r.len()).sum());
        for (answers, new) in looked {
            rows.extend(answers.into_iter().map(|a| match a & HintMemo::NEW {
                0 => a,
                _ => memo.hints[new[(a & !HintMemo::NEW) as usize]],
            }));
        }
        let mut cols = builders(outputs, memo.answers.len());
        for answer in &memo.answers {
            for (c, v) in cols.iter_mut().zip(answer) {
                c.append_option(v.as_deref());
            }
        }
        drop(memo);
        self.outputs(&IdxCa::from_vec(PlSmallStr::EMPTY, rows), cols)
    }
}

/// The model, usage type and pricing detail of each row's hint ([`stage::HINT`]),
/// remembered across parts and files: a hint carries the resource id, so an export holds
/// ~10^5 distinct hints, every part of a large file sees most of them again, and the regexes
/// cost microseconds per hint where a lookup costs a hash. A hint is remembered as the index
/// of its answer among the few distinct answers, so a row's lookup touches a key and an
/// index, not three strings. Rows look their hints up in pieces, on every core: the hints
/// were one job, the longest of the lookups, and the other core had done all the others long
/// before it ended (10M rows: 3.2 s of the lookups' 3.2 s).
static HINTS: std::sync::LazyLock<std::sync::RwLock<HintMemo>> =
    std::sync::LazyLock::new(Default::default);

/// Rows per piece of hints looked up at once ([`Lookup::hint_pieces`]).
const HINT_PIECE: usize = 32_768;

/// Hints seen so far, each as the index of its (model, usage type, pricing detail) among
/// the distinct answers.
#[derive(Default)]
struct HintMemo {
    hints: PlHashMap<String, IdxSize>,
    answers: Vec<[Option<String>; 3]>,
    answer_index: PlHashMap<[Option<String>; 3], IdxSize>,
}

impl HintMemo {
    /// Marks a row of [`HintMemo::look`] whose hint is not remembered yet.
    const NEW: IdxSize = 1 << (IdxSize::BITS - 1);

    /// Each row's answer, or [`HintMemo::NEW`] + the index of its hint among the hints not
    /// remembered yet (which are returned, in the order they first appear). Under the read
    /// lock of [`HINTS`].
    fn look(rows: &StringChunked) -> (Vec<IdxSize>, Vec<&str>) {
        let memo = HINTS
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut new: PlHashMap<&str, IdxSize> = PlHashMap::new();
        let mut new_hints: Vec<&str> = Vec::new();
        let answers = rows
            .iter()
            .map(|hint| {
                let hint = hint.unwrap_or_default();
                match memo.hints.get(hint) {
                    Some(&i) => i,
                    None => {
                        Self::NEW
                            | *new.entry(hint).or_insert_with(|| {
                                new_hints.push(hint);
                                (new_hints.len() - 1) as IdxSize
                            })
                    }
                }
            })
            .collect();
        (answers, new_hints)
    }

    /// The model, usage type and pricing detail a hint names.
    fn answer_of(hint: &str) -> [Option<String>; 3] {
        [
            normalise::model(hint),
            Some(normalise::usage_type(hint).to_string()),
            normalise::pricing_detail(hint).map(str::to_string),
        ]
    }

    /// Remember `hint`'s answer (a hint already remembered keeps its own).
    fn remember(&mut self, hint: &str, answer: [Option<String>; 3]) {
        if self.hints.contains_key(hint) {
            return;
        }
        let i = match self.answer_index.get(&answer) {
            Some(&i) => i,
            None => {
                let i = self.answers.len() as IdxSize;
                self.answers.push(answer.clone());
                self.answer_index.insert(answer, i);
                i
            }
        };
        self.hints.insert(hint.to_string(), i);
    }
}

/// One string builder per output column.
fn builders(names: &[&str], capacity: usize) -> Vec<StringChunkedBuilder> {
    names
        .iter()
        .map(|n| StringChunkedBuilder::new((*n).into(), capacity))
        .collect()
}

/// Distinct hints remembered by [`Lookup::hints`] before the memory is cleared.
const HINT_MEMO: usize = 500_000;

/// Turn a staged file into daily CostRecord rows (plus what was skipped), or fail naming the
/// line and column of the first bad value.
pub fn finish(
    staged: Staged,
    file: &Path,
    format: Format,
    opts: &IngestOptions,
) -> Result<Parsed, IngestError> {
    let perr = polars_err(file);
    // Every staging column exists (formats may leave optional ones out).
    let mut staged = staged;
    {
        let present: Vec<String> = staged
            .df
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let missing: Vec<Expr> = stage::ALL
            .iter()
            .filter(|c| !present.iter().any(|p| p == *c))
            .map(|c| lit(NULL).cast(DataType::String).alias(*c))
            .collect();
        if !missing.is_empty() {
            staged.df = staged
                .df
                .clone()
                .lazy()
                .with_columns(missing)
                .collect()
                .map_err(&perr)?;
        }
    }
    let t = crate::timing::phase("ingest: checks and lookups");
    // Numbers: cast non-strictly (once: the parsed columns are kept for the rows), then any
    // value that was present but did not parse is an error.
    const NUMBERS: [(&str, &str); 3] = [
        (stage::BILLED, "__billed"),
        (stage::EFFECTIVE, "__effective"),
        (stage::QUANTITY, "__quantity"),
    ];
    staged.df = std::mem::take(&mut staged.df)
        .lazy()
        .with_columns(NUMBERS.map(|(c, parsed)| col(c).cast(DataType::Float64).alias(parsed)))
        .collect()
        .map_err(&perr)?;
    let lookup = Lookup {
        staged: &staged,
        file,
    };
    for (c, parsed) in NUMBERS {
        let check = staged
            .df
            .clone()
            .lazy()
            .select([col(stage::LINE), col(c), col(parsed)])
            .filter(
                col(c).is_not_null().and(
                    col(parsed)
                        .is_null()
                        .or(col(parsed).is_nan())
                        .or(col(parsed).abs().eq(lit(f64::INFINITY))),
                ),
            )
            .limit(1)
            .collect()
            .map_err(&perr)?;
        if check.height() > 0 {
            // The value as the file holds it: text, or a number a Parquet file typed (NaN).
            let raw = check
                .column(c)
                .and_then(|v| v.cast(&DataType::String))
                .and_then(|v| Ok(v.str()?.get(0).unwrap_or_default().to_string()))
                .map_err(&perr)?;
            let line = check
                .column(stage::LINE)
                .and_then(|l| Ok(l.u64()?.get(0).unwrap_or(0)))
                .map_err(&perr)?;
            return Err(lookup.bad_at(c, line, format!("`{}` is not a number", shorten(&raw))));
        }
    }
    for c in [
        stage::BILLED,
        stage::EFFECTIVE,
        stage::START,
        stage::CURRENCY,
        stage::CHARGE_CATEGORY,
        stage::PROVIDER,
    ] {
        let nulls = staged.df.column(c).map_err(&perr)?.null_count();
        if nulls > 0 {
            let lines = staged
                .df
                .clone()
                .lazy()
                .filter(col(c).is_null())
                .select([col(stage::LINE)])
                .limit(1)
                .collect()
                .map_err(&perr)?;
            let line = lines
                .column(stage::LINE)
                .map_err(&perr)?
                .u64()
                .map_err(&perr)?
                .get(0)
                .unwrap_or(0);
            return Err(IngestError::BadValue {
                file: file.to_path_buf(),
                line,
                column: staged
                    .origin
                    .get(c)
                    .cloned()
                    .unwrap_or_else(|| c.to_string()),
                message: "a value is required here but the field is empty".into(),
            });
        }
    }

    // One currency per file, ISO-shaped.
    let currencies = lookup.coded(stage::CURRENCY)?.keys;
    for cur in currencies.iter().flatten() {
        if !schema::is_currency_code(cur.trim()) {
            return Err(lookup.bad(
                stage::CURRENCY,
                cur,
                format!("`{cur}` is not a three-letter ISO 4217 currency code"),
            ));
        }
    }
    if currencies.len() > 1 {
        let first_line_row = first_string(&staged.df, stage::CURRENCY).map_err(&perr)?;
        let other = currencies
            .iter()
            .flatten()
            .find(|c| **c != first_line_row)
            .map(|c| c.to_string())
            .unwrap_or_default();
        return Err(IngestError::MixedCurrency {
            file: file.to_path_buf(),
            line: lookup.line_of(stage::CURRENCY, &other),
            column: staged
                .origin
                .get(stage::CURRENCY)
                .cloned()
                .unwrap_or_default(),
            first_line: lookup.line_of(stage::CURRENCY, &first_line_row),
            found: other,
            first: first_line_row,
        });
    }

    let ts_lookup = |column: &'static str, out: &'static str| -> Result<Vec<Column>, IngestError> {
        let coded = lookup.coded(column)?;
        let mut values = Vec::with_capacity(coded.keys.len());
        for k in &coded.keys {
            values.push(match k {
                None => None,
                Some(s) => Some(parse_timestamp(s).ok_or_else(|| {
                    lookup.bad(
                        column,
                        s,
                        format!("`{}` is not a date or timestamp", shorten(s)),
                    )
                })?),
            });
        }
        Ok(vec![
            lookup.gather(&coded.rows, Series::new(out.into(), values))?
        ])
    };
    let services = &opts.services;
    // The lookups are independent: run on every core (coding a column is one thread's loop),
    // and of several bad values the one in the first column of this list is reported. The
    // hints, the most work and unable to fail on a value, are looked up first, in pieces
    // both cores share ([`HINTS`]); the jobs below follow.
    type Job<'j> = Box<dyn Fn() -> Result<Vec<Column>, IngestError> + Sync + 'j>;
    let jobs: Vec<Job> = vec![
        Box::new(|| ts_lookup(stage::START, "__start_us")),
        Box::new(|| ts_lookup(stage::END, "__end_us")),
        Box::new(|| {
            lookup.strings(stage::CHARGE_CATEGORY, &["__charge_category"], |v| {
                let v = v.unwrap_or_default();
                charge_category(v)
                    .map(|c| vec![Some(c.to_string())])
                    .ok_or_else(|| {
                        format!(
                            "`{v}` is not a charge category (expected one of {:?})",
                            schema::CHARGE_CATEGORIES
                        )
                    })
            })
        }),
        Box::new(|| {
            lookup.strings(stage::PRICING_CATEGORY, &["__pricing_category"], |v| {
                Ok(vec![v.map(|v| pricing_category(v).to_string())])
            })
        }),
        Box::new(|| {
            lookup.strings(stage::TAGS, &["__tags"], |v| {
                canonical_tags(v.unwrap_or_default()).map(|t| vec![Some(t)])
            })
        }),
        Box::new(|| {
            lookup.strings(stage::PROVIDER, &["__provider"], |v| {
                Ok(vec![Some(normalise::provider(v.unwrap_or_default()))])
            })
        }),
        Box::new(|| {
            lookup.strings(stage::REGION, &["__region"], |v| {
                Ok(vec![v.and_then(normalise::region)])
            })
        }),
        Box::new(|| {
            lookup.strings(stage::SERVICE, &["__keep", "__llm"], |v| {
                let v = v.unwrap_or_default();
                let llm = ServiceFilter::default().keeps(v);
                Ok(vec![
                    Some(services.keeps(v).to_string()),
                    Some(llm.to_string()),
                ])
            })
        }),
        Box::new(|| {
            lookup.strings(stage::UNIT, &["__token_multiplier"], |v| {
                Ok(vec![normalise::token_unit_multiplier(
                    v.unwrap_or_default(),
                )
                .map(|m| m.to_string())])
            })
        }),
    ];
    enum Work<'w> {
        Hints(StringChunked),
        Lookup(Job<'w>),
    }
    enum Done<'w> {
        Hints(Vec<IdxSize>, Vec<&'w str>),
        Lookup(Vec<Column>),
    }
    let work: Vec<Work> = lookup
        .hint_pieces(HINT_PIECE)?
        .into_iter()
        .map(Work::Hints)
        .chain(jobs.into_iter().map(Work::Lookup))
        .collect();
    let mut answers: Vec<Column> = Vec::new();
    let mut looked = Vec::new();
    fn run<'w>(work: &'w Work<'_>) -> Result<Done<'w>, IngestError> {
        match work {
            Work::Hints(rows) => {
                let (answers, new) = HintMemo::look(rows);
                Ok(Done::Hints(answers, new))
            }
            Work::Lookup(job) => job().map(Done::Lookup),
        }
    }
    for done in crate::timing::on_all_cores(&work, run) {
        match done? {
            Done::Hints(answers, new) => looked.push((answers, new)),
            Done::Lookup(columns) => answers.extend(columns),
        }
    }
    answers.extend(lookup.hint_answers(looked, &["__model", "__usage_type", "__detail"])?);
    drop(work);

    let source_expr = match &opts.source {
        Some(s) => lit(s.clone()),
        None => {
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            concat_str(
                [
                    lit(format!("{}:", format.name())),
                    col(stage::BILLING_ACCOUNT).fill_null(lit(stem)),
                ],
                "",
                false,
            )
        }
    };

    drop(t);
    let t = crate::timing::phase("ingest: joined rows");
    let day = |us: &str| col(us).cast(schema::timestamp()).cast(DataType::Date);
    let to_ts = |d: Expr| d.cast(schema::timestamp());
    let lf = staged.df.hstack(&answers).map_err(&perr)?.lazy();
    let is_llm = col("__llm")
        .eq(lit("true"))
        .or(col("__model").is_not_null());
    let rows = lf
        .with_columns([
            when(is_llm.clone())
                .then(col("__usage_type"))
                .otherwise(lit("other"))
                .alias("usage_type"),
            col("__token_multiplier").cast(DataType::Float64),
        ])
        // Token quantities in tokens whatever unit the bill counts them in (`1K`, `1M count`).
        .with_columns([
            when(
                col("usage_type")
                    .str()
                    .ends_with(lit("_tokens"))
                    .and(col("__token_multiplier").is_not_null()),
            )
            .then(lit("tokens"))
            .otherwise(col(stage::UNIT))
            .alias(stage::UNIT),
            when(
                col("usage_type")
                    .str()
                    .ends_with(lit("_tokens"))
                    .and(col("__token_multiplier").is_not_null()),
            )
            .then(col("__quantity") * col("__token_multiplier"))
            .otherwise(col("__quantity"))
            .alias("consumed_quantity"),
        ])
        .with_columns([
            day("__start_us").alias("__day"),
            source_expr.alias("source"),
            col("__billed").alias("billed_cost"),
            col("__effective").alias("effective_cost"),
            col("__keep").eq(lit("true")).alias("__keep"),
            // Non-LLM rows (kept with --services) carry no model or token usage type.
            when(is_llm.clone())
                .then(col("__model"))
                .otherwise(lit(NULL).cast(DataType::String))
                .alias("model"),
            col(stage::PRICING_DETAIL)
                .fill_null(col("__detail"))
                .alias("pricing_detail"),
        ])
        .collect()
        .map_err(&perr)?;

    drop(t);
    let t = crate::timing::phase("ingest: covered, skipped, records");
    // Partitions covered by the file (kept or not): all replaced on write.
    let covered_df = rows
        .clone()
        .lazy()
        .select([col("source"), col("__day")])
        .unique(None, UniqueKeepStrategy::Any)
        .collect()
        .map_err(&perr)?;
    let covered: Vec<(String, NaiveDate)> = {
        let s = covered_df
            .column("source")
            .map_err(&perr)?
            .str()
            .map_err(&perr)?
            .clone();
        let d = covered_df
            .column("__day")
            .map_err(&perr)?
            .date()
            .map_err(&perr)?
            .physical()
            .clone();
        s.iter()
            .zip(d.iter())
            .filter_map(|(s, d)| Some((s?.to_string(), schema::date_of_day_number(d?))))
            .collect()
    };

    let skipped = rows
        .clone()
        .lazy()
        .filter(col("__keep").not())
        .group_by([col(stage::CURRENCY)])
        .agg([col("effective_cost").sum()])
        .collect()
        .map_err(&perr)?;
    let skipped_cost: Vec<(String, f64)> = {
        let c = skipped
            .column(stage::CURRENCY)
            .map_err(&perr)?
            .str()
            .map_err(&perr)?
            .clone();
        let v = skipped
            .column("effective_cost")
            .map_err(&perr)?
            .f64()
            .map_err(&perr)?
            .clone();
        c.iter()
            .zip(v.iter())
            .map(|(c, v)| (c.unwrap_or_default().to_string(), v.unwrap_or(0.0)))
            .collect()
    };
    let skipped_services: BTreeSet<String> = rows
        .column("__keep")
        .map_err(&perr)?
        .bool()
        .map_err(&perr)?
        .iter()
        .zip(
            rows.column(stage::SERVICE)
                .map_err(&perr)?
                .str()
                .map_err(&perr)?
                .iter(),
        )
        .filter(|(k, _)| *k == Some(false))
        .filter_map(|(_, s)| s.map(str::to_string))
        .collect();

    let rows_read = records(&rows, false).map_err(&perr)?;
    let rows_kept = records(&rows, true).map_err(&perr)?;
    drop(t);
    let _t = crate::timing::phase("ingest: daily rows");
    let keys = [
        "__day",
        "__provider",
        stage::SERVICE,
        stage::ACCOUNT,
        "__region",
        stage::RESOURCE,
        "model",
        "usage_type",
        "__charge_category",
        "__pricing_category",
        "pricing_detail",
        stage::UNIT,
        stage::CURRENCY,
        "__tags",
        "source",
    ];
    // Groups in the order of the file (of the first row summed into each); sorted by day
    // below only when the file's days are not in order.
    let kept = rows
        .lazy()
        .filter(col("__keep"))
        .select(
            keys.iter()
                .chain(&MEASURES)
                .map(|c| col(*c))
                .collect::<Vec<_>>(),
        )
        .collect()
        .map_err(&perr)?;
    let daily = sum_same_keys(kept, &keys)
        .map_err(&perr)?
        .lazy()
        .select([
            to_ts(col("__day")).alias("charge_period_start"),
            to_ts((col("__day").cast(DataType::Int32) + lit(1)).cast(DataType::Date))
                .alias("charge_period_end"),
            col("__provider").alias("provider_name"),
            col(stage::SERVICE).alias("service_name"),
            col(stage::ACCOUNT).alias("sub_account_id"),
            col("__region").alias("region_id"),
            col(stage::RESOURCE).alias("resource_id"),
            col("model"),
            col("usage_type"),
            col("__charge_category").alias("charge_category"),
            col("__pricing_category").alias("pricing_category"),
            col("pricing_detail"),
            col("consumed_quantity"),
            col(stage::UNIT).alias("consumed_unit"),
            col("billed_cost"),
            col("effective_cost"),
            col(stage::CURRENCY)
                .str()
                .strip_chars(lit(NULL))
                .alias("billing_currency"),
            col("__tags").fill_null(lit("{}")).alias("tags"),
            col("source"),
        ])
        .collect()
        .map_err(&perr)?;
    // Each day's rows in the order of the file: a stable sort on the day, only if needed
    // (a sort gathers every column).
    let in_day_order = daily
        .column("charge_period_start")
        .and_then(|c| c.datetime().map(|d| d.physical().iter().is_sorted()))
        .map_err(&perr)?;
    let daily = if in_day_order {
        daily
    } else {
        daily
            .sort(
                ["charge_period_start"],
                SortMultipleOptions::default().with_maintain_order(true),
            )
            .map_err(&perr)?
    };
    schema::validate_cost(&daily).map_err(|e| IngestError::BadValue {
        file: file.to_path_buf(),
        line: 0,
        column: "(result)".into(),
        message: format!("internal: produced rows fail the schema: {e}"),
    })?;
    Ok(Parsed {
        file: file.to_path_buf(),
        format,
        rows_read,
        rows_kept,
        skipped_cost,
        skipped_services,
        frame: daily,
        covered,
    })
}

/// Distinct file lines (records) among `rows`, optionally only the kept ones: a GCP record
/// with credits stages as several rows but is one record of the file.
fn records(rows: &DataFrame, kept_only: bool) -> PolarsResult<usize> {
    let mut lf = rows.clone().lazy();
    if kept_only {
        lf = lf.filter(col("__keep"));
    }
    let n = lf.select([col(stage::LINE).n_unique()]).collect()?;
    Ok(n.column(stage::LINE)?
        .cast(&DataType::UInt64)?
        .u64()?
        .get(0)
        .unwrap_or(0) as usize)
}

/// Large files are read in parts of about this many bytes of CSV (Parquet: this many / 256
/// rows), so ingest memory is bounded by the part, not the file.
pub const PART_BYTES: usize = 64 << 20;

/// Parse one file: detect container and format, stage, finish. A file larger than one part
/// is parsed part by part and the parts merged in memory (see [`ingest_files`] for the
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
        whole.frame = merge_rows(whole.frame).map_err(polars_err(file))?;
    }
    Ok(whole)
}

/// Parse `file` in parts, handing each part's [`Parsed`] to `each` as soon as it is done.
fn parse_parts(
    file: &Path,
    opts: &IngestOptions,
    each: &mut dyn FnMut(Parsed) -> Result<(), IngestError>,
) -> Result<(), IngestError> {
    let io = |source| IngestError::Io {
        file: file.to_path_buf(),
        cause: source,
    };
    let meta = std::fs::metadata(file).map_err(io)?;
    let container = container_of(file)?;
    // An empty file (an export of a period without charges) is valid and holds nothing.
    if meta.len() <= 3
        && std::fs::read(file)
            .map(|b| {
                b.iter()
                    .all(|c| matches!(c, 0xEF | 0xBB | 0xBF | b'\r' | b'\n' | b' '))
            })
            .unwrap_or(false)
    {
        return each(Parsed::empty(file, opts.format.unwrap_or(Format::Focus)));
    }
    let format = match opts.format {
        Some(f) => f,
        None => {
            let columns = header_columns(file, container)?;
            if meta.len() == 0 || columns.is_empty() {
                return Err(IngestError::UnknownFormat {
                    file: file.to_path_buf(),
                    columns: "the file is empty".into(),
                });
            }
            detect(&columns).ok_or_else(|| IngestError::UnknownFormat {
                file: file.to_path_buf(),
                columns: summarize_columns(&columns),
            })?
        }
    };
    let part_bytes = opts.part_bytes.max(1);
    // GCP exports are JSON records, read whole.
    let parts: Box<dyn Iterator<Item = std::io::Result<Part>>> = match container {
        Container::Csv if format != Format::Gcp && meta.len() > part_bytes as u64 => {
            Box::new(chunks::CsvParts::open(file, part_bytes).map_err(io)?)
        }
        Container::Parquet if format != Format::Gcp => {
            let rows = ParquetReader::new(std::fs::File::open(file).map_err(io)?)
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
    };
    // One currency per file, across its parts too: (currency, line) of the first row.
    let mut first_currency: Option<(String, u64)> = None;
    let mut parts = parts;
    loop {
        let tn = crate::timing::phase("ingest: read a part");
        let Some(part) = parts.next() else { break };
        drop(tn);
        let part = part.map_err(io)?;
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
        let (line, currency) = {
            let c = |name| {
                staged
                    .df
                    .column(name)
                    .map_err(polars_err(file))
                    .map(|c| c.as_materialized_series().clone())
            };
            (c(stage::LINE)?, c(stage::CURRENCY)?)
        };
        let (line, currency) = (
            line.u64().map_err(polars_err(file))?,
            currency.str().map_err(polars_err(file))?,
        );
        match &first_currency {
            None => {
                first_currency = currency
                    .get(0)
                    .map(|c| (c.to_string(), line.get(0).unwrap_or(0)))
            }
            Some((first, first_line)) => {
                // Codes that are not currencies at all are reported by `finish`, as they are
                // in a file read whole.
                let differs = |c: &str| c != first && schema::is_currency_code(c.trim());
                if let Some(i) = currency.iter().position(|c| c.is_some_and(differs)) {
                    return Err(IngestError::MixedCurrency {
                        file: file.to_path_buf(),
                        line: line.get(i).unwrap_or(0),
                        column: staged
                            .origin
                            .get(stage::CURRENCY)
                            .cloned()
                            .unwrap_or_default(),
                        first_line: *first_line,
                        found: currency.get(i).unwrap_or_default().to_string(),
                        first: first.clone(),
                    });
                }
            }
        }
        let t = crate::timing::phase("ingest: finish a part");
        let parsed = finish(staged, file, format, opts)?;
        drop(t);
        let _t = crate::timing::phase("ingest: keep a part's rows");
        each(parsed)?;
    }
    if first_currency.is_none() {
        // Only empty parts (a header without rows).
        each(Parsed::empty(file, format))?;
    }
    Ok(())
}

/// The columns [`daily_sums`] sums.
const MEASURES: [&str; 3] = ["billed_cost", "effective_cost", "consumed_quantity"];

/// `frame`'s rows (`keys` and [`MEASURES`]) with the same keys summed into one
/// ([`daily_sums`]), in the order of each key's first row: polars' `group_by_stable`, done
/// by polars only for the rows that may share their keys. A daily export of 10M rows has
/// ~10M distinct days and keys: grouping all of them encoded each row's 15 keys into one
/// row of bytes, hashed it and gathered every key column again (the largest part of the
/// ingest's CPU). Each row's keys are hashed instead; a row whose hash no other row has
/// shares its keys with none (equal keys hash alike) and is its own sum. The rows whose hash
/// repeats are grouped by polars on their keys, which is exact whatever the hashes.
fn sum_same_keys(frame: DataFrame, keys: &[&str]) -> PolarsResult<DataFrame> {
    let n = frame.height();
    let grouped = |frame: DataFrame, first_row: Option<Expr>| {
        frame
            .lazy()
            .group_by_stable(keys.iter().map(|k| col(*k)).collect::<Vec<_>>())
            .agg(
                daily_sums()
                    .into_iter()
                    .chain(first_row)
                    .collect::<Vec<_>>(),
            )
            .collect()
    };
    // Each half of the rows on its own core.
    let hash = |rows: DataFrame| -> PolarsResult<Vec<u64>> {
        let mut hashes: Vec<u64> = Vec::with_capacity(rows.height());
        let random_state = PlSeedableRandomStateQuality::seed_from_u64(0);
        for (i, k) in keys.iter().enumerate() {
            let series = rows.column(k)?.as_materialized_series();
            if i == 0 {
                series.vec_hash(random_state.clone(), &mut hashes)?;
            } else {
                series.vec_hash_combine(random_state.clone(), &mut hashes)?;
            }
        }
        Ok(hashes)
    };
    let (first, second) = crate::timing::both(
        || hash(frame.slice(0, n / 2)),
        || hash(frame.slice((n / 2) as i64, n - n / 2)),
    );
    let mut hashes = first?;
    hashes.extend(second?);
    let mut repeats: PlHashMap<u64, bool> = PlHashMap::with_capacity(n);
    for h in &hashes {
        repeats
            .entry(*h)
            .and_modify(|repeated| *repeated = true)
            .or_insert(false);
    }
    let repeated: Vec<bool> = hashes.iter().map(|h| repeats[h]).collect();
    drop(repeats);
    let shared = repeated.iter().filter(|r| **r).count();
    if shared * 2 > n {
        // Mostly sums of several rows (an hourly export): all to polars.
        return grouped(frame, None);
    }
    // A row alone is its own sum: money as polars sums one value (a null sums to 0), the
    // quantity as it is (null stays null).
    let alone = |measure: &str, v: Option<f64>| match measure {
        "consumed_quantity" => v,
        _ => Some(v.unwrap_or(0.0)),
    };
    if shared == 0 {
        // Only a null amount of money differs from its sum (ingest has refused those
        // already; the columns are not rebuilt for nothing).
        let mut frame = frame;
        for m in ["billed_cost", "effective_cost"] {
            let own = frame.column(m)?.f64()?;
            if own.null_count() > 0 {
                let own: Float64Chunked = own.iter().map(|v| alone(m, v)).collect();
                frame.with_column(own.with_name(m.into()).into_column())?;
            }
        }
        return Ok(frame);
    }
    let sums = grouped(
        frame.clone().with_row_index("__row".into(), None)?.filter(
            &BooleanChunked::from_iter_values(PlSmallStr::EMPTY, repeated.iter().copied()),
        )?,
        Some(col("__row").first()),
    )?;
    // Kept: the rows alone and the first row of each group (with its group's sums).
    let mut kept: Vec<bool> = repeated.iter().map(|r| !r).collect();
    for first in sums.column("__row")?.idx()?.into_no_null_iter() {
        kept[first as usize] = true;
    }
    let summed_at: Vec<bool> = kept
        .iter()
        .zip(&repeated)
        .filter(|(k, _)| **k)
        .map(|(_, r)| *r)
        .collect();
    let mut out = frame.filter(&BooleanChunked::from_iter_values(
        PlSmallStr::EMPTY,
        kept.into_iter(),
    ))?;
    for m in MEASURES {
        // The groups' sums in the order of their first rows, which is the order of `out`.
        let mut group_sums = sums.column(m)?.f64()?.iter();
        let values: Float64Chunked = out
            .column(m)?
            .f64()?
            .iter()
            .zip(&summed_at)
            .map(|(own, summed)| match summed {
                true => group_sums.next().flatten(),
                false => alone(m, own),
            })
            .collect();
        out.with_column(values.with_name(m.into()).into_column())?;
    }
    Ok(out)
}

/// The money and quantity of rows summed into one daily row; all-null quantities stay null
/// rather than becoming 0.
fn daily_sums() -> [Expr; 3] {
    [
        col("billed_cost").sum(),
        col("effective_cost").sum(),
        when(col("consumed_quantity").count().gt(lit(0)))
            .then(col("consumed_quantity").sum())
            .otherwise(lit(NULL).cast(DataType::Float64))
            .alias("consumed_quantity"),
    ]
}

/// Rows of the same partition and key that came from different parts of a file (or
/// different files of one run), summed into one row as a single read would have made them.
fn merge_rows(rows: DataFrame) -> PolarsResult<DataFrame> {
    let keys: Vec<&str> = schema::COST_COLUMNS
        .iter()
        .map(|c| c.name)
        .filter(|c| !MEASURES.contains(c))
        .collect();
    // Stable both ways: rows arrive in file order (parts in order), so each day's merged
    // rows keep the order a single read of the file would give them.
    let merged = sum_same_keys(rows, &keys)?.select(schema::COST_COLUMNS.iter().map(|c| c.name))?;
    // Sorted (a gather of every column) only when out of order: the rows of a file in day
    // order, cut into parts, arrive in order already.
    let source = merged.column("source")?.str()?;
    let start = merged.column("charge_period_start")?.datetime()?.physical();
    let in_order = source.iter().zip(start.iter()).is_sorted();
    if in_order {
        return Ok(merged);
    }
    merged.sort(
        ["source", "charge_period_start"],
        SortMultipleOptions::default().with_maintain_order(true),
    )
}

impl Parsed {
    /// Add another part's counts, skipped cost, and covered partitions (not its rows).
    fn absorb(&mut self, other: Parsed) {
        self.rows_read += other.rows_read;
        self.rows_kept += other.rows_kept;
        for (currency, cost) in other.skipped_cost {
            match self.skipped_cost.iter_mut().find(|(c, _)| *c == currency) {
                Some((_, total)) => *total += cost,
                None => self.skipped_cost.push((currency, cost)),
            }
        }
        self.skipped_services.extend(other.skipped_services);
        self.covered.extend(other.covered);
        self.covered.sort();
        self.covered.dedup();
    }
}

/// Rows shaped like the GCP billing export (what the BigQuery collector fetches), parsed
/// exactly as an export file's rows are; `label` names the request in messages.
pub fn parse_gcp_rows(
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
pub fn parse_azure_frame(
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

fn summarize_columns(columns: &[String]) -> String {
    let shown: Vec<&str> = columns.iter().take(8).map(String::as_str).collect();
    if columns.len() > 8 {
        format!("{}, … {} columns", shown.join(", "), columns.len())
    } else {
        shown.join(", ")
    }
}

/// A tabular export (CSV or Parquet) read as strings, with its column names, for formats
/// that map columns by name.
pub(crate) struct ExportTable<'a> {
    file: &'a Path,
    format: &'static str,
    hint: &'static str,
    pub df: DataFrame,
    pub columns: Vec<String>,
}

impl<'a> ExportTable<'a> {
    /// `numbers`: the format's money and quantity columns, kept as numbers where a Parquet
    /// file types them so (see [`read_parquet_part`]).
    pub fn read(
        file: &'a Path,
        container: Container,
        part: &Part,
        numbers: &[&str],
        format: &'static str,
        hint: &'static str,
    ) -> Result<ExportTable<'a>, IngestError> {
        let df = match container {
            Container::Parquet => read_parquet_part(file, part, numbers)?,
            _ => read_csv_strings(file, part)?,
        };
        Ok(ExportTable::new(file, df, format, hint))
    }

    fn new(
        file: &'a Path,
        df: DataFrame,
        format: &'static str,
        hint: &'static str,
    ) -> ExportTable<'a> {
        let columns = df
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        ExportTable {
            file,
            format,
            hint,
            df,
            columns,
        }
    }

    /// Rows already in memory (e.g. an API's answer), all columns strings; row `i` is
    /// "line" `i + 1` in messages.
    pub fn from_frame(
        file: &'a Path,
        df: DataFrame,
        format: &'static str,
        hint: &'static str,
    ) -> Result<ExportTable<'a>, IngestError> {
        let df = df
            .lazy()
            .with_row_index(stage::LINE, Some(1))
            .collect()
            .map_err(polars_err(file))?;
        Ok(ExportTable::new(file, df, format, hint))
    }

    pub fn file(&self) -> std::path::PathBuf {
        self.file.to_path_buf()
    }

    /// The first of `candidates` present (exact, then case-insensitive).
    pub fn optional(&self, candidates: &[&str]) -> Option<String> {
        find_column(&self.columns, candidates)
    }

    /// Like [`ExportTable::optional`], but a missing column is an error naming it.
    pub fn required(&self, candidates: &[&str]) -> Result<String, IngestError> {
        self.optional(candidates)
            .ok_or_else(|| IngestError::MissingColumn {
                file: self.file.to_path_buf(),
                column: candidates.join("` or `"),
                format: self.format,
                hint: self.hint.to_string(),
            })
    }
}

/// Column lookup by exact name, then case-insensitively, among `candidates` in order.
pub(crate) fn find_column(columns: &[String], candidates: &[&str]) -> Option<String> {
    for cand in candidates {
        if let Some(c) = columns.iter().find(|c| c == cand) {
            return Some(c.clone());
        }
    }
    for cand in candidates {
        if let Some(c) = columns.iter().find(|c| c.eq_ignore_ascii_case(cand)) {
            return Some(c.clone());
        }
    }
    None
}

/// Outcome of ingesting several files.
#[derive(Debug)]
pub struct IngestReport {
    pub parsed: Vec<Parsed>,
    pub failed: Vec<IngestError>,
    pub written: WriteSummary,
}

/// Ingest `files` into the store. Files that fail to parse are reported and write nothing;
/// the rest are written in one atomic store commit. Files of the same source in one run are
/// combined (an export split into parts); across runs a (source, day) partition is replaced.
///
/// Memory stays bounded on large files: a file larger than one part is parsed part by part;
/// the days inside a part in day order are written to the store at once ([`Direct`]), the
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
    let _t = crate::timing::phase("ingest: merge and write partitions");
    let written = if parsed.is_empty() {
        WriteSummary::default()
    } else if !spill.used && direct.writer.is_none() {
        let frames: Vec<LazyFrame> = parsed.iter().map(|p| p.frame.clone().lazy()).collect();
        let combined = concat(frames, UnionArgs::default())
            .and_then(|lf| lf.collect())
            .map_err(combined_err)?;
        store.replace(lock, Table::Cost, &combined, &covered)?
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
        writer.commit(&covered)?
    };
    Ok(IngestReport {
        parsed,
        failed,
        written,
    })
}

/// [`parse_parts`] with each part handed to `each` on this thread while the next part is
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
            parse_parts(file, opts, &mut |p| {
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
struct Spill {
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
    used: bool,
}

impl Spill {
    fn new(dir: PathBuf) -> Spill {
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
    fn write(&mut self, frame: DataFrame, file: &Path) -> Result<(), IngestError> {
        self.add(frame, file, true)
    }

    /// [`Spill::write`], to disk at once unless `hold` (a slice of a part would keep the
    /// whole part's buffers alive while held).
    fn add(&mut self, frame: DataFrame, file: &Path, hold: bool) -> Result<(), IngestError> {
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
    fn write_kept(&mut self, frame: DataFrame, file: &Path) -> Result<(), IngestError> {
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
    fn holds(&self, day: NaiveDate) -> bool {
        self.days.contains_key(&day)
            || self
                .pending
                .iter()
                .any(|(_, counts)| counts.iter().any(|(d, _)| *d == day))
    }

    /// The file ended well: its pieces count towards the write.
    fn keep(&mut self) {
        for (_, counts) in self.pending.drain(..) {
            for (d, n) in counts {
                let e = self.days.entry(d).or_default();
                e.0 += n;
                e.1 += 1;
            }
        }
    }

    /// The file failed: its pieces are dropped.
    fn discard(&mut self) {
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
    fn rows(&self) -> PolarsResult<LazyFrame> {
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
    fn day_batches(&self) -> Vec<(NaiveDate, NaiveDate, Vec<NaiveDate>)> {
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
    fn batch(
        &self,
        all: &LazyFrame,
        (first, last, split): &(NaiveDate, NaiveDate, Vec<NaiveDate>),
    ) -> PolarsResult<DataFrame> {
        let _t = crate::timing::phase("ingest: merge a batch of days");
        let rows = all.clone().filter(crate::analyse::between(*first, *last));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `sum_same_keys` against polars' `group_by_stable` of the same rows: frames of rows
    /// each alone, a few sharing keys (nulls among keys and measures, a -0.0), and mostly
    /// sharing (handed to polars whole).
    #[test]
    fn sums_of_rows_with_the_same_keys_are_polars_group_by() {
        let frame = |a: Vec<Option<&str>>, day: Vec<i32>, cost: Vec<f64>, q: Vec<Option<f64>>| {
            let n = a.len();
            DataFrame::new(
                n,
                vec![
                    Column::new("a".into(), a),
                    Column::new("day".into(), day)
                        .cast(&DataType::Date)
                        .unwrap(),
                    Column::new("billed_cost".into(), cost.clone()),
                    // A null amount where the cost is 2.0.
                    Column::new(
                        "effective_cost".into(),
                        cost.iter()
                            .map(|c| (*c != 2.0).then_some(c * 2.0))
                            .collect::<Vec<_>>(),
                    ),
                    Column::new("consumed_quantity".into(), q),
                ],
            )
            .map(|df| (df, n))
            .unwrap()
        };
        let keys = ["a", "day"];
        let polars = |df: &DataFrame| {
            df.clone()
                .lazy()
                .group_by_stable([col("a"), col("day")])
                .agg(daily_sums())
                .collect()
                .unwrap()
        };
        let cases = [
            // Every row alone, a null key and -0.0 among them.
            frame(
                vec![Some("x"), None, Some(""), Some("y")],
                vec![1, 1, 1, 2],
                vec![1.5, -0.0, 2.0, 0.25],
                vec![Some(3.0), None, Some(0.0), Some(1.0)],
            ),
            // Two groups of several rows among rows alone; one group's quantities all null,
            // null keys grouped with each other but not with "".
            frame(
                vec![
                    Some("x"),
                    None,
                    Some("y"),
                    Some("x"),
                    None,
                    Some(""),
                    Some("z"),
                    Some("w"),
                    Some("v"),
                    Some("u"),
                ],
                vec![1, 1, 1, 1, 1, 1, 3, 3, 3, 3],
                vec![1.0, 2.0, 3.0, 0.1, 0.2, 0.3, 4.0, 5.0, 6.0, 7.0],
                vec![
                    None,
                    Some(1.0),
                    Some(2.0),
                    None,
                    Some(4.0),
                    None,
                    Some(5.0),
                    None,
                    Some(6.0),
                    Some(7.0),
                ],
            ),
            // Mostly shared keys.
            frame(
                vec![Some("x"), Some("x"), Some("x"), Some("y"), Some("y")],
                vec![1, 1, 1, 1, 2],
                vec![1.0, 2.0, 3.0, 4.0, 5.0],
                vec![Some(1.0), None, Some(2.0), None, None],
            ),
        ];
        for (df, n) in cases {
            let ours = sum_same_keys(df.clone(), &keys).unwrap();
            let want = polars(&df);
            assert!(ours.height() <= n);
            let names: Vec<PlSmallStr> = want.get_column_names().into_iter().cloned().collect();
            assert_eq!(ours.select(names).unwrap(), want, "{df}");
            // Bit for bit: a -0.0 stays what polars makes of it.
            for m in MEASURES {
                let bits = |d: &DataFrame| -> Vec<Option<u64>> {
                    d.column(m)
                        .unwrap()
                        .f64()
                        .unwrap()
                        .iter()
                        .map(|v| v.map(f64::to_bits))
                        .collect()
                };
                assert_eq!(bits(&ours), bits(&want), "{m} of {df}");
            }
        }
    }

    /// Hints looked up in pieces (however small) answer each row as its own hint would:
    /// hints new to the memory and remembered ones, repeated within and across pieces.
    #[test]
    fn hints_looked_up_in_pieces_answer_every_row_by_its_own_hint() {
        let base = [
            "Azure OpenAI | | | gpt-4o Input Tokens | gpt-4o Input tokens | | res-1 |",
            "Amazon Bedrock | | | Claude 3.5 Sonnet Output Tokens | Claude 3.5 Sonnet Output tokens | | res-2 |",
            "Amazon Bedrock | | | Cohere Command R Input Tokens | Cohere Command R Input tokens | | res-3 |",
            "Amazon S3 | Storage | | | TimedStorage-ByteHrs | | bucket-1 |",
            "",
        ];
        // The largest pieces first: the base hints are all new to the memory in one piece.
        for piece in [100, 7, 3, 1] {
            // Base hints (new in the first run, remembered after) and two hints new to each
            // run, so that a piece holds several new hints.
            let own = [
                format!("Azure OpenAI | | | gpt-4o-mini Output Tokens | | | res-a{piece} |"),
                format!("Amazon Bedrock | | | Llama 3 70B Input Tokens | | | res-b{piece} |"),
            ];
            let hints: Vec<&str> = (0..23)
                .map(|i| match i % 4 {
                    1 => own[0].as_str(),
                    3 => own[1].as_str(),
                    _ => base[(i * 7) % base.len()],
                })
                .collect();
            let staged = Staged {
                df: DataFrame::new(
                    hints.len(),
                    vec![Column::new(stage::HINT.into(), hints.clone())],
                )
                .unwrap(),
                origin: HashMap::new(),
            };
            let lookup = Lookup {
                staged: &staged,
                file: Path::new("hints.csv"),
            };
            let pieces = lookup.hint_pieces(piece).unwrap();
            assert_eq!(pieces.len(), hints.len().div_ceil(piece));
            let looked = pieces.iter().map(HintMemo::look).collect();
            let answers = lookup.hint_answers(looked, &["m", "u", "d"]).unwrap();
            let got = |c: usize, row: usize| answers[c].str().unwrap().get(row).map(str::to_string);
            let mut distinct = BTreeSet::new();
            for (row, hint) in hints.iter().enumerate() {
                let want = HintMemo::answer_of(hint);
                assert_eq!(
                    [got(0, row), got(1, row), got(2, row)],
                    want,
                    "row {row}: {hint}"
                );
                distinct.insert(want);
            }
            assert!(distinct.len() >= 4, "the hints answer alike: {distinct:?}");
        }
    }

    #[test]
    fn timestamps_in_every_export_spelling() {
        let t = |s| {
            parse_timestamp(s).map(|us| DateTime::from_timestamp_micros(us).unwrap().to_rfc3339())
        };
        let want = Some("2024-09-18T22:00:00+00:00".to_string());
        assert_eq!(t("2024-09-18 22:00:00"), want);
        assert_eq!(t("2024-09-18T22:00:00Z"), want);
        assert_eq!(t("2024-09-18 22:00:00 UTC"), want);
        assert_eq!(t("2024-09-18 22:00:00+00:00"), want);
        assert_eq!(t("2024-09-18T23:00:00+01:00"), want);
        assert_eq!(t("2024-09-18 22:00:00.000000"), want);
        assert_eq!(
            t("09/18/2024"),
            Some("2024-09-18T00:00:00+00:00".to_string())
        );
        assert_eq!(
            t("2024-09-18"),
            Some("2024-09-18T00:00:00+00:00".to_string())
        );
        assert_eq!(t("18.09.2024"), None);
        assert_eq!(t("yesterday"), None);
    }

    #[test]
    fn azure_tags_without_braces_become_json() {
        assert_eq!(
            canonical_tags(r#""CostCenter": "1234","env": "prod""#).unwrap(),
            r#"{"CostCenter":"1234","env":"prod"}"#
        );
        assert_eq!(canonical_tags("").unwrap(), "{}");
        assert!(canonical_tags("not json").is_err());
        assert!(canonical_tags("[1,2]").is_err());
    }

    #[test]
    fn csv_header_split_handles_quotes_and_bom() {
        assert_eq!(split_csv_header(r#""a","b,c",d"#), ["a", "b,c", "d"]);
    }
}

//! Reading one part of an export as string columns with its file line numbers: CSV (ragged
//! records named by line) and Parquet (money kept as the numbers the file types), and
//! `ExportTable`, the column lookup by name that format modules stage from.

use super::{polars_err, stage, Container, IngestError, Part};
use polars::prelude::*;
use std::path::Path;

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
            .and_then(polars::prelude::LazyFrame::collect),
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
        .map(std::string::ToString::to_string)
        .collect();
    duplicate_columns(file, &names)?;
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

/// A header naming one column twice (exactly — the reader renames the second
/// `NAME_duplicated_0` — or differing only in case) is an error naming both positions:
/// which of the two holds the money cannot be guessed.
fn duplicate_columns(file: &Path, names: &[String]) -> Result<(), IngestError> {
    let header: Vec<&str> = names
        .iter()
        .filter(|n| n.as_str() != stage::LINE)
        .map(|n| n.trim_start_matches('\u{feff}'))
        .collect();
    let base = |n: &str| -> String {
        let cut = n.rfind("_duplicated_").filter(|i| {
            n[i + "_duplicated_".len()..]
                .bytes()
                .all(|b| b.is_ascii_digit())
                && header.contains(&&n[..*i])
        });
        cut.map_or(n, |i| &n[..i]).to_ascii_lowercase()
    };
    for (j, later) in header.iter().enumerate() {
        let key = base(later);
        if let Some(i) = header[..j].iter().position(|n| base(n) == key) {
            return Err(IngestError::BadValue {
                file: file.to_path_buf(),
                line: 1,
                column: header[i].to_string(),
                message: format!(
                    "the header names this column twice (columns {} and {}): which one holds the values cannot be guessed\nhint: remove or rename one of them",
                    i + 1,
                    j + 1
                ),
            });
        }
    }
    Ok(())
}

/// `e` with its record numbers (what the reader counts: the header is 1) turned into the
/// lines an editor shows, where a quoted field's line breaks count too.
pub(crate) fn at_physical_lines(file: &Path, e: IngestError) -> IngestError {
    // A record of the wrong length is found by line already (see `ragged_record_in`).
    let text = match &e {
        IngestError::BadValue { line, column, .. } if *line > 1 && column != "(record)" => {
            std::fs::read_to_string(file).ok()
        }
        IngestError::MixedCurrency { .. } => std::fs::read_to_string(file).ok(),
        _ => None,
    };
    let Some(text) = text else {
        return e;
    };
    let at = |record: u64| line_of_record(&text, record);
    match e {
        IngestError::BadValue {
            file,
            line,
            column,
            message,
        } => IngestError::BadValue {
            file,
            line: at(line),
            column,
            message,
        },
        IngestError::MixedCurrency {
            file,
            line,
            column,
            found,
            first,
            first_line,
        } => IngestError::MixedCurrency {
            file,
            line: at(line),
            column,
            found,
            first,
            first_line: at(first_line),
        },
        other => other,
    }
}

/// The line on which CSV record `record` (1: the header) starts; blank lines are no
/// records, line breaks inside quotes are lines.
fn line_of_record(text: &str, record: u64) -> u64 {
    let (mut line, mut seen, mut quoted, mut at_start) = (1u64, 0u64, false, true);
    let mut chars = text.trim_start_matches('\u{feff}').chars().peekable();
    while let Some(c) = chars.next() {
        if at_start && c != '\n' && c != '\r' {
            seen += 1;
            if seen == record {
                return line;
            }
            at_start = false;
        }
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
            }
            '"' => quoted = !quoted,
            '\n' => {
                line += 1;
                at_start = !quoted;
            }
            _ => {}
        }
    }
    record
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
            .map(std::string::ToString::to_string)
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
    pub(crate) fn from_frame(
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

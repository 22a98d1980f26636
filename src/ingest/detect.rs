//! Which container (CSV, Parquet, JSON lines) and which export format a file is, from its
//! extension, first bytes and header.

use super::{polars_err, Container, Format, IngestError};
use polars::prelude::*;
use std::path::Path;

/// Detect container from the extension and first bytes.
pub(crate) fn container_of(file: &Path) -> Result<Container, IngestError> {
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

/// A text file in UTF-16 (a byte-order mark, or every other byte NUL as ASCII in UTF-16
/// reads) is an error saying so and how to convert it, rather than a parser's "not UTF-8".
pub(crate) fn utf8_or_explain(file: &Path) -> Result<(), IngestError> {
    let mut head = [0u8; 64];
    let n = {
        use std::io::Read;
        let mut f = std::fs::File::open(file).map_err(|cause| IngestError::Io {
            file: file.to_path_buf(),
            cause,
        })?;
        f.read(&mut head).unwrap_or(0)
    };
    let head = &head[..n];
    let nul_at = |parity: usize| {
        head.len() >= 8
            && head.iter().skip(parity).step_by(2).all(|b| *b == 0)
            && head.iter().skip(1 - parity).step_by(2).all(|b| *b != 0)
    };
    let encoding = if head.starts_with(&[0xFF, 0xFE]) || nul_at(1) {
        "UTF-16 LE"
    } else if head.starts_with(&[0xFE, 0xFF]) || nul_at(0) {
        "UTF-16 BE"
    } else {
        return Ok(());
    };
    Err(IngestError::Encoding {
        file: file.to_path_buf(),
        encoding,
    })
}

/// Column names of a file, for format detection.
/// The format of `file` told from its header columns (an empty file has none).
pub(crate) fn format_of(
    file: &Path,
    container: Container,
    len: u64,
) -> Result<Format, IngestError> {
    let columns = header_columns(file, container)?;
    if len == 0 || columns.is_empty() {
        return Err(IngestError::UnknownFormat {
            file: file.to_path_buf(),
            columns: "the file is empty".into(),
        });
    }
    detect(&columns).ok_or_else(|| IngestError::UnknownFormat {
        file: file.to_path_buf(),
        columns: summarize_columns(&columns),
    })
}

pub(crate) fn header_columns(
    file: &Path,
    container: Container,
) -> Result<Vec<String>, IngestError> {
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
            Ok(schema
                .iter_names()
                .map(polars::prelude::PlSmallStr::to_string)
                .collect())
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
pub(crate) fn detect(columns: &[String]) -> Option<Format> {
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

pub(crate) fn summarize_columns(columns: &[String]) -> String {
    let shown: Vec<&str> = columns.iter().take(8).map(String::as_str).collect();
    if columns.len() > 8 {
        format!("{}, … {} columns", shown.join(", "), columns.len())
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn csv_header_split_handles_quotes_and_bom() {
        assert_eq!(split_csv_header(r#""a","b,c",d"#), ["a", "b,c", "d"]);
    }
}

//! GCP Cloud Billing export rows, as `bq extract` writes them (newline-delimited JSON or
//! Parquet, nested records) -> staging columns.
//!
//! One export row becomes one usage row (`cost`) plus one `Credit` row per entry of its
//! repeated `credits` field (negative amounts, credit type in `pricing_detail`), so
//! `billed_cost` sums to cost + credits exactly as the invoice does. Tags are the project's
//! labels overlaid with the resource's labels. Parquet files go through polars' own JSON
//! writer so both containers share one row parser.

use super::{polars_err, stage, Container, IngestError, Staged};
use polars::prelude::*;
use serde_json::Value;
use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

#[derive(Default)]
struct Columns {
    line: Vec<u64>,
    values: HashMap<&'static str, Vec<Option<String>>>,
}

impl Columns {
    fn push(&mut self, line: u64, row: HashMap<&'static str, Option<String>>) {
        self.line.push(line);
        for c in stage::ALL {
            self.values
                .entry(c)
                .or_default()
                .push(row.get(c).cloned().flatten());
        }
    }
}

fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    (!cur.is_null()).then_some(cur)
}

/// A scalar as text: strings as they are, numbers in JSON notation (INT64 arrives quoted).
fn scalar(v: &Value, path: &str, line: u64, file: &Path) -> Result<Option<String>, IngestError> {
    match get(v, path) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(other) => Err(IngestError::BadValue {
            file: file.to_path_buf(),
            line,
            column: path.to_string(),
            message: format!(
                "expected a single value, found `{}`",
                truncate(&other.to_string())
            ),
        }),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

/// `[{key, value}]` label lists into `map` (later keys overwrite earlier ones).
fn labels_into(
    v: &Value,
    path: &str,
    map: &mut serde_json::Map<String, Value>,
    line: u64,
    file: &Path,
) -> Result<(), IngestError> {
    let Some(list) = get(v, path) else {
        return Ok(());
    };
    let bad = || IngestError::BadValue {
        file: file.to_path_buf(),
        line,
        column: path.to_string(),
        message: "expected a list of {key, value} records".into(),
    };
    for item in list.as_array().ok_or_else(bad)? {
        let key = item.get("key").and_then(Value::as_str).ok_or_else(bad)?;
        let value = match item.get("value") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        map.insert(key.to_string(), Value::String(value));
    }
    Ok(())
}

fn record(v: &Value, line: u64, file: &Path, out: &mut Columns) -> Result<(), IngestError> {
    if !v.is_object() {
        return Err(IngestError::BadValue {
            file: file.to_path_buf(),
            line,
            column: "(record)".into(),
            message: "each line must be a JSON object (one export row)".into(),
        });
    }
    let s = |path: &str| scalar(v, path, line, file);
    let mut tags = serde_json::Map::new();
    labels_into(v, "project.labels", &mut tags, line, file)?;
    labels_into(v, "labels", &mut tags, line, file)?;
    let service = s("service.description")?;
    let sku = s("sku.description")?;
    let hint = format!(
        "{} | {}",
        service.clone().unwrap_or_default(),
        sku.clone().unwrap_or_default()
    );
    let provisioned = crate::normalise::usage_type(&hint) == "provisioned";
    let mut row: HashMap<&'static str, Option<String>> = HashMap::from([
        (stage::START, s("usage_start_time")?),
        (stage::END, s("usage_end_time")?),
        (stage::PROVIDER, Some("Google Cloud".to_string())),
        (stage::SERVICE, service),
        (stage::ACCOUNT, s("project.id")?),
        (
            stage::REGION,
            s("location.region")?
                .filter(|r| !r.is_empty())
                .or(s("location.location")?),
        ),
        (
            stage::RESOURCE,
            s("resource.global_name")?.or(s("resource.name")?),
        ),
        (stage::HINT, Some(hint)),
        (
            stage::CHARGE_CATEGORY,
            Some(s("cost_type")?.unwrap_or_else(|| "regular".into())),
        ),
        (
            stage::PRICING_CATEGORY,
            Some(if provisioned { "Committed" } else { "Standard" }.to_string()),
        ),
        (stage::QUANTITY, s("usage.amount")?),
        (stage::UNIT, s("usage.unit")?),
        (stage::BILLED, s("cost")?),
        (stage::EFFECTIVE, s("cost")?),
        (stage::CURRENCY, s("currency")?),
        (stage::TAGS, Some(Value::Object(tags).to_string())),
        (stage::BILLING_ACCOUNT, s("billing_account_id")?),
        (stage::BILLING_PERIOD, s("invoice.month")?),
    ]);
    out.push(line, row.clone());
    if let Some(credits) = get(v, "credits") {
        let list = credits.as_array().ok_or_else(|| IngestError::BadValue {
            file: file.to_path_buf(),
            line,
            column: "credits".into(),
            message: "expected a list of credit records".into(),
        })?;
        for (i, credit) in list.iter().enumerate() {
            let amount =
                scalar(credit, "amount", line, file)?.ok_or_else(|| IngestError::BadValue {
                    file: file.to_path_buf(),
                    line,
                    column: format!("credits[{i}].amount"),
                    message: "a credit has no amount".into(),
                })?;
            row.insert(stage::CHARGE_CATEGORY, Some("Credit".into()));
            row.insert(stage::PRICING_CATEGORY, None);
            row.insert(
                stage::PRICING_DETAIL,
                scalar(credit, "type", line, file)?.map(|t| t.to_lowercase()),
            );
            row.insert(stage::QUANTITY, None);
            row.insert(stage::BILLED, Some(amount.clone()));
            row.insert(stage::EFFECTIVE, Some(amount));
            out.push(line, row.clone());
        }
    }
    Ok(())
}

fn parse_lines(reader: impl BufRead, file: &Path) -> Result<Columns, IngestError> {
    let mut out = Columns::default();
    for (i, line) in reader.lines().enumerate() {
        let n = i as u64 + 1;
        let line = line.map_err(|source| IngestError::Io {
            file: file.to_path_buf(),
            cause: source,
        })?;
        let text = if i == 0 {
            line.trim_start_matches('\u{feff}')
        } else {
            &line
        };
        if text.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(text).map_err(|e| IngestError::BadValue {
            file: file.to_path_buf(),
            line: n,
            column: "(record)".into(),
            message: format!("not valid JSON: {e}"),
        })?;
        record(&v, n, file, &mut out)?;
    }
    Ok(out)
}

pub(crate) fn stage(file: &Path, container: Container) -> Result<Staged, IngestError> {
    let io = |source| IngestError::Io {
        file: file.to_path_buf(),
        cause: source,
    };
    let cols = match container {
        Container::Parquet => {
            let mut df = ParquetReader::new(std::fs::File::open(file).map_err(io)?)
                .finish()
                .map_err(polars_err(file))?;
            let mut buf = Vec::new();
            JsonWriter::new(&mut buf)
                .with_json_format(JsonFormat::JsonLines)
                .finish(&mut df)
                .map_err(polars_err(file))?;
            parse_lines(std::io::Cursor::new(buf), file)?
        }
        _ => parse_lines(
            std::io::BufReader::new(std::fs::File::open(file).map_err(io)?),
            file,
        )?,
    };
    staged(cols, file)
}

/// Export rows already parsed (e.g. from a BigQuery query shaped like the export), numbered
/// from 1, staged as a file's rows would be; `label` stands for the file in messages.
pub(crate) fn stage_rows(rows: &[Value], label: &Path) -> Result<Staged, IngestError> {
    let mut cols = Columns::default();
    for (i, v) in rows.iter().enumerate() {
        record(v, i as u64 + 1, label, &mut cols)?;
    }
    staged(cols, label)
}

fn staged(cols: Columns, file: &Path) -> Result<Staged, IngestError> {
    let mut columns = vec![Column::new(stage::LINE.into(), cols.line)];
    for c in stage::ALL {
        let values = cols.values.get(c).cloned().unwrap_or_default();
        columns.push(
            Column::new((*c).into(), values)
                .cast(&DataType::String)
                .map_err(polars_err(file))?,
        );
    }
    let df = DataFrame::new_infer_height(columns).map_err(polars_err(file))?;
    let origin = HashMap::from([
        (stage::START, "usage_start_time".to_string()),
        (stage::END, "usage_end_time".to_string()),
        (stage::SERVICE, "service.description".to_string()),
        (stage::ACCOUNT, "project.id".to_string()),
        (stage::CHARGE_CATEGORY, "cost_type".to_string()),
        (stage::QUANTITY, "usage.amount".to_string()),
        (stage::BILLED, "cost".to_string()),
        (stage::EFFECTIVE, "cost".to_string()),
        (stage::CURRENCY, "currency".to_string()),
        (stage::TAGS, "labels".to_string()),
        (stage::PROVIDER, "(provider)".to_string()),
    ]);
    Ok(Staged { df, origin })
}

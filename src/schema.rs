//! The two tables every stage speaks: CostRecord and UsageRecord.
//!
//! This module is the one source of truth for their columns, types and nullability. Producers
//! (ingest, collectors) build frames with `cost_schema` / `usage_schema` and check them with
//! [`validate_cost`] / [`validate_usage`]; every producer's tests run their output through the
//! validator. Column names follow FOCUS in snake_case wherever FOCUS has the concept.

use polars::prelude::*;

/// Time zone of every timestamp column. Values are instants in UTC.
pub(crate) const TZ: TimeZone = TimeZone::UTC;

/// Datetime type of every timestamp column.
pub fn timestamp() -> DataType {
    DataType::Datetime(TimeUnit::Microseconds, Some(TZ))
}

/// Allowed values of `usage_type` (DESIGN.md).
pub const USAGE_TYPES: &[&str] = &[
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "provisioned",
    // Vertex AI bills some models per character or per image, not per token.
    "input_characters",
    "output_characters",
    "images",
    "other",
];

/// Rows whose `usage_type` is one of the token kinds (`*_tokens`), as equality tests (cheap
/// on String and Categorical columns alike).
pub(crate) fn is_token_usage() -> Expr {
    USAGE_TYPES
        .iter()
        .filter(|t| t.ends_with("_tokens"))
        .map(|t| equals(col("usage_type"), t))
        .reduce(Expr::or)
        .expect("token usage types")
}

/// `e == value` for a String or Categorical expression. Against a Categorical the value is
/// made a category first, so the comparison is of codes: compared with a string literal,
/// polars turns every row's code back into text.
pub fn equals(e: Expr, value: &str) -> Expr {
    e.eq(lit(value.to_string()).cast(categorical()))
}

/// FOCUS ChargeCategory values.
pub(crate) const CHARGE_CATEGORIES: &[&str] = &["Usage", "Purchase", "Tax", "Credit", "Adjustment"];

/// FOCUS PricingCategory values (nullable: FOCUS leaves it empty for credits and adjustments).
pub(crate) const PRICING_CATEGORIES: &[&str] = &["Standard", "Committed", "Dynamic", "Other"];

/// One column of a table: name, type, and whether nulls are allowed.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub dtype: fn() -> DataType,
    pub nullable: bool,
}

const fn col_spec(name: &'static str, dtype: fn() -> DataType, nullable: bool) -> ColumnSpec {
    ColumnSpec {
        name,
        dtype,
        nullable,
    }
}

fn string() -> DataType {
    DataType::String
}
fn float() -> DataType {
    DataType::Float64
}

/// CostRecord: one row per (day, provider, account, region, resource, model, usage type,
/// pricing category, tag set).
pub const COST_COLUMNS: &[ColumnSpec] = &[
    col_spec("charge_period_start", timestamp, false),
    col_spec("charge_period_end", timestamp, false),
    col_spec("provider_name", string, false),
    col_spec("service_name", string, false),
    col_spec("sub_account_id", string, true),
    col_spec("region_id", string, true),
    col_spec("resource_id", string, true),
    col_spec("model", string, true),
    col_spec("usage_type", string, false),
    col_spec("charge_category", string, false),
    col_spec("pricing_category", string, true),
    col_spec("pricing_detail", string, true),
    col_spec("consumed_quantity", float, true),
    col_spec("consumed_unit", string, true),
    col_spec("billed_cost", float, false),
    col_spec("effective_cost", float, false),
    col_spec("billing_currency", string, false),
    // The first day of the invoice's month the row is billed on (FOCUS BillingPeriodStart,
    // Azure's billing month, GCP's invoice.month), which can differ from the charge day's
    // month. Null in partitions written before spendlens kept it.
    col_spec("billing_period_start", timestamp, true),
    col_spec("tags", string, false),
    col_spec("source", string, false),
];

/// UsageRecord: one row per (day, provider, resource/profile, model).
pub(crate) const USAGE_COLUMNS: &[ColumnSpec] = &[
    col_spec("charge_period_start", timestamp, false),
    col_spec("charge_period_end", timestamp, false),
    col_spec("provider_name", string, false),
    col_spec("sub_account_id", string, true),
    col_spec("region_id", string, true),
    col_spec("resource_id", string, true),
    col_spec("model", string, true),
    col_spec("invocations", float, true),
    col_spec("input_tokens", float, true),
    col_spec("output_tokens", float, true),
    col_spec("cache_read_tokens", float, true),
    col_spec("cache_write_tokens", float, true),
    col_spec("throttles", float, true),
    col_spec("client_errors", float, true),
    col_spec("server_errors", float, true),
    col_spec("latency_avg_ms", float, true),
    col_spec("latency_p95_ms", float, true),
    col_spec("source", string, false),
];

/// Profile: a snapshot of one tagged resource calls are made through (a Bedrock application
/// inference profile), so its tags attribute the spend and usage recorded against it.
/// `charge_period_start` is the day of the snapshot.
pub(crate) const PROFILE_COLUMNS: &[ColumnSpec] = &[
    col_spec("charge_period_start", timestamp, false),
    col_spec("charge_period_end", timestamp, false),
    col_spec("provider_name", string, false),
    col_spec("resource_id", string, false),
    col_spec("profile_id", string, false),
    col_spec("profile_name", string, false),
    col_spec("region_id", string, false),
    col_spec("models", string, false),
    col_spec("model", string, true),
    col_spec("status", string, false),
    col_spec("tags", string, false),
    col_spec("source", string, false),
];

/// Columns added by attribution, after the CostRecord columns.
pub(crate) const ATTRIBUTION_COLUMNS: &[&str] = &["team", "feature", "allocation"];

fn schema_of(cols: &[ColumnSpec]) -> Schema {
    cols.iter()
        .map(|c| Field::new(c.name.into(), (c.dtype)()))
        .collect()
}

/// The polars schema of a CostRecord frame.
pub(crate) fn cost_schema() -> Schema {
    schema_of(COST_COLUMNS)
}

/// Columns an analysis window holds as Categorical (dictionary codes in polars' global
/// categories): the dimensions every report, anomaly series and explanation groups and
/// filters by. Grouping 10M rows by codes is several times faster than by strings, and a
/// loaded row is smaller. Values read out of a window go through [`text_values`].
pub(crate) const CATEGORICAL_COLUMNS: &[&str] = &[
    "provider_name",
    "sub_account_id",
    "region_id",
    "resource_id",
    "model",
    "usage_type",
    "charge_category",
    "pricing_detail",
    "billing_currency",
    "service_name",
    "pricing_category",
    "team",
    "feature",
    "allocation",
];

/// The Categorical type (global categories, so codes agree across frames).
pub(crate) fn categorical() -> DataType {
    DataType::from_categories(Categories::global())
}

/// `df` with those of [`CATEGORICAL_COLUMNS`] that are String cast to Categorical, one
/// column per core at a time (a lazy cast of several columns runs them one after another,
/// and each hashes every row).
pub(crate) fn categoricals(mut df: DataFrame) -> PolarsResult<DataFrame> {
    let names: Vec<&str> = CATEGORICAL_COLUMNS
        .iter()
        .copied()
        .filter(|c| matches!(df.schema().get(c), Some(DataType::String)))
        .collect();
    let cast = crate::parallel::on_all_cores(&names, |c| {
        df.column(c)
            .and_then(|column| categorical_of(column.str()?))
    });
    for column in cast {
        df.with_column(column?)?;
    }
    Ok(df)
}

/// A String column as [`categorical`]: the same codes as polars' cast, found once per
/// distinct value of each chunk, not once per row. Values read from a Parquet dictionary
/// share their 16-byte views, so a row is coded by hashing its view; a view stands for one
/// string within its chunk (inline bytes, or a place in the chunk's buffers), and the same
/// string under two views only costs a second lookup. A chunk whose views are mostly
/// distinct (strings not read from a dictionary) is left to polars' cast.
#[allow(unsafe_code)]
fn categorical_of(strings: &StringChunked) -> PolarsResult<Column> {
    let dtype = categorical();
    let DataType::Categorical(_, mapping) = &dtype else {
        unreachable!("categorical() is Categorical")
    };
    let mut coded: Option<UInt32Chunked> = None;
    for (array, chunk) in strings.downcast_iter().zip(strings.chunks()) {
        let validity = chunk.validity();
        let mut seen: PlHashMap<u128, u32> = PlHashMap::new();
        let mut codes: Vec<u32> = Vec::with_capacity(array.len());
        for (row, view) in array.views().iter().enumerate() {
            if row % 65_536 == 65_535 && seen.len() > row / 2 {
                break;
            }
            if validity.is_some_and(|v| !v.get_bit(row)) {
                codes.push(0);
                continue;
            }
            codes.push(match seen.get(&view.as_u128()) {
                Some(&code) => code,
                None => {
                    let code = mapping.insert_cat(array.value(row))?;
                    seen.insert(view.as_u128(), code);
                    code
                }
            });
        }
        let part = if codes.len() == array.len() {
            UInt32Chunked::from_vec_validity(strings.name().clone(), codes, validity.cloned())
        } else {
            let one = StringChunked::with_chunk(strings.name().clone(), array.clone());
            let cast = one.into_column().cast(&dtype)?;
            cast.to_physical_repr().u32()?.clone()
        };
        match &mut coded {
            Some(all) => all.append_owned(part)?,
            None => coded = Some(part),
        }
    }
    let coded =
        coded.unwrap_or_else(|| UInt32Chunked::from_vec(strings.name().clone(), Vec::new()));
    // SAFETY: every code was handed out by `mapping` (the global categories of `dtype`).
    let ca = unsafe { Categorical32Chunked::from_cats_and_dtype_unchecked(coded, dtype.clone()) };
    Ok(ca.into_series().into_column())
}

/// `df` with every Categorical column back to String (for outputs other tools read, and
/// shared-cost splits, which write text).
pub(crate) fn without_categoricals(mut df: DataFrame) -> PolarsResult<DataFrame> {
    let names: Vec<PlSmallStr> = df
        .schema()
        .iter()
        .filter(|(_, t)| t.is_categorical())
        .map(|(n, _)| n.clone())
        .collect();
    for name in names {
        let text = text_of(df.column(&name)?)?;
        df.with_column(text)?;
    }
    Ok(df)
}

/// A Categorical column as String: each distinct code's text made once and gathered to the
/// rows (the rows share its bytes), where a cast builds every row's string.
#[allow(unsafe_code)]
fn text_of(column: &Column) -> PolarsResult<Column> {
    let physical = column.to_physical_repr();
    let Ok(codes) = physical.u32() else {
        return column.cast(&DataType::String);
    };
    let (distinct, rows) = crate::coded::code_numbers(codes);
    let distinct = UInt32Chunked::from_iter_options(column.name().clone(), distinct.into_iter());
    // SAFETY: the codes are the column's own, of its own dtype.
    let distinct = unsafe {
        Categorical32Chunked::from_cats_and_dtype_unchecked(distinct, column.dtype().clone())
    };
    let text = distinct.into_series().cast(&DataType::String)?;
    Ok(text.take(&rows)?.into_column())
}

/// A string-valued expression as String, whether the column is String or Categorical (for
/// the `str()` namespace).
pub fn text(e: Expr) -> Expr {
    e.cast(DataType::String)
}

/// The values of a String or Categorical column.
pub(crate) fn text_values(c: &Column) -> PolarsResult<StringChunked> {
    match c.dtype() {
        DataType::String => Ok(c.str()?.clone()),
        _ => Ok(c.cast(&DataType::String)?.str()?.clone()),
    }
}

/// Days since 1970-01-01 (polars' Date representation) of a calendar day.
pub(crate) fn day_number(d: chrono::NaiveDate) -> i32 {
    use chrono::Datelike;
    d.num_days_from_ce() - 719_163
}

/// The calendar day of a day number.
pub(crate) fn date_of_day_number(day: i32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_num_days_from_ce_opt(day + 719_163).unwrap_or_default()
}

/// The UTC day number of `charge_period_start`, as an Int32 expression.
pub(crate) fn day_number_expr() -> Expr {
    col("charge_period_start")
        .cast(DataType::Date)
        .cast(DataType::Int32)
}

/// Why a frame is not a valid CostRecord / UsageRecord frame.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("column `{0}` is missing")]
    Missing(String),
    #[error("column `{name}` has type {actual}, expected {expected}")]
    WrongType {
        name: String,
        actual: DataType,
        expected: DataType,
    },
    #[error("column `{0}` is not part of the schema")]
    Unexpected(String),
    #[error("column `{name}` has {count} null value(s) but is required")]
    Null { name: String, count: usize },
    #[error("column `{name}` has value `{value}`, expected one of {allowed:?}")]
    BadValue {
        name: String,
        value: String,
        allowed: &'static [&'static str],
    },
    #[error("column `billing_currency` has value `{0}`, expected a three-letter ISO 4217 code")]
    BadCurrency(String),
    #[error("row {row}: charge_period_end is not after charge_period_start")]
    BadPeriod { row: usize },
    #[error("column `tags` row {row} is not a JSON object: `{value}`")]
    BadTags { row: usize, value: String },
    #[error("column `{name}` has a non-finite value at row {row}")]
    NotFinite { name: String, row: usize },
    #[error(transparent)]
    Polars(#[from] PolarsError),
}

fn check_columns(df: &DataFrame, spec: &[ColumnSpec], extra: &[&str]) -> Result<(), SchemaError> {
    for c in spec {
        let column = df
            .column(c.name)
            .map_err(|_| SchemaError::Missing(c.name.to_string()))?;
        let expected = (c.dtype)();
        if column.dtype() != &expected {
            return Err(SchemaError::WrongType {
                name: c.name.to_string(),
                actual: column.dtype().clone(),
                expected,
            });
        }
        if !c.nullable && column.null_count() > 0 {
            return Err(SchemaError::Null {
                name: c.name.to_string(),
                count: column.null_count(),
            });
        }
    }
    for name in df.get_column_names() {
        if !spec.iter().any(|c| c.name == name.as_str()) && !extra.contains(&name.as_str()) {
            return Err(SchemaError::Unexpected(name.to_string()));
        }
    }
    Ok(())
}

fn check_allowed(
    df: &DataFrame,
    name: &str,
    allowed: &'static [&'static str],
) -> Result<(), SchemaError> {
    let values = df.column(name)?.str()?.unique()?;
    for v in values.iter().flatten() {
        if !allowed.contains(&v) {
            return Err(SchemaError::BadValue {
                name: name.to_string(),
                value: v.to_string(),
                allowed,
            });
        }
    }
    Ok(())
}

fn check_finite(df: &DataFrame, name: &str) -> Result<(), SchemaError> {
    let ca = df.column(name)?.f64()?;
    if let Some(row) = ca.iter().position(|v| v.is_some_and(|v| !v.is_finite())) {
        return Err(SchemaError::NotFinite {
            name: name.to_string(),
            row,
        });
    }
    Ok(())
}

fn check_periods(df: &DataFrame) -> Result<(), SchemaError> {
    let start = df
        .column("charge_period_start")?
        .datetime()?
        .physical()
        .clone();
    let end = df
        .column("charge_period_end")?
        .datetime()?
        .physical()
        .clone();
    if let Some(row) = start
        .iter()
        .zip(end.iter())
        .position(|(s, e)| matches!((s, e), (Some(s), Some(e)) if e <= s))
    {
        return Err(SchemaError::BadPeriod { row });
    }
    Ok(())
}

/// Check that `df` is a valid CostRecord frame: every column present with its type, required
/// columns non-null, categorical columns within their FOCUS value sets, currencies ISO-shaped,
/// tags a JSON object, money finite. Attribution columns are allowed in addition.
pub fn validate_cost(df: &DataFrame) -> Result<(), SchemaError> {
    check_columns(df, COST_COLUMNS, ATTRIBUTION_COLUMNS)?;
    // The checks are independent (each hashes or scans a column): run on every core, and of
    // several failures the one first in this list is reported.
    type Check<'a> = Box<dyn Fn() -> Result<(), SchemaError> + Sync + 'a>;
    let checks: Vec<Check> = vec![
        Box::new(|| check_allowed(df, "usage_type", USAGE_TYPES)),
        Box::new(|| check_allowed(df, "charge_category", CHARGE_CATEGORIES)),
        Box::new(|| check_allowed(df, "pricing_category", PRICING_CATEGORIES)),
        Box::new(|| check_currencies(df)),
        Box::new(|| {
            for name in ["billed_cost", "effective_cost", "consumed_quantity"] {
                check_finite(df, name)?;
            }
            Ok(())
        }),
        Box::new(|| check_periods(df)),
        Box::new(|| check_tags(df)),
    ];
    crate::parallel::on_all_cores(&checks, |check| check())
        .into_iter()
        .collect()
}

fn check_currencies(df: &DataFrame) -> Result<(), SchemaError> {
    for currency in df
        .column("billing_currency")?
        .str()?
        .unique()?
        .iter()
        .flatten()
    {
        if !is_currency_code(currency) {
            return Err(SchemaError::BadCurrency(currency.to_string()));
        }
    }
    Ok(())
}

/// Each distinct tag set parsed once (a frame repeats a few thousand tag sets over millions
/// of rows); a bad one is reported at the first row holding any bad value.
fn check_tags(df: &DataFrame) -> Result<(), SchemaError> {
    let tags = df.column("tags")?.str()?;
    let bad: std::collections::HashSet<String> = tags
        .unique()?
        .iter()
        .map(Option::unwrap_or_default)
        .filter(|value| {
            !matches!(
                serde_json::from_str::<serde_json::Value>(value),
                Ok(serde_json::Value::Object(_))
            )
        })
        .map(str::to_string)
        .collect();
    if !bad.is_empty() {
        let (row, value) = tags
            .iter()
            .map(Option::unwrap_or_default)
            .enumerate()
            .find(|(_, v)| bad.contains(*v))
            .expect("a bad value is in some row");
        return Err(SchemaError::BadTags {
            row,
            value: value.to_string(),
        });
    }
    Ok(())
}

/// Check that `df` is a valid UsageRecord frame.
pub fn validate_usage(df: &DataFrame) -> Result<(), SchemaError> {
    check_columns(df, USAGE_COLUMNS, &[])?;
    for c in USAGE_COLUMNS
        .iter()
        .filter(|c| (c.dtype)() == DataType::Float64)
    {
        check_finite(df, c.name)?;
    }
    check_periods(df)
}

/// Check that `df` is a valid Profile frame.
pub(crate) fn validate_profiles(df: &DataFrame) -> Result<(), SchemaError> {
    check_columns(df, PROFILE_COLUMNS, &[])?;
    check_periods(df)
}

/// A frame of `spec` columns from (name, values) pairs built by a producer; null-typed
/// columns get their schema type.
pub(crate) fn frame_of(spec: &[ColumnSpec], mut columns: Vec<Column>) -> PolarsResult<DataFrame> {
    for c in &mut columns {
        if let Some(s) = spec.iter().find(|s| s.name == c.name().as_str()) {
            let dtype = (s.dtype)();
            if c.dtype() != &dtype {
                *c = c.cast(&dtype)?;
            }
        }
    }
    DataFrame::new_infer_height(columns)?
        .lazy()
        .select(spec.iter().map(|c| col(c.name)).collect::<Vec<_>>())
        .collect()
}

/// A Date column from days (cast to the timestamp type by [`frame_of`]).
pub(crate) fn day_column(name: &str, days: &[chrono::NaiveDate]) -> PolarsResult<Column> {
    use chrono::Datelike;
    let raw: Vec<i32> = days
        .iter()
        .map(|d| d.num_days_from_ce() - 719_163)
        .collect();
    Column::new(name.into(), raw).cast(&DataType::Date)
}

/// A three-letter upper-case code, the shape of ISO 4217.
pub(crate) fn is_currency_code(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// An empty CostRecord frame.
pub(crate) fn empty_cost() -> DataFrame {
    DataFrame::empty_with_schema(&cost_schema())
}

/// The first instant of `day`'s month, as UTC microseconds.
pub(crate) fn month_start_micros(day: chrono::NaiveDate) -> i64 {
    use chrono::Datelike;
    day.with_day(1)
        .unwrap_or(day)
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc()
        .timestamp_micros()
}

/// A billing period start (UTC microseconds) as `YYYY-MM`.
pub(crate) fn period_name(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m").to_string())
        .unwrap_or_default()
}

/// A `*` glob as a case-insensitive regex matching the whole value (for
/// `str().contains`, where selectors and rules match tag values).
pub(crate) fn glob_regex(pattern: &str) -> String {
    format!("(?i)^{}$", regex::escape(pattern).replace("\\*", ".*"))
}

/// Rows whose charge period starts on days `start..=end` (compared as UTC microseconds).
pub fn between(start: chrono::NaiveDate, end: chrono::NaiveDate) -> Expr {
    let micros =
        |d: chrono::NaiveDate| lit(d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_micros());
    let t = col("charge_period_start").cast(DataType::Int64);
    t.clone()
        .gt_eq(micros(start))
        .and(t.lt(micros(end + chrono::Duration::days(1))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_frame_is_valid_and_missing_column_is_named() {
        let df = empty_cost();
        validate_cost(&df).unwrap();
        let df = df.drop("billed_cost").unwrap();
        let err = validate_cost(&df).unwrap_err();
        assert_eq!(err.to_string(), "column `billed_cost` is missing");
    }

    /// Five valid cost rows with `tags` as given.
    fn rows_tagged(tags: [&str; 5]) -> DataFrame {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let days = [day; 5];
        let next = [day.succ_opt().unwrap(); 5];
        let s = |v: &'static str| vec![v; 5];
        frame_of(
            COST_COLUMNS,
            vec![
                day_column("charge_period_start", &days).unwrap(),
                day_column("charge_period_end", &next).unwrap(),
                Column::new("provider_name".into(), s("aws")),
                Column::new("service_name".into(), s("Amazon Bedrock")),
                Column::new("sub_account_id".into(), s("1")),
                Column::new("region_id".into(), s("us-east-1")),
                Column::new("resource_id".into(), s("r")),
                Column::new("model".into(), s("m")),
                Column::new("usage_type".into(), s("input_tokens")),
                Column::new("pricing_detail".into(), s("d")),
                Column::new("consumed_quantity".into(), vec![1.0; 5]),
                Column::new("consumed_unit".into(), s("tokens")),
                Column::new("charge_category".into(), s("Usage")),
                Column::new("pricing_category".into(), s("Standard")),
                Column::new("billed_cost".into(), vec![1.0; 5]),
                Column::new("effective_cost".into(), vec![1.0; 5]),
                Column::new("billing_currency".into(), s("USD")),
                day_column("billing_period_start", &days).unwrap(),
                Column::new("tags".into(), tags.to_vec()),
                Column::new("source".into(), s("focus:1")),
            ],
        )
        .unwrap()
    }

    #[test]
    fn tags_that_are_not_a_json_object_are_reported_at_their_first_row() {
        let ok = rows_tagged(["{}", r#"{"team":"a"}"#, "{}", r#"{"team":"a"}"#, "{}"]);
        validate_cost(&ok).unwrap();
        // Two bad values; the first row holding either is named, whichever is seen first.
        for (tags, row, value) in [
            (["{}", "{}", "[1]", "nope", "[1]"], 2, "[1]"),
            (["{}", "nope", "[1]", "{}", "nope"], 1, "nope"),
        ] {
            match validate_cost(&rows_tagged(tags)) {
                Err(SchemaError::BadTags { row: r, value: v }) => {
                    assert_eq!((r, v.as_str()), (row, value));
                }
                other => panic!("expected bad tags, got {other:?}"),
            }
        }
    }

    /// `categoricals` codes as polars' cast does: values inline and in buffers, nulls, a
    /// column of several chunks, one read back from a Parquet dictionary (rows sharing
    /// views) and one of mostly distinct long values (left to polars).
    #[test]
    fn categoricals_code_as_the_cast_does() {
        let value = |i: usize| match i % 7 {
            0 => None,
            1 => Some("short".to_string()),
            k => Some(format!("a-value-longer-than-twelve-bytes-{k}")),
        };
        let a: Vec<Option<String>> = (0..200_000).map(value).collect();
        let distinct: Vec<Option<String>> = (0..200_000)
            .map(|i| (i % 5 != 0).then(|| format!("resource-number-{i:08}")))
            .collect();
        let mut df = df!("team" => &a, "resource_id" => &distinct).unwrap();
        df.vstack_mut(&df.clone()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.parquet");
        ParquetWriter::new(std::fs::File::create(&path).unwrap())
            .finish(&mut df.clone())
            .unwrap();
        let read = ParquetReader::new(std::fs::File::open(&path).unwrap())
            .finish()
            .unwrap();
        for frame in [df, read] {
            let coded = categoricals(frame.clone()).unwrap();
            // And back: the same text.
            let text = without_categoricals(coded.clone()).unwrap();
            assert!(text.equals_missing(&frame));
            for name in ["team", "resource_id"] {
                let cast = frame.column(name).unwrap().cast(&categorical()).unwrap();
                let got = coded.column(name).unwrap();
                assert_eq!(got.dtype(), cast.dtype());
                assert!(
                    got.as_materialized_series()
                        .equals_missing(cast.as_materialized_series()),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn currency_shape() {
        assert!(is_currency_code("USD"));
        assert!(!is_currency_code("usd"));
        assert!(!is_currency_code("US$"));
    }
}

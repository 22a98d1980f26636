//! [`finish`]: a staged file (or part) checked and turned into daily CostRecord rows.

use super::daily::{sum_same_keys, MEASURES};
use super::hints::{HintMemo, HINT_PIECE};
use super::lookup::Lookup;
use super::values::{
    canonical_tags, charge_category, first_string, parse_timestamp, pricing_category, shorten,
};
use super::{polars_err, stage, AzureView, Format, IngestError, IngestOptions, Parsed, Staged};
use crate::normalise::{self, ServiceFilter};
use crate::schema;
use crate::store::ledger::ReadTotal;
use chrono::NaiveDate;
use polars::prelude::*;
use std::collections::BTreeSet;
use std::path::Path;

/// Turn a staged file into daily CostRecord rows (plus what was skipped), or fail naming the
/// line and column of the first bad value.
pub fn finish(
    staged: Staged,
    file: &Path,
    format: Format,
    opts: &IngestOptions,
) -> Result<Parsed, IngestError> {
    let perr = polars_err(file);
    let mut staged = with_every_stage_column(staged, file)?;
    let t = crate::timing::phase("ingest: checks and lookups");
    staged.df = parse_numbers(std::mem::take(&mut staged.df), file)?;
    let lookup = Lookup {
        staged: &staged,
        file,
        dates: opts.dates,
    };
    check_numbers(&lookup)?;
    check_required(&lookup)?;
    check_currency(&lookup)?;
    let answers = look_up(&lookup, &opts.services)?;
    drop(t);
    let t = crate::timing::phase("ingest: joined rows");
    let rows = joined_rows(
        staged.df.hstack(&answers).map_err(&perr)?,
        source_expr(file, format, opts),
    )
    .map_err(&perr)?;
    drop(t);
    let t = crate::timing::phase("ingest: covered, skipped, records");
    let covered = covered_partitions(&rows).map_err(&perr)?;
    let (skipped_cost, skipped_services) = skipped(&rows).map_err(&perr)?;
    let rows_read = records(&rows, false).map_err(&perr)?;
    let rows_kept = records(&rows, true).map_err(&perr)?;
    let read = read_totals(&rows).map_err(&perr)?;
    drop(t);
    let _t = crate::timing::phase("ingest: daily rows");
    let daily = daily_rows(rows).map_err(&perr)?;
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
        view: None,
        read,
    })
}

/// `staged` with every staging column (formats may leave optional ones out: null here).
fn with_every_stage_column(mut staged: Staged, file: &Path) -> Result<Staged, IngestError> {
    let present: Vec<String> = staged
        .df
        .get_column_names()
        .iter()
        .map(std::string::ToString::to_string)
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
            .map_err(polars_err(file))?;
    }
    Ok(staged)
}

/// The staged money and quantity columns and the names of their parsed copies.
const NUMBERS: [(&str, &str); 3] = [
    (stage::BILLED, "__billed"),
    (stage::EFFECTIVE, "__effective"),
    (stage::QUANTITY, "__quantity"),
];

/// The numbers cast non-strictly, once: the parsed columns are kept for the rows, and
/// [`check_numbers`] fails on any value that was present but did not parse.
fn parse_numbers(df: DataFrame, file: &Path) -> Result<DataFrame, IngestError> {
    df.lazy()
        .with_columns(NUMBERS.map(|(c, parsed)| col(c).cast(DataType::Float64).alias(parsed)))
        .collect()
        .map_err(polars_err(file))
}

/// The largest cost one row may hold (a trillion): ten million such rows still sum to a
/// finite number.
const MAX_AMOUNT: f64 = 1e12;
/// The largest quantity one row may hold (tokens, requests, hours).
const MAX_QUANTITY: f64 = 1e18;

/// The first money or quantity value that is present but not a number, or beyond
/// [`MAX_AMOUNT`] / [`MAX_QUANTITY`].
fn check_numbers(lookup: &Lookup) -> Result<(), IngestError> {
    let perr = polars_err(lookup.file);
    for (c, parsed) in NUMBERS {
        let bound = if c == stage::QUANTITY {
            MAX_QUANTITY
        } else {
            MAX_AMOUNT
        };
        let check = lookup
            .staged
            .df
            .clone()
            .lazy()
            .select([col(stage::LINE), col(c), col(parsed)])
            .filter(
                col(c).is_not_null().and(
                    col(parsed)
                        .is_null()
                        .or(col(parsed).is_nan())
                        .or(col(parsed).abs().gt(lit(bound))),
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
            let message = match raw.trim().parse::<f64>() {
                Ok(v) if v.is_finite() => format!(
                    "`{}` is beyond the largest value spendlens accepts here ({bound:e}): sums of such values overflow\nhint: check the row; a real bill never holds it",
                    shorten(&raw)
                ),
                _ => format!("`{}` is not a number", shorten(&raw)),
            };
            return Err(lookup.bad_at(c, line, message));
        }
    }
    Ok(())
}

/// The first empty field of a column every row needs.
fn check_required(lookup: &Lookup) -> Result<(), IngestError> {
    let perr = polars_err(lookup.file);
    let df = &lookup.staged.df;
    for c in [
        stage::BILLED,
        stage::EFFECTIVE,
        stage::START,
        stage::CURRENCY,
        stage::CHARGE_CATEGORY,
        stage::PROVIDER,
    ] {
        if df.column(c).map_err(&perr)?.null_count() == 0 {
            continue;
        }
        let lines = df
            .clone()
            .lazy()
            .filter(col(c).is_null())
            .select([col(stage::LINE)])
            .limit(1)
            .collect()
            .map_err(&perr)?;
        let line = lines
            .column(stage::LINE)
            .and_then(|l| Ok(l.u64()?.get(0).unwrap_or(0)))
            .map_err(&perr)?;
        return Err(lookup.bad_at(
            c,
            line,
            "a value is required here but the field is empty".into(),
        ));
    }
    Ok(())
}

/// One currency per file, ISO-shaped.
fn check_currency(lookup: &Lookup) -> Result<(), IngestError> {
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
    if currencies.len() <= 1 {
        return Ok(());
    }
    let first_line_row =
        first_string(&lookup.staged.df, stage::CURRENCY).map_err(polars_err(lookup.file))?;
    let other = currencies
        .iter()
        .flatten()
        .find(|c| **c != first_line_row)
        .map(std::string::ToString::to_string)
        .unwrap_or_default();
    Err(IngestError::MixedCurrency {
        file: lookup.file.to_path_buf(),
        line: lookup.line_of(stage::CURRENCY, &other),
        column: lookup
            .staged
            .origin
            .get(stage::CURRENCY)
            .cloned()
            .unwrap_or_default(),
        first_line: lookup.line_of(stage::CURRENCY, &first_line_row),
        found: other,
        first: first_line_row,
    })
}

/// One lookup of [`look_up`]: answer columns for every row.
type Job<'j> = Box<dyn Fn() -> Result<Vec<Column>, IngestError> + Sync + 'j>;

/// Each row's timestamp of `column` as UTC microseconds (read by `parse`), in column `out`.
fn timestamps(
    lookup: &Lookup,
    (column, out): (&str, &str),
    parse: fn(&str) -> Option<i64>,
    what: &str,
) -> Result<Vec<Column>, IngestError> {
    let coded = lookup.coded(column)?;
    let mut values = Vec::with_capacity(coded.keys.len());
    for k in &coded.keys {
        values.push(match k {
            None => None,
            Some(s) => {
                let v = parse(s).ok_or_else(|| {
                    lookup.bad(column, s, format!("`{}` is not {what}", shorten(s)))
                })?;
                if !lookup.dates.holds(v) {
                    return Err(lookup.bad(column, s, outside(s, lookup.dates)));
                }
                Some(v)
            }
        });
    }
    Ok(vec![
        lookup.gather(&coded.rows, Series::new(out.into(), values))?
    ])
}

/// Why a date outside the accepted range is refused, and how to accept it.
fn outside(raw: &str, dates: super::DateRange) -> String {
    format!(
        "`{}` is outside the dates spendlens accepts ({} to {})\nhint: a placeholder or mistyped date would move every report's period and hide the real spend; fix the row, or widen the range with `[ingest] earliest` / `latest_days_ahead`",
        shorten(raw),
        dates.earliest,
        dates.latest
    )
}

/// The first instant of a billing period's month, UTC microseconds: from GCP's
/// `invoice.month` (`YYYYMM`), or the month of a date or timestamp (FOCUS
/// `BillingPeriodStart`, Azure `BillingPeriodStartDate`).
fn billing_period(raw: &str) -> Option<i64> {
    let t = raw.trim();
    if t.len() == 6 && t.bytes().all(|b| b.is_ascii_digit()) {
        let day = NaiveDate::from_ymd_opt(t[..4].parse().ok()?, t[4..].parse().ok()?, 1)?;
        return Some(schema::month_start_micros(day));
    }
    let day = chrono::DateTime::from_timestamp_micros(parse_timestamp(t)?)?.date_naive();
    Some(schema::month_start_micros(day))
}

/// The lookups of every staging column but the hints, in the order their bad values are
/// reported (of several bad values, the one in the first column here).
fn lookup_jobs<'j>(lookup: &'j Lookup, services: &'j ServiceFilter) -> Vec<Job<'j>> {
    vec![
        Box::new(|| {
            let when = "a date or timestamp";
            timestamps(lookup, (stage::START, "__start_us"), parse_timestamp, when)
        }),
        Box::new(|| {
            let when = "a date or timestamp";
            timestamps(lookup, (stage::END, "__end_us"), parse_timestamp, when)
        }),
        Box::new(|| {
            let period = "a billing period (a date, or YYYYMM)";
            timestamps(
                lookup,
                (stage::BILLING_PERIOD, "__period_us"),
                billing_period,
                period,
            )
        }),
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
    ]
}

/// Every lookup's answer columns. The lookups are independent and run on every core
/// (coding a column is one thread's loop). The hints, the most work and unable to fail on a
/// value, go first, in pieces both cores share ([`super::hints`]); the other jobs follow.
fn look_up(lookup: &Lookup, services: &ServiceFilter) -> Result<Vec<Column>, IngestError> {
    enum Work<'w> {
        Hints(StringChunked),
        Lookup(Job<'w>),
    }
    enum Done<'w> {
        Hints(Vec<IdxSize>, Vec<&'w str>),
        Lookup(Vec<Column>),
    }
    fn run<'w>(work: &'w Work<'_>) -> Result<Done<'w>, IngestError> {
        match work {
            Work::Hints(rows) => {
                let (answers, new) = HintMemo::look(rows);
                Ok(Done::Hints(answers, new))
            }
            Work::Lookup(job) => job().map(Done::Lookup),
        }
    }
    let work: Vec<Work> = lookup
        .hint_pieces(HINT_PIECE)?
        .into_iter()
        .map(Work::Hints)
        .chain(lookup_jobs(lookup, services).into_iter().map(Work::Lookup))
        .collect();
    let mut answers: Vec<Column> = Vec::new();
    let mut looked = Vec::new();
    for done in crate::parallel::on_all_cores(&work, run) {
        match done? {
            Done::Hints(answers, new) => looked.push((answers, new)),
            Done::Lookup(columns) => answers.extend(columns),
        }
    }
    answers.extend(lookup.hint_answers(looked, &["__model", "__usage_type", "__detail"])?);
    Ok(answers)
}

/// The source each row is stored under: `--source`, else `<format>:<billing account>` (the
/// file's name where the row names no billing account); an Azure amortized view's ends in
/// `:amortized`, so it is stored beside its actual view rather than replacing it.
fn source_expr(file: &Path, format: Format, opts: &IngestOptions) -> Expr {
    let source = named_source(file, format, opts);
    match opts.azure_view {
        Some(AzureView::Amortized) if format == Format::Azure => {
            concat_str([source, lit(crate::store::views::AMORTIZED)], "", false)
        }
        _ => source,
    }
}

/// `--source`, else `<format>:<billing account>`.
fn named_source(file: &Path, format: Format, opts: &IngestOptions) -> Expr {
    match &opts.source {
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
    }
}

/// The staged rows with their answers turned into CostRecord values (usage type, tokens
/// counted in tokens, day, source, model), before the daily sums.
fn joined_rows(staged: DataFrame, source: Expr) -> PolarsResult<DataFrame> {
    let day = |us: &str| col(us).cast(schema::timestamp()).cast(DataType::Date);
    // Rows that name no billing period are billed in their charge day's month (formatting
    // every row's day costs a tenth of an ingest: only when some row needs it).
    // Through a Date: an integer cast straight to the zoned timestamp type loses its zone.
    let as_timestamp = |e: Expr| {
        e.cast(schema::timestamp())
            .cast(DataType::Date)
            .cast(schema::timestamp())
    };
    let period = if staged.column("__period_us")?.null_count() > 0 {
        as_timestamp(col("__period_us")).fill_null(
            as_timestamp(col("__start_us"))
                .dt()
                .truncate(lit("1mo"))
                .cast(DataType::Date)
                .cast(schema::timestamp()),
        )
    } else {
        as_timestamp(col("__period_us"))
    };
    let is_llm = col("__llm")
        .eq(lit("true"))
        .or(col("__model").is_not_null());
    let counted_in_tokens = || {
        col("usage_type")
            .str()
            .ends_with(lit("_tokens"))
            .and(col("__token_multiplier").is_not_null())
    };
    staged
        .lazy()
        .with_columns([
            when(is_llm.clone())
                .then(col("__usage_type"))
                .otherwise(lit("other"))
                .alias("usage_type"),
            col("__token_multiplier").cast(DataType::Float64),
        ])
        // Token quantities in tokens whatever unit the bill counts them in (`1K`, `1M count`).
        .with_columns([
            when(counted_in_tokens())
                .then(lit("tokens"))
                .otherwise(col(stage::UNIT))
                .alias(stage::UNIT),
            when(counted_in_tokens())
                .then(col("__quantity") * col("__token_multiplier"))
                .otherwise(col("__quantity"))
                .alias("consumed_quantity"),
        ])
        .with_columns([
            day("__start_us").alias("__day"),
            period.alias("billing_period_start"),
            source.alias("source"),
            col("__billed").alias("billed_cost"),
            col("__effective").alias("effective_cost"),
            col("__keep").eq(lit("true")).alias("__keep"),
            // Non-LLM rows (kept with --services) carry no model or token usage type.
            when(is_llm)
                .then(col("__model"))
                .otherwise(lit(NULL).cast(DataType::String))
                .alias("model"),
            col(stage::PRICING_DETAIL)
                .fill_null(col("__detail"))
                .alias("pricing_detail"),
        ])
        .collect()
}

/// Partitions covered by the file, kept or not: all are replaced on write.
fn covered_partitions(rows: &DataFrame) -> PolarsResult<Vec<(String, NaiveDate)>> {
    let covered = rows
        .clone()
        .lazy()
        .select([col("source"), col("__day")])
        .unique(None, UniqueKeepStrategy::Any)
        .collect()?;
    let sources = covered.column("source")?.str()?;
    let days = covered.column("__day")?.date()?.physical();
    Ok(sources
        .iter()
        .zip(days.iter())
        .filter_map(|(s, d)| Some((s?.to_string(), schema::date_of_day_number(d?))))
        .collect())
}

/// The file's own totals per source, day, billing period and currency: every row as read
/// and, of those, what the service filter skipped.
fn read_totals(rows: &DataFrame) -> PolarsResult<Vec<ReadTotal>> {
    let skipped = |c: &str| col(c).filter(col("__keep").not()).sum();
    let correction = col(stage::CHARGE_CLASS)
        .str()
        .to_lowercase()
        .eq(lit("correction"))
        .fill_null(lit(false));
    let corrected = |c: &str| col(c).filter(correction.clone()).sum();
    let sums = rows
        .clone()
        .lazy()
        .group_by([
            col("source"),
            col("__day"),
            col("billing_period_start"),
            // Trimmed once per group below, not once per row.
            col(stage::CURRENCY).alias("currency"),
        ])
        .agg([
            col("__billed").sum().alias("billed"),
            col("__effective").sum().alias("effective"),
            skipped("__billed").alias("skipped_billed"),
            skipped("__effective").alias("skipped_effective"),
            // Staged rows (a GCP record with credits stages as several).
            len().cast(DataType::UInt64).alias("rows"),
            corrected("__billed").alias("correction_billed"),
            corrected("__effective").alias("correction_effective"),
        ])
        .collect()?;
    let text = |c: &str| -> PolarsResult<Vec<String>> {
        Ok(sums
            .column(c)?
            .str()?
            .iter()
            .map(|v| v.unwrap_or_default().trim().to_string())
            .collect())
    };
    let money = |c: &str| -> PolarsResult<Vec<f64>> {
        Ok(sums
            .column(c)?
            .f64()?
            .iter()
            .map(|v| v.unwrap_or(0.0))
            .collect())
    };
    let (source, currency) = (text("source")?, text("currency")?);
    let period = sums
        .column("billing_period_start")?
        .datetime()?
        .physical()
        .clone();
    let (billed, effective) = (money("billed")?, money("effective")?);
    let (skipped_billed, skipped_effective) =
        (money("skipped_billed")?, money("skipped_effective")?);
    let (correction_billed, correction_effective) =
        (money("correction_billed")?, money("correction_effective")?);
    let days = sums.column("__day")?.date()?.physical().clone();
    let lines = sums.column("rows")?.u64()?.clone();
    Ok((0..sums.height())
        .map(|i| ReadTotal {
            source: source[i].clone(),
            day: schema::date_of_day_number(days.get(i).unwrap_or_default()),
            period: schema::period_name(period.get(i).unwrap_or_default()),
            currency: currency[i].clone(),
            billed: billed[i],
            effective: effective[i],
            skipped_billed: skipped_billed[i],
            skipped_effective: skipped_effective[i],
            rows: lines.get(i).unwrap_or_default(),
            correction_billed: correction_billed[i],
            correction_effective: correction_effective[i],
        })
        .collect())
}

/// What the service filter skipped: effective cost per currency, and the services' names.
#[allow(clippy::type_complexity)]
fn skipped(rows: &DataFrame) -> PolarsResult<(Vec<(String, f64)>, BTreeSet<String>)> {
    let by_currency = rows
        .clone()
        .lazy()
        .filter(col("__keep").not())
        .group_by([col(stage::CURRENCY)])
        .agg([col("effective_cost").sum()])
        .collect()?;
    let currencies = by_currency.column(stage::CURRENCY)?.str()?;
    let costs = by_currency.column("effective_cost")?.f64()?;
    let skipped_cost = currencies
        .iter()
        .zip(costs.iter())
        .map(|(c, v)| (c.unwrap_or_default().to_string(), v.unwrap_or(0.0)))
        .collect();
    let skipped_services = rows
        .column("__keep")?
        .bool()?
        .iter()
        .zip(rows.column(stage::SERVICE)?.str()?.iter())
        .filter(|(k, _)| *k == Some(false))
        .filter_map(|(_, s)| s.map(str::to_string))
        .collect();
    Ok((skipped_cost, skipped_services))
}

/// The CostRecord key of a daily row, as the joined rows name its parts.
const DAILY_KEYS: [&str; 16] = [
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
    "billing_period_start",
    "source",
];

/// The kept rows summed per day and key into CostRecord rows. Groups come in the order of
/// the file (of the first row summed into each), sorted by day only when the file's days
/// are not in order (a stable sort: each day's rows keep the file's order).
fn daily_rows(rows: DataFrame) -> PolarsResult<DataFrame> {
    let to_ts = |d: Expr| d.cast(schema::timestamp());
    let kept = rows
        .lazy()
        .filter(col("__keep"))
        .select(
            DAILY_KEYS
                .iter()
                .chain(&MEASURES)
                .map(|c| col(*c))
                .collect::<Vec<_>>(),
        )
        .collect()?;
    let daily = sum_same_keys(kept, &DAILY_KEYS)?
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
            col("billing_period_start"),
            col("__tags").fill_null(lit("{}")).alias("tags"),
            col("source"),
        ])
        .collect()?;
    // A sort gathers every column: only when needed.
    let in_day_order = daily
        .column("charge_period_start")?
        .datetime()?
        .physical()
        .iter()
        .is_sorted();
    if in_day_order {
        return Ok(daily);
    }
    daily.sort(
        ["charge_period_start"],
        SortMultipleOptions::default().with_maintain_order(true),
    )
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

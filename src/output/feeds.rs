//! Feeds for the tools teams already run: daily attributed rollups and anomalies as
//! PostgreSQL tables (for Grafana, see `dashboards/`), Parquet or CSV files (for BI tools).
//!
//! A feed covers a period of days in one currency. Publishing is idempotent per day: the
//! period's days are replaced, in one transaction (PostgreSQL) or by atomic file renames.

use crate::analyse::budgets::{BudgetStatus, CrossedBy};
use crate::analyse::{self, anomalies::Anomaly, anomalies::Incident};
use crate::attribute::Attributor;
use crate::store::Store;
use chrono::NaiveDate;
use polars::prelude::*;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub(crate) enum FeedError {
    #[error(transparent)]
    Analyse(#[from] analyse::AnalyseError),
    #[error("building the feed: {0}")]
    Polars(#[from] PolarsError),
    #[error("`{path}`: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("PostgreSQL at {url}: {message}{hint}")]
    Postgres {
        /// The URL with its password removed.
        url: String,
        message: String,
        hint: &'static str,
    },
}

/// Rollup grain: one row per day and these keys.
pub(crate) const KEYS: &[&str] = &[
    "provider",
    "account",
    "region",
    "team",
    "feature",
    "model",
    "usage_type",
    "allocation",
];

/// What gets published.
pub(crate) struct Feed {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub currency: String,
    /// `day` (Date), `currency`, [`KEYS`], `effective_cost`, `billed_cost`, `tokens`.
    pub daily: DataFrame,
    pub anomalies: Vec<Anomaly>,
    pub incidents: Vec<Incident>,
    /// The budgets on the feed's last day, each in its own currency (see
    /// [`Feed::with_budgets`]).
    pub budgets: Vec<BudgetStatus>,
}

impl Feed {
    /// The attributed daily rollup of `start..=end` in `currency`, with `anomalies` (those
    /// the report found for the same days).
    pub fn build(
        store: &Store,
        attributor: &Attributor,
        start: NaiveDate,
        end: NaiveDate,
        currency: &str,
        anomalies: Vec<Anomaly>,
        incidents: Vec<Incident>,
    ) -> Result<Feed, FeedError> {
        let window =
            analyse::load_window(store, attributor, Some(start), Some(end), Some(currency), 0)?;
        let none = || lit("");
        let daily = window
            .frame
            .lazy()
            .select([
                col("charge_period_start").cast(DataType::Date).alias("day"),
                col("billing_currency").alias("currency"),
                col("provider_name").alias("provider"),
                col("sub_account_id").fill_null(none()).alias("account"),
                col("region_id").fill_null(none()).alias("region"),
                col("team"),
                col("feature"),
                col("model").fill_null(lit("(no model)")).alias("model"),
                col("usage_type"),
                col("allocation"),
                col("effective_cost"),
                col("billed_cost"),
                when(crate::schema::is_token_usage())
                    .then(col("consumed_quantity").fill_null(lit(0.0)))
                    .otherwise(lit(0.0))
                    .alias("tokens"),
            ])
            .group_by(
                ["day", "currency"]
                    .iter()
                    .chain(KEYS)
                    .map(|k| col(*k))
                    .collect::<Vec<_>>(),
            )
            .agg([
                col("effective_cost").sum(),
                col("billed_cost").sum(),
                col("tokens").sum(),
            ])
            // Feeds are read by other tools (and sort by text): plain strings.
            .collect()
            .and_then(crate::schema::without_categoricals)?
            .lazy()
            .sort(
                ["day", "currency"]
                    .iter()
                    .chain(KEYS)
                    .copied()
                    .collect::<Vec<_>>(),
                SortMultipleOptions::default(),
            )
            .collect()?;
        Ok(Feed {
            start: window.start,
            end: window.end,
            currency: window.currency,
            daily,
            anomalies,
            incidents,
            budgets: Vec::new(),
        })
    }

    /// The feed with `budgets` (evaluated on its last day) to publish beside it.
    pub fn with_budgets(mut self, budgets: Vec<BudgetStatus>) -> Feed {
        self.budgets = budgets;
        self
    }

    /// The budgets as a frame: one row per budget on the day it was evaluated (`at`), its
    /// crossings as `threshold% kind day` joined by `; `, the highest threshold spend reached.
    pub(crate) fn budget_frame(&self) -> PolarsResult<DataFrame> {
        let b = &self.budgets;
        let strs =
            |f: &dyn Fn(&BudgetStatus) -> String| -> Vec<String> { b.iter().map(f).collect() };
        let nums = |f: &dyn Fn(&BudgetStatus) -> Option<f64>| -> Vec<Option<f64>> {
            b.iter().map(f).collect()
        };
        let days = |f: &dyn Fn(&BudgetStatus) -> NaiveDate| -> Vec<NaiveDate> {
            b.iter().map(f).collect()
        };
        DataFrame::new(
            b.len(),
            vec![
                crate::schema::day_column("at", &days(&|x| x.at))?,
                Column::new("name".into(), strs(&|x| x.name.clone())),
                Column::new("currency".into(), strs(&|x| x.currency.clone())),
                Column::new("selector".into(), strs(&super::budgets::selector_text)),
                Column::new("cost".into(), strs(&|x| x.cost.name().to_string())),
                crate::schema::day_column("period_start", &days(&|x| x.period.start))?,
                crate::schema::day_column("period_end", &days(&|x| x.period.end))?,
                Column::new("amount".into(), nums(&|x| Some(x.amount))),
                Column::new("spent".into(), nums(&|x| Some(x.spent))),
                Column::new("forecast".into(), nums(&|x| Some(x.forecast))),
                Column::new("forecast_low".into(), nums(&|x| Some(x.forecast_low))),
                Column::new("forecast_high".into(), nums(&|x| Some(x.forecast_high))),
                Column::new("used_pct".into(), nums(&|x| Some(x.used_pct))),
                Column::new("forecast_pct".into(), nums(&|x| Some(x.forecast_pct))),
                Column::new("status".into(), strs(&|x| x.status.name().to_string())),
                Column::new("threshold_reached".into(), nums(&threshold_reached)),
                Column::new("crossed".into(), strs(&crossed_text)),
                Column::new(
                    "days_left".into(),
                    b.iter().map(|x| x.days_left).collect::<Vec<_>>(),
                ),
            ],
        )
    }

    /// The anomalies as a frame (one row per anomaly, `explanation` in words).
    pub(crate) fn anomaly_frame(&self) -> PolarsResult<DataFrame> {
        let a = &self.anomalies;
        let strs = |f: &dyn Fn(&Anomaly) -> String| -> Vec<String> { a.iter().map(f).collect() };
        let nums =
            |f: &dyn Fn(&Anomaly) -> Option<f64>| -> Vec<Option<f64>> { a.iter().map(f).collect() };
        let days: Vec<NaiveDate> = a.iter().map(|x| x.date).collect();
        DataFrame::new(
            a.len(),
            vec![
                crate::schema::day_column("day", &days)?,
                Column::new("currency".into(), vec![self.currency.clone(); a.len()]),
                Column::new("dimension".into(), strs(&|x| x.dimension.clone())),
                Column::new("value".into(), strs(&|x| x.value.clone())),
                Column::new("kind".into(), strs(&|x| x.kind.name().to_string())),
                Column::new("severity".into(), strs(&|x| x.severity.name().to_string())),
                Column::new("actual".into(), nums(&|x| Some(x.actual))),
                Column::new("expected".into(), nums(&|x| Some(x.expected))),
                Column::new("impact".into(), nums(&|x| Some(x.impact))),
                Column::new("impact_pct".into(), nums(&|x| x.impact_pct)),
                Column::new(
                    "duration_days".into(),
                    a.iter().map(|x| x.duration_days as i64).collect::<Vec<_>>(),
                ),
                Column::new(
                    "explanation".into(),
                    strs(&|x| super::report::explanation(x)),
                ),
            ],
        )
    }

    /// The incidents as a frame (one row per incident, its status and verdict, `members`
    /// as `dimension=value` joined by `; `, `explanation` in words).
    pub(crate) fn incident_frame(&self) -> PolarsResult<DataFrame> {
        let i = &self.incidents;
        let strs = |f: &dyn Fn(&Incident) -> String| -> Vec<String> { i.iter().map(f).collect() };
        let nums = |f: &dyn Fn(&Incident) -> Option<f64>| -> Vec<Option<f64>> {
            i.iter().map(f).collect()
        };
        let starts: Vec<NaiveDate> = i.iter().map(|x| x.start).collect();
        let ends: Vec<NaiveDate> = i.iter().map(|x| x.end).collect();
        DataFrame::new(
            i.len(),
            vec![
                Column::new("id".into(), strs(&|x| x.id.clone())),
                crate::schema::day_column("start_day", &starts)?,
                crate::schema::day_column("end_day", &ends)?,
                Column::new("currency".into(), vec![self.currency.clone(); i.len()]),
                Column::new(
                    "duration_days".into(),
                    i.iter().map(|x| x.duration_days as i64).collect::<Vec<_>>(),
                ),
                Column::new("dimension".into(), strs(&|x| x.headline.dimension.clone())),
                Column::new("value".into(), strs(&|x| x.headline.value.clone())),
                Column::new("kind".into(), strs(&|x| x.kind.name().to_string())),
                Column::new("severity".into(), strs(&|x| x.severity.name().to_string())),
                Column::new("status".into(), strs(&|x| super::report::status_text(x))),
                Column::new("actual".into(), nums(&|x| Some(x.actual))),
                Column::new("expected".into(), nums(&|x| Some(x.expected))),
                Column::new("impact".into(), nums(&|x| Some(x.impact))),
                Column::new("impact_pct".into(), nums(&|x| x.impact_pct)),
                Column::new("members".into(), strs(&members_text)),
                Column::new(
                    "explanation".into(),
                    strs(&|x| super::report::incident_explanation(x)),
                ),
            ],
        )
    }

    /// `daily_cost.parquet`, `anomalies.parquet` and `incidents.parquet` in `dir`, each
    /// replaced atomically.
    pub fn write_parquet(&self, dir: &Path) -> Result<Vec<PathBuf>, FeedError> {
        self.write_files(dir, "parquet", |df, f| {
            ParquetWriter::new(f).finish(df).map(|_| ())
        })
    }

    /// `daily_cost.csv` and `anomalies.csv` in `dir` (header row, ISO dates), replaced
    /// atomically.
    pub(crate) fn write_csv(&self, dir: &Path) -> Result<Vec<PathBuf>, FeedError> {
        self.write_files(dir, "csv", |df, f| {
            CsvWriter::new(f).finish(&mut without_formulas(df)?)
        })
    }

    fn write_files(
        &self,
        dir: &Path,
        ext: &str,
        write: impl Fn(&mut DataFrame, &mut std::fs::File) -> PolarsResult<()>,
    ) -> Result<Vec<PathBuf>, FeedError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |cause| FeedError::Io { path, cause }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut out = Vec::new();
        for (name, mut df) in [
            ("daily_cost", self.daily.clone()),
            ("anomalies", self.anomaly_frame()?),
            ("incidents", self.incident_frame()?),
            ("budgets", self.budget_frame()?),
        ] {
            let path = dir.join(format!("{name}.{ext}"));
            let tmp = dir.join(format!(".{name}.{ext}.tmp"));
            let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
            write(&mut df, &mut f)?;
            f.sync_all().map_err(io(&tmp))?;
            std::fs::rename(&tmp, &path).map_err(io(&path))?;
            out.push(path);
        }
        Ok(out)
    }
}

/// `df` with every text cell a spreadsheet would run as a formula (starting with `=`, `+`,
/// `-`, `@`, a tab or a carriage return, and not a number) prefixed with `'`, as OWASP
/// recommends for CSV: the file opens as data, never as code.
fn without_formulas(df: &DataFrame) -> PolarsResult<DataFrame> {
    let texts: Vec<Expr> = df
        .columns()
        .iter()
        .filter(|c| c.dtype() == &DataType::String)
        .map(|c| {
            let v = col(c.name().as_str());
            let formula = v
                .clone()
                .str()
                .contains(lit(r"^[=+\-@\t\r]"), false)
                .and(v.clone().cast(DataType::Float64).is_null());
            when(formula)
                .then(concat_str([lit("'"), v.clone()], "", false))
                .otherwise(v)
                .alias(c.name().as_str())
        })
        .collect();
    df.clone().lazy().with_columns(texts).collect()
}

/// Text as PostgreSQL can hold it: its `text` type cannot store a NUL byte, so one becomes
/// U+FFFD (the Parquet and CSV feeds keep it).
fn pg_text(s: &str) -> String {
    s.replace('\u{0}', "\u{fffd}")
}

/// The highest threshold spend reached (not only forecast), if any.
fn threshold_reached(b: &BudgetStatus) -> Option<f64> {
    b.crossed
        .iter()
        .filter(|c| c.kind == CrossedBy::Actual)
        .map(|c| c.threshold)
        .reduce(f64::max)
}

/// A budget's crossings as `50% actual 2026-10-14` joined by `; `.
fn crossed_text(b: &BudgetStatus) -> String {
    b.crossed
        .iter()
        .map(|c| {
            let kind = match c.kind {
                CrossedBy::Actual => "actual",
                CrossedBy::Forecast => "forecast",
            };
            format!("{}% {kind} {}", c.threshold, c.day)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// An incident's member series as `dimension=value` joined by `; `.
fn members_text(i: &Incident) -> String {
    i.members
        .iter()
        .map(|m| format!("{}={}", m.dimension, m.value))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A PostgreSQL URL with any password replaced by `***`, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    // The password runs to the last `@` before the host: it may hold `@` itself.
    let re = regex::Regex::new(r"(?i)([a-z][a-z0-9+.-]*://[^:/@\s]*):[^/?#\s]*@").expect("regex");
    let s = re.replace_all(url, "$1:***@").to_string();
    let kv = regex::Regex::new(r"(?i)(password\s*=\s*)('[^']*'|\S+)").expect("regex");
    kv.replace_all(&s, "$1***").to_string()
}

pub(crate) const POSTGRES_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS spendlens_daily_cost (
    day date NOT NULL,
    currency text NOT NULL,
    provider text NOT NULL,
    account text NOT NULL,
    region text NOT NULL,
    team text NOT NULL,
    feature text NOT NULL,
    model text NOT NULL,
    usage_type text NOT NULL,
    allocation text NOT NULL,
    effective_cost numeric(20, 6) NOT NULL,
    billed_cost numeric(20, 6) NOT NULL,
    tokens double precision NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, currency, provider, account, region, team, feature, model, usage_type, allocation)
);
CREATE TABLE IF NOT EXISTS spendlens_anomalies (
    day date NOT NULL,
    currency text NOT NULL,
    dimension text NOT NULL,
    value text NOT NULL,
    kind text NOT NULL,
    severity text NOT NULL,
    actual numeric(20, 6) NOT NULL,
    expected numeric(20, 6) NOT NULL,
    impact numeric(20, 6) NOT NULL,
    impact_pct double precision,
    duration_days integer NOT NULL,
    explanation text NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, currency, dimension, value, kind)
);
CREATE TABLE IF NOT EXISTS spendlens_incidents (
    id text NOT NULL,
    currency text NOT NULL,
    start_day date NOT NULL,
    end_day date NOT NULL,
    duration_days integer NOT NULL,
    dimension text NOT NULL,
    value text NOT NULL,
    kind text NOT NULL,
    severity text NOT NULL,
    status text NOT NULL,
    actual numeric(20, 6) NOT NULL,
    expected numeric(20, 6) NOT NULL,
    impact numeric(20, 6) NOT NULL,
    impact_pct double precision,
    members text NOT NULL,
    explanation text NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, currency)
);
CREATE TABLE IF NOT EXISTS spendlens_budgets (
    at date NOT NULL,
    name text NOT NULL,
    currency text NOT NULL,
    selector text NOT NULL,
    cost text NOT NULL,
    period_start date NOT NULL,
    period_end date NOT NULL,
    amount numeric(20, 6) NOT NULL,
    spent numeric(20, 6) NOT NULL,
    forecast numeric(20, 6) NOT NULL,
    forecast_low numeric(20, 6) NOT NULL,
    forecast_high numeric(20, 6) NOT NULL,
    used_pct double precision NOT NULL,
    forecast_pct double precision NOT NULL,
    status text NOT NULL,
    threshold_reached double precision,
    crossed text NOT NULL,
    days_left integer NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, at)
);
";

/// What a publish to PostgreSQL did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Published {
    pub rows_deleted: u64,
    pub rows_written: u64,
    pub anomalies_written: u64,
    pub incidents_written: u64,
    pub budgets_written: u64,
}

/// Replace the feed's days in the PostgreSQL tables (created if missing), in one
/// transaction: readers see the old days or the new ones, never a mix.
pub(crate) async fn publish_postgres(url: &str, feed: &Feed) -> Result<Published, FeedError> {
    let pg = PgErrors {
        url: redact_url(url),
    };
    let (mut client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(pg.err("\nhint: check host, port, user and database; spendlens connects without TLS (sslmode=disable or prefer), so publish over a trusted network or a local socket"))?;
    let conn = tokio::spawn(connection);
    let tx = client.transaction().await.map_err(pg.err(""))?;
    tx.batch_execute(POSTGRES_SCHEMA)
        .await
        .map_err(pg.err("\nhint: the user needs CREATE on the schema the first time (or create the tables from `spendlens publish --print-schema`)"))?;
    let deleted = tx
        .execute(
            "DELETE FROM spendlens_daily_cost WHERE currency = $1 AND day BETWEEN $2 AND $3",
            &[&feed.currency, &feed.start, &feed.end],
        )
        .await
        .map_err(pg.err(""))?;
    tx.execute(
        "DELETE FROM spendlens_anomalies WHERE currency = $1 AND day BETWEEN $2 AND $3",
        &[&feed.currency, &feed.start, &feed.end],
    )
    .await
    .map_err(pg.err(""))?;
    tx.execute(
        "DELETE FROM spendlens_incidents WHERE currency = $1 AND start_day BETWEEN $2 AND $3",
        &[&feed.currency, &feed.start, &feed.end],
    )
    .await
    .map_err(pg.err(""))?;
    let written = insert_daily(&tx, feed, &pg).await?;
    let anomalies_written = insert_anomalies(&tx, feed, &pg).await?;
    let incidents_written = insert_incidents(&tx, feed, &pg).await?;
    let budgets_written = insert_budgets(&tx, feed, &pg).await?;
    tx.commit().await.map_err(pg.err(""))?;
    drop(client);
    let _ = conn.await;
    Ok(Published {
        rows_deleted: deleted,
        rows_written: written,
        anomalies_written,
        incidents_written,
        budgets_written,
    })
}

/// PostgreSQL errors as [`FeedError`]s naming the server by its redacted URL.
struct PgErrors {
    url: String,
}

impl PgErrors {
    /// The error with the server's code and message, and `hint` after it.
    fn err(&self, hint: &'static str) -> impl Fn(tokio_postgres::Error) -> FeedError + '_ {
        move |e: tokio_postgres::Error| FeedError::Postgres {
            url: self.url.clone(),
            message: match e.as_db_error() {
                Some(db) => format!("{}: {}", db.code().code(), db.message()),
                None => e.to_string(),
            },
            hint,
        }
    }
}

/// The feed's daily rows, inserted a thousand at a time; how many were written.
async fn insert_daily(
    tx: &tokio_postgres::Transaction<'_>,
    feed: &Feed,
    pg: &PgErrors,
) -> Result<u64, FeedError> {
    use tokio_postgres::types::ToSql;
    let df = &feed.daily;
    let days: Vec<NaiveDate> = df
        .column("day")?
        .date()?
        .physical()
        .iter()
        .map(|d| crate::schema::date_of_day_number(d.unwrap_or(0)))
        .collect();
    let text = |name: &str| -> PolarsResult<Vec<String>> {
        Ok(super::report::strings(df, name)?
            .into_iter()
            .map(|v| pg_text(&v.unwrap_or_default()))
            .collect())
    };
    let keys: Vec<Vec<String>> = KEYS.iter().map(|k| text(k)).collect::<PolarsResult<_>>()?;
    let num = |name: &str| super::report::floats(df, name);
    let (effective, billed, tokens) = (num("effective_cost")?, num("billed_cost")?, num("tokens")?);
    let mut written = 0;
    const BATCH: usize = 1000;
    for chunk_start in (0..df.height()).step_by(BATCH) {
        let rows = chunk_start..(chunk_start + BATCH).min(df.height());
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
        let mut values = Vec::new();
        for i in rows {
            let n = params.len();
            values.push(format!(
                "(${}, ${}, {}, ${}::float8::numeric(20,6), ${}::float8::numeric(20,6), ${})",
                n + 1,
                n + 2,
                (0..KEYS.len())
                    .map(|k| format!("${}", n + 3 + k))
                    .collect::<Vec<_>>()
                    .join(", "),
                n + 3 + KEYS.len(),
                n + 4 + KEYS.len(),
                n + 5 + KEYS.len()
            ));
            params.push(&days[i]);
            params.push(&feed.currency);
            for k in &keys {
                params.push(&k[i]);
            }
            params.push(&effective[i]);
            params.push(&billed[i]);
            params.push(&tokens[i]);
        }
        let sql = format!(
            "INSERT INTO spendlens_daily_cost (day, currency, {}, effective_cost, billed_cost, tokens) VALUES {}",
            KEYS.join(", "),
            values.join(", ")
        );
        written += tx.execute(&sql, &params).await.map_err(pg.err(""))?;
    }
    Ok(written)
}

/// The feed's anomalies, inserted or updated by their key; how many were written.
async fn insert_anomalies(
    tx: &tokio_postgres::Transaction<'_>,
    feed: &Feed,
    pg: &PgErrors,
) -> Result<u64, FeedError> {
    let mut anomalies_written = 0;
    for a in &feed.anomalies {
        let duration = a.duration_days as i32;
        let explanation = pg_text(&super::report::explanation(a));
        let value = pg_text(&a.value);
        anomalies_written += tx
            .execute(
                "INSERT INTO spendlens_anomalies (day, currency, dimension, value, kind, severity, actual, expected, impact, impact_pct, duration_days, explanation) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7::float8::numeric(20,6), $8::float8::numeric(20,6), $9::float8::numeric(20,6), $10, $11, $12) \
                 ON CONFLICT (day, currency, dimension, value, kind) DO UPDATE SET severity = EXCLUDED.severity, actual = EXCLUDED.actual, \
                 expected = EXCLUDED.expected, impact = EXCLUDED.impact, impact_pct = EXCLUDED.impact_pct, duration_days = EXCLUDED.duration_days, \
                 explanation = EXCLUDED.explanation, published_at = now()",
                &[
                    &a.date,
                    &feed.currency,
                    &a.dimension,
                    &value,
                    &a.kind.name(),
                    &a.severity.name(),
                    &a.actual,
                    &a.expected,
                    &a.impact,
                    &a.impact_pct,
                    &duration,
                    &explanation,
                ],
            )
            .await
            .map_err(pg.err(""))?;
    }
    Ok(anomalies_written)
}

/// The feed's incidents, inserted or updated by id; how many were written.
async fn insert_incidents(
    tx: &tokio_postgres::Transaction<'_>,
    feed: &Feed,
    pg: &PgErrors,
) -> Result<u64, FeedError> {
    let mut written = 0;
    for i in &feed.incidents {
        let duration = i.duration_days as i32;
        let (value, members) = (pg_text(&i.headline.value), pg_text(&members_text(i)));
        let explanation = pg_text(&super::report::incident_explanation(i));
        written += tx
            .execute(
                "INSERT INTO spendlens_incidents (id, currency, start_day, end_day, duration_days, dimension, value, kind, severity, status, actual, expected, impact, impact_pct, members, explanation) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::float8::numeric(20,6), $12::float8::numeric(20,6), $13::float8::numeric(20,6), $14, $15, $16) \
                 ON CONFLICT (id, currency) DO UPDATE SET start_day = EXCLUDED.start_day, end_day = EXCLUDED.end_day, duration_days = EXCLUDED.duration_days, \
                 dimension = EXCLUDED.dimension, value = EXCLUDED.value, kind = EXCLUDED.kind, severity = EXCLUDED.severity, status = EXCLUDED.status, \
                 actual = EXCLUDED.actual, expected = EXCLUDED.expected, impact = EXCLUDED.impact, impact_pct = EXCLUDED.impact_pct, \
                 members = EXCLUDED.members, explanation = EXCLUDED.explanation, published_at = now()",
                &[
                    &i.id,
                    &feed.currency,
                    &i.start,
                    &i.end,
                    &duration,
                    &i.headline.dimension,
                    &value,
                    &i.kind.name(),
                    &i.severity.name(),
                    &super::report::status_text(i),
                    &i.actual,
                    &i.expected,
                    &i.impact,
                    &i.impact_pct,
                    &members,
                    &explanation,
                ],
            )
            .await
            .map_err(pg.err(""))?;
    }
    Ok(written)
}

/// The feed's budgets as evaluated on their day: that day's rows replaced (a budget
/// removed from the config leaves it), earlier days kept as the budgets' history.
async fn insert_budgets(
    tx: &tokio_postgres::Transaction<'_>,
    feed: &Feed,
    pg: &PgErrors,
) -> Result<u64, FeedError> {
    let mut days: Vec<NaiveDate> = feed.budgets.iter().map(|b| b.at).collect();
    days.dedup();
    for day in &days {
        tx.execute("DELETE FROM spendlens_budgets WHERE at = $1", &[day])
            .await
            .map_err(pg.err(""))?;
    }
    let money = "::float8::numeric(20,6)";
    let sql = format!(
        "INSERT INTO spendlens_budgets (at, name, currency, selector, cost, period_start, period_end, amount, spent, forecast, forecast_low, forecast_high, used_pct, forecast_pct, status, threshold_reached, crossed, days_left) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8{money}, $9{money}, $10{money}, $11{money}, $12{money}, $13, $14, $15, $16, $17, $18)"
    );
    let mut written = 0;
    for b in &feed.budgets {
        let days_left = b.days_left as i32;
        written += tx
            .execute(
                &sql,
                &[
                    &b.at,
                    &b.name,
                    &b.currency,
                    &super::budgets::selector_text(b),
                    &b.cost.name(),
                    &b.period.start,
                    &b.period.end,
                    &b.amount,
                    &b.spent,
                    &b.forecast,
                    &b.forecast_low,
                    &b.forecast_high,
                    &b.used_pct,
                    &b.forecast_pct,
                    &b.status.name(),
                    &threshold_reached(b),
                    &crossed_text(b),
                    &days_left,
                ],
            )
            .await
            .map_err(pg.err(""))?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_url("postgres://spend:s3cr%40t@db.internal:5432/finops"),
            "postgres://spend:***@db.internal:5432/finops"
        );
        assert_eq!(
            redact_url("host=db user=spend password=hunter2 dbname=finops"),
            "host=db user=spend password=*** dbname=finops"
        );
        assert_eq!(redact_url("postgres://db/finops"), "postgres://db/finops");
        // A password holding `@` (unencoded) is masked whole, also inside a message.
        assert_eq!(
            redact_url("postgres://user:pa@ss@host:5432/db"),
            "postgres://user:***@host:5432/db"
        );
        assert_eq!(
            redact_url("cannot reach `postgres://u:p@w@h/db` and https://a:b@c/d"),
            "cannot reach `postgres://u:***@h/db` and https://a:***@c/d"
        );
    }
}

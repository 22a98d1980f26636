//! Analysis over the attributed cost lake: anomalies and their explanations, investigation.

pub mod advise;
pub mod anomalies;
pub mod investigate;

use crate::attribute::Attributor;
use crate::store::{Store, Table};
use chrono::{Duration, NaiveDate};
use polars::prelude::*;

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
    #[error(transparent)]
    Attribute(#[from] crate::attribute::AttributeError),
    #[error("analysis query failed: {0}")]
    Polars(#[from] PolarsError),
}

fn date_of_micros(us: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|d| d.date_naive())
        .unwrap_or_default()
}

/// Rows whose charge period starts on days `start..=end` (compared as UTC microseconds).
pub fn between(start: NaiveDate, end: NaiveDate) -> Expr {
    let micros = |d: NaiveDate| lit(d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_micros());
    let t = col("charge_period_start").cast(DataType::Int64);
    t.clone()
        .gt_eq(micros(start))
        .and(t.lt(micros(end + Duration::days(1))))
}

/// Rows whose `__day` (a day number) is one of `days`.
pub fn on_days(days: impl IntoIterator<Item = i32>) -> Expr {
    days.into_iter()
        .fold(lit(false), |acc, d| acc.or(col("__day").eq(lit(d))))
}

/// Attributed cost rows of one currency for a span of days, read from the store.
pub struct Window {
    /// Attributed CostRecords of `currency` from `load_start` to `end`.
    pub frame: DataFrame,
    pub currency: String,
    /// The period asked for (defaults: the store's first and last day).
    pub start: NaiveDate,
    pub end: NaiveDate,
}

/// Attributed UsageRecords from `start` to `end`, or `None` when the store has none.
pub fn load_usage(
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

/// Days of history loaded before a period so its first days have a baseline.
pub const HISTORY_DAYS: i64 = 35;

/// First and last day of `costs`, `None` when it has no rows.
fn bounds_of(costs: &LazyFrame) -> Result<Option<(NaiveDate, NaiveDate)>, AnalyseError> {
    let bounds = costs
        .clone()
        .select([
            col("charge_period_start")
                .min()
                .cast(DataType::Int64)
                .alias("min"),
            col("charge_period_start")
                .max()
                .cast(DataType::Int64)
                .alias("max"),
        ])
        .collect()?;
    Ok(
        match (
            bounds.column("min")?.i64()?.get(0),
            bounds.column("max")?.i64()?.get(0),
        ) {
            (Some(min), Some(max)) => Some((date_of_micros(min), date_of_micros(max))),
            _ => None,
        },
    )
}

/// First and last day of the store's costs, `None` when it holds none.
pub fn bounds(store: &Store) -> Result<Option<(NaiveDate, NaiveDate)>, AnalyseError> {
    match store.scan(Table::Cost)? {
        Some(costs) => bounds_of(&costs),
        None => Ok(None),
    }
}

/// Load `from..=to` (defaults: the whole store) plus `extra_before` days of history,
/// attributed, in one currency: `currency` if given, else the only one of the period.
pub fn load_window(
    store: &Store,
    attributor: &Attributor,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    currency: Option<&str>,
    extra_before: i64,
) -> Result<Window, AnalyseError> {
    let empty = || AnalyseError::Empty(store.dir().display().to_string());
    let costs = store.scan(Table::Cost)?.ok_or_else(empty)?;
    let (min, max) = bounds_of(&costs)?.ok_or_else(empty)?;
    let start = from.unwrap_or(min);
    let end = to.unwrap_or(max);
    if start > end {
        return Err(AnalyseError::BadPeriod {
            from: start,
            to: end,
        });
    }
    let found_df = costs
        .clone()
        .filter(between(start, end))
        .select([col("billing_currency")
            .unique()
            .sort(SortOptions::default())])
        .collect()?;
    let found: Vec<String> = found_df
        .column("billing_currency")?
        .str()?
        .iter()
        .flatten()
        .map(str::to_string)
        .collect();
    let currency = match (currency, found.len()) {
        (Some(c), _) if found.iter().any(|f| f == c) => c.to_string(),
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
    };
    let rows = costs.filter(
        col("billing_currency")
            .eq(lit(currency.clone()))
            .and(between(start - Duration::days(extra_before), end)),
    );
    Ok(Window {
        frame: attributor.apply(rows)?,
        currency,
        start,
        end,
    })
}

/// A dimension spend can be broken down by. Series are watched for anomalies on the
/// `DETECTED` ones; the others only appear as root causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    Total,
    Provider,
    Team,
    TeamFeature,
    Feature,
    Model,
    Account,
    Region,
    UsageType,
    Resource,
}

impl Dimension {
    /// Series the anomaly detector watches.
    pub const DETECTED: &'static [Dimension] = &[
        Dimension::Total,
        Dimension::Provider,
        Dimension::Team,
        Dimension::TeamFeature,
        Dimension::Model,
        Dimension::Account,
        Dimension::Resource,
    ];

    /// Every dimension, for filters and breakdowns.
    pub const ALL: &'static [Dimension] = &[
        Dimension::Total,
        Dimension::Provider,
        Dimension::Team,
        Dimension::TeamFeature,
        Dimension::Feature,
        Dimension::Model,
        Dimension::Account,
        Dimension::Region,
        Dimension::UsageType,
        Dimension::Resource,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dimension::Total => "total",
            Dimension::Provider => "provider",
            Dimension::Team => "team",
            Dimension::TeamFeature => "team_feature",
            Dimension::Feature => "feature",
            Dimension::Model => "model",
            Dimension::Account => "account",
            Dimension::Region => "region",
            Dimension::UsageType => "usage_type",
            Dimension::Resource => "resource",
        }
    }

    pub fn parse(name: &str) -> Option<Dimension> {
        Dimension::ALL.iter().copied().find(|d| d.name() == name)
    }

    /// The value of this dimension for a row of attributed costs, as a non-null string.
    pub fn expr(self) -> Expr {
        let none = || lit("(none)");
        match self {
            Dimension::Total => lit("total"),
            Dimension::Provider => col("provider_name"),
            Dimension::Team => col("team"),
            Dimension::TeamFeature => concat_str([col("team"), col("feature")], "/", false),
            Dimension::Feature => col("feature"),
            Dimension::Model => col("model").fill_null(lit("(no model)")),
            Dimension::Account => col("sub_account_id").fill_null(none()),
            Dimension::Region => col("region_id").fill_null(none()),
            Dimension::UsageType => col("usage_type"),
            Dimension::Resource => col("resource_id").fill_null(none()),
        }
    }

    /// Child dimensions an anomaly of this dimension is explained by.
    pub fn children(self) -> &'static [Dimension] {
        use self::Dimension::*;
        match self {
            Total => &[Provider, Team, TeamFeature, Model, Account, UsageType],
            Provider => &[Account, Region, Team, Model, UsageType, Resource],
            Team => &[Provider, Feature, Account, Model, UsageType, Resource],
            TeamFeature => &[Provider, Account, Model, UsageType, Resource],
            Feature => &[Team, Provider, Model, UsageType, Resource],
            Model => &[Provider, Team, TeamFeature, Region, UsageType, Resource],
            Account => &[Team, TeamFeature, Model, UsageType, Resource],
            Region => &[Provider, Team, Model, UsageType, Resource],
            UsageType => &[Provider, Team, Model, Resource],
            Resource => &[Team, TeamFeature, Model, UsageType],
        }
    }
}

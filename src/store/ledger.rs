//! What each source said, as read: the export file's or the API's own totals per source,
//! day, billing period and currency, before rows were grouped, split, filtered or
//! attributed. Kept in the manifest and replaced together with the partitions of the same
//! (source, day), so `reconcile` can compare what came in with what is stored and what the
//! reports attribute.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One source's totals for one day, billing period and currency, as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadTotal {
    pub source: String,
    pub day: NaiveDate,
    /// `YYYY-MM`: the invoice the rows are billed on.
    pub period: String,
    pub currency: String,
    /// Every row as read.
    pub billed: f64,
    pub effective: f64,
    /// Of those, what the service filter left out (read, not stored).
    pub skipped_billed: f64,
    pub skipped_effective: f64,
    /// Records read (file lines or API rows).
    pub rows: u64,
    /// Of the rows read, FOCUS `ChargeClass = Correction` rows: corrections of an earlier
    /// billing period's charges, billed on this one.
    #[serde(default)]
    pub correction_billed: f64,
    #[serde(default)]
    pub correction_effective: f64,
}

impl ReadTotal {
    /// The key totals are summed and stored under.
    fn key(&self) -> (String, NaiveDate, String, String) {
        (
            self.source.clone(),
            self.day,
            self.period.clone(),
            self.currency.clone(),
        )
    }

    fn add(&mut self, other: &ReadTotal) {
        self.billed += other.billed;
        self.effective += other.effective;
        self.skipped_billed += other.skipped_billed;
        self.skipped_effective += other.skipped_effective;
        self.rows += other.rows;
        self.correction_billed += other.correction_billed;
        self.correction_effective += other.correction_effective;
    }
}

/// `totals` with those of the same source, day, period and currency added up (parts of
/// one file, or files of one source ingested together), in key order.
pub fn merge(totals: impl IntoIterator<Item = ReadTotal>) -> Vec<ReadTotal> {
    let mut merged: BTreeMap<(String, NaiveDate, String, String), ReadTotal> = BTreeMap::new();
    for t in totals {
        match merged.get_mut(&t.key()) {
            Some(m) => m.add(&t),
            None => {
                merged.insert(t.key(), t);
            }
        }
    }
    merged.into_values().collect()
}

/// The manifest key of a (source, day)'s totals, as the partitions are keyed.
pub(crate) fn key(source: &str, day: NaiveDate) -> String {
    format!("{source}/{day}")
}

/// `totals` grouped by the (source, day) key they replace.
pub(crate) fn by_partition(totals: &[ReadTotal]) -> BTreeMap<String, Vec<ReadTotal>> {
    let mut out: BTreeMap<String, Vec<ReadTotal>> = BTreeMap::new();
    for t in merge(totals.iter().cloned()) {
        out.entry(key(&t.source, t.day)).or_default().push(t);
    }
    out
}

/// One stored partition's money per billing period and currency, recorded in the manifest
/// when the partition is written, so a report can show what is stored without reading it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSum {
    pub period: String,
    pub currency: String,
    pub billed: f64,
    pub effective: f64,
}

/// The sums of a cost partition's rows by billing period and currency (rows without a
/// period count in their charge day's month).
pub(crate) fn stored_sums(
    part: &polars::prelude::DataFrame,
) -> polars::prelude::PolarsResult<Vec<StoredSum>> {
    use polars::prelude::*;
    let day = col("charge_period_start").cast(DataType::Date);
    let sums = part
        .clone()
        .lazy()
        .group_by_stable([
            col("billing_period")
                .fill_null(day.dt().strftime("%Y-%m"))
                .alias("period"),
            col("billing_currency").alias("currency"),
        ])
        .agg([col("billed_cost").sum(), col("effective_cost").sum()])
        .collect()?;
    let (period, currency) = (
        sums.column("period")?.str()?,
        sums.column("currency")?.str()?,
    );
    let (billed, effective) = (
        sums.column("billed_cost")?.f64()?,
        sums.column("effective_cost")?.f64()?,
    );
    Ok((0..sums.height())
        .map(|i| StoredSum {
            period: period.get(i).unwrap_or_default().to_string(),
            currency: currency.get(i).unwrap_or_default().to_string(),
            billed: billed.get(i).unwrap_or(0.0),
            effective: effective.get(i).unwrap_or(0.0),
        })
        .collect())
}

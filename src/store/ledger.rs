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
    /// Rows read (file lines or API rows; a GCP record with credits counts once per credit).
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
/// period count in their charge day's month). A plain loop: a partition is a day of one
/// source, and a polars group-by per partition costs more than the sums.
pub(crate) fn stored_sums(
    part: &polars::prelude::DataFrame,
) -> polars::prelude::PolarsResult<Vec<StoredSum>> {
    let periods = part
        .column("billing_period_start")?
        .datetime()?
        .physical()
        .clone();
    let starts = part
        .column("charge_period_start")?
        .datetime()?
        .physical()
        .clone();
    let currencies = part.column("billing_currency")?.str()?.clone();
    let billed = part.column("billed_cost")?.f64()?.clone();
    let effective = part.column("effective_cost")?.f64()?.clone();
    let mut sums: BTreeMap<(i64, &str), (f64, f64)> = BTreeMap::new();
    for i in 0..part.height() {
        let period = periods.get(i).unwrap_or_else(|| {
            let day = chrono::DateTime::from_timestamp_micros(starts.get(i).unwrap_or_default())
                .map(|t| t.date_naive())
                .unwrap_or_default();
            crate::schema::month_start_micros(day)
        });
        let sum = sums
            .entry((period, currencies.get(i).unwrap_or_default()))
            .or_default();
        sum.0 += billed.get(i).unwrap_or(0.0);
        sum.1 += effective.get(i).unwrap_or(0.0);
    }
    Ok(sums
        .into_iter()
        .map(|((period, currency), (billed, effective))| StoredSum {
            period: crate::schema::period_name(period),
            currency: currency.to_string(),
            billed,
            effective,
        })
        .collect())
}

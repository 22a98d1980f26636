//! Azure's two views of one account's charges, paired by billing month.
//!
//! Cost Management exports the same charges twice: the *actual* view (what is invoiced: a
//! reservation or savings plan purchase is a `Purchase` row on the day it was bought) and the
//! *amortized* view (no purchase; its cost spread over the usage rows it covered). Each file
//! is stored under its own source — the amortized one's name ends in [`AMORTIZED`] — so
//! neither replaces the other. When both views of a source hold days of the same calendar
//! month (Azure's billing month), that month's billed cost is read from the actual view and
//! its effective cost and usage from the amortized view: as rows are read, the actual
//! view's `effective_cost` and `consumed_quantity` and the amortized view's `billed_cost`
//! count 0. A month with one view
//! only uses it for both columns, and `Pairing::unpaired` says so, so a report can name
//! the view that is missing and what stood in for it; nothing is ever counted twice.

use super::{Manifest, Table};
use chrono::{Datelike, NaiveDate};
use polars::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;

/// Suffix of the source an amortized-cost view is stored under (after the actual view's
/// source name).
pub const AMORTIZED: &str = ":amortized";

/// Prefix of the sources Azure cost-details exports are stored under by default.
const AZURE_EXPORT: &str = "azure_export:";

/// A calendar month, as (year, month).
type Month = (i32, u32);

fn month_of(day: NaiveDate) -> Month {
    (day.year(), day.month())
}

/// Which view of which source and month is stored: actual-view source -> month -> (actual
/// present, amortized present).
#[derive(Debug, Default, Clone)]
pub(crate) struct Pairing {
    months: BTreeMap<String, BTreeMap<Month, (bool, bool)>>,
}

/// A month of an Azure source with one view only: what a report says about it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UnpairedView {
    /// The actual view's source name.
    pub source: String,
    /// `YYYY-MM`.
    pub month: String,
    pub present: &'static str,
    pub missing: &'static str,
    /// What the report used in place of the missing view.
    pub used_instead: &'static str,
}

impl Pairing {
    /// The views the cost partitions of `manifest` hold.
    pub(crate) fn of(manifest: &Manifest) -> Pairing {
        let mut months: BTreeMap<String, BTreeMap<Month, (bool, bool)>> = BTreeMap::new();
        for p in manifest.partitions.values() {
            if p.table != Table::Cost {
                continue;
            }
            let (base, amortized) = match p.source.strip_suffix(AMORTIZED) {
                Some(base) => (base, true),
                None if p.source.starts_with(AZURE_EXPORT) => (p.source.as_str(), false),
                None => continue,
            };
            let seen = months
                .entry(base.to_string())
                .or_default()
                .entry(month_of(p.day))
                .or_default();
            if amortized {
                seen.1 = true;
            } else {
                seen.0 = true;
            }
        }
        Pairing { months }
    }

    /// The actual-view sources whose month of `day` has both views (sorted).
    pub(crate) fn paired_on(&self, day: NaiveDate) -> Vec<String> {
        let month = month_of(day);
        self.months
            .iter()
            .filter(|(_, m)| m.get(&month) == Some(&(true, true)))
            .map(|(base, _)| base.clone())
            .collect()
    }

    /// How a source's billing period counts, when it is one of Azure's views: for the
    /// `reconcile` rows of `source` and `period` (`YYYY-MM`).
    pub(crate) fn note_for(&self, source: &str, period: &str) -> Option<&'static str> {
        let (base, amortized) = match source.strip_suffix(AMORTIZED) {
            Some(base) => (base, true),
            None => (source, false),
        };
        let (year, month) = period.split_once('-')?;
        let views = self
            .months
            .get(base)?
            .get(&(year.parse().ok()?, month.parse().ok()?))?;
        Some(match (views, amortized) {
            ((true, true), false) => "Azure actual view, paired: counts as billed cost only; effective cost and usage come from the amortized view",
            ((true, true), true) => "Azure amortized view, paired: counts as effective cost and usage only; billed cost comes from the actual view",
            ((true, false), _) => "Azure actual view without its amortized view: counts as billed and effective cost",
            ((false, true), _) => "Azure amortized view without its actual view: counts as billed and effective cost",
            ((false, false), _) => return None,
        })
    }

    /// Months with one view only, by source and month.
    pub fn unpaired(&self) -> Vec<UnpairedView> {
        let mut out = Vec::new();
        for (source, months) in &self.months {
            for (&(year, month), &views) in months {
                let (present, missing, used_instead) = match views {
                    (true, false) => (
                        "actual",
                        "amortized",
                        "effective cost is the actual cost: commitment purchases count on the day they were bought, not spread over their use",
                    ),
                    (false, true) => (
                        "amortized",
                        "actual",
                        "billed cost is the amortized cost: commitment purchases are spread over their use, not on the day invoiced",
                    ),
                    _ => continue,
                };
                out.push(UnpairedView {
                    source: source.clone(),
                    month: format!("{year:04}-{month:02}"),
                    present,
                    missing,
                    used_instead,
                });
            }
        }
        out
    }
}

/// `raw` (cost rows with `source` and `charge_period_start`) with each paired month's
/// actual view counting only as billed cost and its amortized view only as effective cost
/// and usage (both views list the same quantities).
/// `paired` lists, per actual-view source, the day numbers (days since 1970-01-01) whose
/// month holds both views.
pub(crate) fn apply(raw: LazyFrame, paired: &BTreeMap<String, Vec<i32>>) -> LazyFrame {
    if paired.is_empty() {
        return raw;
    }
    let day = col("charge_period_start")
        .cast(DataType::Date)
        .cast(DataType::Int32);
    let of_view = |suffix: &str| -> Expr {
        paired
            .iter()
            .map(|(base, days)| {
                let on_day = days
                    .iter()
                    .fold(lit(false), |any, d| any.or(day.clone().eq(lit(*d))));
                col("source")
                    .cast(DataType::String)
                    .eq(lit(format!("{base}{suffix}")))
                    .and(on_day)
            })
            .reduce(Expr::or)
            .unwrap_or_else(|| lit(false))
    };
    let actual = of_view("");
    raw.with_columns([
        when(actual.clone())
            .then(lit(0.0))
            .otherwise(col("effective_cost"))
            .alias("effective_cost"),
        // Both views count the same usage: the amortized view's (beside its cost) counts.
        when(actual)
            .then(lit(NULL).cast(DataType::Float64))
            .otherwise(col("consumed_quantity"))
            .alias("consumed_quantity"),
        when(of_view(AMORTIZED))
            .then(lit(0.0))
            .otherwise(col("billed_cost"))
            .alias("billed_cost"),
    ])
}

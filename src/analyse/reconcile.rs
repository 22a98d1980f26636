//! Reconciliation: for each source, billing period and currency, what the export or API
//! said as read, what the store holds, what the reports count and what attribution hands
//! out — and the differences, so a FinOps engineer can show finance the numbers add up.
//!
//! Four figures per row, each as billed and effective cost:
//! - `read`: the source's own totals ([`crate::store::ledger`]), recorded at ingest or
//!   collection before rows were grouped, split or filtered; `filtered_out` is the part the
//!   service filter left out on purpose;
//! - `stored`: the sum of the stored partitions;
//! - `counted`: the stored rows as the reports count them — the same, except Azure's paired
//!   views, where the actual view counts only as billed cost and the amortized view only as
//!   effective cost (`store::views`);
//! - `attributed`: the counted rows after tags, rules and shared-cost splits.
//!
//! `read − filtered_out = stored` says nothing was lost or doubled on the way in;
//! `attributed = counted` says attribution handed out every cent. A row whose difference
//! exceeds one cent names its largest differing day.

use super::AnalyseError;
use crate::attribute::Attributor;
use crate::store::ledger::ReadTotal;
use crate::store::{views, Manifest, Store, Table};
use chrono::NaiveDate;
use polars::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;

/// A difference larger than this (in the currency) is a reconciliation failure.
pub const TOLERANCE: f64 = 0.01;

/// Billed and effective cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Money {
    pub billed: f64,
    pub effective: f64,
}

impl Money {
    fn add(&mut self, other: Money) {
        self.billed += other.billed;
        self.effective += other.effective;
    }
    fn minus(self, other: Money) -> Money {
        Money {
            billed: self.billed - other.billed,
            effective: self.effective - other.effective,
        }
    }
    fn largest(self) -> f64 {
        self.billed.abs().max(self.effective.abs())
    }
}

/// The four figures of one (source, period, currency) or one of its days.
#[derive(Debug, Clone, Default)]
struct Figures {
    /// `None` where some day's totals were not recorded as read.
    read: Option<Money>,
    filtered_out: Money,
    corrections: Money,
    stored: Money,
    counted: Money,
    /// `None` where attribution was not run (the report's figures from the manifest).
    attributed: Option<Money>,
}

impl Figures {
    /// What was lost or doubled on the way in (`stored − (read − filtered out)`).
    fn stored_vs_read(&self) -> Option<Money> {
        self.read
            .map(|r| self.stored.minus(r.minus(self.filtered_out)))
    }
    /// What attribution lost or made up (`attributed − counted`).
    fn attributed_vs_counted(&self) -> Option<Money> {
        self.attributed.map(|a| a.minus(self.counted))
    }
    fn worst(&self) -> f64 {
        self.stored_vs_read()
            .map_or(0.0, Money::largest)
            .max(self.attributed_vs_counted().map_or(0.0, Money::largest))
    }
    fn add(&mut self, other: &Figures) {
        self.read = match (self.read, other.read) {
            (Some(mut a), Some(b)) => {
                a.add(b);
                Some(a)
            }
            _ => None,
        };
        self.filtered_out.add(other.filtered_out);
        self.corrections.add(other.corrections);
        self.stored.add(other.stored);
        self.counted.add(other.counted);
        if let Some(other) = other.attributed {
            self.attributed
                .get_or_insert_with(Money::default)
                .add(other);
        }
    }
}

/// One source's billing period in one currency, reconciled.
#[derive(Debug, Clone, Serialize)]
pub struct Reconciliation {
    pub source: String,
    /// `YYYY-MM`: FOCUS BillingPeriodStart, Azure's billing month, GCP's invoice month, the
    /// Cost Explorer month.
    pub period: String,
    pub currency: String,
    /// The export's or API's own totals; null where some day was stored before spendlens
    /// recorded them (re-ingest the file to record them).
    pub read: Option<Money>,
    pub filtered_out: Money,
    /// Of what was read, corrections of earlier billing periods (FOCUS `ChargeClass =
    /// Correction`), kept on the charge days they correct.
    pub corrections: Money,
    pub stored: Money,
    pub counted: Money,
    /// Null in the report's reconciliation, whose attributed figures are its totals.
    pub attributed: Option<Money>,
    pub stored_vs_read: Option<Money>,
    pub attributed_vs_counted: Option<Money>,
    /// Whether every difference is within a cent.
    pub ok: bool,
    /// The day with the largest difference, when there is one over a cent.
    pub largest_difference_day: Option<NaiveDate>,
    pub days: usize,
    /// What a reader needs to read the figures (a paired view, totals not recorded).
    pub notes: Vec<String>,
}

/// (source, period, currency) and day -> figures.
type DayFigures = BTreeMap<(String, String, String), BTreeMap<NaiveDate, Figures>>;

/// Reconcile the stored cost days from `start` to `end` (inclusive).
pub fn reconcile(
    store: &Store,
    attributor: &Attributor,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<Vec<Reconciliation>, AnalyseError> {
    let manifest = store.manifest()?;
    let pairing = views::Pairing::of(&manifest);
    let mut days = DayFigures::new();
    read_totals(&manifest, start, end, &mut days);
    if let Some(rows) = stored_rows(store, &pairing, start, end)? {
        // Attribution works on CostRecord rows (the raw amounts beside them left out).
        let records = rows.clone().lazy().select(
            crate::schema::COST_COLUMNS
                .iter()
                .map(|c| col(c.name))
                .collect::<Vec<_>>(),
        );
        let attributed = attributor.apply(records)?;
        add_sums(&rows, Figure::Stored, &mut days)?;
        add_sums(&rows, Figure::Counted, &mut days)?;
        add_sums(&attributed, Figure::Attributed, &mut days)?;
    }
    Ok(summarise_all(days, &pairing))
}

/// One row per source, period and currency, from their days' figures.
fn summarise_all(days: DayFigures, pairing: &views::Pairing) -> Vec<Reconciliation> {
    days.into_iter()
        .map(|(key, by_day)| summarise(key, &by_day, pairing))
        .collect()
}

/// As read, stored and counted from the manifest alone (the totals recorded with each
/// partition), without reading a row or attributing: what a report carries as its
/// `reconciliation`, at no cost to the report. Attribution's share is the report's totals.
pub(crate) fn recorded(
    manifest: &Manifest,
    pairing: &views::Pairing,
    start: NaiveDate,
    end: NaiveDate,
) -> Vec<Reconciliation> {
    let mut days = DayFigures::new();
    read_totals(manifest, start, end, &mut days);
    for p in manifest.partitions.values() {
        if p.table != Table::Cost || p.day < start || p.day > end {
            continue;
        }
        let paired = pairing.paired_on(p.day);
        let base = p.source.strip_suffix(views::AMORTIZED);
        let (counts_billed, counts_effective) = match base {
            Some(base) if paired.iter().any(|s| s == base) => (false, true),
            None if paired.contains(&p.source) => (true, false),
            _ => (true, true),
        };
        for s in &p.sums {
            let f = days
                .entry((p.source.clone(), s.period.clone(), s.currency.clone()))
                .or_default()
                .entry(p.day)
                .or_default();
            f.stored.add(Money {
                billed: s.billed,
                effective: s.effective,
            });
            f.counted.add(Money {
                billed: if counts_billed { s.billed } else { 0.0 },
                effective: if counts_effective { s.effective } else { 0.0 },
            });
        }
    }
    summarise_all(days, pairing)
}

/// The ledger's totals of the days, by source, period, currency and day.
fn read_totals(manifest: &Manifest, start: NaiveDate, end: NaiveDate, days: &mut DayFigures) {
    for t in manifest.ledger.values().flatten() {
        if t.day < start || t.day > end {
            continue;
        }
        let ReadTotal {
            source,
            day,
            period,
            currency,
            ..
        } = t;
        let f = days
            .entry((source.clone(), period.clone(), currency.clone()))
            .or_default()
            .entry(*day)
            .or_default();
        let read = f.read.get_or_insert_with(Money::default);
        read.add(Money {
            billed: t.billed,
            effective: t.effective,
        });
        f.filtered_out.add(Money {
            billed: t.skipped_billed,
            effective: t.skipped_effective,
        });
        f.corrections.add(Money {
            billed: t.correction_billed,
            effective: t.correction_effective,
        });
    }
}

/// The stored cost rows of the days (views paired as reports count them, the raw amounts
/// kept beside as `__stored_*`), or `None` when there are none.
fn stored_rows(
    store: &Store,
    pairing: &views::Pairing,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<Option<DataFrame>, AnalyseError> {
    let Some(lf) = store.scan(Table::Cost)? else {
        return Ok(None);
    };
    let mut paired: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for day in start.iter_days().take_while(|d| *d <= end) {
        for source in pairing.paired_on(day) {
            paired
                .entry(source)
                .or_default()
                .push(crate::schema::day_number(day));
        }
    }
    // Rows stored before spendlens kept the billing period count in their day's month.
    let month = col("charge_period_start").dt().truncate(lit("1mo"));
    let lf = lf.filter(super::between(start, end)).with_columns([
        col("billing_period_start").fill_null(month),
        col("billed_cost").alias("__stored_billed"),
        col("effective_cost").alias("__stored_effective"),
    ]);
    let rows = views::apply(lf, &paired).collect()?;
    Ok((rows.height() > 0).then_some(rows))
}

/// Which figure a frame's sums are.
#[derive(Clone, Copy)]
enum Figure {
    /// The raw amounts (`__stored_*`, beside the paired ones).
    Stored,
    /// The amounts with Azure's views paired.
    Counted,
    /// The amounts after attribution.
    Attributed,
}

/// Add `rows`' sums per source, period, currency and day to the figure `which`.
fn add_sums(rows: &DataFrame, which: Figure, days: &mut DayFigures) -> Result<(), AnalyseError> {
    let (billed, effective) = match which {
        Figure::Stored => ("__stored_billed", "__stored_effective"),
        Figure::Counted | Figure::Attributed => ("billed_cost", "effective_cost"),
    };
    let sums = rows
        .clone()
        .lazy()
        .group_by([
            col("source").cast(DataType::String),
            col("billing_period_start"),
            col("billing_currency").cast(DataType::String),
            col("charge_period_start")
                .cast(DataType::Date)
                .alias("__day"),
        ])
        .agg([
            col(billed).sum().alias("b"),
            col(effective).sum().alias("e"),
        ])
        .collect()?;
    let text = |c: &str| -> PolarsResult<StringChunked> { Ok(sums.column(c)?.str()?.clone()) };
    let (source, currency) = (text("source")?, text("billing_currency")?);
    let period = sums
        .column("billing_period_start")?
        .datetime()?
        .physical()
        .clone();
    let day = sums.column("__day")?.date()?.physical().clone();
    let (b, e) = (sums.column("b")?.f64()?, sums.column("e")?.f64()?);
    for i in 0..sums.height() {
        let key = (
            source.get(i).unwrap_or_default().to_string(),
            crate::schema::period_name(period.get(i).unwrap_or_default()),
            currency.get(i).unwrap_or_default().to_string(),
        );
        let day = crate::schema::date_of_day_number(day.get(i).unwrap_or_default());
        let f = days.entry(key).or_default().entry(day).or_default();
        let money = Money {
            billed: b.get(i).unwrap_or(0.0),
            effective: e.get(i).unwrap_or(0.0),
        };
        match which {
            Figure::Stored => f.stored.add(money),
            Figure::Counted => f.counted.add(money),
            Figure::Attributed => f.attributed.get_or_insert_with(Money::default).add(money),
        }
    }
    Ok(())
}

/// One row from its days' figures.
fn summarise(
    (source, period, currency): (String, String, String),
    by_day: &BTreeMap<NaiveDate, Figures>,
    pairing: &views::Pairing,
) -> Reconciliation {
    let mut total = Figures {
        read: Some(Money::default()),
        ..Figures::default()
    };
    for f in by_day.values() {
        total.add(f);
    }
    let unrecorded = by_day.values().filter(|f| f.read.is_none()).count();
    let worst_day = by_day
        .iter()
        .map(|(d, f)| (*d, f.worst()))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let ok = total.worst() <= TOLERANCE && worst_day.is_none_or(|(_, w)| w <= TOLERANCE);
    let mut notes = Vec::new();
    if unrecorded > 0 {
        notes.push(format!(
            "totals as read not recorded for {unrecorded} day(s): stored before spendlens recorded them; ingest or collect them again to record them"
        ));
    }
    let corrected: Vec<String> = by_day
        .iter()
        .filter(|(_, f)| f.corrections != Money::default())
        .map(|(d, _)| d.to_string())
        .collect();
    if !corrected.is_empty() {
        notes.push(format!(
            "includes corrections of earlier billing periods (ChargeClass = Correction): billed {:.2}, effective {:.2}, on charge day(s) {}",
            total.corrections.billed,
            total.corrections.effective,
            corrected.join(", ")
        ));
    }
    if let Some(note) = pairing.note_for(&source, &period) {
        notes.push(note.to_string());
    }
    Reconciliation {
        read: total.read,
        filtered_out: total.filtered_out,
        corrections: total.corrections,
        stored: total.stored,
        counted: total.counted,
        attributed: total.attributed,
        stored_vs_read: total.stored_vs_read(),
        attributed_vs_counted: total.attributed_vs_counted(),
        ok,
        largest_difference_day: worst_day.filter(|_| !ok).map(|(d, _)| d),
        days: by_day.len(),
        notes,
        source,
        period,
        currency,
    }
}

//! The [`Collector`] contract every live source implements, and [`configured`], the list of
//! collectors a config asks for, in the order a run calls them.

use super::aws::profiles::Profile;
use super::{Check, CollectError, DayRange};
use crate::config::Config;
use crate::store::{Store, StoreLock, Table};
use chrono::NaiveDate;
use polars::prelude::DataFrame;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A collector's answer, to be awaited (boxed: collectors are called through `dyn`).
pub(crate) type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// What [`Collector::collect`] answers: one line saying what it wrote, or why it failed.
pub(crate) type Outcome<'a> = Pending<'a, Result<String, CollectError>>;

/// What every collector of one run is given.
pub struct Run<'a> {
    pub store: &'a Store,
    /// The store lock the run holds: each collector commits its own source.
    pub lock: &'a StoreLock,
    /// Days asked for; `None`: each collector's own lookback, ending yesterday.
    pub window: Option<DayRange>,
    pub today: NaiveDate,
    /// Days from here on are fetched again even when stored as final (bills restate them).
    pub restate_from: Option<NaiveDate>,
    /// A source still fetching after this long fails; its stored days stay as they were.
    pub deadline: Duration,
}

impl Run<'_> {
    /// The days asked for, else the `lookback` days ending yesterday.
    pub fn window_or(&self, lookback: u32) -> DayRange {
        self.window
            .unwrap_or_else(|| default_window(self.today, lookback))
    }

    /// The days of `source` stored as final that need not be fetched again: those before
    /// the restate window (bills restate recent days, so those are asked for again).
    pub fn skippable_days(
        &self,
        table: Table,
        source: &str,
    ) -> Result<std::collections::BTreeSet<NaiveDate>, CollectError> {
        let mut finals = self.store.final_days(table, source)?;
        if let Some(r) = self.restate_from {
            finals.retain(|d| *d < r);
        }
        Ok(finals)
    }

    /// Commit `frame` as every row of `sources` on `days` (what the store held for them is
    /// replaced, rows or not), marking `final_days` of each source final and recording the
    /// API's own totals (`read`, for `reconcile`): one atomic write.
    pub fn commit(
        &self,
        table: Table,
        frame: &DataFrame,
        (sources, days): (&[String], &[NaiveDate]),
        final_days: impl IntoIterator<Item = NaiveDate>,
        read: &[crate::store::ledger::ReadTotal],
    ) -> Result<(), CollectError> {
        let final_days: Vec<NaiveDate> = final_days.into_iter().collect();
        let clear: Vec<(String, NaiveDate)> = sources
            .iter()
            .flat_map(|s| days.iter().map(move |d| (s.clone(), *d)))
            .collect();
        let finals = sources
            .iter()
            .flat_map(|s| final_days.iter().map(move |d| (s.clone(), *d)))
            .collect();
        self.store
            .replace_marking(self.lock, table, frame, &clear, (&finals, read))?;
        Ok(())
    }
}

/// What collectors earlier in a run hand to later ones, and where they say what they do.
pub struct Found<'a> {
    /// Bedrock application inference profiles listed per region: CloudWatch's per-profile
    /// metrics are named by them.
    pub profiles: BTreeMap<String, Vec<Profile>>,
    /// Progress messages (dry-run estimates and the like), not results.
    pub log: &'a mut dyn FnMut(String),
}

/// One live source of spend or usage: a cloud API read through its own client.
///
/// Contract:
/// - a collector is made from its typed config section only when that section is present
///   (and the source enabled) — see [`configured`];
/// - [`Collector::check`] (behind `spendlens doctor`) makes the cheapest call for each
///   permission in [`Collector::permissions`] and names the one that is missing;
/// - [`Collector::collect`] fetches the run's window — only days the store does not already
///   hold as final, plus the restate window — and writes them in one atomic store commit of
///   its own source, after the fetch: a source that fails or passes the deadline leaves its
///   stored days exactly as they were and does not stop the others. It returns one line
///   saying what it wrote and how many (paid) requests it made.
pub(crate) trait Collector {
    /// The source its rows are stored under (the run log and reports name it).
    fn source(&self) -> String;
    /// The permissions it needs (IAM actions, roles), as `doctor` names them.
    fn permissions(&self) -> &'static [&'static str];
    /// One check per permission, against the real API.
    fn check(&self, today: NaiveDate) -> Pending<'_, Vec<Check>>;
    /// Fetch and commit the run's window (see the trait's contract).
    fn collect<'a>(&'a self, run: &'a Run<'a>, found: &'a mut Found<'_>) -> Outcome<'a>;
}

/// The collectors `config` asks for, in the order a run calls them: per AWS region its
/// inference profiles then CloudWatch (which reads the profiles), Cost Explorer, BigQuery,
/// Azure Cost Management.
pub(crate) fn configured(config: &Config) -> Vec<Box<dyn Collector + '_>> {
    let mut collectors: Vec<Box<dyn Collector + '_>> = Vec::new();
    if let Some(cfg) = &config.aws {
        collectors.extend(super::aws::collectors(cfg));
    }
    if let Some(cfg) = &config.gcp {
        collectors.push(Box::new(super::gcp::BigQueryExport { cfg }));
    }
    if let Some(cfg) = &config.azure {
        collectors.push(Box::new(super::azure::CostManagement { cfg }));
    }
    collectors
}

/// Days from `lookback` days ago to yesterday.
fn default_window(today: NaiveDate, lookback: u32) -> DayRange {
    let end = today.pred_opt().unwrap_or(today);
    DayRange {
        start: end - chrono::Duration::days(i64::from(lookback.max(1)) - 1),
        end,
    }
}

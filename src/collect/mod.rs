//! Live cloud APIs -> schema frames -> the store.
//!
//! Every source is a `Collector` (the contract is on the trait): Bedrock inference profiles,
//! CloudWatch and Cost Explorer under `aws`, the BigQuery billing export under `gcp`, Cost
//! Management under `azure`. A new source is one module implementing the trait, plus its
//! line in `configured`. Shared here: the error type, windows of days, the page-token
//! guard, the deadline, and the doctor's check lines.

pub mod aws;
pub mod azure;
mod collector;
pub mod gcp;

pub(crate) use collector::{configured, Collector, Outcome, Pending};
pub use collector::{Found, Run};

use chrono::NaiveDate;

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("{service}: `{action}` was denied: {message}\nhint: attach the policy printed by `spendlens doctor --policy` to the identity spendlens runs as")]
    AccessDenied {
        service: &'static str,
        action: &'static str,
        message: String,
    },
    #[error("{service} {operation} failed: {message}\nhint: it still failed after retries; check the network, the region or endpoint settings (AWS_ENDPOINT_URL*, [gcp] / [azure] endpoint), then run `spendlens doctor`")]
    Api {
        service: &'static str,
        operation: &'static str,
        message: String,
    },
    #[error("{service} {operation}: the page token repeated; stopping rather than looping")]
    RepeatedToken {
        service: &'static str,
        operation: &'static str,
    },
    #[error("{service} {operation}: unexpected response: {message}")]
    BadResponse {
        service: &'static str,
        operation: &'static str,
        message: String,
    },
    #[error("still running after [collect] deadline_secs = {0}; stopped, its stored days are unchanged\nhint: the API answers slowly or not at all; check its status, or raise deadline_secs")]
    Deadline(u64),
    #[error("building frames: {0}")]
    Frame(#[from] polars::prelude::PolarsError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// The runtime collectors (and anything calling Polars from async code) run on: Polars
/// blocks inside a Tokio runtime only on the multi-threaded one.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// What one source of a collection run did: its summary line, or why it failed.
#[derive(Debug)]
pub struct SourceRun {
    pub source: String,
    pub result: Result<String, CollectError>,
}

/// Collect from every configured source (`configured`), each written in its own atomic
/// store commit; a failing source leaves its days untouched and does not stop the others.
/// Days from `restate_from` on are fetched again even when stored as final.
pub async fn all(
    config: &crate::config::Config,
    store: &crate::store::Store,
    lock: &crate::store::StoreLock,
    window: Option<DayRange>,
    today: NaiveDate,
    restate_from: Option<NaiveDate>,
    log: &mut dyn FnMut(String),
) -> Vec<SourceRun> {
    let run = Run {
        store,
        lock,
        window,
        today,
        restate_from,
        deadline: std::time::Duration::from_secs(config.collect.deadline_secs.max(1)),
    };
    let mut found = Found {
        profiles: Default::default(),
        log,
    };
    let mut runs = Vec::new();
    for collector in configured(config) {
        let result = collector.collect(&run, &mut found).await;
        runs.push(SourceRun {
            source: collector.source(),
            result,
        });
    }
    runs
}

/// Days of `window` not in `have_final`, as the window they span (`None`: nothing to
/// fetch) and the days themselves.
pub(crate) fn wanted_days(
    window: DayRange,
    have_final: &std::collections::BTreeSet<NaiveDate>,
) -> Option<(DayRange, Vec<NaiveDate>)> {
    let wanted: Vec<NaiveDate> = window.days().filter(|d| !have_final.contains(d)).collect();
    let (Some(&start), Some(&end)) = (wanted.first(), wanted.last()) else {
        return None;
    };
    Some((DayRange { start, end }, wanted))
}

/// What a collector says when every day it would fetch is final in the store.
pub(crate) const NOTHING_TO_FETCH: &str = "nothing to fetch: every day is final in the store";

/// Run one source's fetch under the deadline; past it the fetch is dropped (nothing has been
/// written: writes happen after the fetch) and the source fails.
pub async fn within<T>(
    deadline: std::time::Duration,
    fetch: impl std::future::Future<Output = Result<T, CollectError>>,
) -> Result<T, CollectError> {
    tokio::time::timeout(deadline, fetch)
        .await
        .unwrap_or(Err(CollectError::Deadline(deadline.as_secs())))
}

/// Every permission check of the configured collectors (`spendlens doctor`).
pub async fn doctor(config: &crate::config::Config, today: NaiveDate) -> Vec<Check> {
    let mut checks = Vec::new();
    for collector in configured(config) {
        checks.extend(collector.check(today).await);
    }
    checks
}

/// Whether the link-local metadata server (169.254.169.254) answers `path` within half a
/// second with `needle` (lower-case) in its answer: how the GCP and Azure credential chains
/// tell they run in their cloud. A bare TCP connect is not enough (some networks accept
/// every connection).
pub(crate) fn metadata_server_says(path: &str, header: &str, needle: &str) -> bool {
    use std::io::{Read, Write};
    let timeout = std::time::Duration::from_millis(500);
    let addr = std::net::SocketAddr::from(([169, 254, 169, 254], 80));
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, timeout) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    if write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 169.254.169.254\r\n{header}\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap_or(0);
    let answer = String::from_utf8_lossy(&buf[..n]).to_lowercase();
    answer.starts_with("http/1.1 200") && answer.contains(needle)
}

/// Days to collect, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl DayRange {
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.start.iter_days().take_while(move |d| d <= &self.end)
    }
}

/// Contiguous runs of `days` (sorted), as windows.
pub fn runs(days: &[NaiveDate]) -> Vec<DayRange> {
    let mut out: Vec<DayRange> = Vec::new();
    for &d in days {
        match out.last_mut() {
            Some(w) if w.end.succ_opt() == Some(d) => w.end = d,
            _ => out.push(DayRange { start: d, end: d }),
        }
    }
    out
}

/// Guards a paging loop against a server that hands back a token it already gave.
#[derive(Default)]
pub(crate) struct Pager {
    seen: std::collections::HashSet<String>,
}

impl Pager {
    /// The next token to ask with, `None` when done; an error on a repeated token.
    pub fn next(
        &mut self,
        token: Option<&str>,
        service: &'static str,
        operation: &'static str,
    ) -> Result<Option<String>, CollectError> {
        match token.filter(|t| !t.is_empty()) {
            None => Ok(None),
            Some(t) if !self.seen.insert(t.to_string()) => {
                Err(CollectError::RepeatedToken { service, operation })
            }
            Some(t) => Ok(Some(t.to_string())),
        }
    }
}

/// Result of one permission check made by `spendlens doctor`.
#[derive(Debug, Clone)]
pub struct Check {
    pub action: &'static str,
    pub scope: String,
    /// `None` when the call succeeded.
    pub problem: Option<String>,
    pub note: Option<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_days() {
        let d = |n| NaiveDate::from_ymd_opt(2026, 10, n).unwrap();
        assert_eq!(
            runs(&[d(1), d(2), d(3), d(5), d(7), d(8)]),
            vec![
                DayRange {
                    start: d(1),
                    end: d(3)
                },
                DayRange {
                    start: d(5),
                    end: d(5)
                },
                DayRange {
                    start: d(7),
                    end: d(8)
                }
            ]
        );
    }

    #[test]
    fn a_repeated_token_stops_paging() {
        let mut p = Pager::default();
        assert_eq!(p.next(Some("a"), "s", "op").unwrap().as_deref(), Some("a"));
        assert!(p.next(Some("a"), "s", "op").is_err());
        assert_eq!(p.next(None, "s", "op").unwrap(), None);
    }
}

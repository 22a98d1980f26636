//! Live cloud APIs -> schema frames -> the store.
//!
//! Contract of every collector (`aws::profiles`, `aws::cloudwatch`, `aws::cost_explorer`):
//! - it is configured by a typed section of `spendlens.toml` (unknown keys rejected);
//! - `check` (behind `spendlens doctor`) makes the cheapest call for each permission it needs
//!   and names the missing IAM action;
//! - `collect` fetches a window of days and returns frames in the shared schema, *without*
//!   writing anything; the caller writes them in one atomic store commit, so a source that
//!   fails half-way leaves the store exactly as it was;
//! - it asks only for what the store does not already hold as final, and reports how many
//!   paid requests it made.

pub mod aws;
pub mod azure;
pub mod gcp;

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

/// The final days a collector may skip: all of `finals` before `restate_from` (bills restate
/// recent days, so those are asked for again).
pub fn skippable(
    mut finals: std::collections::BTreeSet<NaiveDate>,
    restate_from: Option<NaiveDate>,
) -> std::collections::BTreeSet<NaiveDate> {
    if let Some(r) = restate_from {
        finals.retain(|d| *d < r);
    }
    finals
}

/// Source name of the GCP collector: the billing account the export table is named after
/// (`gcp_billing_export[_resource]_v1_<ACCOUNT>`), so collecting and ingesting `bq extract`
/// files of the same account replace each other's days; else the table itself.
pub fn gcp_source(table: &str) -> String {
    let name = table.rsplit('.').next().unwrap_or(table);
    let account = name
        .strip_prefix("gcp_billing_export_resource_v1_")
        .or_else(|| name.strip_prefix("gcp_billing_export_v1_"))
        .map(|a| a.replace('_', "-"))
        .filter(|a| a.len() == 20 && a.matches('-').count() == 2);
    match account {
        Some(a) => format!("gcp_export:{a}"),
        None => format!("gcp_bigquery:{table}"),
    }
}

/// Collect from every configured cloud source: AWS, GCP, Azure. Each source is written in
/// its own atomic store commit; a failing source leaves its days untouched and does not stop
/// the others. Days from `restate_from` on are fetched again even when stored as final.
pub async fn all(
    config: &crate::config::Config,
    store: &crate::store::Store,
    lock: &crate::store::StoreLock,
    window: Option<Window>,
    today: NaiveDate,
    restate_from: Option<NaiveDate>,
    log: &mut dyn FnMut(String),
) -> Vec<aws::SourceRun> {
    use crate::store::Table;
    let deadline = std::time::Duration::from_secs(config.collect.deadline_secs.max(1));
    let mut runs = Vec::new();
    if let Some(cfg) = &config.aws {
        runs.extend(aws::collect(cfg, store, lock, window, today, restate_from, deadline).await);
    }
    if let Some(cfg) = &config.gcp {
        let source = gcp_source(&cfg.billing_table);
        let result = async {
            let w = window.unwrap_or_else(|| aws::default_window(today, cfg.lookback_days));
            let have = skippable(store.final_days(Table::Cost, &source)?, restate_from);
            let Some(spend) = within(deadline, gcp::collect(cfg, w, &have, today, log)).await? else {
                return Ok("nothing to fetch: every day is final in the store".to_string());
            };
            let opts_source = source.clone();
            let mut frame = spend.parsed.frame.clone();
            // Rows of another billing account than the table's name says stay under theirs.
            if source.starts_with("gcp_bigquery:") {
                frame = polars::prelude::IntoLazy::lazy(frame)
                    .with_column(polars::prelude::lit(opts_source.clone()).alias("source"))
                    .collect()?;
            }
            let sources: std::collections::BTreeSet<String> = frame
                .column("source")?
                .str()?
                .iter()
                .flatten()
                .map(str::to_string)
                .chain(std::iter::once(source.clone()))
                .collect();
            let clear: Vec<(String, NaiveDate)> = sources
                .iter()
                .flat_map(|s| spend.days.iter().map(move |d| (s.clone(), *d)))
                .collect();
            let finals = sources
                .iter()
                .flat_map(|s| spend.final_days.iter().map(move |d| (s.clone(), *d)))
                .collect();
            store.replace_marking(lock, Table::Cost, &frame, &clear, &finals)?;
            Ok(format!(
                "{} cost row(s) from {} result row(s) over {} day(s) ({} final); dry run estimated {} byte(s)",
                frame.height(),
                spend.result_rows,
                spend.days.len(),
                spend.final_days.len(),
                spend.bytes_estimate
            ))
        }
        .await;
        runs.push(aws::SourceRun { source, result });
    }
    if let Some(cfg) = &config.azure {
        let source = azure::source(&cfg.scope);
        let result = async {
            let w = window.unwrap_or_else(|| aws::default_window(today, cfg.lookback_days));
            let have = skippable(store.final_days(Table::Cost, &source)?, restate_from);
            let Some(spend) = within(deadline, azure::collect(cfg, w, &have, today)).await? else {
                return Ok("nothing to fetch: every day is final in the store".to_string());
            };
            let clear: Vec<(String, NaiveDate)> =
                spend.days.iter().map(|d| (source.clone(), *d)).collect();
            let finals = spend
                .final_days
                .iter()
                .map(|d| (source.clone(), *d))
                .collect();
            store.replace_marking(lock, Table::Cost, &spend.parsed.frame, &clear, &finals)?;
            Ok(format!(
                "{} cost row(s) over {} day(s) ({} final); {} request(s), {} retried",
                spend.parsed.frame.height(),
                spend.days.len(),
                spend.final_days.len(),
                spend.requests,
                spend.retries
            ))
        }
        .await;
        runs.push(aws::SourceRun { source, result });
    }
    runs
}

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
    if let Some(cfg) = &config.aws {
        checks.extend(aws::doctor(cfg).await);
    }
    if let Some(cfg) = &config.gcp {
        checks.extend(gcp::check(cfg, today).await);
    }
    if let Some(cfg) = &config.azure {
        checks.extend(azure::check(cfg, today).await);
    }
    checks
}

/// Whether the link-local metadata server (169.254.169.254) answers `path` within half a
/// second with `needle` (lower-case) in its answer: how the GCP and Azure credential chains
/// tell they run in their cloud. A bare TCP connect is not enough (some networks accept
/// every connection).
pub fn metadata_server_says(path: &str, header: &str, needle: &str) -> bool {
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
pub struct Window {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Window {
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.start.iter_days().take_while(move |d| d <= &self.end)
    }
}

/// Contiguous runs of `days` (sorted), as windows.
pub fn runs(days: &[NaiveDate]) -> Vec<Window> {
    let mut out: Vec<Window> = Vec::new();
    for &d in days {
        match out.last_mut() {
            Some(w) if w.end.succ_opt() == Some(d) => w.end = d,
            _ => out.push(Window { start: d, end: d }),
        }
    }
    out
}

/// Guards a paging loop against a server that hands back a token it already gave.
#[derive(Default)]
pub struct Pager {
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
                Window {
                    start: d(1),
                    end: d(3)
                },
                Window {
                    start: d(5),
                    end: d(5)
                },
                Window {
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

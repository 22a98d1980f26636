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

use chrono::NaiveDate;

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("{service}: `{action}` was denied: {message}\nhint: attach the policy printed by `spendlens doctor --policy` to the identity spendlens runs as")]
    AccessDenied {
        service: &'static str,
        action: &'static str,
        message: String,
    },
    #[error("{service} {operation} failed: {message}\nhint: it still failed after the SDK's retries; check the region, the network and any AWS_ENDPOINT_URL* setting, then run `spendlens doctor`")]
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
    #[error("building frames: {0}")]
    Frame(#[from] polars::prelude::PolarsError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
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

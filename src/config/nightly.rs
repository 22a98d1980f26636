//! `[nightly]` (what `spendlens nightly` ingests and reports) and `[collect]` (the limits
//! every collector runs under).

use serde::Deserialize;
use std::path::PathBuf;

/// `[collect]`: limits every collector runs under.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CollectConfig {
    /// A source still running after this many seconds is stopped and fails (its stored days
    /// stay as they were): nothing hangs a nightly run.
    pub deadline_secs: u64,
}

impl Default for CollectConfig {
    fn default() -> Self {
        CollectConfig { deadline_secs: 900 }
    }
}

/// `[nightly]`: what `spendlens nightly` collects and reports.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NightlyConfig {
    /// Export files or directories (every .csv / .parquet / .json / .jsonl inside) ingested on
    /// every run; relative paths are relative to the config file.
    pub exports: Vec<PathBuf>,
    /// Cloud bills restate recent days: re-pull the last N days even when stored as final.
    pub restate_days: u32,
    /// Days the nightly report covers, ending at the last day in the store.
    pub period_days: u32,
    /// A source whose data ends more than N days before the report's last day is stale.
    pub stale_after_days: u32,
    /// A run finding the store locked by another (an earlier night still running) waits this
    /// many seconds for it, then fails naming the holder's pid.
    pub lock_wait_secs: u64,
}

impl Default for NightlyConfig {
    fn default() -> Self {
        NightlyConfig {
            exports: Vec::new(),
            restate_days: 3,
            period_days: 30,
            stale_after_days: 2,
            lock_wait_secs: 600,
        }
    }
}

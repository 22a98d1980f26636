//! Budget thresholds already announced by the nightly digest: kept in the manifest (one
//! atomic commit, untouched by ingest and collectors), so a crossing is announced once per
//! budget, period, threshold and kind — not every night it stays crossed.

use super::{Manifest, Store, StoreError, StoreLock, MANIFEST_VERSION};
use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

/// How long announcements are kept after their period began: a year's period and then some.
const KEPT_DAYS: i64 = 800;

/// One threshold crossing, as announced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Announcement {
    pub budget: String,
    /// The first day of the budget period it was crossed in.
    pub period_start: NaiveDate,
    /// Percent of the budget's amount.
    pub threshold: f64,
    /// `actual` (spend reached it) or `forecast` (the forecast is to reach it).
    pub kind: String,
    /// The day it was (or is forecast to be) reached, as announced.
    pub day: NaiveDate,
    /// When it was announced (RFC 3339).
    pub at: String,
}

impl Announcement {
    /// Whether `other` announced the same crossing (whatever its day or time).
    pub fn same_crossing(&self, other: &Announcement) -> bool {
        self.budget == other.budget
            && self.period_start == other.period_start
            && self.threshold == other.threshold
            && self.kind == other.kind
    }
}

impl Store {
    /// The crossings announced so far.
    pub fn announced(&self) -> Result<Vec<Announcement>, StoreError> {
        Ok(self.manifest()?.announced)
    }

    /// Add `new` to the announced crossings, in one atomic manifest commit; those of periods
    /// that began more than `KEPT_DAYS` (800) days before the newest are dropped.
    pub fn record_announced(
        &self,
        _lock: &StoreLock,
        new: &[Announcement],
    ) -> Result<(), StoreError> {
        if new.is_empty() {
            return Ok(());
        }
        let mut manifest: Manifest = self.manifest()?;
        let kept = &mut manifest.announced;
        for a in new {
            kept.retain(|k| !k.same_crossing(a));
            kept.push(a.clone());
        }
        if let Some(newest) = kept.iter().map(|a| a.period_start).max() {
            kept.retain(|a| a.period_start > newest - Duration::days(KEPT_DAYS));
        }
        manifest.version = MANIFEST_VERSION;
        self.commit_manifest(&manifest)
    }
}

//! Verdicts on incidents (`spendlens anomalies ack`): kept in the manifest, so they are
//! committed atomically with it and survive every re-ingest and re-collection (those
//! rewrite partitions, never the verdicts).

use super::{Manifest, Store, StoreError, StoreLock, MANIFEST_VERSION};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// What a person (or a planned window) said an incident is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Known in advance: a launch, a load test, a migration.
    Planned,
    /// Real and understood: nothing to do.
    Expected,
    /// Not a change in spend at all.
    FalsePositive,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Planned => "planned",
            Verdict::Expected => "expected",
            Verdict::FalsePositive => "false-positive",
        }
    }
}

/// One acknowledgement of an incident.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ack {
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The verdict holds for the incident's days up to this one; an incident still under
    /// way after it is open again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<NaiveDate>,
    /// When it was recorded (RFC 3339), or empty for a planned window of the config.
    #[serde(default)]
    pub at: String,
    /// `ack`, or `planned window <name>` for a config window.
    #[serde(default)]
    pub by: String,
}

impl Ack {
    /// Whether the verdict still covers an incident that runs to `end`.
    pub fn covers(&self, end: NaiveDate) -> bool {
        self.until.is_none_or(|until| end <= until)
    }
}

impl Store {
    /// The recorded verdicts, by incident id.
    pub fn acks(&self) -> Result<std::collections::BTreeMap<String, Ack>, StoreError> {
        Ok(self.manifest()?.acks)
    }

    /// Record (or replace) the verdict on incident `id`, in one atomic manifest commit.
    pub fn record_ack(&self, _lock: &StoreLock, id: &str, ack: Ack) -> Result<(), StoreError> {
        let mut manifest: Manifest = self.manifest()?;
        manifest.acks.insert(id.to_string(), ack);
        manifest.version = MANIFEST_VERSION;
        self.commit_manifest(&manifest)
    }
}

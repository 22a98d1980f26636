//! [`BatchWriter`]: a store write committed at once after partitions were written batch by
//! batch (a large ingest), with partitions it wrote taken back when a later batch holds more
//! of their rows.

use super::*;

/// A replace in progress (see [`Store::writer`]): partition files written under the next
/// generation and entered in a copy of the manifest, committed at once.
pub struct BatchWriter<'a> {
    pub(super) store: &'a Store,
    pub(super) table: Table,
    pub(super) final_days: &'a std::collections::BTreeSet<(String, NaiveDate)>,
    pub(super) generation: u64,
    /// The partitions as they were before this write (to put back one taken back).
    pub(super) before: BTreeMap<String, PartitionEntry>,
    pub(super) manifest: Manifest,
    pub(super) written: Vec<PathBuf>,
    pub(super) summary: WriteSummary,
    pub(super) committed: bool,
    /// The (source, day) keys whose totals as read this write recorded.
    pub(super) recorded: std::collections::BTreeSet<String>,
}

impl BatchWriter<'_> {
    fn key(&self, source: &str, day: NaiveDate) -> String {
        PartitionKey {
            table: self.table,
            source: source.to_string(),
            day,
        }
        .id()
    }

    /// The file of (source, day) when this write has written it.
    fn ours(&self, source: &str, day: NaiveDate) -> Option<PathBuf> {
        let entry = self.manifest.partitions.get(&self.key(source, day))?;
        entry
            .file
            .ends_with(&format!(".{}.parquet", self.generation))
            .then(|| self.store.dir.join(&entry.file))
    }

    /// Whether this write has written the (source, day) partition.
    pub fn holds(&self, source: &str, day: NaiveDate) -> bool {
        self.ours(source, day).is_some()
    }

    /// Write the partitions of `batch`: each (source, day) in it must not be written yet.
    pub fn write(&mut self, batch: &DataFrame) -> Result<(), StoreError> {
        let polars_err = |source| StoreError::Polars {
            path: self.store.dir.clone(),
            cause: source,
        };
        let parts = split_partitions(batch).map_err(polars_err)?;
        if let Some((source, day, _)) = parts.iter().find(|(s, d, _)| self.holds(s, *d)) {
            return Err(StoreError::Manifest {
                path: self.store.dir.join(MANIFEST),
                message: format!("internal: partition {source}/{day} arrived in two batches"),
            });
        }
        self.store.write_partitions(
            &mut self.manifest,
            &mut self.summary,
            &mut self.written,
            (self.table, self.generation, self.final_days),
            parts,
        )
    }

    /// Undo the write of the (source, day) partition and return its rows, so they can be
    /// written again with more (rows of that day that turned up later).
    pub(crate) fn take_back(
        &mut self,
        source: &str,
        day: NaiveDate,
    ) -> Result<DataFrame, StoreError> {
        let key = self.key(source, day);
        let path = self.ours(source, day).ok_or_else(|| StoreError::Manifest {
            path: self.store.dir.join(MANIFEST),
            message: format!("internal: partition {source}/{day} was not written by this write"),
        })?;
        let rows = LazyFrame::scan_parquet(
            PlRefPath::new(path.to_string_lossy().as_ref()),
            ScanArgsParquet::default(),
        )
        .and_then(polars::prelude::LazyFrame::collect)
        .map_err(|cause| StoreError::Polars {
            path: path.clone(),
            cause,
        })?;
        match self.before.get(&key) {
            Some(old) => {
                self.summary.replaced -= 1;
                self.manifest.partitions.insert(key, old.clone());
            }
            None => {
                self.summary.added -= 1;
                self.manifest.partitions.remove(&key);
            }
        }
        self.summary.rows -= rows.height();
        self.written.retain(|p| p != &path);
        let _ = fs::remove_file(&path);
        Ok(rows)
    }

    /// Record the sources' totals as read ([`ledger`]): each (source, day) of `read`
    /// replaces what the ledger held for it, in the same commit as the partitions.
    pub fn record(&mut self, read: &[ledger::ReadTotal]) {
        for (key, totals) in ledger::by_partition(read) {
            self.recorded.insert(key.clone());
            self.manifest.ledger.insert(key, totals);
        }
    }

    /// Make every partition written live in one manifest commit, emptying those of
    /// `also_clear` this write did not write (and forgetting their totals as read unless
    /// this write recorded them).
    pub fn commit(
        mut self,
        also_clear: &[(String, NaiveDate)],
    ) -> Result<WriteSummary, StoreError> {
        make_durable(&self.store.dir, &self.written)?;
        for (source, day) in also_clear {
            let read = ledger::key(source, *day);
            if !self.recorded.contains(&read) {
                self.manifest.ledger.remove(&read);
            }
            if self.holds(source, *day) {
                continue;
            }
            let key = self.key(source, *day);
            if self.manifest.partitions.remove(&key).is_some() {
                self.summary.cleared += 1;
            }
        }
        self.manifest.generation = self.generation;
        self.manifest.version = MANIFEST_VERSION;
        self.store.commit_manifest(&self.manifest)?;
        self.committed = true;
        self.store.collect_garbage(&self.manifest);
        Ok(self.summary)
    }
}

impl Drop for BatchWriter<'_> {
    fn drop(&mut self) {
        if !self.committed {
            for p in &self.written {
                let _ = fs::remove_file(p);
            }
        }
    }
}

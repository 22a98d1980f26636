//! `[ingest]`: which services' rows export files keep.

use crate::normalise::ServiceFilter;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Case-insensitive substrings of service names to keep; `["all"]` keeps everything.
    pub services: Option<Vec<String>>,
}

impl IngestConfig {
    pub(crate) fn service_filter(&self) -> ServiceFilter {
        match &self.services {
            None => ServiceFilter::default(),
            Some(list) => ServiceFilter::parse(&list.join(",")),
        }
    }
}

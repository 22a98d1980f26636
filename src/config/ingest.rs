//! `[ingest]`: which services' rows export files keep.

use crate::normalise::ServiceFilter;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Case-insensitive substrings of service names to keep; `["all"]` keeps everything.
    pub services: Option<Vec<String>>,
    /// The earliest charge date accepted (default 2000-01-01): a TOML date or a string.
    #[serde(default, deserialize_with = "optional_date")]
    pub earliest: Option<chrono::NaiveDate>,
    /// How many days after today a charge may be dated (default 366).
    pub latest_days_ahead: Option<u32>,
}

impl IngestConfig {
    /// The charge dates ingest accepts (see [`crate::ingest::DateRange`]).
    pub(crate) fn date_range(&self) -> crate::ingest::DateRange {
        let standard = crate::ingest::DateRange::standard();
        crate::ingest::DateRange {
            earliest: self.earliest.unwrap_or(standard.earliest),
            latest: match self.latest_days_ahead {
                Some(days) => {
                    chrono::Utc::now().date_naive() + chrono::Duration::days(i64::from(days))
                }
                None => standard.latest,
            },
        }
    }

    pub(crate) fn service_filter(&self) -> ServiceFilter {
        match &self.services {
            None => ServiceFilter::default(),
            Some(list) => ServiceFilter::parse(&list.join(",")),
        }
    }
}

fn optional_date<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<chrono::NaiveDate>, D::Error> {
    super::anomalies::date(d).map(Some)
}

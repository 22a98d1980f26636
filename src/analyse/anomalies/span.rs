//! Detection over a span of the store: the attributed window with a baseline's history
//! loaded before it, flagged and grouped into incidents. What `anomalies`, budgets and the
//! nightly job share.

use super::{columns, detect_incidents, Detection, Frame};
use crate::analyse::{self, AnalyseError, Dimension, Pick};
use crate::config::AnomalyConfig;
use chrono::NaiveDate;

/// What detection finds on the days `from..=to` of the store (each end defaulting to the
/// store's), with a baseline's history loaded before them, in `currency` (required when the
/// store holds several); and the window's currency. What `anomalies`, budgets and the
/// nightly job share.
pub fn detect_span(
    config: &AnomalyConfig,
    store: &crate::store::Store,
    attributor: &crate::attribute::Attributor,
    (from, to): (Option<NaiveDate>, Option<NaiveDate>),
    currency: Option<&str>,
) -> Result<(Detection, String), AnalyseError> {
    let pick = Pick {
        columns: Some(columns()),
        ..Pick::default()
    };
    let window = analyse::load_window_where(
        store,
        attributor,
        from,
        to,
        currency,
        analyse::HISTORY_DAYS,
        pick,
    )?;
    let sums = window.sums()?;
    let detection = match Frame::new(window.frame)?.map(|f| f.with_sums(sums)) {
        Some(frame) => detect_incidents(
            &frame,
            Dimension::DETECTED,
            window.start,
            window.end,
            config,
        )?,
        None => Detection::default(),
    };
    Ok((detection, window.currency))
}

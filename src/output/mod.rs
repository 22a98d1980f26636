//! Outputs: the report (Markdown, JSON, CSV) and terminal views (anomaly table,
//! investigation). Dashboards and feeds join here later.

pub mod report;
pub mod terminal;

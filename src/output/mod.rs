//! Outputs: the report (Markdown, JSON, CSV) and terminal views (anomaly table,
//! investigation). Dashboards and feeds join here later.

pub mod feeds;
pub mod html;
pub mod report;
pub mod terminal;

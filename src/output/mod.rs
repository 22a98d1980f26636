//! Outputs: the report (Markdown, JSON, CSV, HTML), the dashboard, terminal views (anomaly
//! table, investigation, advice) and feeds (PostgreSQL, Parquet, CSV). Every value is written
//! for people through `format`.

pub mod feeds;
pub mod format;
pub mod html;
pub mod reconcile;
pub mod report;
pub mod terminal;

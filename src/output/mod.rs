//! Outputs: the report (Markdown, JSON, CSV). Dashboards and feeds join here later.

pub mod report;

//! Outputs: the report (Markdown, JSON, CSV, HTML), the dashboard, terminal views (anomaly
//! table, investigation, advice) and feeds (PostgreSQL, Parquet, CSV). Every value is written
//! for people through `format`.

pub mod budgets;
pub mod feeds;
pub mod format;
pub mod html;
pub mod post;
pub mod reconcile;
pub mod report;
pub mod terminal;

/// The version of every JSON output's shape (`schema_version`): raised when a field changes
/// meaning or goes away (2: incidents; `anomalies` and the other commands' JSON became
/// objects).
pub(crate) const SCHEMA_VERSION: u32 = 2;

/// `{"schema_version": …, "<key>": value}`, pretty, with a final newline: how a command
/// that lists things prints JSON, so a reader can always check the version first.
pub(crate) fn json_object<T: serde::Serialize>(key: &str, value: &T) -> serde_json::Result<String> {
    let mut object = serde_json::Map::new();
    object.insert("schema_version".into(), SCHEMA_VERSION.into());
    object.insert(key.into(), serde_json::to_value(value)?);
    Ok(serde_json::to_string_pretty(&object)? + "\n")
}

/// `value` (a struct serialising as an object) as pretty JSON with `schema_version` first.
pub(crate) fn versioned<T: serde::Serialize>(value: &T) -> serde_json::Result<String> {
    let mut object = serde_json::Map::new();
    object.insert("schema_version".into(), SCHEMA_VERSION.into());
    if let serde_json::Value::Object(fields) = serde_json::to_value(value)? {
        object.extend(fields);
    }
    Ok(serde_json::to_string_pretty(&object)? + "\n")
}

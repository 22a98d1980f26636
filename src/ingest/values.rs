//! Single values as exports spell them: timestamps, FOCUS charge and pricing categories,
//! tags as a JSON object.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use polars::prelude::{DataFrame, PolarsResult};

/// Parse one timestamp as UTC microseconds. Accepts ISO 8601 with `T` or space, optional
/// fraction, `Z` / `UTC` / `+HH:MM` suffixes, plain dates (`YYYY-MM-DD`, Azure's `MM/DD/YYYY`,
/// `YYYYMMDD`).
pub(crate) fn parse_timestamp(raw: &str) -> Option<i64> {
    let s = raw.trim();
    let s = s.strip_suffix(" UTC").unwrap_or(s);
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_micros());
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
            return Some(dt.timestamp_micros());
        }
    }
    let s = s.strip_suffix('Z').unwrap_or(s);
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(dt.and_utc().timestamp_micros());
        }
    }
    for fmt in ["%Y-%m-%d", "%m/%d/%Y", "%Y%m%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, fmt) {
            return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros());
        }
    }
    None
}

/// FOCUS ChargeCategory from any spelling (Azure ChargeType, GCP cost_type included).
pub(super) fn charge_category(raw: &str) -> Option<&'static str> {
    Some(match raw.trim().to_lowercase().as_str() {
        "usage" | "regular" | "unusedreservation" | "unusedsavingsplan" => "Usage",
        "purchase" => "Purchase",
        "tax" => "Tax",
        "credit" | "refund" => "Credit",
        "adjustment" | "roundingadjustment" | "rounding_error" => "Adjustment",
        _ => return None,
    })
}

/// FOCUS PricingCategory from any spelling (Azure PricingModel included).
pub(super) fn pricing_category(raw: &str) -> &'static str {
    match raw.trim().to_lowercase().as_str() {
        "standard" | "on-demand" | "ondemand" => "Standard",
        "committed" | "commitment-based" | "reservation" | "savingsplan" | "savings plan" => {
            "Committed"
        }
        "dynamic" | "spot" => "Dynamic",
        _ => "Other",
    }
}

/// Tags as a compact JSON object string. Accepts a JSON object, Azure's object body without
/// braces, or nothing (→ `{}`).
pub fn canonical_tags(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    if t.is_empty() {
        return Ok("{}".into());
    }
    let wrapped;
    let text = if t.starts_with('{') {
        t
    } else {
        wrapped = format!("{{{t}}}");
        &wrapped
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => {
            // Non-string values (numbers, booleans) become their JSON text.
            let map: serde_json::Map<String, serde_json::Value> = map
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        serde_json::Value::String(s) => serde_json::Value::String(s),
                        serde_json::Value::Null => serde_json::Value::String(String::new()),
                        other => serde_json::Value::String(other.to_string()),
                    };
                    (k, v)
                })
                .collect();
            Ok(serde_json::Value::Object(map).to_string())
        }
        Ok(_) => Err(format!("tags `{}` are not a JSON object", shorten(raw))),
        Err(e) => Err(format!("tags `{}` are not valid JSON ({e})", shorten(raw))),
    }
}

/// The first value of a string column ("" when null or empty).
pub(super) fn first_string(df: &DataFrame, column: &str) -> PolarsResult<String> {
    Ok(df
        .column(column)?
        .str()?
        .get(0)
        .unwrap_or_default()
        .to_string())
}

pub(super) fn shorten(s: &str) -> String {
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn timestamps_in_every_export_spelling() {
        let t = |s| {
            parse_timestamp(s).map(|us| DateTime::from_timestamp_micros(us).unwrap().to_rfc3339())
        };
        let want = Some("2024-09-18T22:00:00+00:00".to_string());
        assert_eq!(t("2024-09-18 22:00:00"), want);
        assert_eq!(t("2024-09-18T22:00:00Z"), want);
        assert_eq!(t("2024-09-18 22:00:00 UTC"), want);
        assert_eq!(t("2024-09-18 22:00:00+00:00"), want);
        assert_eq!(t("2024-09-18T23:00:00+01:00"), want);
        assert_eq!(t("2024-09-18 22:00:00.000000"), want);
        assert_eq!(
            t("09/18/2024"),
            Some("2024-09-18T00:00:00+00:00".to_string())
        );
        assert_eq!(
            t("2024-09-18"),
            Some("2024-09-18T00:00:00+00:00".to_string())
        );
        assert_eq!(t("18.09.2024"), None);
        assert_eq!(t("yesterday"), None);
    }

    #[test]
    fn azure_tags_without_braces_become_json() {
        assert_eq!(
            canonical_tags(r#""CostCenter": "1234","env": "prod""#).unwrap(),
            r#"{"CostCenter":"1234","env":"prod"}"#
        );
        assert_eq!(canonical_tags("").unwrap(), "{}");
        assert!(canonical_tags("not json").is_err());
        assert!(canonical_tags("[1,2]").is_err());
    }
}

//! `[azure]`: the Cost Management Query API collector, and the scope check. Keys other than
//! `scope` default (per key: the section has a required key, so it cannot default as a
//! whole).

use super::{check_endpoint, Invalid};
use serde::Deserialize;

/// `[azure]`: the Cost Management Query API collector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureConfig {
    /// Cost Management scope, e.g. `/subscriptions/<id>`,
    /// `/subscriptions/<id>/resourceGroups/<name>`,
    /// `/providers/Microsoft.Billing/billingAccounts/<id>`.
    pub scope: String,
    /// Tag keys to group by (the ones attribution reads).
    #[serde(default = "default_azure_tags")]
    pub tag_keys: Vec<String>,
    /// Fill tags a resource lacks from its resource group's tags (one Azure Resource
    /// Manager lookup per run).
    #[serde(default)]
    pub inherit_resource_group_tags: bool,
    /// `ServiceName` values to keep (Azure OpenAI is billed as `Foundry Models`, formerly
    /// `Cognitive Services`; meters are then filtered to OpenAI models).
    #[serde(default = "default_azure_services")]
    pub services: Vec<String>,
    /// Days collected when no window is given.
    #[serde(default = "super::default_cloud_lookback")]
    pub lookback_days: u32,
    /// Days after which a day's cost is final (Azure restates recent days).
    #[serde(default = "super::default_late_days")]
    pub late_days: u32,
    /// Azure Resource Manager root (default `https://management.azure.com`); for tests and
    /// sovereign clouds (`https://management.chinacloudapi.cn`, …).
    pub endpoint: Option<String>,
    /// Retries of a throttled (429) or failed (5xx) request, honouring `retry-after`.
    #[serde(default = "default_azure_attempts")]
    pub max_attempts: u32,
    /// Seconds one request may take before it is abandoned (and retried).
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
}

fn default_request_timeout() -> u64 {
    60
}

fn default_azure_tags() -> Vec<String> {
    vec!["team".into(), "feature".into()]
}
fn default_azure_services() -> Vec<String> {
    vec![
        "Foundry Models".into(),
        "Cognitive Services".into(),
        "Azure OpenAI".into(),
    ]
}
fn default_azure_attempts() -> u32 {
    5
}

impl AzureConfig {
    /// A known kind of scope, tag keys a query can carry, a safe endpoint.
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        azure_scope(&self.scope).map_err(|m| {
            Invalid::new(
                format!("[azure] scope: {m}"),
                "e.g. `/subscriptions/00000000-0000-0000-0000-000000000000` or `/providers/Microsoft.Billing/billingAccounts/1234567`",
            )
        })?;
        for key in &self.tag_keys {
            if key.is_empty() || key.chars().any(|c| c.is_control() || c == '\'' || c == '"') {
                return Err(Invalid::new(
                    format!("[azure] tag key `{key}`"),
                    "tag keys are non-empty and hold no quotes or control characters",
                ));
            }
        }
        check_endpoint("azure", self.endpoint.as_deref())
    }
}

/// Check an Azure Cost Management scope: a path of ARM segments, no query or fragment.
pub(crate) fn azure_scope(scope: &str) -> Result<(), String> {
    let known = [
        "/subscriptions/",
        "/providers/Microsoft.Billing/billingAccounts/",
        "/providers/Microsoft.Management/managementGroups/",
    ];
    if !known.iter().any(|k| scope.starts_with(k)) {
        return Err(format!(
            "`{scope}` is not a subscription, resource group, billing account or management group scope"
        ));
    }
    let ok = scope.len() <= 1024
        && scope.trim_end_matches('/').split('/').skip(1).all(|seg| {
            !seg.is_empty()
                && seg != ".."
                && seg.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '(' | ')')
                })
        });
    if ok {
        Ok(())
    } else {
        Err(format!("`{scope}` holds characters a scope cannot have"))
    }
}

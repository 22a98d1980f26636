//! [`Arm`]: the Azure Resource Manager client the collector sends its requests through —
//! the credential chain's token, retries of 429 and 5xx after the `retry-after` Azure sends,
//! and Azure's error bodies read into messages.

use super::*;

/// The credential chain (see the module docs).
pub(crate) fn credential() -> Result<Arc<dyn TokenCredential>, CollectError> {
    use azure_identity::*;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let failed = |e: azure_core::Error| api("credentials", e.to_string());
    if let (Some(tenant), Some(client), Some(secret)) = (
        env("AZURE_TENANT_ID"),
        env("AZURE_CLIENT_ID"),
        env("AZURE_CLIENT_SECRET"),
    ) {
        let c =
            ClientSecretCredential::new(&tenant, client, secret.into(), None).map_err(failed)?;
        return Ok(c);
    }
    if env("AZURE_FEDERATED_TOKEN_FILE").is_some() {
        return Ok(WorkloadIdentityCredential::new(None).map_err(failed)?);
    }
    if env("IDENTITY_ENDPOINT").is_some() || env("MSI_ENDPOINT").is_some() || on_azure() {
        return Ok(ManagedIdentityCredential::new(None).map_err(failed)?);
    }
    Ok(DeveloperToolsCredential::new(None).map_err(failed)?)
}

/// The instance metadata service answers at once on Azure, and only there with its JSON.
pub(super) fn on_azure() -> bool {
    crate::collect::metadata_server_says(
        "/metadata/instance?api-version=2021-02-01",
        "Metadata: true",
        "\"compute\"",
    )
}

/// An authenticated JSON client for Azure Resource Manager.
pub(crate) struct Arm {
    http: reqwest::Client,
    credential: Arc<dyn TokenCredential>,
    pub(super) root: String,
    max_attempts: u32,
    /// Requests made (each page and retry counts).
    pub requests: usize,
    pub retries: usize,
}

impl Arm {
    pub fn new(cfg: &AzureConfig) -> Result<Arm, CollectError> {
        Ok(Arm {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(cfg.request_timeout_secs.max(1)))
                .connect_timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| api("client", e.to_string()))?,
            credential: credential()?,
            root: endpoint(cfg),
            max_attempts: cfg.max_attempts.max(1),
            requests: 0,
            retries: 0,
        })
    }

    pub(super) async fn token(&self) -> Result<String, CollectError> {
        let scope = format!("{}/.default", self.root);
        let scopes = [scope.as_str()];
        let t = self
            .credential
            .get_token(&scopes, None)
            .await
            .map_err(|e| CollectError::Api {
                service: SERVICE,
                operation: "credentials",
                message: format!("{e}\nhint: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for an app registration, use a managed identity, or run `az login`"),
            })?;
        Ok(t.token.secret().to_string())
    }

    /// One request, retried on 429 / 5xx / connection errors after the delay the service
    /// asks for (bounded); `Ok((status, body))` for any other answer.
    pub(super) async fn send(
        &mut self,
        operation: &'static str,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Value, CollectError> {
        let token = self.token().await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.requests += 1;
            let req = match body {
                Some(b) => self.http.post(url).json(b),
                None => self.http.get(url),
            }
            .bearer_auth(&token);
            let last = attempt >= self.max_attempts;
            let resp = match req.send().await {
                Ok(r) => r,
                Err(_) if !last => {
                    self.retries += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Err(e) => {
                    return Err(api(
                        operation,
                        format!("{} after {attempt} attempt(s)", e.without_url()),
                    ))
                }
            };
            let status = resp.status();
            if (status.as_u16() == 429 || status.is_server_error()) && !last {
                self.retries += 1;
                let wait = retry_after(resp.headers()).unwrap_or_else(|| backoff(attempt));
                tokio::time::sleep(wait.min(Duration::from_secs(60))).await;
                continue;
            }
            // A body cut off mid-way is as transient as a reset connection.
            let text = match resp.text().await {
                Ok(t) => t,
                Err(_) if !last => {
                    self.retries += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Err(e) => return Err(api(operation, e.without_url().to_string())),
            };
            if status.is_success() {
                return serde_json::from_str(&text).map_err(|e| {
                    bad(
                        operation,
                        format!(
                            "not JSON ({e}): {}",
                            text.chars().take(200).collect::<String>()
                        ),
                    )
                });
            }
            let (code, message) = error_of(&text);
            if status.as_u16() == 401
                || status.as_u16() == 403
                || code == "AuthorizationFailed"
                || code == "RBACAccessDenied"
            {
                return Err(CollectError::AccessDenied {
                    service: SERVICE,
                    action: "Microsoft.CostManagement/query/action (role Cost Management Reader on the scope)",
                    message: format!("{code}: {message}"),
                });
            }
            return Err(api(
                operation,
                format!("HTTP {status} after {attempt} attempt(s): {code}: {message}"),
            ));
        }
    }
}

pub(super) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 * 2u64.pow(attempt.min(6)))
}

/// The delay a throttled answer asks for, in seconds, from any of the headers Cost
/// Management and ARM use.
pub(super) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    [
        "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after",
        "x-ms-ratelimit-microsoft.costmanagement-entity-retry-after",
        "x-ms-ratelimit-microsoft.costmanagement-tenant-retry-after",
        "x-ms-ratelimit-microsoft.costmanagement-client-retry-after",
        "retry-after",
    ]
    .iter()
    .filter_map(|h| headers.get(*h)?.to_str().ok()?.trim().parse::<f64>().ok())
    .map(|s| Duration::from_secs_f64(s.clamp(0.0, 3600.0)))
    .max()
}

/// `{"error": {"code", "message"}}`, as ARM reports errors.
pub(super) fn error_of(text: &str) -> (String, String) {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let e = &v["error"];
    (
        e["code"].as_str().unwrap_or("Unknown").to_string(),
        e["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| text.chars().take(200).collect()),
    )
}

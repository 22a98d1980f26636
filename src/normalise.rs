//! Normalisation of cloud-specific strings into the schema's vocabulary: provider names,
//! regions, LLM model ids, usage types, and the LLM service filter.
//!
//! Every producer (file ingest now, API collectors later) goes through these functions so a
//! model is spelled the same whichever bill it came from. Functions take free text (a service
//! name, a SKU description, a meter name, a usage type, an ARN) and are applied to the *unique*
//! values of a column, never row by row.

use regex::Regex;
use std::sync::LazyLock;

/// `AWS` / `Amazon Web Services` → `aws`, `Microsoft` / `Azure` → `azure`,
/// `Google Cloud` → `gcp`; anything else lower-cased with spaces as dashes.
pub fn provider(raw: &str) -> String {
    let lower = raw.trim().to_lowercase();
    match lower.as_str() {
        "aws" | "amazon web services" | "amazon" | "amazon web services, inc." => "aws".into(),
        "microsoft" | "azure" | "microsoft azure" => "azure".into(),
        "google" | "google cloud" | "gcp" | "google cloud platform" => "gcp".into(),
        _ => lower.split_whitespace().collect::<Vec<_>>().join("-"),
    }
}

/// Region ids in each cloud's API spelling: `EastUS` → `eastus`, `US-East-1` → `us-east-1`.
/// Empty means unknown (null).
pub fn region(raw: &str) -> Option<String> {
    let r: String = raw.trim().to_lowercase().split_whitespace().collect();
    (!r.is_empty()).then_some(r)
}

/// The LLM services kept by ingest unless `--services` says otherwise: case-insensitive
/// substrings of the service name (Bedrock and its "… (Amazon Bedrock Edition)" model-vendor
/// names, Vertex AI and the Gemini API, Azure OpenAI and Azure AI Foundry models).
pub(crate) const DEFAULT_LLM_SERVICES: &[&str] = &[
    "bedrock",
    "vertex ai",
    "gemini",
    "generative language",
    "openai",
    "foundry models",
];

/// Which services ingest keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceFilter {
    All,
    /// Keep a row when its service name contains one of these (lower-case) substrings.
    Matching(Vec<String>),
}

impl Default for ServiceFilter {
    fn default() -> Self {
        ServiceFilter::Matching(
            DEFAULT_LLM_SERVICES
                .iter()
                .map(std::string::ToString::to_string)
                .collect(),
        )
    }
}

impl ServiceFilter {
    /// Parse `all`, `llm` (the default list) or a comma-separated list of substrings.
    pub fn parse(spec: &str) -> ServiceFilter {
        match spec.trim().to_lowercase().as_str() {
            "all" | "*" => ServiceFilter::All,
            "llm" | "" => ServiceFilter::default(),
            list => ServiceFilter::Matching(
                list.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
            ),
        }
    }

    pub fn keeps(&self, service_name: &str) -> bool {
        match self {
            ServiceFilter::All => true,
            ServiceFilter::Matching(subs) => {
                let lower = service_name.to_lowercase();
                subs.iter().any(|s| lower.contains(s.as_str()))
            }
        }
    }
}

static BEDROCK_ID: LazyLock<Regex> = LazyLock::new(|| {
    // `us.anthropic.claude-3-5-sonnet-20241022-v2:0`, `amazon.nova-pro-v1:0`,
    // `foundation-model/meta.llama3-1-70b-instruct-v1:0`
    Regex::new(
        r"(?:\b(?:us|eu|apac|global|jp|au|ca)\.)?\b(anthropic|amazon|meta|mistral|cohere|ai21|deepseek|openai|qwen|writer|stability)\.([a-z0-9][a-z0-9.-]*?)(?:-\d{8})?(?:-v\d+(?::\d+)?)?(?::\d+)?(?:[^a-z0-9.-]|$)",
    )
    .unwrap()
});
static CLAUDE: LazyLock<Regex> = LazyLock::new(|| {
    // `Claude 3.5 Sonnet`, `Claude Sonnet 4`, `Claude3Haiku`, `claude-opus-4-1`
    Regex::new(r"claude[ _-]?(?:(\d+(?:[.-]\d)?)[ _-]?)?(sonnet|haiku|opus|instant)(?:[ _-]?(\d+(?:[.-]\d)?))?")
        .unwrap()
});
static NOVA: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\bnova[ _-]?(pro|lite|micro|premier|canvas|reel|sonic)").unwrap()
});
static TITAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\btitan[ _-]?(text[ _-]?(?:express|lite|premier)|embed\w*(?:[ _-]text)?(?:[ _-]v\d)?)",
    )
    .unwrap()
});
static LLAMA: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\bllama[ _-]?(\d+(?:[.-]\d)?)[ _-]?(\d+b)(?:[ _-]?instruct)?").unwrap()
});
static GEMINI: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\bgemini[ _-](\d+(?:\.\d+)?)[ _-](pro|flash[ _-]lite|flash|ultra|nano)").unwrap()
});
static OPENAI: LazyLock<Regex> = LazyLock::new(|| {
    // Azure meter names: `gpt-4o-0806-Inp-glbl`, `gpt 4o mini 0718 Input regional Tokens`.
    Regex::new(
        r"\b(gpt-?4o-mini|gpt-?4o|gpt-?4\.1-mini|gpt-?4\.1-nano|gpt-?4\.1|gpt-?4-turbo|gpt-?4|gpt-?35-turbo|gpt-?3\.5-turbo|gpt-?5-mini|gpt-?5-nano|gpt-?5|o1-mini|o3-mini|o4-mini|o1|o3|text-embedding-3-small|text-embedding-3-large|text-embedding-ada-002)\b",
    )
    .unwrap()
});

fn dashed(s: &str) -> String {
    s.replace(['.', ' ', '_'], "-")
}

/// Normalised LLM model id found in free text, or `None` when the text names no model we know.
///
/// Bedrock ids keep their vendor prefix and lose date and version suffixes
/// (`us.anthropic.claude-sonnet-4-20250514-v1:0` → `anthropic.claude-sonnet-4`); human names map
/// to the same ids (`Claude Sonnet 4 (Amazon Bedrock Edition)` → `anthropic.claude-sonnet-4`).
/// Gemini and OpenAI models use their vendors' ids (`gemini-2.5-pro`, `gpt-4o-mini`).
pub fn model(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    if let Some(c) = BEDROCK_ID.captures(&lower) {
        return Some(format!("{}.{}", &c[1], &c[2]));
    }
    if let Some(c) = CLAUDE.captures(&lower) {
        let family = &c[2];
        return Some(match (c.get(1), c.get(3)) {
            (Some(v), _) => format!("anthropic.claude-{}-{family}", dashed(v.as_str())),
            (None, Some(v)) => format!("anthropic.claude-{family}-{}", dashed(v.as_str())),
            (None, None) => format!("anthropic.claude-{family}"),
        });
    }
    if let Some(c) = NOVA.captures(&lower) {
        return Some(format!("amazon.nova-{}", &c[1]));
    }
    if let Some(c) = TITAN.captures(&lower) {
        return Some(format!("amazon.titan-{}", dashed(&c[1])));
    }
    if let Some(c) = LLAMA.captures(&lower) {
        return Some(format!("meta.llama{}-{}", dashed(&c[1]), &c[2]));
    }
    if let Some(c) = GEMINI.captures(&lower) {
        return Some(format!("gemini-{}-{}", &c[1], dashed(&c[2])));
    }
    let spaced = lower.replace([' ', '_'], "-");
    if let Some(c) = OPENAI.captures(&spaced) {
        let id = c[1].to_string();
        // `gpt4o` / `gpt35-turbo` → `gpt-4o` / `gpt-35-turbo`
        return Some(if id.starts_with("gpt") && !id.starts_with("gpt-") {
            format!("gpt-{}", &id[3..])
        } else {
            id
        });
    }
    None
}

fn words(lower: &str) -> impl Iterator<Item = &str> {
    lower.split(|c: char| !c.is_ascii_alphanumeric())
}

/// The schema's usage type for free text describing a charge (usage type, SKU description,
/// meter name, charge description).
pub fn usage_type(text: &str) -> &'static str {
    let lower = text.to_lowercase();
    let has_word = |w: &[&str]| words(&lower).any(|x| w.contains(&x));
    let cache = lower.contains("cache") || has_word(&["cached", "cchd", "cch"]);
    if cache && (lower.contains("write") || lower.contains("creation") || lower.contains("storage"))
    {
        return "cache_write_tokens";
    }
    if cache {
        return "cache_read_tokens";
    }
    if lower.contains("provisioned")
        || has_word(&["ptu", "ptus", "pt"])
        || lower.contains("modelunit")
        || lower.contains("model unit")
    {
        return "provisioned";
    }
    let output = lower.contains("output") || has_word(&["outp", "completion", "response"]);
    if has_word(&["character", "characters", "char", "chars"]) {
        return if output {
            "output_characters"
        } else {
            "input_characters"
        };
    }
    if has_word(&["image", "images"]) && !lower.contains("token") {
        return "images";
    }
    if output {
        return "output_tokens";
    }
    if lower.contains("input") || has_word(&["inp", "prompt"]) {
        return "input_tokens";
    }
    "other"
}

/// AWS region of a usage-type prefix (`USE1-…` → `us-east-1`); `None` for unknown prefixes.
pub fn aws_usage_type_region(usage_type: &str) -> Option<&'static str> {
    let prefix = usage_type.split(['-', ':']).next()?;
    Some(match prefix {
        "USE1" => "us-east-1",
        "USE2" => "us-east-2",
        "USW1" => "us-west-1",
        "USW2" => "us-west-2",
        "CAN1" => "ca-central-1",
        "SAE1" => "sa-east-1",
        "EU" | "EUW1" => "eu-west-1",
        "EUW2" => "eu-west-2",
        "EUW3" => "eu-west-3",
        "EUC1" => "eu-central-1",
        "EUC2" => "eu-central-2",
        "EUN1" => "eu-north-1",
        "EUS1" => "eu-south-1",
        "APN1" => "ap-northeast-1",
        "APN2" => "ap-northeast-2",
        "APN3" => "ap-northeast-3",
        "APS1" => "ap-southeast-1",
        "APS2" => "ap-southeast-2",
        "APS3" => "ap-south-1",
        "APS4" => "ap-southeast-3",
        "APE1" => "ap-east-1",
        "MES1" => "me-south-1",
        "AFS1" => "af-south-1",
        "UGW1" => "us-gov-west-1",
        "UGE1" => "us-gov-east-1",
        _ => return None,
    })
}

/// How many tokens one unit of `unit` counts, for the units bills count tokens in:
/// `Tokens` / `count` → 1, `1K` / `1K Tokens` / `1000 count` → 1,000, `1M` → 1,000,000.
/// `None` for units that are not token counts (hours, GB).
pub fn token_unit_multiplier(unit: &str) -> Option<f64> {
    let u = unit.trim().to_lowercase().replace(',', "");
    let u = u
        .strip_suffix(" tokens")
        .or_else(|| u.strip_suffix(" count"))
        .unwrap_or(&u);
    Some(match u {
        "" | "tokens" | "token" | "count" | "units" | "unit" => 1.0,
        "1k" | "k" | "1000" | "thousand" => 1e3,
        "1m" | "m" | "1000000" | "million" => 1e6,
        _ => return None,
    })
}

/// `batch` when the text describes batch inference (billed at a discount), `regional` for
/// in-region or data-zone deployments (billed at a premium over global), else `None`.
pub fn pricing_detail(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase();
    if words(&lower).any(|w| w == "batch") {
        return Some("batch");
    }
    // Data-zone and in-region deployments, priced above global routing.
    if words(&lower).any(|w| matches!(w, "dz" | "datazone")) || lower.contains("data zone") {
        return Some("data_zone");
    }
    if words(&lower).any(|w| matches!(w, "regnl" | "regional" | "rgnl")) {
        return Some("regional");
    }
    let global = words(&lower).any(|w| matches!(w, "glbl" | "global"));
    global.then_some("global")
}

/// Tag value normalisation for attribution: trimmed, lower-case, inner whitespace as `-`.
pub(crate) fn tag_value(raw: &str) -> String {
    raw.split_whitespace()
        .collect::<Vec<_>>()
        .join("-")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_from_every_cloud_spelling() {
        let cases = [
            ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "anthropic.claude-3-5-sonnet"),
            ("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0", "anthropic.claude-sonnet-4"),
            ("Claude 3.5 Sonnet (Amazon Bedrock Edition)", "anthropic.claude-3-5-sonnet"),
            ("Claude Sonnet 4 (Amazon Bedrock Edition)", "anthropic.claude-sonnet-4"),
            ("USE1-Claude3Haiku-input-tokens", "anthropic.claude-3-haiku"),
            ("amazon.nova-pro-v1:0", "amazon.nova-pro"),
            ("USE1-NovaLite-output-tokens", "amazon.nova-lite"),
            ("meta.llama3-1-70b-instruct-v1:0", "meta.llama3-1-70b-instruct"),
            ("Gemini 2.5 Pro Input Text Tokens", "gemini-2.5-pro"),
            ("Gemini 2.0 Flash Lite Output Tokens", "gemini-2.0-flash-lite"),
            ("gpt-4o-0806-Inp-glbl Tokens", "gpt-4o"),
            ("gpt 4o mini 0718 Outp regnl Tokens", "gpt-4o-mini"),
            ("GPT-4.1-mini Input Global", "gpt-4.1-mini"),
        ];
        for (text, want) in cases {
            assert_eq!(model(text).as_deref(), Some(want), "{text}");
        }
        assert_eq!(model("Amazon Simple Queue Service"), None);
        assert_eq!(model("Standard Data Transfer Out"), None);
    }

    #[test]
    fn usage_types() {
        let cases = [
            ("USE1-Claude3Haiku-input-tokens", "input_tokens"),
            ("USE1-MP:USE1_OutputTokenCount-Units", "output_tokens"),
            ("gpt-4o-0806-Inp-glbl Tokens", "input_tokens"),
            ("gpt-4o-0806-cchd-Inp-glbl Tokens", "cache_read_tokens"),
            (
                "USE1-Claude3.5Sonnet-cache-write-input-tokens",
                "cache_write_tokens",
            ),
            (
                "Gemini 2.5 Pro Cached Input Text Tokens",
                "cache_read_tokens",
            ),
            ("Provisioned Throughput Model Units", "provisioned"),
            ("gpt-4o Provisioned Managed Regional PTU", "provisioned"),
            (
                "Gemini 1.5 Flash Character Input - Predictions",
                "input_characters",
            ),
            (
                "Gemini 1.0 Pro Text Character Output - Predictions",
                "output_characters",
            ),
            ("Imagen 3 Image Generation", "images"),
            ("Gemini 2.5 Flash Image Input Tokens", "input_tokens"),
            ("Standard Data Transfer Out", "other"),
            ("Storage Accounts", "other"),
        ];
        for (text, want) in cases {
            assert_eq!(usage_type(text), want, "{text}");
        }
    }

    #[test]
    fn service_filter_keeps_llm_services_by_default() {
        let f = ServiceFilter::default();
        assert!(f.keeps("Amazon Bedrock"));
        assert!(f.keeps("Claude 3.5 Sonnet (Amazon Bedrock Edition)"));
        assert!(f.keeps("Vertex AI"));
        assert!(f.keeps("Azure OpenAI"));
        assert!(!f.keeps("Amazon Elastic Compute Cloud"));
        assert!(ServiceFilter::parse("all").keeps("anything"));
        assert!(ServiceFilter::parse("Storage, Compute").keeps("Amazon Elastic Compute Cloud"));
    }

    #[test]
    fn aws_usage_type_regions() {
        assert_eq!(
            aws_usage_type_region("USE1-MP:USE1_InputTokenCount-Units"),
            Some("us-east-1")
        );
        assert_eq!(
            aws_usage_type_region("EUC1-NovaLite-input-tokens"),
            Some("eu-central-1")
        );
        assert_eq!(aws_usage_type_region("InputTokenCount"), None);
    }

    #[test]
    fn pricing_details() {
        assert_eq!(
            pricing_detail("Claude 3.5 Haiku batch input tokens"),
            Some("batch")
        );
        assert_eq!(
            pricing_detail("gpt-4o-mini-0718-Inp-regnl Tokens"),
            Some("regional")
        );
        assert_eq!(
            pricing_detail("gpt-4o-0806-Inp-glbl Tokens"),
            Some("global")
        );
        assert_eq!(
            pricing_detail("gpt-4o-0806-Inp-DZ Tokens"),
            Some("data_zone")
        );
        assert_eq!(pricing_detail("Standard Data Transfer Out"), None);
    }

    #[test]
    fn token_units() {
        assert_eq!(token_unit_multiplier("Tokens"), Some(1.0));
        assert_eq!(token_unit_multiplier("1K"), Some(1e3));
        assert_eq!(token_unit_multiplier("1,000 Tokens"), Some(1e3));
        assert_eq!(token_unit_multiplier("1M count"), Some(1e6));
        assert_eq!(token_unit_multiplier("Hours"), None);
    }

    #[test]
    fn tag_values_normalise_case_and_whitespace() {
        assert_eq!(tag_value("  Search  Eng "), "search-eng");
        assert_eq!(provider("Microsoft"), "azure");
        assert_eq!(region("EastUS").as_deref(), Some("eastus"));
        assert_eq!(region(""), None);
    }
}

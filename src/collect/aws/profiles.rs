//! Bedrock application inference profiles and their tags -> the Profile table.
//!
//! Teams call Bedrock through application inference profiles that carry their tags; keeping
//! the profiles lets attribution use those tags for spend and usage recorded against a
//! profile even where Cost Explorer has no tag (cost allocation tag not activated yet, or
//! days before activation).

use super::sdk_error;
use crate::collect::{within, Check, CollectError, Found, Pager, Run};
use crate::schema::{self, PROFILE_COLUMNS};
use crate::store::Table;
use aws_config::SdkConfig;
use aws_sdk_bedrock::types::InferenceProfileType;
use chrono::NaiveDate;
use polars::prelude::*;

/// One application inference profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub arn: String,
    pub id: String,
    pub name: String,
    pub region: String,
    /// Foundation-model ARNs the profile routes to.
    pub models: Vec<String>,
    pub status: String,
    pub tags: serde_json::Map<String, serde_json::Value>,
}

impl Profile {
    /// The normalised model id of the profile's first model.
    pub fn model(&self) -> Option<String> {
        self.models.iter().find_map(|m| crate::normalise::model(m))
    }
}

const SERVICE: &str = "bedrock";

type Client = aws_sdk_bedrock::Client;
type Page = aws_sdk_bedrock::operation::list_inference_profiles::ListInferenceProfilesOutput;

/// One page of application inference profiles.
async fn page(
    client: &Client,
    token: Option<String>,
    max: Option<i32>,
) -> Result<Page, CollectError> {
    client
        .list_inference_profiles()
        .type_equals(InferenceProfileType::Application)
        .set_next_token(token)
        .set_max_results(max)
        .send()
        .await
        .map_err(|e| {
            sdk_error(
                SERVICE,
                "ListInferenceProfiles",
                "bedrock:ListInferenceProfiles",
                &e,
            )
        })
}

/// The tags of one resource.
async fn tags(
    client: &Client,
    arn: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, CollectError> {
    let out = client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| {
            sdk_error(
                SERVICE,
                "ListTagsForResource",
                "bedrock:ListTagsForResource",
                &e,
            )
        })?;
    Ok(out
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().to_string(),
                serde_json::Value::String(t.value().to_string()),
            )
        })
        .collect())
}

/// List every application inference profile of the region, with its tags.
pub async fn list(sdk: &SdkConfig, region: &str) -> Result<Vec<Profile>, CollectError> {
    let client = Client::new(sdk);
    let mut pager = Pager::default();
    let mut token: Option<String> = None;
    let mut out = Vec::new();
    loop {
        let page = page(&client, token, None).await?;
        for p in page.inference_profile_summaries() {
            out.push(Profile {
                arn: p.inference_profile_arn().to_string(),
                id: p.inference_profile_id().to_string(),
                name: p.inference_profile_name().to_string(),
                region: region.to_string(),
                models: p
                    .models()
                    .iter()
                    .filter_map(|m| m.model_arn().map(str::to_string))
                    .collect(),
                status: p.status().as_str().to_string(),
                tags: tags(&client, p.inference_profile_arn()).await?,
            });
        }
        token = pager.next(page.next_token(), SERVICE, "ListInferenceProfiles")?;
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// The source name profile snapshots of `region` are stored under.
pub fn source(region: &str) -> String {
    format!("aws_profiles:{region}")
}

/// Profiles as a Profile frame, snapshot of `day`.
pub fn frame(
    profiles: &[Profile],
    day: NaiveDate,
    region: &str,
) -> Result<DataFrame, CollectError> {
    let n = profiles.len();
    let days = vec![day; n];
    let next = vec![day.succ_opt().unwrap_or(day); n];
    let strings =
        |f: &dyn Fn(&Profile) -> String| -> Vec<String> { profiles.iter().map(f).collect() };
    let df = schema::frame_of(
        PROFILE_COLUMNS,
        vec![
            schema::day_column("charge_period_start", &days)?,
            schema::day_column("charge_period_end", &next)?,
            Column::new("provider_name".into(), vec!["aws"; n]),
            Column::new("resource_id".into(), strings(&|p| p.arn.clone())),
            Column::new("profile_id".into(), strings(&|p| p.id.clone())),
            Column::new("profile_name".into(), strings(&|p| p.name.clone())),
            Column::new("region_id".into(), strings(&|p| p.region.clone())),
            Column::new("models".into(), strings(&|p| p.models.join(","))),
            Column::new(
                "model".into(),
                profiles.iter().map(Profile::model).collect::<Vec<_>>(),
            ),
            Column::new("status".into(), strings(&|p| p.status.clone())),
            Column::new(
                "tags".into(),
                strings(&|p| serde_json::Value::Object(p.tags.clone()).to_string()),
            ),
            Column::new("source".into(), vec![source(region); n]),
        ],
    )?;
    schema::validate_profiles(&df).map_err(|e| CollectError::BadResponse {
        service: SERVICE,
        operation: "ListInferenceProfiles",
        message: e.to_string(),
    })?;
    Ok(df)
}

/// Permission checks: list one page of profiles, then the tags of the first profile.
pub async fn check(sdk: &SdkConfig, region: &str) -> Vec<Check> {
    let client = Client::new(sdk);
    let listed = page(&client, None, Some(1)).await;
    let first = listed.as_ref().ok().and_then(|o| {
        o.inference_profile_summaries()
            .first()
            .map(|p| p.inference_profile_arn().to_string())
    });
    let mut checks = vec![super::check(
        "bedrock:ListInferenceProfiles",
        region.to_string(),
        listed,
    )];
    match first {
        Some(arn) => {
            let result = tags(&client, &arn).await;
            checks.push(super::check("bedrock:ListTagsForResource", arn, result));
        }
        None => checks.push(Check {
            action: "bedrock:ListTagsForResource",
            scope: region.to_string(),
            problem: None,
            note: Some("not checked: no application inference profile to read tags from"),
        }),
    }
    checks
}

/// The IAM actions listing profiles and their tags needs.
pub(crate) const PERMISSIONS: &[&str] = &[
    "bedrock:ListInferenceProfiles",
    "bedrock:ListTagsForResource",
];

/// `[aws.profiles]`: one region's application inference profiles and their tags, stored
/// as that day's snapshot; later collectors of the run read them from [`Found::profiles`].
pub(crate) struct InferenceProfiles;

impl super::RegionalSource for InferenceProfiles {
    const PERMISSIONS: &'static [&'static str] = PERMISSIONS;

    fn source(region: &str) -> String {
        source(region)
    }

    async fn check(sdk: &SdkConfig, region: &str) -> Vec<Check> {
        check(sdk, region).await
    }

    /// The region's profiles, stored as today's snapshot and handed to later collectors.
    async fn fetch_and_store(
        at: super::Regional<'_>,
        sdk: SdkConfig,
        run: &Run<'_>,
        found: &mut Found<'_>,
    ) -> Result<String, CollectError> {
        within(run.deadline, async {
            let listed = list(&sdk, at.region).await?;
            let frame = frame(&listed, run.today, at.region)?;
            run.store.replace(
                run.lock,
                Table::Profiles,
                &frame,
                &[(source(at.region), run.today)],
            )?;
            let summary = format!("{} application inference profile(s)", listed.len());
            found.profiles.insert(at.region.to_string(), listed);
            Ok(summary)
        })
        .await
    }
}

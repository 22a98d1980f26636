//! CloudWatch `AWS/Bedrock` metrics -> UsageRecords, one row per day and `ModelId`
//! dimension value.
//!
//! `ModelId` values are discovered with `ListMetrics`; they are plain model ids
//! (`anthropic.claude-3-5-haiku-20241022-v1:0`), system inference profile ids
//! (`us.anthropic…`) or application inference profile ids / ARNs, which map to their
//! profile (its ARN becomes `resource_id`, its model the `model`). Every metric of every
//! value is fetched at daily resolution with `GetMetricData`, 500 queries per request,
//! following `NextToken`.

use super::profiles::Profile;
use super::sdk_error;
use crate::collect::{
    wanted_days, within, Check, CollectError, DayRange, Found, Pager, Run, NOTHING_TO_FETCH,
};
use crate::schema::{self, USAGE_COLUMNS};
use crate::store::Table;
use aws_config::SdkConfig;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, DimensionFilter, Metric, MetricDataQuery, MetricStat};
use chrono::NaiveDate;
use polars::prelude::*;
use std::collections::BTreeMap;

const SERVICE: &str = "cloudwatch";
const NAMESPACE: &str = "AWS/Bedrock";
/// GetMetricData accepts at most 500 queries per request.
pub(crate) const MAX_QUERIES: usize = 500;

/// (UsageRecord column, CloudWatch metric, statistic)
pub(crate) const METRICS: &[(&str, &str, &str)] = &[
    ("invocations", "Invocations", "Sum"),
    ("input_tokens", "InputTokenCount", "Sum"),
    ("output_tokens", "OutputTokenCount", "Sum"),
    ("cache_read_tokens", "CacheReadInputTokenCount", "Sum"),
    ("cache_write_tokens", "CacheWriteInputTokenCount", "Sum"),
    ("throttles", "InvocationThrottles", "Sum"),
    ("client_errors", "InvocationClientErrors", "Sum"),
    ("server_errors", "InvocationServerErrors", "Sum"),
    ("latency_avg_ms", "InvocationLatency", "Average"),
    ("latency_p95_ms", "InvocationLatency", "p95"),
];

/// The source name usage of `region` is stored under.
pub fn source(region: &str) -> String {
    format!("aws_cloudwatch:{region}")
}

fn to_aws(d: NaiveDate) -> DateTime {
    DateTime::from_secs(
        d.and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp(),
    )
}

/// `ModelId` values that have metrics in the namespace.
pub(crate) async fn model_ids(
    client: &aws_sdk_cloudwatch::Client,
) -> Result<Vec<String>, CollectError> {
    let mut pager = Pager::default();
    let mut token = None;
    let mut ids = std::collections::BTreeSet::new();
    loop {
        let page = client
            .list_metrics()
            .namespace(NAMESPACE)
            .dimensions(DimensionFilter::builder().name("ModelId").build())
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| sdk_error(SERVICE, "ListMetrics", "cloudwatch:ListMetrics", &e))?;
        for m in page.metrics() {
            for d in m.dimensions() {
                if d.name() == Some("ModelId") {
                    if let Some(v) = d.value() {
                        ids.insert(v.to_string());
                    }
                }
            }
        }
        token = pager.next(page.next_token(), SERVICE, "ListMetrics")?;
        if token.is_none() {
            return Ok(ids.into_iter().collect());
        }
    }
}

fn query(id: String, model_id: &str, metric: &str, stat: &str) -> MetricDataQuery {
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace(NAMESPACE)
                        .metric_name(metric)
                        .dimensions(Dimension::builder().name("ModelId").value(model_id).build())
                        .build(),
                )
                .period(86_400)
                .stat(stat)
                .build(),
        )
        .return_data(true)
        .build()
}

/// What one CloudWatch collection fetched.
pub struct Usage {
    pub frame: DataFrame,
    pub model_ids: usize,
    pub requests: usize,
}

/// Daily usage per `ModelId` value over `window`.
pub async fn collect(
    sdk: &SdkConfig,
    region: &str,
    window: DayRange,
    profiles: &[Profile],
) -> Result<Usage, CollectError> {
    let client = aws_sdk_cloudwatch::Client::new(sdk);
    let ids = model_ids(&client).await?;
    // (model id index, metric index) for every query, ids `q<i>_<j>`.
    let queries: Vec<(usize, usize)> = (0..ids.len())
        .flat_map(|i| (0..METRICS.len()).map(move |j| (i, j)))
        .collect();
    // (model id index, day) -> metric values
    let mut rows: BTreeMap<(usize, NaiveDate), [Option<f64>; 10]> = BTreeMap::new();
    let mut requests = 0;
    for batch in queries.chunks(MAX_QUERIES) {
        let mut pager = Pager::default();
        let mut token = None;
        loop {
            let mut req = client
                .get_metric_data()
                .start_time(to_aws(window.start))
                .end_time(to_aws(window.end.succ_opt().unwrap_or(window.end)))
                .set_next_token(token);
            for &(i, j) in batch {
                let (_, metric, stat) = METRICS[j];
                req = req.metric_data_queries(query(format!("q{i}_{j}"), &ids[i], metric, stat));
            }
            let page = req
                .send()
                .await
                .map_err(|e| sdk_error(SERVICE, "GetMetricData", "cloudwatch:GetMetricData", &e))?;
            requests += 1;
            for r in page.metric_data_results() {
                let Some((i, j)) = r
                    .id()
                    .and_then(|id| id.strip_prefix('q'))
                    .and_then(|id| id.split_once('_'))
                    .and_then(|(i, j)| Some((i.parse::<usize>().ok()?, j.parse::<usize>().ok()?)))
                    .filter(|(i, j)| *i < ids.len() && *j < METRICS.len())
                else {
                    return Err(CollectError::BadResponse {
                        service: SERVICE,
                        operation: "GetMetricData",
                        message: format!("result for unknown query id {:?}", r.id()),
                    });
                };
                for (ts, v) in r.timestamps().iter().zip(r.values()) {
                    let Some(day) =
                        chrono::DateTime::from_timestamp(ts.secs(), 0).map(|t| t.date_naive())
                    else {
                        continue;
                    };
                    if day < window.start || day > window.end {
                        continue;
                    }
                    let slot = &mut rows.entry((i, day)).or_insert([None; 10])[j];
                    // Sums of several points of one day add up; other statistics keep the last.
                    *slot = match (METRICS[j].2, *slot) {
                        ("Sum", Some(prev)) => Some(prev + v),
                        _ => Some(*v),
                    };
                }
            }
            token = pager.next(page.next_token(), SERVICE, "GetMetricData")?;
            if token.is_none() {
                break;
            }
        }
    }
    Ok(Usage {
        frame: frame(&ids, &rows, region, profiles)?,
        model_ids: ids.len(),
        requests,
    })
}

/// The profile a `ModelId` value names (by ARN or id), if any.
fn profile_of<'a>(value: &str, profiles: &'a [Profile]) -> Option<&'a Profile> {
    profiles.iter().find(|p| p.arn == value || p.id == value)
}

fn frame(
    ids: &[String],
    rows: &BTreeMap<(usize, NaiveDate), [Option<f64>; 10]>,
    region: &str,
    profiles: &[Profile],
) -> Result<DataFrame, CollectError> {
    let days: Vec<NaiveDate> = rows.keys().map(|(_, d)| *d).collect();
    let next: Vec<NaiveDate> = days.iter().map(|d| d.succ_opt().unwrap_or(*d)).collect();
    let mut resource = Vec::new();
    let mut model = Vec::new();
    for (i, _) in rows.keys() {
        let value = &ids[*i];
        match profile_of(value, profiles) {
            Some(p) => {
                resource.push(Some(p.arn.clone()));
                model.push(p.model());
            }
            None => {
                let is_profile = value.contains("inference-profile");
                resource.push(is_profile.then(|| value.clone()));
                model.push(crate::normalise::model(value));
            }
        }
    }
    let n = days.len();
    let mut columns = vec![
        schema::day_column("charge_period_start", &days)?,
        schema::day_column("charge_period_end", &next)?,
        Column::new("provider_name".into(), vec!["aws"; n]),
        Column::new("sub_account_id".into(), vec![None::<String>; n]),
        Column::new("region_id".into(), vec![region; n]),
        Column::new("resource_id".into(), resource),
        Column::new("model".into(), model),
        Column::new("source".into(), vec![source(region); n]),
    ];
    for (j, (name, _, _)) in METRICS.iter().enumerate() {
        columns.push(Column::new(
            (*name).into(),
            rows.values().map(|v| v[j]).collect::<Vec<_>>(),
        ));
    }
    let df = schema::frame_of(USAGE_COLUMNS, columns)?;
    schema::validate_usage(&df).map_err(|e| CollectError::BadResponse {
        service: SERVICE,
        operation: "GetMetricData",
        message: e.to_string(),
    })?;
    Ok(df)
}

/// Permission checks: one page of metrics, one tiny metric query.
pub async fn check(sdk: &SdkConfig, region: &str) -> Vec<Check> {
    let client = aws_sdk_cloudwatch::Client::new(sdk);
    let listed = client
        .list_metrics()
        .namespace(NAMESPACE)
        .send()
        .await
        .map_err(|e| sdk_error(SERVICE, "ListMetrics", "cloudwatch:ListMetrics", &e));
    let today = chrono::Utc::now().date_naive();
    let data = client
        .get_metric_data()
        .start_time(to_aws(today.pred_opt().unwrap_or(today)))
        .end_time(to_aws(today))
        .metric_data_queries(query(
            "q0_0".into(),
            "spendlens-doctor",
            "Invocations",
            "Sum",
        ))
        .send()
        .await
        .map_err(|e| sdk_error(SERVICE, "GetMetricData", "cloudwatch:GetMetricData", &e));
    vec![
        super::check("cloudwatch:ListMetrics", region.to_string(), listed),
        super::check("cloudwatch:GetMetricData", region.to_string(), data),
    ]
}

/// The IAM actions reading Bedrock's metrics needs.
pub(crate) const PERMISSIONS: &[&str] = &["cloudwatch:GetMetricData", "cloudwatch:ListMetrics"];

/// `[aws.cloudwatch]`: one region's `AWS/Bedrock` usage per model and inference profile,
/// stored as UsageRecords; days older than two days are final.
pub(crate) struct BedrockMetrics;

impl super::RegionalSource for BedrockMetrics {
    const PERMISSIONS: &'static [&'static str] = PERMISSIONS;

    fn source(region: &str) -> String {
        source(region)
    }

    async fn check(sdk: &SdkConfig, region: &str) -> Vec<Check> {
        check(sdk, region).await
    }

    /// The window's days not final yet, for the models and profiles the region has; days
    /// more than two days old are final (metrics settle within a day).
    async fn fetch_and_store(
        at: super::Regional<'_>,
        sdk: SdkConfig,
        run: &Run<'_>,
        found: &mut Found<'_>,
    ) -> Result<String, CollectError> {
        let known = found
            .profiles
            .get(at.region)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let source = source(at.region);
        let window = super::window_of(at.cfg, run);
        within(run.deadline, async {
            let settled = run.today - chrono::Duration::days(2);
            let have = run.skippable_days(Table::Usage, &source)?;
            let Some((window, wanted)) = wanted_days(window, &have) else {
                return Ok(NOTHING_TO_FETCH.to_string());
            };
            let usage = collect(&sdk, at.region, window, known).await?;
            let finals = wanted.iter().copied().filter(|d| *d <= settled);
            run.commit(
                Table::Usage,
                &usage.frame,
                (std::slice::from_ref(&source), &wanted),
                finals,
                &[],
            )?;
            Ok(format!(
                "{} usage row(s) for {} model id(s) over {} day(s); {} GetMetricData request(s)",
                usage.frame.height(),
                usage.model_ids,
                wanted.len(),
                usage.requests
            ))
        })
        .await
    }
}

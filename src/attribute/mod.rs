//! Attribution: every CostRecord row gets a `team`, a `feature` (and any extra dimension the
//! config names) and an `allocation` saying how: `tag:<key>`, `split:<name>`, `rule:<name>`
//! or `unallocated`.
//!
//! Order of precedence for a row: a tag key of the dimension (in the configured priority
//! order) → a shared-cost split whose `match` fits → the first fallback rule whose `match`
//! fits → `unallocated`. Rules and tags are decided once per distinct attribution key (tag set
//! and matched columns), not per row, then gathered to the rows. Splits divide each shared
//! row across (team, feature, …) in proportion to a driver measured on allocated rows of the
//! same day (or of the whole period when that day has none); the parts of a row sum back to
//! it exactly.
//! Nothing is dropped: what matches nothing is `unallocated`.

use crate::config::{glob_match, AttributionConfig, Driver, Split};
use crate::normalise;
use polars::prelude::*;
use std::collections::{BTreeMap, HashMap};

pub(crate) const UNALLOCATED: &str = "unallocated";

#[derive(Debug, thiserror::Error)]
pub enum AttributeError {
    #[error("attribution failed: {0}")]
    Polars(#[from] PolarsError),
    #[error("reading resource tags: {0}")]
    Store(String),
}

/// Compiled attribution rules.
pub struct Attributor {
    config: AttributionConfig,
    dims: Vec<String>,
    aliases: HashMap<String, HashMap<String, String>>,
    /// Tags of tagged resources (Bedrock inference profiles) by resource id.
    resource_tags: HashMap<String, serde_json::Map<String, serde_json::Value>>,
}

/// The latest stored tags of every profiled resource (Bedrock application inference
/// profiles), by resource id.
pub(crate) fn resource_tags(
    store: &crate::store::Store,
) -> Result<HashMap<String, serde_json::Map<String, serde_json::Value>>, AttributeError> {
    let Some(lf) = store
        .scan(crate::store::Table::Profiles)
        .map_err(|e| AttributeError::Store(e.to_string()))?
    else {
        return Ok(HashMap::new());
    };
    let df = lf
        .sort(["charge_period_start"], SortMultipleOptions::default())
        .group_by([col("resource_id")])
        .agg([col("tags").last()])
        .collect()?;
    let ids = df.column("resource_id")?.str()?.clone();
    let tags = df.column("tags")?.str()?.clone();
    Ok(ids
        .iter()
        .zip(tags.iter())
        .filter_map(|(id, t)| Some((id?.to_string(), serde_json::from_str(t?).ok()?)))
        .collect())
}

/// What one distinct attribution key resolves to.
struct Resolution {
    values: Vec<String>,
    allocation: String,
}

fn resource_group(resource_id: &str) -> Option<String> {
    let lower = resource_id.to_lowercase();
    let start = lower.find("/resourcegroups/")? + "/resourcegroups/".len();
    let rest = &resource_id[start..];
    Some(rest.split('/').next().unwrap_or(rest).to_string())
}

impl Attributor {
    /// The config's rules plus the tags of the inference profiles stored in `store`: what
    /// every command attributes with.
    pub(crate) fn for_store(
        config: &AttributionConfig,
        store: &crate::store::Store,
    ) -> Result<Attributor, AttributeError> {
        Ok(Attributor::new(config).with_resource_tags(resource_tags(store)?))
    }

    pub fn new(config: &AttributionConfig) -> Attributor {
        let aliases = config
            .aliases
            .iter()
            .map(|(dim, m)| {
                (
                    dim.clone(),
                    m.iter()
                        .map(|(k, v)| (normalise::tag_value(k), normalise::tag_value(v)))
                        .collect(),
                )
            })
            .collect();
        Attributor {
            dims: config.dimensions(),
            config: config.clone(),
            aliases,
            resource_tags: HashMap::new(),
        }
    }

    /// Also use these resources' tags for rows whose `resource_id` names them (a row's own
    /// tags win where both have a key).
    pub(crate) fn with_resource_tags(
        mut self,
        tags: HashMap<String, serde_json::Map<String, serde_json::Value>>,
    ) -> Attributor {
        self.resource_tags = tags;
        self
    }

    /// Dimension columns this attributor adds (team, feature, extras).
    pub fn dimensions(&self) -> &[String] {
        &self.dims
    }

    /// Columns a row's labels depend on: `tags` and those a rule or split looks at.
    pub(crate) fn key_columns(&self) -> Vec<String> {
        let mut cols: Vec<String> = self
            .config
            .rules
            .iter()
            .flat_map(|r| r.matches.keys())
            .chain(self.config.splits.iter().flat_map(|s| s.matches.keys()))
            .map(|c| {
                if c == "resource_group" {
                    "resource_id".to_string()
                } else {
                    c.clone()
                }
            })
            .collect();
        cols.push("tags".into());
        if !self.resource_tags.is_empty() {
            cols.push("resource_id".into());
        }
        cols.sort();
        cols.dedup();
        cols
    }

    fn tag_value(
        &self,
        dim: &str,
        tags: &serde_json::Map<String, serde_json::Value>,
    ) -> Option<(String, String)> {
        let keys = self.config.tags.get(dim)?;
        for wanted in keys {
            // Exact key first, then one that differs only by surrounding whitespace.
            let found = tags.get(wanted).map(|v| (wanted.clone(), v)).or_else(|| {
                tags.iter()
                    .find(|(k, _)| k.trim() == wanted)
                    .map(|(k, v)| (k.clone(), v))
            });
            if let Some((key, serde_json::Value::String(v))) = found {
                let v = normalise::tag_value(v);
                if v.is_empty() {
                    continue;
                }
                let v = self
                    .aliases
                    .get(dim)
                    .and_then(|a| a.get(&v))
                    .cloned()
                    .unwrap_or(v);
                return Some((key, v));
            }
        }
        None
    }

    fn matches(m: &BTreeMap<String, String>, row: &HashMap<&str, Option<&str>>) -> bool {
        m.iter().all(|(column, pattern)| {
            let value = if column == "resource_group" {
                row.get("resource_id")
                    .copied()
                    .flatten()
                    .and_then(resource_group)
            } else {
                row.get(column.as_str())
                    .copied()
                    .flatten()
                    .map(str::to_string)
            };
            glob_match(pattern, value.as_deref().unwrap_or(""))
        })
    }

    fn resolve(&self, row: &HashMap<&str, Option<&str>>, with_splits: bool) -> Resolution {
        let mut tags: serde_json::Map<String, serde_json::Value> = row
            .get("tags")
            .copied()
            .flatten()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        if let Some(extra) = row
            .get("resource_id")
            .copied()
            .flatten()
            .and_then(|r| self.resource_tags.get(r))
        {
            for (k, v) in extra {
                tags.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        let mut values: Vec<Option<String>> = Vec::with_capacity(self.dims.len());
        let mut allocation = None;
        for dim in &self.dims {
            let v = self.tag_value(dim, &tags);
            if dim == "team" {
                allocation = v.as_ref().map(|(k, _)| format!("tag:{k}"));
            }
            values.push(v.map(|(_, v)| v));
        }
        if allocation.is_none() {
            let split = self
                .config
                .splits
                .iter()
                .filter(|_| with_splits)
                .find(|s| Self::matches(&s.matches, row));
            if let Some(split) = split {
                allocation = Some(format!("split:{}", split.name));
            } else if let Some(rule) = self
                .config
                .rules
                .iter()
                .find(|r| Self::matches(&r.matches, row))
            {
                allocation = Some(format!("rule:{}", rule.name));
                for (i, dim) in self.dims.iter().enumerate() {
                    if let Some(v) = rule.set.get(dim) {
                        // A rule decides the team; other dimensions keep a tag value if present.
                        if dim == "team" || values[i].is_none() {
                            values[i] = Some(normalise::tag_value(v));
                        }
                    }
                }
            }
        }
        Resolution {
            values: values
                .into_iter()
                .map(|v| v.unwrap_or_else(|| UNALLOCATED.to_string()))
                .collect(),
            allocation: allocation.unwrap_or_else(|| UNALLOCATED.to_string()),
        }
    }

    /// Attribute `costs` (CostRecord rows). Returns the rows with the dimension columns and
    /// `allocation` added; split rows are replaced by their parts.
    pub fn apply(&self, costs: LazyFrame) -> Result<DataFrame, AttributeError> {
        let labelled = self.label(costs.collect()?, true, false)?;
        self.split(labelled)
    }

    /// The first half of [`Attributor::apply`], which depends on each row alone: dimension
    /// columns and `allocation`, with shared rows still marked `split:<name>`. What the
    /// store's daily rollups hold, so the added columns are Categorical.
    pub(crate) fn label_costs(&self, costs: DataFrame) -> Result<DataFrame, AttributeError> {
        self.label(costs, true, true)
    }

    /// The second half of [`Attributor::apply`]: divide the shared rows of labelled costs by
    /// their drivers, which are measured over the whole frame (so it is done per read).
    pub fn split(&self, labelled: DataFrame) -> Result<DataFrame, AttributeError> {
        if self.config.splits.is_empty() {
            return Ok(labelled);
        }
        self.apply_splits(labelled)
    }

    /// Whether any shared-cost split is configured.
    pub(crate) fn has_splits(&self) -> bool {
        !self.config.splits.is_empty()
    }

    /// Columns the shared-cost splits match their drivers on: what must survive labelling
    /// for [`Attributor::split`] to work.
    pub(crate) fn split_driver_columns(&self) -> std::collections::BTreeSet<String> {
        self.config
            .splits
            .iter()
            .flat_map(|s| s.driver_match.keys())
            .map(|c| {
                if c == "resource_group" {
                    "resource_id".to_string()
                } else {
                    c.clone()
                }
            })
            .collect()
    }

    /// A fingerprint of everything [`Attributor::label_costs`] depends on besides the rows:
    /// the rules, tag keys, aliases, splits and the stored profile tags.
    pub(crate) fn fingerprint(&self) -> u64 {
        let config = format!("{:?}", self.config);
        let tags: BTreeMap<&String, String> = self
            .resource_tags
            .iter()
            .map(|(k, v)| (k, serde_json::Value::Object(v.clone()).to_string()))
            .collect();
        let tags = format!("{tags:?}");
        crate::store::rollup::fnv1a(&[config.as_bytes(), tags.as_bytes()])
    }

    /// Attribute UsageRecords (no money to split): by the tags of the profile a row names,
    /// then by the rules; shared-cost splits do not apply.
    pub(crate) fn apply_usage(&self, usage: LazyFrame) -> Result<DataFrame, AttributeError> {
        let present: Vec<String> = usage
            .clone()
            .collect_schema()?
            .iter_names()
            .map(polars::prelude::PlSmallStr::to_string)
            .collect();
        let mut keep: Vec<Expr> = present.iter().map(|n| col(n.as_str())).collect();
        let missing: Vec<Expr> = self
            .key_columns()
            .into_iter()
            .filter(|c| !present.contains(c))
            .map(|c| {
                if c == "tags" {
                    lit("{}").alias("tags")
                } else {
                    lit(NULL).cast(DataType::String).alias(c.as_str())
                }
            })
            .collect();
        // Splits divide money; usage rows have none, so rules decide where tags do not.
        let labelled = self
            .label(usage.with_columns(missing).collect()?, false, false)?
            .lazy();
        keep.extend(self.dims.iter().map(|d| col(d.as_str())));
        keep.push(col("allocation"));
        Ok(labelled.select(keep).collect()?)
    }

    /// Team, feature, extra dimensions and allocation from tags and rules: each distinct
    /// attribution key (the [`Attributor::key_columns`] of a row) is resolved once and the
    /// answers gathered to its rows. With `categorical`, the added columns are Categorical
    /// (the small answer columns are cast, not the gathered rows).
    fn label(
        &self,
        costs: DataFrame,
        with_splits: bool,
        categorical: bool,
    ) -> Result<DataFrame, AttributeError> {
        let key_cols = self.key_columns();
        let key_series: Vec<StringChunked> = key_cols
            .iter()
            .map(|c| crate::schema::text_values(costs.column(c)?))
            .collect::<PolarsResult<_>>()?;
        let (firsts, rows) = crate::coded::code_tuples(&key_series.iter().collect::<Vec<_>>());
        let mut out_values: Vec<Vec<String>> =
            vec![Vec::with_capacity(firsts.len()); self.dims.len()];
        let mut out_alloc = Vec::with_capacity(firsts.len());
        for &i in &firsts {
            let row: HashMap<&str, Option<&str>> = key_cols
                .iter()
                .zip(&key_series)
                .map(|(c, s)| (c.as_str(), s.get(i)))
                .collect();
            let r = self.resolve(&row, with_splits);
            for (o, v) in out_values.iter_mut().zip(r.values) {
                o.push(v);
            }
            out_alloc.push(r.allocation);
        }
        let mut labelled = costs;
        let answers = self
            .dims
            .iter()
            .map(String::as_str)
            .zip(out_values)
            .chain([("allocation", out_alloc)])
            .map(|(name, values)| {
                let mut answers = Series::new(name.into(), values);
                if categorical {
                    answers = answers.cast(&crate::schema::categorical())?;
                }
                answers.take(&rows)
            })
            .collect::<PolarsResult<Vec<_>>>()?;
        for column in answers {
            labelled.with_column(column.into_column())?;
        }
        Ok(labelled)
    }

    fn apply_splits(&self, attributed: DataFrame) -> Result<DataFrame, AttributeError> {
        let mut result = attributed
            .clone()
            .lazy()
            .filter(col("allocation").str().starts_with(lit("split:")).not());
        for split in &self.config.splits {
            let shared = attributed
                .clone()
                .lazy()
                .filter(col("allocation").eq(lit(format!("split:{}", split.name))));
            let parts = self.split_rows(split, shared, attributed.clone().lazy())?;
            result = concat([result, parts], UnionArgs::default())?;
        }
        Ok(result.collect()?)
    }

    /// Divide the `shared` rows of one split across dimension tuples by its driver.
    fn split_rows(
        &self,
        split: &Split,
        shared: LazyFrame,
        all: LazyFrame,
    ) -> PolarsResult<LazyFrame> {
        let dims: Vec<Expr> = self.dims.iter().map(|d| col(d.as_str())).collect();
        let shares = driver_shares(split, all, &dims)?;
        let present = shared.clone().collect_schema()?;
        let cost_columns: Vec<Expr> = crate::schema::COST_COLUMNS
            .iter()
            .filter(|c| present.contains(c.name))
            .map(|c| col(c.name))
            .collect();
        let shared = shared
            .select(
                cost_columns
                    .iter()
                    .cloned()
                    .chain([col("allocation")])
                    .collect::<Vec<_>>(),
            )
            .with_row_index("__sid", None)
            .with_column(col("charge_period_start").alias("__day"));
        let (with_day, with_period, remaining) = shares.joined(shared)?;
        // No driver at all: stays visible as unallocated.
        let orphans = remaining.with_columns(
            self.dims
                .iter()
                .map(|d| lit(UNALLOCATED).alias(d.as_str()))
                .chain([lit(UNALLOCATED).alias("allocation")])
                .collect::<Vec<_>>(),
        );
        let mut part_cols: Vec<Expr> = cost_columns.clone();
        part_cols.extend(dims.iter().cloned());
        part_cols.extend([col("allocation"), col("__sid"), col("__share")]);
        let parts = exact_parts(concat(
            [
                with_day.select(part_cols.clone()),
                with_period.select(part_cols),
            ],
            UnionArgs::default(),
        )?)?;
        let mut columns: Vec<Expr> = cost_columns;
        columns.extend(dims);
        columns.push(col("allocation"));
        concat(
            [parts.select(columns.clone()), orphans.select(columns)],
            UnionArgs::default(),
        )
    }
}

/// A split's driver shares per dimension tuple: per day (and currency, for a spend
/// driver), and over the whole period for days without a driver of their own.
struct Shares {
    daily: LazyFrame,
    period: LazyFrame,
    day_keys: Vec<Expr>,
    period_keys: Vec<Expr>,
}

/// The rows a split's driver is measured on: allocated rows matching `driver_match`.
fn driver_rows(split: &Split) -> Expr {
    let allocated = col("allocation")
        .str()
        .starts_with(lit("tag:"))
        .or(col("allocation").str().starts_with(lit("rule:")));
    let mut driver_filter = allocated;
    for (column, pattern) in &split.driver_match {
        // Glob patterns become a case-insensitive regex on the column.
        let re = crate::schema::glob_regex(pattern);
        let target = if column == "resource_group" {
            col("resource_id")
                .str()
                .extract(lit(r"(?i)/resourcegroups/([^/]+)"), 1)
        } else {
            col(column.as_str())
        };
        driver_filter = driver_filter.and(target.fill_null(lit("")).str().contains(lit(re), true));
    }
    driver_filter
}

/// Each dimension tuple's share of the driver, per day and over the period.
fn driver_shares(split: &Split, all: LazyFrame, dims: &[Expr]) -> PolarsResult<Shares> {
    let (measure, by_currency) = match split.driver {
        Driver::Spend => (col("effective_cost"), true),
        Driver::Usage => (col("consumed_quantity").fill_null(lit(0.0)), false),
    };
    let day = col("charge_period_start").alias("__day");
    let mut day_keys = vec![col("__day")];
    if by_currency {
        day_keys.push(col("billing_currency"));
    }
    let drivers = all
        .filter(driver_rows(split))
        .with_column(day)
        .group_by([day_keys.clone(), dims.to_vec()].concat())
        .agg([measure.sum().alias("__measure")])
        .filter(col("__measure").gt(lit(0.0)));
    let daily = drivers
        .clone()
        .with_column(
            (col("__measure") / col("__measure").sum().over(day_keys.clone())?).alias("__share"),
        )
        .select([day_keys.clone(), dims.to_vec(), vec![col("__share")]].concat());
    let period_keys: Vec<Expr> = if by_currency {
        vec![col("billing_currency")]
    } else {
        vec![]
    };
    let period = drivers
        .group_by([period_keys.clone(), dims.to_vec()].concat())
        .agg([col("__measure").sum()])
        .with_column(
            if period_keys.is_empty() {
                col("__measure") / col("__measure").sum()
            } else {
                col("__measure") / col("__measure").sum().over(period_keys.clone())?
            }
            .alias("__share"),
        )
        .select([period_keys.clone(), dims.to_vec(), vec![col("__share")]].concat());
    Ok(Shares {
        daily,
        period,
        day_keys,
        period_keys,
    })
}

impl Shares {
    /// The shared rows (numbered by `__sid`) joined to their shares: days with a driver
    /// take that day's shares, the others the period's; and the rows no share reaches.
    fn joined(self, shared: LazyFrame) -> PolarsResult<(LazyFrame, LazyFrame, LazyFrame)> {
        let with_day = shared.clone().join(
            self.daily,
            self.day_keys.clone(),
            self.day_keys,
            JoinArgs::new(JoinType::Inner),
        );
        let remaining = without_rows_of(shared, &with_day);
        // Without period keys every remaining row takes every share: join on a constant.
        let mut period_on = self.period_keys;
        period_on.push(col("__k"));
        let with_period = remaining.clone().with_column(lit(1i32).alias("__k")).join(
            self.period.with_column(lit(1i32).alias("__k")),
            period_on.clone(),
            period_on,
            JoinArgs::new(JoinType::Inner),
        );
        let orphans = without_rows_of(remaining, &with_period);
        Ok((with_day, with_period, orphans))
    }
}

/// `rows` less those whose `__sid` is in `taken`.
fn without_rows_of(rows: LazyFrame, taken: &LazyFrame) -> LazyFrame {
    let taken = taken
        .clone()
        .select([col("__sid")])
        .unique(None, UniqueKeepStrategy::Any);
    rows.join(
        taken,
        [col("__sid")],
        [col("__sid")],
        JoinArgs::new(JoinType::Anti),
    )
}

/// Each shared row's parts (its amounts times `__share`), the first part of each row taking
/// the rounding remainder, so the parts sum back to the original exactly.
fn exact_parts(parts: LazyFrame) -> PolarsResult<LazyFrame> {
    let parts = parts.sort(
        ["__sid", "__share"],
        SortMultipleOptions::default().with_order_descending_multi([false, true]),
    );
    let exact = |name: &str| -> PolarsResult<Expr> {
        let part = col(name) * col("__share");
        let remainder = col(name) - (col(name) * col("__share")).sum().over([col("__sid")])?;
        Ok(when(
            col("__sid")
                .cum_count(false)
                .over([col("__sid")])?
                .eq(lit(1)),
        )
        .then(part.clone() + remainder)
        .otherwise(part)
        .alias(name))
    };
    Ok(parts.with_columns([
        exact("billed_cost")?,
        exact("effective_cost")?,
        exact("consumed_quantity")?,
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_rows_fall_through_splits_to_rules() {
        let config = crate::config::Config::parse(
            "[[attribution.splits]]\nname='pt'\nmatch={provider_name='aws'}\ndriver='usage'\n\n\
             [[attribution.rules]]\nname='aws-platform'\nmatch={provider_name='aws'}\nset={team='platform'}\n",
            std::path::Path::new("spendlens.toml"),
        )
        .unwrap();
        let usage = DataFrame::new_infer_height(vec![
            Column::new("provider_name".into(), ["aws"]),
            Column::new("invocations".into(), [3.0]),
        ])
        .unwrap();
        let out = Attributor::new(&config.attribution)
            .apply_usage(usage.lazy())
            .unwrap();
        assert_eq!(
            out.column("team").unwrap().str().unwrap().get(0),
            Some("platform")
        );
        assert_eq!(
            out.column("allocation").unwrap().str().unwrap().get(0),
            Some("rule:aws-platform")
        );
        assert_eq!(
            out.column("invocations").unwrap().f64().unwrap().get(0),
            Some(3.0)
        );
    }

    #[test]
    fn resource_group_from_azure_ids() {
        assert_eq!(
            resource_group("/subscriptions/x/resourceGroups/rg-AI/providers/Microsoft.CognitiveServices/accounts/a").as_deref(),
            Some("rg-AI")
        );
        assert_eq!(resource_group("arn:aws:bedrock:us-east-1:1:x"), None);
    }
}

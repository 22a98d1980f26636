//! `[attribution]`: tag keys per dimension, aliases, fallback rules and shared-cost splits,
//! and the checks that keep a rule from matching nothing or everything.

use super::Invalid;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Columns a rule's `match` may name: the CostRecord string columns plus `resource_group`
/// (derived from an Azure resource id).
pub(crate) const MATCHABLE_COLUMNS: &[&str] = &[
    "provider_name",
    "service_name",
    "sub_account_id",
    "region_id",
    "resource_id",
    "resource_group",
    "model",
    "usage_type",
    "charge_category",
    "pricing_category",
    "pricing_detail",
    "consumed_unit",
    "billing_currency",
    "source",
];

/// `[attribution]`: how rows get their team, feature and other dimensions.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttributionConfig {
    /// Dimension name -> tag keys in priority order. `team` and `feature` always exist.
    pub tags: BTreeMap<String, Vec<String>>,
    /// Dimension name -> (normalised value -> canonical value).
    pub aliases: BTreeMap<String, BTreeMap<String, String>>,
    pub rules: Vec<Rule>,
    pub splits: Vec<Split>,
}

impl Default for AttributionConfig {
    fn default() -> Self {
        AttributionConfig {
            tags: BTreeMap::from([
                ("team".to_string(), vec!["team".to_string()]),
                ("feature".to_string(), vec!["feature".to_string()]),
            ]),
            aliases: BTreeMap::new(),
            rules: Vec::new(),
            splits: Vec::new(),
        }
    }
}

impl AttributionConfig {
    /// Dimensions in output order: team, feature, then extra dimensions alphabetically.
    pub fn dimensions(&self) -> Vec<String> {
        let mut dims = vec!["team".to_string(), "feature".to_string()];
        dims.extend(
            self.tags
                .keys()
                .filter(|k| k.as_str() != "team" && k.as_str() != "feature")
                .cloned(),
        );
        dims
    }
}

/// A fallback rule: rows whose columns match `match` get the `set` dimension values.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    #[serde(rename = "match")]
    pub matches: BTreeMap<String, String>,
    pub set: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// Share by consumed quantity (tokens, hours) of each team's allocated usage.
    Usage,
    /// Share by each team's allocated effective cost.
    Spend,
}

/// A shared cost split: rows matching `match` are divided across (team, feature) pairs in
/// proportion to the driver measured on allocated rows matching `driver_match`, per day.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    pub name: String,
    #[serde(rename = "match")]
    pub matches: BTreeMap<String, String>,
    pub driver: Driver,
    #[serde(default)]
    pub driver_match: BTreeMap<String, String>,
}

impl AttributionConfig {
    /// Dimension names are identifiers with tag keys; aliases name known dimensions.
    pub(super) fn validate_dimensions(&self) -> Result<(), Invalid> {
        let dims = self.dimensions();
        for (dim, keys) in &self.tags {
            if !is_identifier(dim) {
                return Err(Invalid::new(
                    format!("dimension name `{dim}` in [attribution.tags]"),
                    "dimension names are lower-case letters, digits and `_`",
                ));
            }
            if keys.is_empty() {
                return Err(Invalid::new(
                    format!("[attribution.tags] `{dim}` lists no tag keys"),
                    "list at least one tag key, e.g. `team = [\"team\"]`",
                ));
            }
        }
        for dim in self.aliases.keys() {
            if !dims.contains(dim) {
                return Err(Invalid::new(
                    format!("[attribution.aliases.{dim}] names an unknown dimension `{dim}`"),
                    format!("known dimensions: {}", dims.join(", ")),
                ));
            }
        }
        Ok(())
    }

    /// Rule and split names are unique; each matches on known columns and sets known
    /// dimensions.
    pub(super) fn validate_rules(&self) -> Result<(), Invalid> {
        let dims = self.dimensions();
        let mut names = std::collections::HashSet::new();
        for rule in &self.rules {
            if !names.insert(rule.name.clone()) {
                return Err(Invalid::new(
                    format!("rule name `{}` is used twice", rule.name),
                    "rule and split names must be unique",
                ));
            }
            rule.validate(&dims)?;
        }
        for split in &self.splits {
            if !names.insert(split.name.clone()) {
                return Err(Invalid::new(
                    format!("split name `{}` is used twice", split.name),
                    "rule and split names must be unique",
                ));
            }
            split.validate()?;
        }
        Ok(())
    }
}

impl Rule {
    fn validate(&self, dims: &[String]) -> Result<(), Invalid> {
        if self.matches.is_empty() {
            return Err(Invalid::new(
                format!("rule `{}` has an empty `match`", self.name),
                "a rule with no condition would swallow all unallocated spend",
            ));
        }
        check_match("rule", &self.name, &self.matches)?;
        for dim in self.set.keys() {
            if !dims.contains(dim) {
                return Err(Invalid::new(
                    format!("rule `{}` sets unknown dimension `{dim}`", self.name),
                    format!("known dimensions: {}", dims.join(", ")),
                ));
            }
        }
        if self.set.is_empty() {
            return Err(Invalid::new(
                format!("rule `{}` has an empty `set`", self.name),
                "set at least `team`",
            ));
        }
        Ok(())
    }
}

impl Split {
    fn validate(&self) -> Result<(), Invalid> {
        if self.matches.is_empty() {
            return Err(Invalid::new(
                format!("split `{}` has an empty `match`", self.name),
                "say which shared rows to split, e.g. `match = { usage_type = \"provisioned\" }`",
            ));
        }
        check_match("split", &self.name, &self.matches)?;
        check_match("split", &self.name, &self.driver_match)
    }
}

/// Every column a rule's or split's match names is one rows have.
fn check_match(what: &str, name: &str, m: &BTreeMap<String, String>) -> Result<(), Invalid> {
    for column in m.keys() {
        if !MATCHABLE_COLUMNS.contains(&column.as_str()) {
            return Err(Invalid::new(
                format!("{what} `{name}` matches on unknown column `{column}`"),
                format!("columns: {}", MATCHABLE_COLUMNS.join(", ")),
            ));
        }
    }
    Ok(())
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !crate::schema::COST_COLUMNS.iter().any(|c| c.name == s)
        && s != "allocation"
}

/// Case-insensitive glob match where `*` matches any run of characters.
pub(crate) fn glob_match(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let v: Vec<char> = value.to_lowercase().chars().collect();
    let (mut pi, mut vi, mut star, mut mark) = (0, 0, None, 0);
    while vi < v.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == v[vi] {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

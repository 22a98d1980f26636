//! [`Dimension`]: what spend is broken down by, the columns each reads, and how a series of
//! it is summed.

use polars::prelude::*;

/// A dimension spend can be broken down by. Series are watched for anomalies on the
/// `DETECTED` ones; the others only appear as root causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dimension {
    Total,
    Provider,
    Team,
    TeamFeature,
    Feature,
    Model,
    Account,
    Region,
    UsageType,
    Resource,
}

impl Dimension {
    /// Series the anomaly detector watches.
    pub(crate) const DETECTED: &'static [Dimension] = &[
        Dimension::Total,
        Dimension::Provider,
        Dimension::Team,
        Dimension::TeamFeature,
        Dimension::Model,
        Dimension::Account,
        Dimension::Resource,
    ];

    /// Every dimension, for filters and breakdowns.
    pub(crate) const ALL: &'static [Dimension] = &[
        Dimension::Total,
        Dimension::Provider,
        Dimension::Team,
        Dimension::TeamFeature,
        Dimension::Feature,
        Dimension::Model,
        Dimension::Account,
        Dimension::Region,
        Dimension::UsageType,
        Dimension::Resource,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dimension::Total => "total",
            Dimension::Provider => "provider",
            Dimension::Team => "team",
            Dimension::TeamFeature => "team_feature",
            Dimension::Feature => "feature",
            Dimension::Model => "model",
            Dimension::Account => "account",
            Dimension::Region => "region",
            Dimension::UsageType => "usage_type",
            Dimension::Resource => "resource",
        }
    }

    pub fn parse(name: &str) -> Option<Dimension> {
        Dimension::ALL.iter().copied().find(|d| d.name() == name)
    }

    /// The value of this dimension for a row of attributed costs, as a non-null string.
    pub(crate) fn expr(self) -> Expr {
        let none = || lit("(none)");
        match self {
            Dimension::Total => lit("total"),
            Dimension::Provider => col("provider_name"),
            Dimension::Team => col("team"),
            Dimension::TeamFeature => concat_str([col("team"), col("feature")], "/", false),
            Dimension::Feature => col("feature"),
            Dimension::Model => col("model").fill_null(lit("(no model)")),
            Dimension::Account => col("sub_account_id").fill_null(none()),
            Dimension::Region => col("region_id").fill_null(none()),
            Dimension::UsageType => col("usage_type"),
            Dimension::Resource => col("resource_id").fill_null(none()),
        }
    }

    /// The columns `Dimension::expr` reads: grouping by them and deriving the value
    /// afterwards keeps a group-by over millions of rows on dictionary codes.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Dimension::Total => &[],
            Dimension::Provider => &["provider_name"],
            Dimension::Team => &["team"],
            Dimension::TeamFeature => &["team", "feature"],
            Dimension::Feature => &["feature"],
            Dimension::Model => &["model"],
            Dimension::Account => &["sub_account_id"],
            Dimension::Region => &["region_id"],
            Dimension::UsageType => &["usage_type"],
            Dimension::Resource => &["resource_id"],
        }
    }

    /// Effective cost of `lf` summed by this dimension's value (String column `value_as`)
    /// and the columns `also`: summed by the dimension's own columns (dictionary codes),
    /// named afterwards, and summed again where two of them name one value (a null account
    /// and `(none)`).
    pub(crate) fn sum_by(
        self,
        lf: LazyFrame,
        also: &[&str],
        value_as: &str,
        sum_as: &str,
    ) -> LazyFrame {
        let keys: Vec<Expr> = self.columns().iter().chain(also).map(|c| col(*c)).collect();
        let by: Vec<Expr> = std::iter::once(col(value_as))
            .chain(also.iter().map(|c| col(*c)))
            .collect();
        lf.group_by(keys)
            .agg([col("effective_cost").sum().alias(sum_as)])
            .with_column(crate::schema::text(self.expr()).alias(value_as))
            .group_by(by)
            .agg([col(sum_as).sum()])
    }

    /// Rows whose `Dimension::expr` equals `value`, as comparisons of the columns
    /// themselves (no per-row strings are built).
    pub fn matches(self, value: &str) -> Expr {
        let is = |c: &str, v: &str, fill: &str| {
            let e = crate::schema::equals(col(c), v);
            if v == fill {
                e.or(col(c).is_null())
            } else {
                e
            }
        };
        match self {
            Dimension::Total => lit(value == "total"),
            // `team/feature`: every way of cutting the value at a `/` (tags may hold one).
            Dimension::TeamFeature => value
                .match_indices('/')
                .map(|(i, _)| {
                    crate::schema::equals(col("team"), &value[..i])
                        .and(crate::schema::equals(col("feature"), &value[i + 1..]))
                })
                .reduce(Expr::or)
                .unwrap_or(lit(false)),
            Dimension::Model => is("model", value, "(no model)"),
            Dimension::Account => is("sub_account_id", value, "(none)"),
            Dimension::Region => is("region_id", value, "(none)"),
            Dimension::Resource => is("resource_id", value, "(none)"),
            Dimension::Provider | Dimension::Team | Dimension::Feature | Dimension::UsageType => {
                crate::schema::equals(col(self.columns()[0]), value)
            }
        }
    }

    /// Child dimensions an anomaly of this dimension is explained by.
    pub(crate) fn children(self) -> &'static [Dimension] {
        use self::Dimension::*;
        match self {
            Total => &[Provider, Team, TeamFeature, Model, Account, UsageType],
            Provider => &[Account, Region, Team, Model, UsageType, Resource],
            Team => &[Provider, Feature, Account, Model, UsageType, Resource],
            TeamFeature => &[Provider, Account, Model, UsageType, Resource],
            Feature => &[Team, Provider, Model, UsageType, Resource],
            Model => &[Provider, Team, TeamFeature, Region, UsageType, Resource],
            Account => &[Team, TeamFeature, Model, UsageType, Resource],
            Region => &[Provider, Team, Model, UsageType, Resource],
            UsageType => &[Provider, Team, Model, Resource],
            Resource => &[Team, TeamFeature, Model, UsageType],
        }
    }
}

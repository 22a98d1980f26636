//! Daily sums of attributed costs by each dimension the report and the anomaly detector
//! total over (grouping sets). A year of them is a few hundred thousand rows where the
//! attributed rows are millions, so totals, breakdowns, movers and every watched series are
//! read from them instead of grouping the rows again. Kept per day beside the rollups
//! (written with them, from the same rows), or computed from the rows in memory where they
//! cannot be (shared-cost splits divide rows when read; a selection).

use polars::prelude::*;

/// The grouping sets, each summed per day and currency. Order matters only for
/// [`Sums::by`], which picks the first set holding every column asked for.
pub const SETS: &[&[&str]] = &[
    &["provider_name"],
    &["team"],
    &["model"],
    &["allocation"],
    &["sub_account_id"],
    &["team", "feature"],
    &["resource_id"],
];

/// Which grouping set a row of sums belongs to (its index in [`SETS`]).
const SET: &str = "__set";
/// The summed columns.
const SUMMED: [&str; 2] = ["effective_cost", "billed_cost"];

/// Every column a sums frame has, in order.
fn columns() -> Vec<&'static str> {
    let mut out = vec!["__day", "charge_period_start", "billing_currency"];
    for c in SETS.iter().flat_map(|s| s.iter()) {
        if !out.contains(c) {
            out.push(c);
        }
    }
    out.extend(SUMMED);
    out.push(SET);
    out
}

/// Sums of attributed cost rows (`rows` has the CostRecord dimension columns, `team`,
/// `feature` and `allocation`): for each set in [`SETS`], effective and billed cost by day,
/// currency and the set's columns; the other dimension columns null.
pub fn of(mut rows: LazyFrame) -> PolarsResult<DataFrame> {
    let schema = rows.collect_schema()?;
    let day_start = crate::schema::timestamp();
    let rows = rows.with_column(crate::schema::day_number_expr().alias("__day"));
    // A set of one dimension is grouped by the day and the dimension's code packed into one
    // number where the rows are in one currency (the packed key leaves it out) and their
    // day numbers are not negative (billing days after 1970); other rows take the general
    // group-by.
    let packable = {
        let check = rows
            .clone()
            .select([
                col("billing_currency").n_unique().alias("currencies"),
                col("__day").min().alias("first"),
            ])
            .collect()?;
        let currencies = check.column("currencies")?.cast(&DataType::UInt64)?;
        let first = check.column("first")?.cast(&DataType::Int64)?;
        currencies.u64()?.get(0) == Some(1) && first.i64()?.get(0).is_some_and(|d| d >= 0)
    };
    let parts: Vec<LazyFrame> = SETS
        .iter()
        .enumerate()
        .map(|(i, set)| {
            let keys: Vec<Expr> = ["__day", "billing_currency"]
                .iter()
                .chain(set.iter())
                .map(|c| col(*c))
                .collect();
            let select: Vec<Expr> = columns()
                .into_iter()
                .map(|c| match c {
                    "charge_period_start" => (col("__day").cast(DataType::Int64)
                        * lit(86_400_000_000i64))
                    .cast(day_start.clone())
                    .alias(c),
                    SET => lit(i as u32).alias(SET),
                    c if c == "__day" || c == "billing_currency" || SUMMED.contains(&c) => col(c),
                    c if set.contains(&c) => col(c),
                    c => lit(NULL)
                        .cast(schema.get(c).cloned().unwrap_or(DataType::String))
                        .alias(c),
                })
                .collect();
            let grouped = match (set, packable) {
                // A single-key group-by (several keys are row-encoded first); null codes
                // stay apart from code 0.
                ([c], true) if schema.get(c).is_some_and(|t| t.is_categorical()) => {
                    let code = col(*c)
                        .to_physical()
                        .cast(DataType::UInt64)
                        .fill_null(lit(1u64 << 32));
                    let packed = col("__day").cast(DataType::UInt64) * lit(1u64 << 33) + code;
                    rows.clone().group_by([packed.alias("__packed")]).agg(
                        ["__day", "billing_currency", c]
                            .map(|k| col(k).first())
                            .into_iter()
                            .chain(SUMMED.map(|c| col(c).sum()))
                            .collect::<Vec<_>>(),
                    )
                }
                _ => rows
                    .clone()
                    .group_by(keys)
                    .agg(SUMMED.map(|c| col(c).sum())),
            };
            grouped.select(select)
        })
        .collect();
    concat(parts, UnionArgs::default())?.collect()
}

/// A sums frame (from [`of`] or read back from the store).
#[derive(Clone)]
pub struct Sums(pub DataFrame);

impl Sums {
    /// The rows of the first grouping set holding every column of `keys` (only those sums,
    /// so summing them again by `keys` gives each value's total once), or `None` when no
    /// set does.
    pub fn by(&self, keys: &[&str]) -> Option<LazyFrame> {
        Some(self.0.clone().lazy().filter(set_by(keys)?))
    }
}

/// The sums rows of the first grouping set holding every column of `keys` (see
/// [`Sums::by`]), as a filter, or `None` when no set does.
pub fn set_by(keys: &[&str]) -> Option<Expr> {
    let i = SETS
        .iter()
        .position(|set| keys.iter().all(|k| set.contains(k)))?;
    Some(col(SET).eq(lit(i as u32)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> DataFrame {
        let day = |d: i64| d * 86_400_000_000 + 3_600_000_000;
        df!(
            "charge_period_start" => [day(20_000), day(20_000), day(20_001), day(20_001), day(20_001)],
            "billing_currency" => ["USD", "USD", "USD", "EUR", "USD"],
            "provider_name" => ["AWS", "AWS", "Google Cloud", "AWS", "AWS"],
            "team" => [Some("search"), None, Some("search"), Some("ads"), None],
            "feature" => ["chat", "chat", "rank", "chat", "chat"],
            "model" => [Some("m1"), Some("m1"), None, Some("m2"), None],
            "allocation" => ["tag", "unallocated", "tag", "tag", "unallocated"],
            "sub_account_id" => ["a1", "a1", "a2", "a3", "a1"],
            "resource_id" => [Some("r1"), Some("r2"), None, Some("r3"), Some("r2")],
            "effective_cost" => [1.25, 2.0, 4.0, 8.0, 0.5],
            "billed_cost" => [1.5, 2.0, 4.0, 9.0, 0.75],
        )
        .unwrap()
        .lazy()
        .with_column(col("charge_period_start").cast(crate::schema::timestamp()))
        .collect()
        .unwrap()
    }

    /// Sums by `keys` (day and currency included) from `rows` and from their sums.
    fn both(rows: &DataFrame, keys: &[&str]) -> (DataFrame, DataFrame) {
        let sums = Sums(of(rows.clone().lazy()).unwrap());
        let mut by: Vec<Expr> = vec![col("__day"), col("billing_currency")];
        by.extend(keys.iter().map(|k| col(*k)));
        let sort: Vec<String> = ["__day", "billing_currency"]
            .iter()
            .chain(keys)
            .map(|s| s.to_string())
            .collect();
        let total = |lf: LazyFrame| {
            lf.with_column(crate::schema::day_number_expr().alias("__day"))
                .group_by(by.clone())
                .agg(SUMMED.map(|c| col(c).sum()))
                .sort(
                    sort.clone(),
                    SortMultipleOptions::default().with_nulls_last(true),
                )
                .collect()
                .unwrap()
        };
        (total(rows.clone().lazy()), total(sums.by(keys).unwrap()))
    }

    #[test]
    fn every_set_sums_to_the_rows_per_day_currency_and_value_nulls_included() {
        // As text in two currencies, and as dictionary codes in one (as rollups hold them:
        // one dimension's sets are then grouped by the day and code packed into a number).
        let one_currency = rows()
            .lazy()
            .with_column(lit("USD").alias("billing_currency"))
            .collect()
            .unwrap();
        let coded = crate::schema::categoricals(one_currency).unwrap();
        assert!(coded.column("team").unwrap().dtype().is_categorical());
        for rows in [rows(), coded] {
            for set in SETS {
                let (from_rows, from_sums) = both(&rows, set);
                assert!(from_rows.equals_missing(&from_sums), "{set:?}");
            }
            // A subset of a set's columns, and no columns at all (the daily total).
            for keys in [&["feature"][..], &[]] {
                let (from_rows, from_sums) = both(&rows, keys);
                assert!(from_rows.equals_missing(&from_sums), "{keys:?}");
            }
        }
        assert!(Sums(of(rows().lazy()).unwrap())
            .by(&["region_id"])
            .is_none());
    }
}

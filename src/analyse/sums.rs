//! Daily sums of attributed costs by each dimension the report and the anomaly detector
//! total over (grouping sets). A year of them is a few hundred thousand rows where the
//! attributed rows are millions, so totals, breakdowns, movers and every watched series are
//! read from them instead of grouping the rows again. Kept per day beside the rollups
//! (written with them, from the same rows), or computed from the rows in memory where they
//! cannot be (shared-cost splits divide rows when read; a selection).

use polars::prelude::*;

/// The grouping sets, each summed per day and currency. Order matters only for
/// [`Sums::by`], which picks the first set holding every column asked for.
pub(crate) const SETS: &[&[&str]] = &[
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
/// `feature` and `allocation`): for each set in `SETS`, effective and billed cost by day,
/// currency and the set's columns; the other dimension columns null. Every column is coded
/// once (`crate::coded::code_column`: dictionary codes and day numbers, no hashing) and
/// each set grouped by its columns' codes, the sets on all cores.
pub fn of(rows: LazyFrame) -> PolarsResult<DataFrame> {
    let mut wanted = vec!["__day", "billing_currency"];
    for c in SETS.iter().flat_map(|s| s.iter()) {
        if !wanted.contains(c) {
            wanted.push(c);
        }
    }
    let keyed = wanted.clone();
    wanted.extend(SUMMED);
    let rows = rows
        .with_column(crate::schema::day_number_expr().alias("__day"))
        .select(wanted.iter().map(|c| col(*c)).collect::<Vec<_>>())
        .collect()?;
    let codes = crate::coded::code_named(&rows, keyed)?;
    let schema = rows.schema().clone();
    let day_start = crate::schema::timestamp();
    let sets: Vec<(usize, &&[&str])> = SETS.iter().enumerate().collect();
    let parts = crate::parallel::on_all_cores(&sets, |&(i, set)| {
        let keys: Vec<&str> = ["__day", "billing_currency"]
            .into_iter()
            .chain(set.iter().copied())
            .collect();
        let grouped = crate::coded::sum_by(&rows, &keys, &codes, &SUMMED)?;
        let select: Vec<Expr> = columns()
            .into_iter()
            .map(|c| match c {
                "charge_period_start" => (col("__day").cast(DataType::Int64)
                    * lit(86_400_000_000i64))
                .cast(day_start.clone())
                .alias(c),
                SET => lit(i as u32).alias(SET),
                c if keys.contains(&c) || SUMMED.contains(&c) => col(c),
                c => lit(NULL)
                    .cast(schema.get(c).cloned().unwrap_or(DataType::String))
                    .alias(c),
            })
            .collect();
        grouped.lazy().select(select).collect()
    });
    let parts = parts
        .into_iter()
        .map(|p| p.map(DataFrame::lazy))
        .collect::<PolarsResult<Vec<_>>>()?;
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
pub(crate) fn set_by(keys: &[&str]) -> Option<Expr> {
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
            .map(std::string::ToString::to_string)
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

//! Daily sums: rows with the same CostRecord key summed into one, and rows of the same
//! partition from different parts or files merged as one read would have made them.

use crate::schema;
use polars::prelude::*;

/// The columns [`daily_sums`] sums.
pub(crate) const MEASURES: [&str; 3] = ["billed_cost", "effective_cost", "consumed_quantity"];

/// `frame`'s rows (`keys` and [`MEASURES`]) with the same keys summed into one
/// ([`daily_sums`]), in the order of each key's first row: polars' `group_by_stable`, done
/// by polars only for the rows that may share their keys. A daily export of 10M rows has
/// ~10M distinct days and keys: grouping all of them encoded each row's 15 keys into one
/// row of bytes, hashed it and gathered every key column again (the largest part of the
/// ingest's CPU). Each row's keys are hashed instead; a row whose hash no other row has
/// shares its keys with none (equal keys hash alike) and is its own sum. The rows whose hash
/// repeats are grouped by polars on their keys, which is exact whatever the hashes.
pub(crate) fn sum_same_keys(frame: DataFrame, keys: &[&str]) -> PolarsResult<DataFrame> {
    let n = frame.height();
    let grouped = |frame: DataFrame, first_row: Option<Expr>| {
        frame
            .lazy()
            .group_by_stable(keys.iter().map(|k| col(*k)).collect::<Vec<_>>())
            .agg(
                daily_sums()
                    .into_iter()
                    .chain(first_row)
                    .collect::<Vec<_>>(),
            )
            .collect()
    };
    // Each half of the rows on its own core.
    let hash = |rows: DataFrame| -> PolarsResult<Vec<u64>> {
        let mut hashes: Vec<u64> = Vec::with_capacity(rows.height());
        let random_state = PlSeedableRandomStateQuality::seed_from_u64(0);
        for (i, k) in keys.iter().enumerate() {
            let series = rows.column(k)?.as_materialized_series();
            if i == 0 {
                series.vec_hash(random_state.clone(), &mut hashes)?;
            } else {
                series.vec_hash_combine(random_state.clone(), &mut hashes)?;
            }
        }
        Ok(hashes)
    };
    let (first, second) = crate::parallel::both(
        || hash(frame.slice(0, n / 2)),
        || hash(frame.slice((n / 2) as i64, n - n / 2)),
    );
    let mut hashes = first?;
    hashes.extend(second?);
    let mut repeats: PlHashMap<u64, bool> = PlHashMap::with_capacity(n);
    for h in &hashes {
        repeats
            .entry(*h)
            .and_modify(|repeated| *repeated = true)
            .or_insert(false);
    }
    let repeated: Vec<bool> = hashes.iter().map(|h| repeats[h]).collect();
    drop(repeats);
    let shared = repeated.iter().filter(|r| **r).count();
    if shared * 2 > n {
        // Mostly sums of several rows (an hourly export): all to polars.
        return grouped(frame, None);
    }
    // A row alone is its own sum: money as polars sums one value (a null sums to 0), the
    // quantity as it is (null stays null).
    let alone = |measure: &str, v: Option<f64>| match measure {
        "consumed_quantity" => v,
        _ => Some(v.unwrap_or(0.0)),
    };
    if shared == 0 {
        // Only a null amount of money differs from its sum (ingest has refused those
        // already; the columns are not rebuilt for nothing).
        let mut frame = frame;
        for m in ["billed_cost", "effective_cost"] {
            let own = frame.column(m)?.f64()?;
            if own.null_count() > 0 {
                let own: Float64Chunked = own.iter().map(|v| alone(m, v)).collect();
                frame.with_column(own.with_name(m.into()).into_column())?;
            }
        }
        return Ok(frame);
    }
    let sums = grouped(
        frame.clone().with_row_index("__row".into(), None)?.filter(
            &BooleanChunked::from_iter_values(PlSmallStr::EMPTY, repeated.iter().copied()),
        )?,
        Some(col("__row").first()),
    )?;
    // Kept: the rows alone and the first row of each group (with its group's sums).
    let mut kept: Vec<bool> = repeated.iter().map(|r| !r).collect();
    for first in sums.column("__row")?.idx()?.into_no_null_iter() {
        kept[first as usize] = true;
    }
    let summed_at: Vec<bool> = kept
        .iter()
        .zip(&repeated)
        .filter(|(k, _)| **k)
        .map(|(_, r)| *r)
        .collect();
    let mut out = frame.filter(&BooleanChunked::from_iter_values(
        PlSmallStr::EMPTY,
        kept.into_iter(),
    ))?;
    for m in MEASURES {
        // The groups' sums in the order of their first rows, which is the order of `out`.
        let mut group_sums = sums.column(m)?.f64()?.iter();
        let values: Float64Chunked = out
            .column(m)?
            .f64()?
            .iter()
            .zip(&summed_at)
            .map(|(own, summed)| match summed {
                true => group_sums.next().flatten(),
                false => alone(m, own),
            })
            .collect();
        out.with_column(values.with_name(m.into()).into_column())?;
    }
    Ok(out)
}

/// The money and quantity of rows summed into one daily row; all-null quantities stay null
/// rather than becoming 0.
fn daily_sums() -> [Expr; 3] {
    [
        col("billed_cost").sum(),
        col("effective_cost").sum(),
        when(col("consumed_quantity").count().gt(lit(0)))
            .then(col("consumed_quantity").sum())
            .otherwise(lit(NULL).cast(DataType::Float64))
            .alias("consumed_quantity"),
    ]
}

/// Rows of the same partition and key that came from different parts of a file (or
/// different files of one run), summed into one row as a single read would have made them.
pub(crate) fn merge_rows(rows: DataFrame) -> PolarsResult<DataFrame> {
    let keys: Vec<&str> = schema::COST_COLUMNS
        .iter()
        .map(|c| c.name)
        .filter(|c| !MEASURES.contains(c))
        .collect();
    // Stable both ways: rows arrive in file order (parts in order), so each day's merged
    // rows keep the order a single read of the file would give them.
    let merged = sum_same_keys(rows, &keys)?.select(schema::COST_COLUMNS.iter().map(|c| c.name))?;
    // Sorted (a gather of every column) only when out of order: the rows of a file in day
    // order, cut into parts, arrive in order already.
    let source = merged.column("source")?.str()?;
    let start = merged.column("charge_period_start")?.datetime()?.physical();
    let in_order = source.iter().zip(start.iter()).is_sorted();
    if in_order {
        return Ok(merged);
    }
    merged.sort(
        ["source", "charge_period_start"],
        SortMultipleOptions::default().with_maintain_order(true),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    /// `sum_same_keys` against polars' `group_by_stable` of the same rows: frames of rows
    /// each alone, a few sharing keys (nulls among keys and measures, a -0.0), and mostly
    /// sharing (handed to polars whole).
    #[test]
    fn sums_of_rows_with_the_same_keys_are_polars_group_by() {
        let frame = |a: Vec<Option<&str>>, day: Vec<i32>, cost: Vec<f64>, q: Vec<Option<f64>>| {
            let n = a.len();
            DataFrame::new(
                n,
                vec![
                    Column::new("a".into(), a),
                    Column::new("day".into(), day)
                        .cast(&DataType::Date)
                        .unwrap(),
                    Column::new("billed_cost".into(), cost.clone()),
                    // A null amount where the cost is 2.0.
                    Column::new(
                        "effective_cost".into(),
                        cost.iter()
                            .map(|c| (*c != 2.0).then_some(c * 2.0))
                            .collect::<Vec<_>>(),
                    ),
                    Column::new("consumed_quantity".into(), q),
                ],
            )
            .map(|df| (df, n))
            .unwrap()
        };
        let keys = ["a", "day"];
        let polars = |df: &DataFrame| {
            df.clone()
                .lazy()
                .group_by_stable([col("a"), col("day")])
                .agg(daily_sums())
                .collect()
                .unwrap()
        };
        let cases = [
            // Every row alone, a null key and -0.0 among them.
            frame(
                vec![Some("x"), None, Some(""), Some("y")],
                vec![1, 1, 1, 2],
                vec![1.5, -0.0, 2.0, 0.25],
                vec![Some(3.0), None, Some(0.0), Some(1.0)],
            ),
            // Two groups of several rows among rows alone; one group's quantities all null,
            // null keys grouped with each other but not with "".
            frame(
                vec![
                    Some("x"),
                    None,
                    Some("y"),
                    Some("x"),
                    None,
                    Some(""),
                    Some("z"),
                    Some("w"),
                    Some("v"),
                    Some("u"),
                ],
                vec![1, 1, 1, 1, 1, 1, 3, 3, 3, 3],
                vec![1.0, 2.0, 3.0, 0.1, 0.2, 0.3, 4.0, 5.0, 6.0, 7.0],
                vec![
                    None,
                    Some(1.0),
                    Some(2.0),
                    None,
                    Some(4.0),
                    None,
                    Some(5.0),
                    None,
                    Some(6.0),
                    Some(7.0),
                ],
            ),
            // Mostly shared keys.
            frame(
                vec![Some("x"), Some("x"), Some("x"), Some("y"), Some("y")],
                vec![1, 1, 1, 1, 2],
                vec![1.0, 2.0, 3.0, 4.0, 5.0],
                vec![Some(1.0), None, Some(2.0), None, None],
            ),
        ];
        for (df, n) in cases {
            let ours = sum_same_keys(df.clone(), &keys).unwrap();
            let want = polars(&df);
            assert!(ours.height() <= n);
            let names: Vec<PlSmallStr> = want.get_column_names().into_iter().cloned().collect();
            assert_eq!(ours.select(names).unwrap(), want, "{df}");
            // Bit for bit: a -0.0 stays what polars makes of it.
            for m in MEASURES {
                let bits = |d: &DataFrame| -> Vec<Option<u64>> {
                    d.column(m)
                        .unwrap()
                        .f64()
                        .unwrap()
                        .iter()
                        .map(|v| v.map(f64::to_bits))
                        .collect()
                };
                assert_eq!(bits(&ours), bits(&want), "{m} of {df}");
            }
        }
    }
}

//! Columns coded by their distinct values: the values in the order they first appear and each
//! row's index into them. Work that depends on a value alone (parsing, lookups, attribution
//! rules) is then done once per distinct value and its answers gathered to the rows by index:
//! one hash per row, where a `unique` and a join on the strings hash every row twice.

use polars::prelude::*;
use std::collections::HashMap;

/// A string column coded by its distinct values.
pub struct Coded<'a> {
    /// The distinct values in the order they first appear.
    pub keys: Vec<Option<&'a str>>,
    /// Each row's index into `keys`.
    pub rows: IdxCa,
}

/// Code `values` by their distinct values (null is a value of its own).
pub fn code(values: &StringChunked) -> Coded<'_> {
    let mut index: PlHashMap<Option<&str>, IdxSize> = PlHashMap::new();
    let mut keys = Vec::new();
    let rows: Vec<IdxSize> = values
        .iter()
        .map(|v| {
            *index.entry(v).or_insert_with(|| {
                keys.push(v);
                (keys.len() - 1) as IdxSize
            })
        })
        .collect();
    Coded {
        keys,
        rows: IdxCa::from_vec(PlSmallStr::EMPTY, rows),
    }
}

/// Rows coded by the tuple of their values in `columns` (all of one length): the first row
/// of each distinct tuple, in the order they appear, and each row's index into them.
/// Each column is coded on its own, then the codes pairwise, so no row's strings are hashed
/// more than once.
pub(crate) fn code_tuples(columns: &[&StringChunked]) -> (Vec<usize>, IdxCa) {
    tuples(columns.iter().map(|c| code(c).rows))
}

/// [`code_tuples`] of String or Categorical columns: a Categorical column is coded by its
/// dictionary codes, so none of its strings is hashed (any other type by its text).
pub(crate) fn code_columns(columns: &[&Column]) -> PolarsResult<(Vec<usize>, IdxCa)> {
    let coded: Vec<IdxCa> = columns
        .iter()
        .map(|c| code_column(c))
        .collect::<PolarsResult<_>>()?;
    Ok(tuples(coded.into_iter()))
}

/// Each row's index into the distinct values of `column` in the order they first appear
/// (null a value of its own). A Categorical column is coded by its dictionary codes and an
/// integer (or Boolean) column whose values span few numbers by the numbers (no hashing);
/// any other by its text.
pub(crate) fn code_column(column: &Column) -> PolarsResult<IdxCa> {
    match column.dtype() {
        DataType::Categorical(..) | DataType::Enum(..) => {
            let physical = column.to_physical_repr().cast(&DataType::UInt32)?;
            Ok(code_numbers(physical.u32()?).1)
        }
        DataType::String => Ok(code(column.str()?).rows),
        DataType::Boolean => code_column(&column.cast(&DataType::UInt32)?),
        t if t.is_integer() => {
            let wide = column.cast(&DataType::Int64)?;
            let wide = wide.i64()?;
            match (wide.min(), wide.max()) {
                (Some(low), Some(high)) if high - low < DENSE_TUPLES as i64 => {
                    // Shifted to start at 0 (nulls stay null).
                    let shifted = (wide - low).cast(&DataType::UInt32)?;
                    Ok(code_numbers(shifted.u32()?).1)
                }
                _ => Ok(code(column.cast(&DataType::String)?.str()?).rows),
            }
        }
        _ => Ok(code(column.cast(&DataType::String)?.str()?).rows),
    }
}

/// The [`code_column`] of each of `names` (each once, however often it is named) in `df`,
/// the columns on all cores: the codes [`sum_by`] groups by, made once for a frame grouped
/// by several sets of keys that share columns.
pub(crate) fn code_named<'a>(
    df: &DataFrame,
    names: impl IntoIterator<Item = &'a str>,
) -> PolarsResult<HashMap<&'a str, IdxCa>> {
    let mut distinct: Vec<&str> = Vec::new();
    for name in names {
        if !distinct.contains(&name) {
            distinct.push(name);
        }
    }
    let codes = crate::parallel::on_all_cores(&distinct, |c| code_column(df.column(c)?));
    distinct
        .into_iter()
        .zip(codes)
        .map(|(name, code)| Ok((name, code?)))
        .collect()
}

/// `df`'s rows grouped by the tuple of their `keys` and the `values` (Float64 columns)
/// summed per group: each group's keys as its first row holds them (types kept: a
/// Categorical key stays coded), groups in order of first appearance, then the sums (a null
/// adds nothing; a group of nulls sums to 0, as polars' `sum`). `codes` holds the keys'
/// [`code_column`]s ([`code_named`]). A group-by without hashing where the keys are
/// dictionary codes and day numbers, and one pass per summed column.
pub(crate) fn sum_by(
    df: &DataFrame,
    keys: &[&str],
    codes: &HashMap<&str, IdxCa>,
    values: &[&str],
) -> PolarsResult<DataFrame> {
    let (firsts, groups) = if keys.is_empty() {
        let height = df.height();
        let rows = IdxCa::from_vec(PlSmallStr::EMPTY, vec![0; height]);
        ((height > 0).then_some(0).into_iter().collect(), rows)
    } else {
        let of = |k: &&str| {
            codes.get(k).cloned().ok_or_else(|| {
                PolarsError::ColumnNotFound(format!("no codes for key `{k}`").into())
            })
        };
        tuples(
            keys.iter()
                .map(of)
                .collect::<PolarsResult<Vec<_>>>()?
                .into_iter(),
        )
    };
    let groups = groups.rechunk();
    let groups = groups.cont_slice()?;
    let mut out = df.select(keys.iter().copied())?.take(&IdxCa::from_vec(
        PlSmallStr::EMPTY,
        firsts.iter().map(|&r| r as IdxSize).collect(),
    ))?;
    for name in values {
        let mut sums = vec![CompensatedSum::default(); firsts.len()];
        let column = df.column(name)?.f64()?;
        let mut at = 0;
        for array in column.downcast_iter() {
            let of_rows = &groups[at..at + array.len()];
            at += array.len();
            match array.validity().filter(|v| v.unset_bits() > 0) {
                None => {
                    for (&g, &x) in of_rows.iter().zip(array.values().iter()) {
                        sums[g as usize].add(x);
                    }
                }
                Some(valid) => {
                    for ((&g, &x), ok) in of_rows.iter().zip(array.values().iter()).zip(valid) {
                        if ok {
                            sums[g as usize].add(x);
                        }
                    }
                }
            }
        }
        let totals: Vec<f64> = sums.into_iter().map(CompensatedSum::total).collect();
        out.with_column(Column::new((*name).into(), totals))?;
    }
    Ok(out)
}

/// Small numbers (dictionary codes) coded in order of first appearance, null a value of its
/// own: the distinct values and each row's index into them, by a table indexed by the
/// number (no hashing).
pub(crate) fn code_numbers(values: &UInt32Chunked) -> (Vec<Option<u32>>, IdxCa) {
    const FRESH: IdxSize = IdxSize::MAX;
    let slots = values.max().map_or(0, |m| m as usize + 1) + 1;
    let mut index = vec![FRESH; slots];
    let mut keys = Vec::new();
    let mut rows: Vec<IdxSize> = Vec::with_capacity(values.len());
    let mut code = |v: Option<u32>| {
        let slot = &mut index[v.map_or(0, |v| v as usize + 1)];
        if *slot == FRESH {
            *slot = keys.len() as IdxSize;
            keys.push(v);
        }
        *slot
    };
    // Chunk by chunk, straight over the values where a chunk has no nulls.
    for array in values.downcast_iter() {
        match array.validity().filter(|v| v.unset_bits() > 0) {
            None => rows.extend(array.values().iter().map(|&v| code(Some(v)))),
            Some(valid) => rows.extend(
                array
                    .values()
                    .iter()
                    .zip(valid)
                    .map(|(&v, ok)| code(ok.then_some(v))),
            ),
        }
    }
    (keys, IdxCa::from_vec(PlSmallStr::EMPTY, rows))
}

/// A running sum kept with Neumaier's compensation: the rounding error of each addition is
/// carried and added back at the end, so a total is the exact sum of its amounts rounded
/// once (a cent amount's total lands on the cent, where adding a hundred amounts in turn
/// can end a hair under a half cent and round the wrong way).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CompensatedSum {
    sum: f64,
    carried: f64,
}

impl CompensatedSum {
    pub fn add(&mut self, x: f64) {
        let t = self.sum + x;
        self.carried += if self.sum.abs() >= x.abs() {
            (self.sum - t) + x
        } else {
            (x - t) + self.sum
        };
        self.sum = t;
    }

    pub fn total(self) -> f64 {
        self.sum + self.carried
    }
}

/// Tuples a table indexed by every combination of the columns' codes may cover (64 MB of
/// codes); more combinations are coded through a hash table.
const DENSE_TUPLES: usize = 1 << 24;

/// Each column's codes combined into codes of the tuples (see [`code_tuples`]): pairwise, by
/// a table indexed by both codes where their combinations are few, else by hashing.
fn tuples(mut columns: impl Iterator<Item = IdxCa>) -> (Vec<usize>, IdxCa) {
    let Some(first) = columns.next() else {
        return (Vec::new(), IdxCa::from_vec(PlSmallStr::EMPTY, Vec::new()));
    };
    let mut codes: Vec<IdxSize> = first.into_no_null_iter().collect();
    for next in columns {
        let width = next.max().map_or(0, |m| m as usize + 1);
        let height = codes.iter().max().map_or(0, |&m| m as usize + 1);
        match width.checked_mul(height).filter(|&n| n <= DENSE_TUPLES) {
            Some(n) => {
                const FRESH: IdxSize = IdxSize::MAX;
                let mut index = vec![FRESH; n];
                let mut fresh: IdxSize = 0;
                for (code, other) in codes.iter_mut().zip(next.into_no_null_iter()) {
                    let slot = &mut index[*code as usize * width + other as usize];
                    if *slot == FRESH {
                        *slot = fresh;
                        fresh += 1;
                    }
                    *code = *slot;
                }
            }
            None => {
                let mut index: PlHashMap<(IdxSize, IdxSize), IdxSize> = PlHashMap::new();
                for (code, other) in codes.iter_mut().zip(next.into_no_null_iter()) {
                    let fresh = index.len() as IdxSize;
                    *code = *index.entry((*code, other)).or_insert(fresh);
                }
            }
        }
    }
    // Codes are handed out in order of first appearance, so a row whose code is the next
    // new one is its tuple's first row.
    let mut firsts = Vec::new();
    for (row, &c) in codes.iter().enumerate() {
        if c as usize == firsts.len() {
            firsts.push(row);
        }
    }
    (firsts, IdxCa::from_vec(PlSmallStr::EMPTY, codes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_are_coded_in_order_of_first_appearance() {
        let a = StringChunked::new(
            "a".into(),
            [Some("x"), Some("y"), Some("x"), None, Some("x")],
        );
        let b = StringChunked::new(
            "b".into(),
            [Some("1"), Some("1"), Some("2"), None, Some("1")],
        );
        let (firsts, rows) = code_tuples(&[&a, &b]);
        assert_eq!(firsts, vec![0, 1, 2, 3]);
        assert_eq!(
            rows.into_no_null_iter().collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 0]
        );
        let coded = code(&a);
        assert_eq!(coded.keys, vec![Some("x"), Some("y"), None]);
        assert_eq!(
            coded.rows.into_no_null_iter().collect::<Vec<_>>(),
            vec![0, 1, 0, 2, 0]
        );
        let (firsts, rows) = code_tuples(&[]);
        assert!(firsts.is_empty() && rows.is_empty());
        // The same tuples as Categorical columns: coded by their dictionary codes, alike.
        let cat = |c: &StringChunked| c.clone().into_column().cast(&crate::schema::categorical());
        let (a, b) = (cat(&a).unwrap(), cat(&b).unwrap());
        let (firsts, rows) = code_columns(&[&a, &b]).unwrap();
        assert_eq!(firsts, vec![0, 1, 2, 3]);
        assert_eq!(
            rows.into_no_null_iter().collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 0]
        );
    }

    /// Sums by a day number and a Categorical key: groups in order of first appearance with
    /// their first row's keys, nulls a group of their own and adding nothing, and totals of
    /// cent amounts exact (ten times 0.1 added in turn is 0.9999999999999999).
    #[test]
    fn sums_by_coded_keys_are_exact_and_keep_nulls_apart() {
        let mut cents = vec![0.1; 10];
        cents.extend([0.5, 1.25, 2.0]);
        let mut values: Vec<Option<f64>> = cents.into_iter().map(Some).collect();
        values.extend([None, None, Some(3.0)]);
        let day = [vec![-3i32; 10], vec![-3, 7, -3, 7, 7, -3]].concat();
        let team: Vec<Option<&str>> = [
            vec![Some("a"); 10],
            vec![Some("b"), Some("a"), None, Some("b"), None, None],
        ]
        .concat();
        let df = df!("day" => day, "team" => team, "cost" => values).unwrap();
        let df = df
            .lazy()
            .with_column(col("team").cast(crate::schema::categorical()))
            .collect()
            .unwrap();
        let keys = ["day", "team"];
        let codes = code_named(&df, keys).unwrap();
        let sums = sum_by(&df, &keys, &codes, &["cost"]).unwrap();
        assert!(sums.column("team").unwrap().dtype().is_categorical());
        let got: Vec<(Option<i32>, Option<String>, Option<f64>)> = sums
            .column("day")
            .unwrap()
            .i32()
            .unwrap()
            .iter()
            .zip(
                crate::schema::text_values(sums.column("team").unwrap())
                    .unwrap()
                    .iter(),
            )
            .zip(sums.column("cost").unwrap().f64().unwrap().iter())
            .map(|((d, t), c)| (d, t.map(String::from), c))
            .collect();
        let row = |d: i32, t: Option<&str>, c: f64| (Some(d), t.map(String::from), Some(c));
        assert_eq!(
            got,
            vec![
                row(-3, Some("a"), 1.0),
                row(-3, Some("b"), 0.5),
                row(7, Some("a"), 1.25),
                row(-3, None, 5.0),
                row(7, Some("b"), 0.0),
                row(7, None, 0.0),
            ]
        );
        assert_eq!(sums.column("cost").unwrap().null_count(), 0);
    }

    /// Pairs whose combinations are too many for a table are coded through a hash table,
    /// with the same answer: first appearance, repeats coded alike.
    #[test]
    fn many_combinations_are_coded_alike() {
        let n = 5_000; // 5,000 x 5,000 combinations: more than a table holds
        let values = |reversed: bool| -> StringChunked {
            (0..2 * n)
                .map(|i| i % n)
                .map(|i| Some(if reversed { n - 1 - i } else { i }.to_string()))
                .collect()
        };
        let (a, b) = (values(false), values(true));
        let (firsts, rows) = code_tuples(&[&a, &b]);
        assert!(firsts == (0..n).collect::<Vec<_>>(), "first rows");
        let rows: Vec<IdxSize> = rows.into_no_null_iter().collect();
        assert!(
            rows.iter().enumerate().all(|(i, &r)| r as usize == i % n),
            "repeats coded alike"
        );
    }
}

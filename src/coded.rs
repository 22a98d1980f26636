//! Columns coded by their distinct values: the values in the order they first appear and each
//! row's index into them. Work that depends on a value alone (parsing, lookups, attribution
//! rules) is then done once per distinct value and its answers gathered to the rows by index:
//! one hash per row, where a `unique` and a join on the strings hash every row twice.

use polars::prelude::*;

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
pub fn code_tuples(columns: &[&StringChunked]) -> (Vec<usize>, IdxCa) {
    tuples(columns.iter().map(|c| code(c).rows))
}

/// [`code_tuples`] of String or Categorical columns: a Categorical column is coded by its
/// dictionary codes, so none of its strings is hashed (any other type by its text).
pub fn code_columns(columns: &[&Column]) -> PolarsResult<(Vec<usize>, IdxCa)> {
    let coded: Vec<IdxCa> = columns
        .iter()
        .map(|c| match c.dtype() {
            DataType::Categorical(..) | DataType::Enum(..) => {
                let physical = c.to_physical_repr().cast(&DataType::UInt32)?;
                Ok(code_numbers(physical.u32()?).1)
            }
            DataType::String => Ok(code(c.str()?).rows),
            _ => Ok(code(c.cast(&DataType::String)?.str()?).rows),
        })
        .collect::<PolarsResult<_>>()?;
    Ok(tuples(coded.into_iter()))
}

/// Small numbers (dictionary codes) coded in order of first appearance, null a value of its
/// own: the distinct values and each row's index into them, by a table indexed by the
/// number (no hashing).
pub fn code_numbers(values: &UInt32Chunked) -> (Vec<Option<u32>>, IdxCa) {
    const FRESH: IdxSize = IdxSize::MAX;
    let slots = values.max().map_or(0, |m| m as usize + 1) + 1;
    let mut index = vec![FRESH; slots];
    let mut keys = Vec::new();
    let rows: Vec<IdxSize> = values
        .iter()
        .map(|v| {
            let slot = &mut index[v.map_or(0, |v| v as usize + 1)];
            if *slot == FRESH {
                *slot = keys.len() as IdxSize;
                keys.push(v);
            }
            *slot
        })
        .collect();
    (keys, IdxCa::from_vec(PlSmallStr::EMPTY, rows))
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

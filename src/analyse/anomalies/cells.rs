//! [`Cells`]: one day's change against its reference days, cut as finely as the detected
//! dimensions cut spend, so flags of different series can be compared by the money they
//! share: a team's spike and its model's spike are one change when the cells that moved
//! are the same cells. Only the rows of the day's flagged series are read: whether a cell
//! also belongs to another series is read from its values, so what two flags share is
//! summed over the cells of one of them.

use super::*;

/// The columns that together name every detected series' value of a row.
fn cell_columns() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for c in Dimension::DETECTED.iter().flat_map(|d| d.columns()) {
        if !names.contains(c) {
            names.push(c);
        }
    }
    names
}

/// Day `t`'s cells within the series `flagged` on it: each distinct combination of the
/// detected dimensions' columns, its value of every detected dimension, and its change
/// (`t`'s cost less the mean of the same weekday over the previous four weeks, the days the
/// frame holds).
pub(crate) struct Cells {
    values: HashMap<Dimension, Vec<String>>,
    delta: Vec<f64>,
}

impl Cells {
    pub(crate) fn of_day(
        frame: &Frame,
        t: usize,
        flagged: &[(Dimension, &str)],
    ) -> PolarsResult<Cells> {
        let rows = flagged
            .iter()
            .map(|(dim, value)| dim.matches(value))
            .reduce(Expr::or)
            .unwrap_or(lit(false));
        let today = frame.first_day + t as i32;
        let reference: Vec<i32> = (1..=4)
            .map(|w| today - 7 * w)
            .filter(|d| *d >= frame.first_day)
            .collect();
        let n_ref = reference.len().max(1) as f64;
        let days: Vec<i32> = std::iter::once(today).chain(reference).collect();
        let now = col("__day").eq(lit(today));
        let keys: Vec<Expr> = cell_columns().into_iter().map(col).collect();
        let mut values: Vec<Expr> = Dimension::DETECTED
            .iter()
            .map(|d| crate::schema::text(d.expr()).alias(d.name()))
            .collect();
        values.push(col("__delta"));
        let df = frame
            .on_days(&days, rows)?
            .group_by(keys)
            .agg([
                when(now.clone())
                    .then(col("effective_cost"))
                    .otherwise(lit(0.0))
                    .sum()
                    .alias("__now"),
                when(now)
                    .then(lit(0.0))
                    .otherwise(col("effective_cost"))
                    .sum()
                    .alias("__ref"),
            ])
            .with_column((col("__now") - col("__ref") / lit(n_ref)).alias("__delta"))
            .select(values)
            .collect()?;
        let mut by_dim = HashMap::new();
        for d in Dimension::DETECTED {
            let column = text_values(df.column(d.name())?)?;
            let named = column
                .iter()
                .map(|v| v.unwrap_or_default().to_string())
                .collect();
            by_dim.insert(*d, named);
        }
        let delta = df
            .column("__delta")?
            .f64()?
            .iter()
            .map(|v| v.unwrap_or(0.0))
            .collect();
        Ok(Cells {
            values: by_dim,
            delta,
        })
    }

    /// The cells of the series `dim` = `value`.
    pub(crate) fn select(&self, dim: Dimension, value: &str) -> Vec<usize> {
        match self.values.get(&dim) {
            Some(values) => values
                .iter()
                .enumerate()
                .filter(|(_, v)| v.as_str() == value)
                .map(|(i, _)| i)
                .collect(),
            None => (0..self.delta.len()).collect(),
        }
    }

    /// Money of `cells` moving in `direction` (+1 up, -1 down), as a positive amount.
    pub(crate) fn moved(&self, cells: &[usize], direction: f64) -> f64 {
        cells
            .iter()
            .map(|&c| (self.delta[c] * direction).max(0.0))
            .sum()
    }

    /// The share of what cells `a` moved in `direction` that moved in cells of the series
    /// `dim` = `value` (0 when `a` moved nothing that way).
    pub(crate) fn share(
        &self,
        a: &[usize],
        (dim, value): (Dimension, &str),
        direction: f64,
    ) -> f64 {
        let total = self.moved(a, direction);
        if total <= 0.0 {
            return 0.0;
        }
        let shared: Vec<usize> = match self.values.get(&dim) {
            Some(values) => a.iter().copied().filter(|&c| values[c] == value).collect(),
            None => a.to_vec(),
        };
        self.moved(&shared, direction) / total
    }

    /// The net change of the cells in any of `selections`.
    pub(crate) fn net(&self, selections: &[&[usize]]) -> f64 {
        let mut all: Vec<usize> = selections.iter().flat_map(|s| s.iter().copied()).collect();
        all.sort_unstable();
        all.dedup();
        all.iter().map(|&c| self.delta[c]).sum()
    }
}

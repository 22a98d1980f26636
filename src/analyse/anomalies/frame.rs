//! [`Frame`]: the attributed rows detection reads, sorted by day, with the queries that
//! series and explanations make of them.

use super::*;

/// Attributed cost rows with a `__day` (Int32 day number) column, sorted by day and cached
/// for the many small queries explanations make.
pub struct Frame {
    pub lf: LazyFrame,
    pub first_day: i32,
    pub last_day: i32,
    pub(super) df: DataFrame,
    /// Row range of each day in `df` (sorted by day): (offset, length), by day index.
    pub(super) day_rows: Vec<(usize, usize)>,
    /// The rows' sums by dimension, when known: series are read from them.
    pub(super) sums: Option<Sums>,
}

impl Frame {
    pub fn new(attributed: DataFrame) -> PolarsResult<Option<Frame>> {
        Frame::spanning(attributed, None)
    }

    /// [`Frame::new`] whose series run over at least the days `span` (first, last), even
    /// where the rows (say, of one selection) start later or end sooner.
    pub(crate) fn spanning(
        attributed: DataFrame,
        span: Option<(NaiveDate, NaiveDate)>,
    ) -> PolarsResult<Option<Frame>> {
        let mut df = attributed
            .lazy()
            .with_column(crate::schema::day_number_expr().alias("__day"))
            .collect()?;
        // Rows read from the daily rollups already come in day order: sort (a full copy)
        // only when they do not.
        if !df.column("__day")?.i32()?.iter().is_sorted() {
            df = df.sort(
                ["__day"],
                SortMultipleOptions::default().with_maintain_order(true),
            )?;
        }
        let days = df.column("__day")?.i32()?.clone();
        let span = span.map(|(a, b)| (day_of_date(a), day_of_date(b)));
        let (first_day, last_day) = match (days.min(), days.max(), span) {
            (Some(a), Some(b), Some((c, d))) => (a.min(c), b.max(d)),
            (Some(a), Some(b), None) => (a, b),
            (None, None, Some((c, d))) if c <= d => (c, d),
            _ => return Ok(None),
        };
        let mut day_rows = vec![(0, 0); (last_day - first_day + 1) as usize];
        for (i, d) in days.iter().enumerate() {
            if let Some(d) = d {
                let r = &mut day_rows[(d - first_day) as usize];
                if r.1 == 0 {
                    r.0 = i;
                }
                r.1 += 1;
            }
        }
        Ok(Some(Frame {
            lf: df.clone().lazy(),
            first_day,
            last_day,
            df,
            day_rows,
            sums: None,
        }))
    }

    /// This frame with `sums` of exactly its rows ([`super::CostWindow::sums`]): whole series
    /// are summed from them instead of from the rows.
    pub(crate) fn with_sums(mut self, sums: Sums) -> Frame {
        self.sums = Some(sums);
        self
    }

    /// The rows of the given day numbers that `filter` picks: each day's slice of the sorted
    /// frame filtered on its own (no copy of whole days), so an explanation reads a few
    /// days, not the whole history.
    pub(crate) fn on_days(&self, days: &[i32], filter: Expr) -> PolarsResult<LazyFrame> {
        let parts: Vec<LazyFrame> = self
            .day_slices(days)
            .into_iter()
            .map(|(_, rows)| {
                self.df
                    .slice(rows.start as i64, rows.len())
                    .lazy()
                    .filter(filter.clone())
            })
            .collect();
        if parts.is_empty() {
            return Ok(self.df.clear().lazy());
        }
        concat(parts, UnionArgs::default())
    }

    /// The rows of each of `days` (day numbers) that has any, once each: (day, row range).
    pub(super) fn day_slices(&self, days: &[i32]) -> Vec<(i32, std::ops::Range<usize>)> {
        let mut seen = std::collections::BTreeSet::new();
        days.iter()
            .filter(|&&d| d >= self.first_day && d <= self.last_day && seen.insert(d))
            .map(|&d| {
                let (offset, len) = self.day_rows[(d - self.first_day) as usize];
                (d, offset..offset + len)
            })
            .filter(|(_, rows)| !rows.is_empty())
            .collect()
    }

    /// Every row's value of `dim`, coded: each row's key (by the dimension's columns'
    /// dictionary codes, no string per row) and each key's value as [`Dimension::expr`]
    /// names it (a null account and `(none)` are two keys of one value).
    pub(super) fn keyed(&self, dim: Dimension) -> PolarsResult<(IdxCa, StringChunked)> {
        let columns = dim
            .columns()
            .iter()
            .map(|c| self.df.column(c))
            .collect::<PolarsResult<Vec<_>>>()?;
        let (firsts, rows) = if columns.is_empty() {
            let height = self.df.height();
            let rows = IdxCa::from_vec(PlSmallStr::EMPTY, vec![0; height]);
            ((height > 0).then_some(0).into_iter().collect(), rows)
        } else {
            crate::coded::code_columns(&columns)?
        };
        let firsts: Vec<IdxSize> = firsts.into_iter().map(|r| r as IdxSize).collect();
        let values = self
            .df
            .take(&IdxCa::from_vec(PlSmallStr::EMPTY, firsts))?
            .lazy()
            .select([crate::schema::text(dim.expr()).alias("__value")])
            .collect()?;
        Ok((rows, text_values(values.column("__value")?)?))
    }

    pub fn days(&self) -> usize {
        (self.last_day - self.first_day + 1) as usize
    }

    /// Dense daily effective cost of every value of `dim` (optionally within `filter`).
    pub fn series(
        &self,
        dim: Dimension,
        filter: Option<Expr>,
    ) -> PolarsResult<Vec<(String, Vec<f64>)>> {
        let lf = match (filter, &self.sums) {
            (Some(f), _) => self.lf.clone().filter(f),
            (None, Some(sums)) => sums.by(dim.columns()).unwrap_or_else(|| self.lf.clone()),
            (None, None) => self.lf.clone(),
        };
        // Summed by the dimension's own columns (codes) and day; values that name the same
        // series (a null account and `(none)`) meet in the map, not in a second group-by
        // and a sort of a million strings.
        let keys: Vec<Expr> = dim
            .columns()
            .iter()
            .chain(&["__day"])
            .map(|c| col(*c))
            .collect();
        let df = lf
            .group_by(keys)
            .agg([col("effective_cost").sum()])
            .select([
                crate::schema::text(dim.expr()).alias("__value"),
                col("__day"),
                col("effective_cost"),
            ])
            .collect()?;
        let values = text_values(df.column("__value")?)?;
        let days = df.column("__day")?.i32()?.clone();
        let costs = df.column("effective_cost")?.f64()?.clone();
        let mut by_value: HashMap<&str, Vec<f64>> = HashMap::new();
        for ((v, d), c) in values.iter().zip(days.iter()).zip(costs.iter()) {
            let (Some(v), Some(d)) = (v, d) else { continue };
            let x = by_value.entry(v).or_insert_with(|| vec![0.0; self.days()]);
            x[(d - self.first_day) as usize] += c.unwrap_or(0.0);
        }
        let mut out: Vec<(String, Vec<f64>)> = by_value
            .into_iter()
            .map(|(v, x)| (v.to_string(), x))
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Day `t` and the baseline's reference days, as day numbers: what a flag is compared on.
    pub(super) fn compared_days(&self, t: usize, baseline: &Baseline) -> Vec<i32> {
        std::iter::once(t)
            .chain(baseline.reference.iter().copied())
            .map(|i| self.first_day + i as i32)
            .collect()
    }

    /// The rows of `filter` on day `t` and on the baseline's reference days: what the root
    /// causes and the decomposition of one flag compare (read once for both), marked as the
    /// rows of flag 0 (`__flag`) and whether they are of day `t` (`__now`).
    pub(crate) fn compared(
        &self,
        filter: Expr,
        t: usize,
        baseline: &Baseline,
    ) -> PolarsResult<DataFrame> {
        self.on_days(&self.compared_days(t, baseline), filter)?
            .with_columns([
                col("__day")
                    .eq(lit(self.first_day + t as i32))
                    .alias("__now"),
                lit(0u32).cast(IDX_DTYPE).alias("__flag"),
            ])
            .collect()
    }

    /// Cost per child value on the flagged day and averaged over the reference days, scaled so the
    /// children's expected values add up to `expected`, from the `Frame::compared` rows.
    pub fn root_causes(
        &self,
        compared: &DataFrame,
        children: &[Dimension],
        baseline: &Baseline,
        reference_total: f64,
    ) -> PolarsResult<Vec<RootCause>> {
        let one = [Scale::of(baseline, reference_total)];
        let mut by_flag = self.root_causes_by_flag(compared, children, &one)?;
        Ok(by_flag.swap_remove(0))
    }

    /// [`Frame::root_causes`] of many flags at once: `compared` holds each flag's rows
    /// marked with its number (`__flag`) and `__now`, and `scales` each flag's scale, by
    /// number. One group-by per child dimension for all of them, on the child's own columns
    /// (dictionary codes); the few sums are named afterwards and added up where two keys
    /// name one value (a null account and `(none)`).
    pub(super) fn root_causes_by_flag(
        &self,
        compared: &DataFrame,
        children: &[Dimension],
        scales: &[Scale],
    ) -> PolarsResult<Vec<Vec<RootCause>>> {
        let today = col("__now");
        let rows = compared
            .clone()
            .lazy()
            .with_columns([
                when(today.clone())
                    .then(col("effective_cost"))
                    .otherwise(lit(0.0))
                    .alias("actual"),
                when(today)
                    .then(lit(0.0))
                    .otherwise(col("effective_cost"))
                    .alias("reference"),
            ])
            .collect()?;
        // Every key column coded once for all children (by dictionary codes), then each
        // child's sums grouped by the codes.
        let codes = crate::coded::code_named(
            &rows,
            std::iter::once("__flag")
                .chain(children.iter().flat_map(|c| c.columns().iter().copied())),
        )?;
        let mut causes: Vec<Vec<RootCause>> = vec![Vec::new(); scales.len()];
        for child in children {
            let keys: Vec<&str> = std::iter::once("__flag")
                .chain(child.columns().iter().copied())
                .collect();
            let summed = crate::coded::sum_by(&rows, &keys, &codes, &["actual", "reference"])?;
            // Values two keys name alike (a null account and `(none)`) summed once more.
            let df = summed
                .lazy()
                .with_column(crate::schema::text(child.expr()).alias("__child"))
                .group_by([col("__flag"), col("__child")])
                .agg([col("actual").sum(), col("reference").sum()])
                .collect()?;
            let flag = df.column("__flag")?.idx()?;
            let values = text_values(df.column("__child")?)?;
            let actual = df.column("actual")?.f64()?;
            let reference = df.column("reference")?.f64()?;
            // (impact in the flag's direction, value, actual, expected) of each flag's
            // causes: all of them, or the largest few in its direction, best first.
            let mut kept: Vec<Vec<(f64, &str, f64, f64)>> = vec![Vec::new(); scales.len()];
            for (((f, v), a), r) in flag
                .iter()
                .zip(values.iter())
                .zip(actual.iter())
                .zip(reference.iter())
            {
                let f = f.unwrap_or_default() as usize;
                let Some(scale) = scales.get(f) else {
                    continue;
                };
                let a = a.unwrap_or(0.0);
                let e = r.unwrap_or(0.0) / scale.n_ref * scale.k;
                let cause = (round(a - e) * scale.sign, v.unwrap_or_default(), a, e);
                let list = &mut kept[f];
                if scale.sign == 0.0 {
                    list.push(cause);
                } else if cause.0 > LEAST_CAUSE {
                    // As `anomaly` orders them: larger first, then by value.
                    let at = list
                        .partition_point(|c| c.0 > cause.0 || (c.0 == cause.0 && c.1 < cause.1));
                    if at < MOST_CAUSES {
                        list.insert(at, cause);
                        list.truncate(MOST_CAUSES);
                    }
                }
            }
            for (f, list) in kept.into_iter().enumerate() {
                causes[f].extend(list.into_iter().map(|(_, v, a, e)| RootCause {
                    dimension: child.name().to_string(),
                    value: v.to_string(),
                    actual: round(a),
                    expected: round(e),
                    impact: round(a - e),
                }));
            }
        }
        Ok(causes)
    }

    /// Volume / mix / rate decomposition of the change from the (scaled) reference days to
    /// the flagged day, over token-billed segments (model × usage type), from the
    /// [`Frame::compared`] rows.
    pub(crate) fn decompose(
        &self,
        compared: &DataFrame,
        baseline: &Baseline,
        reference_total: f64,
    ) -> PolarsResult<Option<Decomposition>> {
        let one = [Scale::of(baseline, reference_total)];
        let mut by_flag = self.decompose_by_flag(compared, &one)?;
        Ok(by_flag.swap_remove(0))
    }

    /// [`Frame::decompose`] of many flags at once (see [`Frame::root_causes_by_flag`]):
    /// summed by the model and usage type columns themselves, named afterwards.
    pub(super) fn decompose_by_flag(
        &self,
        compared: &DataFrame,
        scales: &[Scale],
    ) -> PolarsResult<Vec<Option<Decomposition>>> {
        let rows = compared
            .clone()
            .lazy()
            .select([
                col("__flag"),
                col("__now"),
                col("consumed_quantity")
                    .fill_null(lit(0.0))
                    .gt(lit(0.0))
                    .alias("__counted"),
                crate::schema::equals(col("charge_category"), "Credit")
                    .fill_null(lit(false))
                    .alias("__credit"),
                col("model"),
                col("usage_type"),
                col("effective_cost").alias("cost"),
                col("consumed_quantity").fill_null(lit(0.0)).alias("qty"),
            ])
            .collect()?;
        let keys = [
            "__flag",
            "__now",
            "__counted",
            "__credit",
            "model",
            "usage_type",
        ];
        let codes = crate::coded::code_named(&rows, keys)?;
        let df = crate::coded::sum_by(&rows, &keys, &codes, &["cost", "qty"])?
            .lazy()
            .with_columns([
                crate::schema::is_token_usage()
                    .and(col("__counted"))
                    .alias("__token"),
                crate::schema::text(Dimension::Model.expr()).alias("__model"),
            ])
            .collect()?;
        let flag = df.column("__flag")?.idx()?;
        let now = df.column("__now")?.bool()?;
        let is_token = df.column("__token")?.bool()?;
        let is_credit = df.column("__credit")?.bool()?;
        let model = text_values(df.column("__model")?)?;
        let usage = text_values(df.column("usage_type")?)?;
        let cost = df.column("cost")?.f64()?;
        let qty = df.column("qty")?.f64()?;
        let mut mixes: Vec<Option<Mix>> = (0..scales.len()).map(|_| None).collect();
        for i in 0..df.height() {
            let f = flag.get(i).unwrap_or_default() as usize;
            let Some(scale) = scales.get(f) else {
                continue;
            };
            let m = mixes[f].get_or_insert_with(Mix::default);
            let is_now = now.get(i).unwrap_or(false);
            let c = cost.get(i).unwrap_or(0.0);
            if is_credit.get(i).unwrap_or(false) {
                if is_now {
                    m.credits1 += c;
                } else {
                    m.credits0 += c / scale.n_ref * scale.k;
                }
                continue;
            }
            if !is_token.get(i).unwrap_or(false) {
                if is_now {
                    m.other1 += c;
                } else {
                    m.other0 += c / scale.n_ref * scale.k;
                }
                continue;
            }
            let key = (
                model.get(i).unwrap_or_default().to_string(),
                usage.get(i).unwrap_or_default().to_string(),
            );
            let q = qty.get(i).unwrap_or(0.0);
            let e = m.segments.entry(key).or_insert([0.0; 4]);
            if is_now {
                e[2] += c;
                e[3] += q;
            } else {
                e[0] += c / scale.n_ref * scale.k;
                e[1] += q / scale.n_ref * scale.k;
            }
        }
        Ok(mixes
            .into_iter()
            .map(|m| m.and_then(|m| m.decomposition()))
            .collect())
    }
}

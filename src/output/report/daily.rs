//! Daily rows: the period's spend per day at the grain the dashboards chart (largest series
//! whole, the rest folded per team), the latest day against its usual level, and month to
//! date with its forecast.

use super::*;

/// Daily effective cost by provider, team, feature and model, in date order: the
/// `max_series` largest series of `period` whole (0: all), each team's other spend folded
/// per provider into feature and model [`OTHER`].
pub(super) fn daily_rows(
    attributed: &DataFrame,
    period: &Period,
    max_series: usize,
) -> PolarsResult<Vec<DailyRow>> {
    let keys = ["provider_name", "team", "feature", "model"];
    let by = |day: bool| -> Vec<Expr> {
        day.then(|| col("__day"))
            .into_iter()
            .chain(keys.iter().map(|k| col(*k)))
            .collect()
    };
    // Each row's series is coded once (the four columns' dictionary codes): the period's
    // totals by series, the choice of the largest and each row's day sum are then lookups
    // by index, where a group-by and a join on the four columns ran over every row.
    let columns = keys
        .iter()
        .map(|k| attributed.column(k))
        .collect::<PolarsResult<Vec<_>>>()?;
    let (firsts, series_of_row) = crate::coded::code_columns(&columns)?;
    let day_of_row = attributed
        .clone()
        .lazy()
        .select([crate::schema::day_number_expr().alias("__day")])
        .collect()?;
    let day_of_row = day_of_row.column("__day")?.i32()?;
    let cost_of_row = attributed.column("effective_cost")?.f64()?;
    let rows = || {
        series_of_row
            .into_no_null_iter()
            .zip(day_of_row.iter())
            .zip(cost_of_row.iter())
            .filter_map(|((s, d), c)| Some((s as usize, d?, c)))
    };
    let (first, last) = (
        crate::schema::day_number(period.start),
        crate::schema::day_number(period.end),
    );
    let mut total: Vec<Option<f64>> = vec![None; firsts.len()];
    for (s, d, c) in rows() {
        if d >= first && d <= last {
            *total[s].get_or_insert(0.0) += c.unwrap_or(0.0);
        }
    }
    // The period's largest series whole, every other one folded into its provider and team:
    // a series' row index is its own or its fold's.
    let kept = largest_series(&total, max_series);
    // Each series' names (from its first row), and each output series: the series naming
    // it and whether it is a fold.
    let firsts = IdxCa::from_vec(
        PlSmallStr::EMPTY,
        firsts.into_iter().map(|r| r as IdxSize).collect(),
    );
    let names = attributed.select(keys)?.take(&firsts)?;
    let provider = crate::schema::text_values(names.column("provider_name")?)?;
    let team = crate::schema::text_values(names.column("team")?)?;
    let mut folds: PlHashMap<(Option<&str>, Option<&str>), usize> = PlHashMap::new();
    let mut named: Vec<(IdxSize, bool)> = Vec::new();
    let mut out_of_series: Vec<usize> = Vec::with_capacity(names.height());
    for (s, &whole) in kept.iter().enumerate() {
        out_of_series.push(if whole {
            named.push((s as IdxSize, false));
            named.len() - 1
        } else {
            *folds
                .entry((provider.get(s), team.get(s)))
                .or_insert_with(|| {
                    named.push((s as IdxSize, true));
                    named.len() - 1
                })
        });
    }
    let mut sums: PlHashMap<(i32, usize), f64> = PlHashMap::new();
    for (s, d, c) in rows() {
        *sums.entry((d, out_of_series[s])).or_insert(0.0) += c.unwrap_or(0.0);
    }
    let (mut day, mut name_row, mut folded, mut cost) = (vec![], vec![], vec![], vec![]);
    for ((d, out), c) in sums {
        let (series, fold) = named[out];
        day.push(d);
        name_row.push(series);
        folded.push(fold);
        cost.push(c);
    }
    let mut grouped = names.take(&IdxCa::from_vec(PlSmallStr::EMPTY, name_row))?;
    grouped.with_column(Column::new("__day".into(), day))?;
    grouped.with_column(Column::new("__folded".into(), folded))?;
    grouped.with_column(Column::new("effective_cost".into(), cost))?;
    let fold = |name: &str| {
        when(col("__folded"))
            .then(lit(OTHER).cast(crate::schema::categorical()))
            .otherwise(col(name))
            .alias(name)
    };
    // A kept series could be named like a fold (a feature and model called `(other)`): one
    // more group-by over these few rows makes them one.
    let grouped = grouped
        .lazy()
        .with_columns([fold("feature"), fold("model")])
        .group_by(by(true))
        .agg([col("effective_cost").sum()]);
    let df = grouped
        .sort(
            ["__day", "provider_name", "team", "feature", "model"],
            SortMultipleOptions::default().with_nulls_last(true),
        )
        .collect()?;
    as_daily_rows(&df)
}

/// Which series are kept whole: the `max_series` with the largest totals (ties by first
/// appearance; 0: every series).
fn largest_series(total: &[Option<f64>], max_series: usize) -> Vec<bool> {
    let mut kept = vec![max_series == 0; total.len()];
    if max_series > 0 {
        let mut ranked: Vec<(usize, f64)> = total
            .iter()
            .enumerate()
            .filter_map(|(s, t)| Some((s, (*t)?)))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        for (s, _) in ranked.into_iter().take(max_series) {
            kept[s] = true;
        }
    }
    kept
}

/// The summed rows (`__day`, the four keys, `effective_cost`) as report rows.
fn as_daily_rows(df: &DataFrame) -> PolarsResult<Vec<DailyRow>> {
    let days: Vec<i32> = df
        .column("__day")?
        .i32()?
        .iter()
        .map(|d| d.unwrap_or(0))
        .collect();
    let rows = days
        .into_iter()
        .zip(strings(df, "provider_name")?)
        .zip(strings(df, "team")?)
        .zip(strings(df, "feature")?)
        .zip(strings(df, "model")?)
        .zip(floats(df, "effective_cost")?);
    Ok(rows
        .map(|(((((day, p), t), f), m), cost)| DailyRow {
            date: crate::schema::date_of_day_number(day),
            provider_name: p.unwrap_or_default(),
            team: t.unwrap_or_default(),
            feature: f.unwrap_or_default(),
            model: m,
            effective_cost: rounded(cost),
        })
        .collect())
}

pub(super) fn day_totals(rows: &[DailyRow]) -> std::collections::BTreeMap<NaiveDate, f64> {
    let mut out = std::collections::BTreeMap::new();
    for r in rows {
        *out.entry(r.date).or_insert(0.0) += r.effective_cost;
    }
    out
}

/// The series of daily totals from `start` to `end`, zero on days without spend.
fn series(
    totals: &std::collections::BTreeMap<NaiveDate, f64>,
    start: NaiveDate,
    end: NaiveDate,
) -> Vec<f64> {
    start
        .iter_days()
        .take_while(|d| *d <= end)
        .map(|d| totals.get(&d).copied().unwrap_or(0.0))
        .collect()
}

pub(super) fn latest_day(
    totals: &std::collections::BTreeMap<NaiveDate, f64>,
    day: NaiveDate,
) -> Option<LatestDay> {
    let first = *totals.keys().next()?;
    let start = first.min(day - Duration::days(28));
    let x = series(totals, start, day);
    let t = x.len() - 1;
    let first_spend = x.iter().position(|v| *v != 0.0);
    let base = anomalies::baseline(&x, t, first_spend).filter(|b| !b.reference.is_empty());
    let actual = x[t];
    let week: Vec<f64> = x[t.saturating_sub(7)..t].to_vec();
    Some(LatestDay {
        date: day,
        effective_cost: rounded(actual),
        expected: base.as_ref().map(|b| rounded(b.expected)),
        change: base.as_ref().map(|b| rounded(actual - b.expected)),
        change_pct: base
            .as_ref()
            .and_then(|b| analyse::change_ratio(actual, b.expected)),
        reference_days: base
            .map(|b| {
                b.reference
                    .iter()
                    .map(|&i| start + Duration::days(i as i64))
                    .collect()
            })
            .unwrap_or_default(),
        trailing_7_day_average: rounded(week.iter().sum::<f64>() / week.len().max(1) as f64),
    })
}

pub(super) fn month_to_date(
    totals: &std::collections::BTreeMap<NaiveDate, f64>,
    through: NaiveDate,
    loaded_from: NaiveDate,
) -> Option<MonthToDate> {
    use chrono::Datelike;
    let first_data = *totals.keys().next()?;
    let month_start = through.with_day(1)?;
    let next_month = (month_start + Duration::days(32)).with_day(1)?;
    let days_in_month = (next_month - month_start).num_days() as u32;
    let mtd: f64 = series(totals, month_start, through).iter().sum();
    // Same-weekday means over the last four weeks (only days the store has data from).
    let from = (through - Duration::days(27)).max(first_data);
    let mut by_weekday = [(0.0, 0u32); 7];
    for d in from.iter_days().take_while(|d| *d <= through) {
        let w = d.weekday().num_days_from_monday() as usize;
        by_weekday[w].0 += totals.get(&d).copied().unwrap_or(0.0);
        by_weekday[w].1 += 1;
    }
    let (all_sum, all_n) = by_weekday
        .iter()
        .fold((0.0, 0), |(s, n), (v, c)| (s + v, n + c));
    let overall = all_sum / f64::from(all_n.max(1));
    let rest: f64 = (through + Duration::days(1))
        .iter_days()
        .take_while(|d| *d < next_month)
        .map(|d| {
            let (v, n) = by_weekday[d.weekday().num_days_from_monday() as usize];
            if n > 0 {
                v / f64::from(n)
            } else {
                overall
            }
        })
        .sum();
    let previous_start = (month_start - Duration::days(1)).with_day(1)?;
    Some(MonthToDate {
        month: format!("{:04}-{:02}", through.year(), through.month()),
        through,
        days_elapsed: through.day(),
        days_in_month,
        month_to_date: rounded(mtd),
        forecast: rounded(mtd + rest),
        previous_month: (loaded_from <= previous_start).then(|| {
            rounded(
                series(totals, previous_start, month_start - Duration::days(1))
                    .iter()
                    .sum(),
            )
        }),
    })
}

//! A frame cut into its (source, day) partitions, in one pass over the rows where they are
//! already grouped.

use chrono::NaiveDate;
use polars::prelude::*;

/// Split a frame into (source, day, rows) partitions, sorted by source then day.
pub(super) fn split_partitions(
    frame: &DataFrame,
) -> PolarsResult<Vec<(String, NaiveDate, DataFrame)>> {
    if frame.height() == 0 {
        return Ok(Vec::new());
    }
    let _t = crate::timing::phase("store: split partitions");
    let with_day = frame
        .clone()
        .lazy()
        .with_column(
            col("charge_period_start")
                .cast(DataType::Date)
                .alias("__day"),
        )
        .collect()?;
    // Rows whose partitions each lie in one run (rows merged from the spill: sorted by day,
    // or a batch's merged days ahead of the rest) are sliced as they are. Otherwise sorted on
    // the day alone when there is one source (an integer sort, not one on text and day),
    // keeping each day's rows in their order.
    let (sorted, runs) = match partition_runs(&with_day)? {
        Some(runs) => (with_day, runs),
        None => {
            let by: &[&str] = if with_day.column("source")?.n_unique()? == 1 {
                &["__day"]
            } else {
                &["source", "__day"]
            };
            let sorted =
                with_day.sort(by, SortMultipleOptions::default().with_maintain_order(true))?;
            let runs = partition_runs(&sorted)?.expect("sorted rows are in runs");
            (sorted, runs)
        }
    };
    let sorted = sorted.drop("__day")?;
    let mut parts: Vec<(String, NaiveDate, DataFrame)> = runs
        .into_iter()
        .map(|(start, end, source, day)| (source, day, sorted.slice(start as i64, end - start)))
        .collect();
    parts.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    Ok(parts)
}

/// The (start, end, source, day) of each run of rows of one partition, found by walking the
/// columns once; `None` when some partition's rows are in more than one run.
type Runs = Vec<(usize, usize, String, NaiveDate)>;
fn partition_runs(frame: &DataFrame) -> PolarsResult<Option<Runs>> {
    let sources = frame.column("source")?.str()?;
    let days = frame.column("__day")?.date()?.physical();
    let mut starts: Vec<(usize, Option<&str>, Option<i32>)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, key) in sources.iter().zip(days.iter()).enumerate() {
        if starts.last().is_none_or(|&(_, s, d)| (s, d) != key) {
            if !seen.insert(key) {
                return Ok(None);
            }
            starts.push((i, key.0, key.1));
        }
    }
    let ends = starts.iter().skip(1).map(|r| r.0).chain([frame.height()]);
    Ok(Some(
        starts
            .iter()
            .zip(ends)
            .map(|(&(start, source, day), end)| {
                let day = day
                    .map(crate::schema::date_of_day_number)
                    .expect("charge_period_start is a valid date");
                (start, end, source.unwrap_or("unnamed").to_string(), day)
            })
            .collect(),
    ))
}

//! A frame cut into its (source, day) partitions, in one pass over the rows where they are
//! already grouped, and the directory a source's partition files live in.

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

/// Longest directory name a source keeps whole (bytes, after encoding); file systems
/// allow 255.
const SOURCE_DIR_BYTES: usize = 120;

/// A source's directory name: reversible, so two sources never share files. Characters
/// outside a safe alphabet (and `%`) are percent-encoded byte by byte, a leading `.` too
/// (`acct/1` → `acct%2F1`, `Zürich` → `Z%C3%BCrich`; `acct_1` stays). A name longer than
/// [`SOURCE_DIR_BYTES`] keeps its first 100 bytes and adds `%~` and a hash of the whole
/// name (a `%~` no encoding produces).
pub(crate) fn source_dir(source: &str) -> String {
    let mut s = String::with_capacity(source.len());
    for (i, b) in source.bytes().enumerate() {
        let safe = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'=');
        if safe || (b == b'.' && i > 0) {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    if s.is_empty() {
        return "%".into();
    }
    if s.len() > SOURCE_DIR_BYTES {
        let hash = super::rollup::fnv1a(&[source.as_bytes()]);
        s.truncate(100);
        s = format!("{s}%~{hash:016x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names_are_safe_reversible_directory_names() {
        assert_eq!(source_dir("focus:1234"), "focus:1234");
        assert_eq!(source_dir("../../etc/passwd"), "%2E.%2F..%2Fetc%2Fpasswd");
        assert_eq!(source_dir("azure export/x y"), "azure%20export%2Fx%20y");
        assert_eq!(source_dir(""), "%");
        // Names that a lossy replacement made equal stay apart.
        for (a, b) in [("Zürich", "Zärich"), ("acct/1", "acct_1"), ("a%2F", "a/")] {
            assert_ne!(source_dir(a), source_dir(b), "{a} and {b}");
        }
        // A long name fits a file name and stays apart from one sharing its first bytes.
        let long = "x".repeat(300);
        let longer = format!("{long}y");
        assert!(source_dir(&long).len() <= 255);
        assert_ne!(source_dir(&long), source_dir(&longer));
    }
}

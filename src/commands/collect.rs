//! `spendlens collect`: every configured collector over a window, each source committed on
//! its own; the run log records every outcome.

use super::{emit, load_config, runtime};
use crate::cli::{Cli, CollectArgs};
use crate::collect::DayRange;
use crate::nightly::SourceOutcome;
use crate::store::Store;
use anyhow::{bail, Result};
use std::process::ExitCode;

pub fn run(cli: &Cli, args: &CollectArgs) -> Result<ExitCode> {
    let config = load_config(cli)?;
    if !config.has_collectors() {
        bail!("no collector is configured\nhint: add an [aws], [gcp] or [azure] section to `{}` (see docs/collectors.md)", cli.config.display());
    }
    let today = chrono::Utc::now().date_naive();
    let window = window(args, today)?;
    let store = Store::new(&cli.data_dir);
    let lock = store.lock()?;
    let runs = runtime()?.block_on(crate::collect::all(
        &config,
        &store,
        &lock,
        window,
        today,
        None,
        &mut |m| eprintln!("{m}"),
    ));
    let outcomes: Vec<SourceOutcome> = runs
        .iter()
        .map(|r| SourceOutcome {
            source: r.source.clone(),
            result: r
                .result
                .as_ref()
                .map(String::clone)
                .map_err(std::string::ToString::to_string),
        })
        .collect();
    crate::nightly::record_runs(&store, &lock, &outcomes)?;
    let mut failed = 0;
    let mut text = String::new();
    for run in &runs {
        match &run.result {
            Ok(summary) => text.push_str(&format!("{}: {summary}\n", run.source)),
            Err(e) => {
                failed += 1;
                eprintln!("error: {}: {e}", run.source);
            }
        }
    }
    emit(&text)?;
    if failed > 0 {
        bail!(
            "{failed} of {} source(s) failed; their stored days are unchanged",
            runs.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The days asked for: `None` (each collector's own lookback) unless --from or --to is
/// given; --to defaults to yesterday, --from to 34 days before --to.
fn window(args: &CollectArgs, today: chrono::NaiveDate) -> Result<Option<DayRange>> {
    if args.from.is_none() && args.to.is_none() {
        return Ok(None);
    }
    let end = args.to.unwrap_or(today - chrono::Duration::days(1));
    let w = DayRange {
        start: args.from.unwrap_or(end - chrono::Duration::days(34)),
        end,
    };
    if w.start > w.end {
        bail!("--from {} is after --to {}", w.start, w.end);
    }
    Ok(Some(w))
}

//! `spendlens reconcile`: each source's billing periods, as read, stored, counted and
//! attributed; exit 1 when any differs by more than a cent.

use super::{attributor, emit, load_config};
use crate::analyse::reconcile::reconcile;
use crate::cli::{Cli, MdOrJson, ReconcileArgs};
use crate::output::reconcile::{to_json, to_markdown};
use crate::store::Store;
use anyhow::{bail, Result};
use std::process::ExitCode;

pub fn run(cli: &Cli, args: &ReconcileArgs) -> Result<ExitCode> {
    let config = load_config(cli)?;
    let store = Store::new(&cli.data_dir);
    let Some((first, last)) = crate::analyse::bounds(&store)? else {
        bail!(crate::analyse::AnalyseError::Empty(
            store.dir().display().to_string()
        ));
    };
    let (from, to) = (args.from.unwrap_or(first), args.to.unwrap_or(last));
    if from > to {
        bail!(crate::analyse::AnalyseError::BadPeriod { from, to });
    }
    let mut rows = reconcile(&store, &attributor(&config, &store)?, from, to)?;
    if let Some(currency) = &args.currency {
        rows.retain(|r| r.currency.eq_ignore_ascii_case(currency));
    }
    if let Some(period) = &args.period {
        rows.retain(|r| r.period == *period);
    }
    emit(&match args.format {
        MdOrJson::Md => to_markdown(&rows, from, to),
        MdOrJson::Json => to_json(&rows, from, to) + "\n",
    })?;
    let failed: Vec<_> = rows.iter().filter(|r| !r.ok).collect();
    for r in &failed {
        eprintln!(
            "reconcile: {} {} ({}) differs by more than 0.01{}\nhint: ingest that source's export (or collect its days) again to replace the stored days with what it says; if it still differs, the figures above say at which step",
            r.source,
            r.period,
            r.currency,
            r.largest_difference_day
                .map(|d| format!("; most on {d}"))
                .unwrap_or_default()
        );
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

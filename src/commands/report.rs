//! `spendlens report`: the spend report over a period, in the format asked for.

use super::{attributor, emit, load_config, render};
use crate::cli::{Cli, ReportArgs};
use crate::output::report::{self, ReportOptions};
use crate::store::Store;
use anyhow::Result;
use std::process::ExitCode;

pub fn run(cli: &Cli, args: &ReportArgs) -> Result<ExitCode> {
    let config = load_config(cli)?;
    let store = Store::new(&cli.data_dir);
    let attributor = attributor(&config, &store)?;
    let report = report::build(
        &store,
        &attributor,
        &ReportOptions {
            anomalies: config.anomalies.clone(),
            from: args.span.from,
            to: args.span.to,
            currency: args.span.currency.clone(),
            top: args.top,
            stale_after_days: config.nightly.stale_after_days,
            daily_series: args.daily_series,
        },
    )?
    .with_budgets(&config, &store, &attributor)?;
    emit(&render(&report, args.format))?;
    Ok(ExitCode::SUCCESS)
}

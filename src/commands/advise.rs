//! `spendlens advise`: unit costs, price checks, estimates, commitments and tiering hints.

use super::{emit, open_window};
use crate::analyse::{self, advise};
use crate::cli::{AdviseArgs, Cli, TextFormat};
use crate::output::terminal;
use anyhow::Result;
use std::process::ExitCode;

pub fn run(cli: &Cli, args: &AdviseArgs) -> Result<ExitCode> {
    let (config, store, attributor, window) = open_window(cli, &args.span, 0, Default::default())?;
    // Usage past the last billed day is what the estimates are made of.
    let usage_end = args
        .span
        .to
        .unwrap_or(window.end + chrono::Duration::days(60));
    let usage = analyse::load_usage(&store, &attributor, window.start, usage_end)?;
    let catalog = advise::Catalog::load(&config.prices);
    let advice = advise::advise(
        &window.frame,
        usage.as_ref(),
        window.start,
        window.end,
        &window.currency,
        &catalog,
        &config.advise,
    )?;
    emit(&match args.format {
        TextFormat::Table => terminal::advice(&advice),
        TextFormat::Json => crate::output::versioned(&advice)?,
    })?;
    Ok(ExitCode::SUCCESS)
}

//! `spendlens demo`: generated exports ingested into a fresh store, and their report.

use super::{emit, render};
use crate::cli::DemoArgs;
use anyhow::Result;
use std::process::ExitCode;

pub fn run(args: &DemoArgs) -> Result<ExitCode> {
    let demo = crate::demo::build(&args.dir, args.end)?;
    eprintln!(
        "demo: wrote {} exports and `{}`; store in `{}`",
        demo.exports.len(),
        demo.config_path.display(),
        demo.data_dir.display()
    );
    eprintln!(
        "demo: the report below covers the last 30 days; for all 90 days run\n  spendlens --config {} --data-dir {} report",
        demo.config_path.display(),
        demo.data_dir.display()
    );
    emit(&render(&demo.report, args.format))?;
    Ok(ExitCode::SUCCESS)
}

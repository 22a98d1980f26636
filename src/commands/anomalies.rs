//! `spendlens anomalies`: flagged days of every detected series, as a table or JSON; exit 1
//! with `--fail-on` when one is at least that severe.

use super::{emit, open_window};
use crate::analyse::anomalies::{self, Anomaly};
use crate::analyse::{self, Dimension};
use crate::cli::{AnomaliesArgs, Cli, TextFormat};
use crate::output::terminal;
use anyhow::Result;
use std::process::ExitCode;

pub fn run(cli: &Cli, args: &AnomaliesArgs) -> Result<ExitCode> {
    let (config, _, _, window) = open_window(
        cli,
        &args.span,
        analyse::HISTORY_DAYS,
        analyse::Pick {
            rows: None,
            columns: Some(anomalies::columns()),
            days: None,
            sums: None,
        },
    )?;
    let sums = window.sums()?;
    let frame = anomalies::Frame::new(window.frame)?;
    let found = match frame.map(|f| f.with_sums(sums)) {
        Some(frame) => anomalies::detect(
            &frame,
            Dimension::DETECTED,
            window.start,
            window.end,
            &config.anomalies,
        )?,
        None => Vec::new(),
    };
    let shown: Vec<Anomaly> = found
        .into_iter()
        .filter(|a| a.severity >= args.min_severity)
        .collect();
    emit(&match args.format {
        TextFormat::Table => terminal::anomalies_table(&shown, &window.currency),
        TextFormat::Json => serde_json::to_string_pretty(&shown)? + "\n",
    })?;
    if let Some(level) = args.fail_on {
        let hits = shown.iter().filter(|a| a.severity >= level).count();
        if hits > 0 {
            eprintln!("{hits} anomalies at or above `{}` severity", level.name());
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

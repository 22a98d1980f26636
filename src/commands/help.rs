//! `spendlens completions SHELL` and `spendlens man`: the command line's own description,
//! generated from its definition (so they never drift from `--help`).

use crate::cli::Cli;
use anyhow::{Context, Result};
use clap::CommandFactory;
use std::process::ExitCode;

/// The completion script for `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "spendlens", &mut out);
    super::emit(&String::from_utf8_lossy(&out))?;
    Ok(ExitCode::SUCCESS)
}

/// The manual page (synopsis, options, the subcommands with their summaries, exit codes)
/// as roff on stdout.
pub fn man() -> Result<ExitCode> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .context("rendering the manual page")?;
    super::emit(&String::from_utf8_lossy(&out))?;
    Ok(ExitCode::SUCCESS)
}

//! `spendlens doctor`: every configured collector's permission checks, one line each; or
//! the AWS IAM policy with `--policy`.

use super::{emit, load_config, runtime};
use crate::cli::{Cli, DoctorArgs};
use anyhow::{bail, Result};
use std::process::ExitCode;

pub fn run(cli: &Cli, args: &DoctorArgs) -> Result<ExitCode> {
    if args.policy {
        emit(&(crate::collect::aws::policy() + "\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let config = load_config(cli)?;
    if !config.has_collectors() {
        emit("no collector configured: nothing to check (file ingest needs no permissions)\n")?;
        return Ok(ExitCode::SUCCESS);
    }
    let today = chrono::Utc::now().date_naive();
    let checks = runtime()?.block_on(crate::collect::doctor(&config, today));
    let mut text = String::new();
    let mut bad = 0;
    for c in &checks {
        let status = match (&c.problem, c.note) {
            (None, Some(note)) => format!("ok ({note})"),
            (None, None) => "ok".to_string(),
            (Some(p), _) => {
                bad += 1;
                format!("FAILED: {p}")
            }
        };
        text.push_str(&format!("{:<32} {:<40} {status}\n", c.action, c.scope));
    }
    emit(&text)?;
    if bad > 0 {
        bail!("{bad} check(s) failed\nhint: for AWS, `spendlens doctor --policy` prints the IAM policy spendlens needs; for GCP and Azure the failing line names the missing role");
    }
    Ok(ExitCode::SUCCESS)
}

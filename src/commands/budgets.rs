//! `spendlens budgets`: every `[[budgets]]` entry on one day, as Markdown or JSON; exit 1
//! with `--fail-on` when one is at least that bad.

use super::{attributor, emit, load_config};
use crate::analyse;
use crate::analyse::budgets;
use crate::cli::{BudgetsArgs, Cli, MdOrJson};
use crate::store::Store;
use anyhow::{anyhow, bail, Result};
use std::process::ExitCode;

pub fn run(cli: &Cli, args: &BudgetsArgs) -> Result<ExitCode> {
    let config = load_config(cli)?;
    if config.budgets.is_empty() {
        bail!(
            "no [[budgets]] in `{}`\nhint: add one, e.g.\n[[budgets]]\nname = \"search\"\nselector = {{ team = \"search\" }}\namount = 20000\ncurrency = \"USD\"\nperiod = \"month\"",
            cli.config.display()
        );
    }
    let store = Store::new(&cli.data_dir);
    let attributor = attributor(&config, &store)?;
    let at = match args.at {
        Some(d) => d,
        None => analyse::bounds(&store)?
            .map(|(_, last)| last)
            .ok_or_else(|| {
                anyhow!(analyse::AnalyseError::Empty(
                    store.dir().display().to_string()
                ))
            })?,
    };
    let found = budgets::evaluate_all(&config, &store, &attributor, at, None)?;
    if !found.problems.is_empty() {
        let errors: Vec<&str> = found.problems.iter().map(|p| p.error.as_str()).collect();
        bail!("{}", errors.join("\n"));
    }
    let statuses = found.statuses;
    emit(&match args.format {
        MdOrJson::Md => crate::output::budgets::markdown(at, &statuses),
        MdOrJson::Json => crate::output::budgets::json(at, &statuses)?,
    })?;
    Ok(
        if args
            .fail_on
            .is_some_and(|level| level.reached_by(&statuses))
        {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        },
    )
}

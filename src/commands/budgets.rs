//! `spendlens budgets`: every `[[budgets]]` entry on one day, as Markdown or JSON; exit 1
//! with `--fail-on` when one is at least that bad.

use super::{attributor, emit, load_config};
use crate::analyse;
use crate::analyse::anomalies::{self, Incident};
use crate::analyse::budgets::{self, BudgetState, Context};
use crate::attribute::Attributor;
use crate::cli::{BudgetLevel, BudgetsArgs, Cli, MdOrJson};
use crate::config::Config;
use crate::store::Store;
use anyhow::{anyhow, bail, Result};
use chrono::{Duration, NaiveDate};
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
    let incidents = judged_incidents(&config, &store, &attributor, at)?;
    let ctx = Context {
        store: &store,
        attributor: &attributor,
        incidents: &incidents,
        planned: &config.anomalies.planned,
    };
    let statuses = config
        .budgets
        .iter()
        .map(|b| budgets::evaluate(&ctx, b, at))
        .collect::<Result<Vec<_>, _>>()?;
    emit(&match args.format {
        MdOrJson::Md => crate::output::budgets::markdown(at, &statuses),
        MdOrJson::Json => crate::output::budgets::json(at, &statuses)?,
    })?;
    let worst = statuses.iter().map(|s| s.status).max();
    let failing = match (args.fail_on, worst) {
        (Some(BudgetLevel::Warning), Some(w)) => w >= BudgetState::Warning,
        (Some(BudgetLevel::Over), Some(w)) => w == BudgetState::Over,
        _ => false,
    };
    Ok(if failing {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The incidents of the five weeks to `at` in each budget currency the store holds, with
/// their verdicts: an acknowledged one still under way is a known change the forecast
/// starts from.
pub(crate) fn judged_incidents(
    config: &Config,
    store: &Store,
    attributor: &Attributor,
    at: NaiveDate,
) -> Result<Vec<Incident>> {
    let mut currencies: Vec<&str> = config.budgets.iter().map(|b| b.currency.as_str()).collect();
    currencies.sort_unstable();
    currencies.dedup();
    let from = at - Duration::days(analyse::HISTORY_DAYS);
    let acks = store.acks()?;
    let mut out = Vec::new();
    for currency in currencies {
        let span = crate::cli::Span {
            from: Some(from),
            to: Some(at),
            currency: Some(currency.to_string()),
        };
        match super::detect(config, store, attributor, &span) {
            Ok((found, _)) => out.extend(found.incidents),
            // Not held: the budget's own evaluation says so, naming it.
            Err(analyse::AnalyseError::NoSuchCurrency { .. } | analyse::AnalyseError::Empty(_)) => {
            }
            Err(e) => return Err(e.into()),
        }
    }
    anomalies::incidents::judge(&mut out, &acks, &config.anomalies.planned);
    Ok(out)
}

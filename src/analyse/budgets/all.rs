//! Every budget of the config on one day, as `spendlens budgets` and the nightly job
//! evaluate them: the incidents (with their verdicts) found once per budget currency, then
//! each budget on its own, so one that cannot be evaluated names itself and leaves the
//! others standing.

use super::{evaluate, BudgetError, BudgetStatus, Context};
use crate::analyse::anomalies::{self, Incident};
use crate::analyse::{self as analyse, AnalyseError};
use crate::attribute::Attributor;
use crate::config::Config;
use crate::store::Store;
use chrono::{Duration, NaiveDate};
use serde::Serialize;

/// A budget that could not be evaluated, and why (its selector matches nothing, its
/// currency is not the one its spend is billed in).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetProblem {
    pub name: String,
    pub error: String,
}

/// Every budget evaluated, in config order, and those that could not be.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Evaluated {
    pub statuses: Vec<BudgetStatus>,
    pub problems: Vec<BudgetProblem>,
}

/// Every `[[budgets]]` entry on day `at`. `known` carries incidents already found (and
/// judged) in one currency, so that currency is not detected again. An error here is the
/// store's, not a budget's.
pub fn evaluate_all(
    config: &Config,
    store: &Store,
    attributor: &Attributor,
    at: NaiveDate,
    known: Option<(&str, &[Incident])>,
) -> Result<Evaluated, BudgetError> {
    let mut out = Evaluated::default();
    if config.budgets.is_empty() {
        return Ok(out);
    }
    let incidents = judged_incidents(config, store, attributor, at, known)?;
    let ctx = Context {
        store,
        attributor,
        incidents: &incidents,
        planned: &config.anomalies.planned,
    };
    for budget in &config.budgets {
        match evaluate(&ctx, budget, at) {
            Ok(status) => out.statuses.push(status),
            Err(e @ (BudgetError::NoMatch { .. } | BudgetError::Currency { .. })) => {
                out.problems.push(BudgetProblem {
                    name: budget.name.clone(),
                    error: e.to_string(),
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The incidents of the five weeks to `at` in each budget currency the store holds, with
/// their verdicts: an acknowledged one still under way is a known change the forecast
/// starts from.
fn judged_incidents(
    config: &Config,
    store: &Store,
    attributor: &Attributor,
    at: NaiveDate,
    known: Option<(&str, &[Incident])>,
) -> Result<Vec<Incident>, BudgetError> {
    let mut currencies: Vec<&str> = config.budgets.iter().map(|b| b.currency.as_str()).collect();
    currencies.sort_unstable();
    currencies.dedup();
    let from = at - Duration::days(analyse::HISTORY_DAYS);
    let mut out = Vec::new();
    for currency in currencies {
        if let Some((_, found)) = known.filter(|(c, _)| *c == currency) {
            out.extend_from_slice(found);
            continue;
        }
        let span = (Some(from), Some(at));
        match anomalies::detect_span(&config.anomalies, store, attributor, span, Some(currency)) {
            Ok((found, _)) => out.extend(found.incidents),
            // Not held: the budget's own evaluation says so, naming it.
            Err(AnalyseError::NoSuchCurrency { .. } | AnalyseError::Empty(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    anomalies::incidents::judge(
        &mut out,
        &store.acks().map_err(AnalyseError::from)?,
        &config.anomalies.planned,
    );
    Ok(out)
}

//! `spendlens publish`: the period's daily attributed rollups and anomalies sent to
//! PostgreSQL, Parquet or CSV. `to_feeds` is shared with `nightly`.

use super::{attributor, emit, load_config, runtime};
use crate::cli::{Cli, Feeds, PublishArgs};
use crate::config::Config;
use crate::output::feeds::{self, Feed};
use crate::output::report::{self, Report, ReportOptions};
use crate::store::Store;
use anyhow::{bail, Result};
use std::process::ExitCode;

pub fn run(cli: &Cli, args: &PublishArgs) -> Result<ExitCode> {
    if args.print_schema {
        emit(feeds::POSTGRES_SCHEMA.trim_start())?;
        return Ok(ExitCode::SUCCESS);
    }
    if !args.feeds.any() {
        bail!("nothing to publish to\nhint: pass --postgres URL (or SPENDLENS_POSTGRES_URL), --parquet DIR or --csv DIR");
    }
    let config = load_config(cli)?;
    let store = Store::new(&cli.data_dir);
    let (from, to) = match (args.span.from, args.span.to) {
        (None, None) => crate::nightly::last_days(&store, config.nightly.period_days)?,
        (f, t) => (f, t),
    };
    let attributor = attributor(&config, &store)?;
    let report = report::build(
        &store,
        &attributor,
        &ReportOptions {
            anomalies: config.anomalies.clone(),
            from,
            to,
            currency: args.span.currency.clone(),
            top: 10,
            stale_after_days: config.nightly.stale_after_days,
            daily_series: report::DAILY_SERIES,
        },
    )?
    .with_budgets(&config, &store, &attributor)?;
    let lines = to_feeds(&config, &store, &report, &args.feeds)?;
    emit(&(lines.join("\n") + "\n"))?;
    Ok(ExitCode::SUCCESS)
}

/// Send the report's period to every feed asked for; one line per feed, or its error.
pub(super) fn to_feeds(
    config: &Config,
    store: &Store,
    report: &Report,
    asked: &Feeds,
) -> Result<Vec<String>> {
    let feed = Feed::build(
        store,
        &attributor(config, store)?,
        report.period.start,
        report.period.end,
        &report.currency,
        report.anomalies.clone(),
        report.incidents.clone(),
    )?
    .with_budgets(report.budgets.clone());
    let mut lines = Vec::new();
    if let Some(dir) = &asked.parquet {
        for p in feed.write_parquet(dir)? {
            lines.push(format!("wrote `{}`", p.display()));
        }
    }
    if let Some(dir) = &asked.csv {
        for p in feed.write_csv(dir)? {
            lines.push(format!("wrote `{}`", p.display()));
        }
    }
    if let Some(url) = &asked.postgres {
        let done = runtime()?.block_on(feeds::publish_postgres(url, &feed))?;
        lines.push(format!(
            "PostgreSQL {}: {} to {} ({}) replaced: {} row(s) removed, {} written, {} anomal(ies), {} incident(s), {} budget(s)",
            feeds::redact_url(url),
            feed.start,
            feed.end,
            feed.currency,
            done.rows_deleted,
            done.rows_written,
            done.anomalies_written,
            done.incidents_written,
            done.budgets_written
        ));
    }
    Ok(lines)
}

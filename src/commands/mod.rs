//! One module per subcommand, each with its `run(cli, args)`: what the command does with
//! the library and what it prints. The helpers here are what several commands share
//! (printing to stdout, loading the config, opening the store's attributed window).

pub mod advise;
pub mod anomalies;
pub mod budgets;
pub mod collect;
pub mod demo;
pub mod doctor;
pub mod help;
pub mod ingest;
pub mod investigate;
pub mod nightly;
pub mod publish;
pub mod reconcile;
pub mod report;

use crate::analyse;
use crate::attribute::Attributor;
use crate::cli::{Cli, ReportFormat, Span};
use crate::config::Config;
use crate::output::report::Report;
use crate::store::Store;
use anyhow::{Context, Result};
use std::io::Write;

/// Write to stdout; a closed pipe (`| head`) is not an error.
fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e).context("writing to stdout"),
    }
}

/// The config, its warnings printed. The default path is optional; a path the user named
/// must exist.
fn load_config(cli: &Cli) -> Result<Config> {
    let config = Config::load(&cli.config, cli.config_named)?;
    for w in &config.warnings {
        eprintln!("warning: {w}");
    }
    Ok(config)
}

/// Attribution rules from the config, plus the tags of stored inference profiles.
fn attributor(config: &Config, store: &Store) -> Result<Attributor> {
    Ok(Attributor::for_store(&config.attribution, store)?)
}

/// Config, store and attributor, and the attributed window of the days `span` names, with
/// `history_days` before them.
fn open_window(
    cli: &Cli,
    span: &Span,
    history_days: i64,
    pick: analyse::Pick,
) -> Result<(Config, Store, Attributor, analyse::CostWindow)> {
    let config = load_config(cli)?;
    let store = Store::new(&cli.data_dir);
    let attributor = attributor(&config, &store)?;
    let window = analyse::load_window_where(
        &store,
        &attributor,
        span.from,
        span.to,
        span.currency.as_deref(),
        history_days,
        pick,
    )?;
    Ok((config, store, attributor, window))
}

/// What detection finds over the days `span` names (with a baseline's history before
/// them), as `anomalies` reports it, and the window's currency.
fn detect(
    config: &Config,
    store: &Store,
    attributor: &Attributor,
    span: &Span,
) -> Result<(analyse::anomalies::Detection, String), analyse::AnalyseError> {
    analyse::anomalies::detect_span(
        &config.anomalies,
        store,
        attributor,
        (span.from, span.to),
        span.currency.as_deref(),
    )
}

/// The async runtime the collectors and the PostgreSQL feed run on.
fn runtime() -> Result<tokio::runtime::Runtime> {
    crate::collect::runtime().context("starting the async runtime")
}

/// A report in the format asked for.
fn render(report: &Report, format: ReportFormat) -> String {
    match format {
        ReportFormat::Md => report.to_markdown(),
        ReportFormat::Json => report.to_json() + "\n",
        ReportFormat::Csv => report.to_csv(),
        ReportFormat::Html => report.to_html(),
    }
}

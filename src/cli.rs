//! Command line: clap parses raw arguments, [`run`] validates them once into plain option
//! structs and calls the library. Data goes to stdout, progress and warnings to stderr.

use crate::analyse::anomalies::{self, Severity};
use crate::analyse::investigate::{self, Selector};
use crate::analyse::{self, Dimension};
use crate::attribute::Attributor;
use crate::config::Config;
use crate::ingest::{self, Format, IngestOptions};
use crate::normalise::ServiceFilter;
use crate::output::report::{self, ReportOptions};
use crate::output::terminal;
use crate::store::Store;
use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const EXIT_CODES: &str = "Exit codes:\n  0  success\n  1  anomalies found when asked to fail on them (`anomalies --fail-on SEVERITY`,\n     `nightly --fail-on-anomaly SEVERITY`)\n  2  error (bad input, bad config, store locked, I/O, a nightly source or feed that\n     failed); nothing half-written";

#[derive(Debug, Parser)]
#[command(
    name = "spendlens",
    version,
    about = "FinOps for LLM spend: who spent what on which model, and why it changed",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// Config file (attribution rules, service filter).
    #[arg(
        long,
        global = true,
        env = "SPENDLENS_CONFIG",
        default_value = "spendlens.toml"
    )]
    pub config: PathBuf,
    /// Whether `config` was named (flag or environment) rather than defaulted; set by `run`.
    #[arg(skip)]
    pub config_named: bool,
    /// Data directory holding the Parquet cost lake.
    #[arg(
        long,
        global = true,
        env = "SPENDLENS_DATA_DIR",
        default_value = "spendlens-data"
    )]
    pub data_dir: PathBuf,
    /// Rows the report, dashboards and advice sum at a time: a group-by's memory follows it.
    /// Lower it to trade speed for memory; the answers do not change.
    #[arg(
        long,
        global = true,
        env = "SPENDLENS_SLICE_ROWS",
        default_value_t = crate::analyse::DEFAULT_SLICE_ROWS as u64,
        value_parser = clap::value_parser!(u64).range(1..),
        value_name = "ROWS"
    )]
    pub slice_rows: u64,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Md,
    Json,
    Csv,
    /// One self-contained page (no network): tables and an inline SVG chart.
    Html,
}

/// Where `publish` and `nightly` send the daily attributed rollups and anomalies.
#[derive(Debug, clap::Args)]
pub struct Feeds {
    /// PostgreSQL URL (`postgres://user:password@host:5432/db`); the period's days are
    /// replaced in `spendlens_daily_cost` and `spendlens_anomalies` in one transaction.
    #[arg(long, env = "SPENDLENS_POSTGRES_URL", hide_env_values = true)]
    pub postgres: Option<String>,
    /// Write `daily_cost.parquet` and `anomalies.parquet` into this directory.
    #[arg(long, value_name = "DIR")]
    pub parquet: Option<PathBuf>,
    /// Write `daily_cost.csv` and `anomalies.csv` into this directory.
    #[arg(long, value_name = "DIR")]
    pub csv: Option<PathBuf>,
}

impl Feeds {
    fn any(&self) -> bool {
        self.postgres.is_some() || self.parquet.is_some() || self.csv.is_some()
    }
}

/// The days and currency a command looks at.
#[derive(Debug, clap::Args)]
pub struct Span {
    /// First day (inclusive, YYYY-MM-DD). Default: the first day in the store.
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Last day (inclusive, YYYY-MM-DD). Default: the last day in the store.
    #[arg(long)]
    pub to: Option<NaiveDate>,
    /// Currency, required when the store holds several (amounts in different currencies are
    /// never added up).
    #[arg(long)]
    pub currency: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TextFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load billing export files (FOCUS, Azure cost details, GCP billing export) into the store.
    ///
    /// The format is detected from the header unless --format is given. Each file's
    /// (source, day) partitions replace what the store held for them, so re-ingesting a file
    /// (or a newer export of the same month) never double counts. Files given together that
    /// share a source are combined (an export split into parts). A file with a bad value is
    /// rejected whole, naming its line and column; the other files are still ingested.
    #[command(after_help = EXIT_CODES)]
    Ingest {
        /// Export files (.csv, .parquet, .json / .jsonl).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Skip detection and read the files as this format.
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Services to keep: `llm` (default: Bedrock, Vertex AI / Gemini, Azure OpenAI),
        /// `all`, or comma-separated case-insensitive substrings of service names.
        #[arg(long)]
        services: Option<String>,
        /// Source name for the partitions (default `<format>:<billing account>`).
        #[arg(long)]
        source: Option<String>,
    },
    /// Spend report: totals, tag coverage, by provider / team / feature / model, top movers.
    #[command(after_help = EXIT_CODES)]
    Report {
        #[command(flatten)]
        span: Span,
        #[arg(long, value_enum, default_value = "md")]
        format: ReportFormat,
        /// How many top movers to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Daily rows (the dashboard's data) keep the N largest provider/team/feature/model
        /// series of the period; each team's other spend is one `(other)` series per
        /// provider, so totals stay exact. 0 keeps every series.
        #[arg(long, default_value_t = report::DAILY_SERIES)]
        daily_series: usize,
    },
    /// Anomalies in daily spend (total, provider, team, team/feature, model, account,
    /// resource), each with its root causes and volume / mix / rate decomposition.
    ///
    /// A day is flagged when it is far from the median of the same weekday over the previous
    /// four weeks (robust z-score) and its impact passes both floors of [anomalies] in the
    /// config (default $50 and 25%).
    #[command(after_help = EXIT_CODES)]
    Anomalies {
        #[command(flatten)]
        span: Span,
        #[arg(long, value_enum, default_value = "table")]
        format: TextFormat,
        /// Only list anomalies of at least this severity.
        #[arg(long, value_enum, default_value = "low")]
        min_severity: Severity,
        /// Exit with code 1 when an anomaly of at least this severity is found.
        #[arg(long, value_enum)]
        fail_on: Option<Severity>,
    },
    /// Investigate a selection of spend: daily series, a focus day against its baseline, top
    /// movers beneath it, unit costs before and after, volume / mix / rate.
    ///
    /// Select with --where DIMENSION=VALUE (repeatable; `*` matches anything) or the
    /// shortcuts. Dimensions: provider, team, feature, team_feature, model, account, region,
    /// usage_type, resource.
    #[command(after_help = EXIT_CODES)]
    Investigate {
        #[command(flatten)]
        span: Span,
        /// DIMENSION=VALUE, e.g. `model=anthropic.claude-*`.
        #[arg(long = "where", value_name = "DIMENSION=VALUE")]
        selectors: Vec<String>,
        #[arg(long)]
        team: Option<String>,
        #[arg(long)]
        feature: Option<String>,
        #[arg(long)]
        provider: Option<String>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        account: Option<String>,
        /// Focus day (default: the selection's largest anomaly, else the last day).
        #[arg(long)]
        at: Option<NaiveDate>,
        #[arg(long, value_enum, default_value = "table")]
        format: TextFormat,
    },
    /// Collect spend and usage from the cloud APIs configured in spendlens.toml ([aws],
    /// [gcp], [azure]).
    ///
    /// Fetches only days the store does not already hold as final, writes each source in
    /// its own atomic commit (a failing source leaves its days untouched and does not stop
    /// the others) and says how many paid requests it made.
    #[command(after_help = EXIT_CODES)]
    Collect {
        /// First day (default: `lookback_days` before today).
        #[arg(long)]
        from: Option<NaiveDate>,
        /// Last day (default: yesterday).
        #[arg(long)]
        to: Option<NaiveDate>,
    },
    /// Check that the configured collectors can reach their APIs with the permissions they
    /// need, naming any missing IAM action.
    #[command(after_help = EXIT_CODES)]
    Doctor {
        /// Print the minimal IAM policy for the AWS collectors and exit.
        #[arg(long)]
        policy: bool,
    },
    /// Unit costs, billed prices checked against the list-price catalog, spend estimated
    /// from usage not billed yet, commitment break-even and sizing, model-tiering hints.
    #[command(after_help = EXIT_CODES)]
    Advise {
        #[command(flatten)]
        span: Span,
        #[arg(long, value_enum, default_value = "table")]
        format: TextFormat,
    },
    /// The nightly job: ingest `[nightly] exports`, collect every configured cloud source
    /// (re-pulling the last `restate_days`), then write report.md / report.json /
    /// report.html / dashboard.html into --out and publish the feeds asked for.
    ///
    /// A source that fails does not stop the others; its stored days stay as they were and
    /// the report marks it stale (exit 2 after everything else is written). Progress goes to
    /// stderr, the Markdown digest to stdout.
    #[command(after_help = EXIT_CODES)]
    Nightly {
        /// Directory for the report and dashboard files.
        #[arg(long, default_value = "spendlens-out")]
        out: PathBuf,
        /// Exit with code 1 when an anomaly of at least this severity touches the last
        /// `restate_days` days (the days this run could have changed).
        #[arg(long, value_enum, value_name = "SEVERITY")]
        fail_on_anomaly: Option<Severity>,
        /// Post the digest to this Slack-compatible incoming-webhook URL.
        #[arg(
            long,
            env = "SPENDLENS_WEBHOOK_URL",
            hide_env_values = true,
            value_name = "URL"
        )]
        post: Option<String>,
        /// Currency, required when the store holds several.
        #[arg(long)]
        currency: Option<String>,
        #[command(flatten)]
        feeds: Feeds,
    },
    /// Publish daily attributed rollups and anomalies to PostgreSQL (for the Grafana
    /// dashboards in `dashboards/`), Parquet or CSV. Idempotent per day.
    #[command(after_help = EXIT_CODES)]
    Publish {
        #[command(flatten)]
        span: Span,
        #[command(flatten)]
        feeds: Feeds,
        /// Print the PostgreSQL tables' DDL and exit.
        #[arg(long)]
        print_schema: bool,
    },
    /// Generate 90 days of realistic demo exports (AWS FOCUS, Azure cost details, GCP billing
    /// export), ingest them into a fresh store and print the report. No credentials, no network.
    #[command(after_help = EXIT_CODES)]
    Demo {
        /// Directory for the demo exports, config and store.
        #[arg(long, default_value = "spendlens-demo")]
        dir: PathBuf,
        /// Last day of the generated data.
        #[arg(long, default_value = "2026-10-31")]
        end: NaiveDate,
        #[arg(long, value_enum, default_value = "md")]
        format: ReportFormat,
    },
}

/// Write to stdout; a closed pipe (`| head`) is not an error.
fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e).context("writing to stdout"),
    }
}

fn load_config(cli: &Cli) -> Result<Config> {
    // The default path is optional; a path the user named must exist.
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

/// Polars blocks inside a Tokio runtime only on the multi-threaded one.
/// Config, store and attributor, and the attributed window of days a command looks at.
fn open_window(
    cli: &Cli,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    currency: Option<&str>,
    history_days: i64,
    pick: analyse::Pick,
) -> Result<(Config, Store, Attributor, analyse::Window)> {
    let config = load_config(cli)?;
    let store = Store::new(&cli.data_dir);
    let attributor = attributor(&config, &store)?;
    let window =
        analyse::load_window_where(&store, &attributor, from, to, currency, history_days, pick)?;
    Ok((config, store, attributor, window))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    crate::collect::runtime().context("starting the async runtime")
}

fn render(report: &report::Report, format: ReportFormat) -> String {
    match format {
        ReportFormat::Md => report.to_markdown(),
        ReportFormat::Json => report.to_json() + "\n",
        ReportFormat::Csv => report.to_csv(),
        ReportFormat::Html => report.to_html(),
    }
}

/// Progress on stderr: a bar redrawn in place on a terminal, plain lines otherwise (CI logs).
struct Progress {
    tty: bool,
    step: usize,
    total: usize,
}

impl Progress {
    fn new(total: usize) -> Progress {
        use std::io::IsTerminal;
        Progress {
            tty: std::io::stderr().is_terminal(),
            step: 0,
            total,
        }
    }
    fn say(&mut self, message: &str) {
        self.step = (self.step + 1).min(self.total);
        if self.tty {
            let done = self.step * 20 / self.total.max(1);
            eprint!(
                "\r\x1b[2K[{}{}] {}/{} {message}",
                "#".repeat(done),
                "-".repeat(20 - done),
                self.step,
                self.total
            );
            if self.step == self.total {
                eprintln!();
            }
        } else {
            eprintln!("nightly: {message}");
        }
    }
}

/// Send the report's period to every feed asked for; one line per feed, or its error.
fn publish(
    config: &Config,
    store: &Store,
    report: &report::Report,
    feeds: &Feeds,
) -> Result<Vec<String>> {
    let feed = crate::output::feeds::Feed::build(
        store,
        &attributor(config, store)?,
        report.period.start,
        report.period.end,
        &report.currency,
        report.anomalies.clone(),
    )?;
    let mut lines = Vec::new();
    if let Some(dir) = &feeds.parquet {
        for p in feed.write_parquet(dir)? {
            lines.push(format!("wrote `{}`", p.display()));
        }
    }
    if let Some(dir) = &feeds.csv {
        for p in feed.write_csv(dir)? {
            lines.push(format!("wrote `{}`", p.display()));
        }
    }
    if let Some(url) = &feeds.postgres {
        let done = runtime()?.block_on(crate::output::feeds::publish_postgres(url, &feed))?;
        lines.push(format!(
            "PostgreSQL {}: {} to {} ({}) replaced: {} row(s) removed, {} written, {} anomal(ies)",
            crate::output::feeds::redact_url(url),
            feed.start,
            feed.end,
            feed.currency,
            done.rows_deleted,
            done.rows_written,
            done.anomalies_written
        ));
    }
    Ok(lines)
}

pub fn run() -> Result<ExitCode> {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let mut cli = <Cli as clap::FromArgMatches>::from_arg_matches(&matches)?;
    cli.config_named = !matches!(
        matches.value_source("config"),
        Some(clap::parser::ValueSource::DefaultValue) | None
    );
    crate::analyse::set_slice_rows(usize::try_from(cli.slice_rows).unwrap_or(usize::MAX));
    match &cli.command {
        Command::Ingest {
            files,
            format,
            services,
            source,
        } => {
            crate::memory::keep_freed();
            let config = load_config(&cli)?;
            let opts = IngestOptions {
                format: *format,
                services: match services {
                    Some(s) => ServiceFilter::parse(s),
                    None => config.ingest.service_filter(),
                },
                source: source.clone(),
                part_bytes: crate::ingest::PART_BYTES,
            };
            let store = Store::new(&cli.data_dir);
            let lock = store.lock()?;
            let outcome = ingest::ingest_files(&store, &lock, files, &opts)?;
            let mut text = String::new();
            for p in &outcome.parsed {
                text.push_str(&describe_ingest(p));
            }
            let w = outcome.written;
            if !outcome.parsed.is_empty() {
                text.push_str(&format!(
                    "store `{}`: {} day partition(s) added, {} replaced, {} emptied; {} row(s) written\n",
                    store.dir().display(),
                    w.added,
                    w.replaced,
                    w.cleared,
                    w.rows
                ));
            }
            emit(&text)?;
            if !outcome.failed.is_empty() {
                for e in &outcome.failed {
                    eprintln!("error: {e}");
                }
                bail!(
                    "{} of {} file(s) rejected; nothing was written for them",
                    outcome.failed.len(),
                    files.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Report {
            span: Span { from, to, currency },
            format,
            top,
            daily_series,
        } => {
            let config = load_config(&cli)?;
            let store = Store::new(&cli.data_dir);
            let report = report::build(
                &store,
                &attributor(&config, &store)?,
                &ReportOptions {
                    anomalies: config.anomalies.clone(),
                    from: *from,
                    to: *to,
                    currency: currency.clone(),
                    top: *top,
                    stale_after_days: config.nightly.stale_after_days,
                    daily_series: *daily_series,
                },
            )?;
            emit(&render(&report, *format))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Anomalies {
            span: Span { from, to, currency },
            format,
            min_severity,
            fail_on,
        } => {
            let (config, _, _, window) = open_window(
                &cli,
                *from,
                *to,
                currency.as_deref(),
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
            let shown: Vec<anomalies::Anomaly> = found
                .into_iter()
                .filter(|a| a.severity >= *min_severity)
                .collect();
            emit(&match format {
                TextFormat::Table => terminal::anomalies_table(&shown, &window.currency),
                TextFormat::Json => serde_json::to_string_pretty(&shown)? + "\n",
            })?;
            if let Some(level) = fail_on {
                let hits = shown.iter().filter(|a| a.severity >= *level).count();
                if hits > 0 {
                    eprintln!("{hits} anomalies at or above `{}` severity", level.name());
                    return Ok(ExitCode::from(1));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Investigate {
            span: Span { from, to, currency },
            selectors,
            team,
            feature,
            provider,
            model,
            account,
            at,
            format,
        } => {
            let mut selection = Vec::new();
            for s in selectors {
                selection.push(Selector::parse(s).map_err(|e| anyhow::anyhow!("--where {e}"))?);
            }
            for (dim, value) in [
                (Dimension::Team, team),
                (Dimension::Feature, feature),
                (Dimension::Provider, provider),
                (Dimension::Model, model),
                (Dimension::Account, account),
            ] {
                if let Some(v) = value {
                    selection.push((dim, v.clone()));
                }
            }
            // Everything investigate looks at lies within the selection: load only that.
            let config = load_config(&cli)?;
            let store = Store::new(&cli.data_dir);
            let attributor = attributor(&config, &store)?;
            let (window, series) = investigate::load(
                &store,
                &attributor,
                &selection,
                *from,
                *to,
                currency.as_deref(),
                *at,
                &config.anomalies,
            )?;
            let currency = window.currency.clone();
            let (start, end) = (window.start, window.end);
            let frame =
                anomalies::Frame::spanning(window.frame, window.loaded)?.ok_or_else(|| {
                    analyse::AnalyseError::NoMatch(if selection.is_empty() {
                        "the period".into()
                    } else {
                        investigate::describe(&selection)
                    })
                })?;
            let usage = analyse::load_usage(
                &store,
                &attributor,
                start - chrono::Duration::days(analyse::HISTORY_DAYS),
                end,
            )?;
            let inv = investigate::investigate(
                &frame,
                &selection,
                start,
                end,
                *at,
                &currency,
                &config.anomalies,
                usage.as_ref(),
                series,
            )?;
            emit(&match format {
                TextFormat::Table => terminal::investigation(&inv),
                TextFormat::Json => serde_json::to_string_pretty(&inv)? + "\n",
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Collect { from, to } => {
            let config = load_config(&cli)?;
            if !config.has_collectors() {
                bail!("no collector is configured\nhint: add an [aws], [gcp] or [azure] section to `{}` (see the README)", cli.config.display());
            }
            let today = chrono::Utc::now().date_naive();
            let window = match (from, to) {
                (None, None) => None,
                (f, t) => {
                    let end = t.unwrap_or(today - chrono::Duration::days(1));
                    let w = crate::collect::Window {
                        start: f.unwrap_or(end - chrono::Duration::days(34)),
                        end,
                    };
                    if w.start > w.end {
                        bail!("--from {} is after --to {}", w.start, w.end);
                    }
                    Some(w)
                }
            };
            let store = Store::new(&cli.data_dir);
            let lock = store.lock()?;
            let runs = runtime()?.block_on(crate::collect::all(
                &config,
                &store,
                &lock,
                window,
                today,
                None,
                &mut |m| eprintln!("{m}"),
            ));
            let outcomes: Vec<crate::nightly::SourceOutcome> = runs
                .iter()
                .map(|r| crate::nightly::SourceOutcome {
                    source: r.source.clone(),
                    result: r
                        .result
                        .as_ref()
                        .map(String::clone)
                        .map_err(|e| e.to_string()),
                })
                .collect();
            crate::nightly::record_runs(&store, &lock, &outcomes)?;
            let mut failed = 0;
            let mut text = String::new();
            for run in &runs {
                match &run.result {
                    Ok(summary) => text.push_str(&format!("{}: {summary}\n", run.source)),
                    Err(e) => {
                        failed += 1;
                        eprintln!("error: {}: {e}", run.source);
                    }
                }
            }
            emit(&text)?;
            if failed > 0 {
                bail!(
                    "{failed} of {} source(s) failed; their stored days are unchanged",
                    runs.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor { policy } => {
            if *policy {
                emit(&(crate::collect::aws::policy() + "\n"))?;
                return Ok(ExitCode::SUCCESS);
            }
            let config = load_config(&cli)?;
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
        Command::Advise {
            span: Span { from, to, currency },
            format,
        } => {
            let (config, store, attributor, window) =
                open_window(&cli, *from, *to, currency.as_deref(), 0, Default::default())?;
            // Usage past the last billed day is what the estimates are made of.
            let usage_end = to.unwrap_or(window.end + chrono::Duration::days(60));
            let usage = analyse::load_usage(&store, &attributor, window.start, usage_end)?;
            let catalog = analyse::advise::Catalog::load(&config.prices);
            let advice = analyse::advise::advise(
                &window.frame,
                usage.as_ref(),
                window.start,
                window.end,
                &window.currency,
                &catalog,
                &config.advise,
            )?;
            emit(&match format {
                TextFormat::Table => terminal::advice(&advice),
                TextFormat::Json => serde_json::to_string_pretty(&advice)? + "\n",
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Nightly {
            out,
            fail_on_anomaly,
            post,
            currency,
            feeds,
        } => {
            let config = load_config(&cli)?;
            let store = Store::new(&cli.data_dir);
            let lock = store.lock()?;
            let steps = 3 + usize::from(feeds.any()) + usize::from(post.is_some());
            let mut progress = Progress::new(steps);
            let config_dir = cli
                .config
                .parent()
                .map(|p| p.to_path_buf())
                .unwrap_or_default();
            let night = crate::nightly::run(
                &store,
                &lock,
                &crate::nightly::Options {
                    config: &config,
                    config_dir,
                    today: chrono::Utc::now().date_naive(),
                    currency: currency.clone(),
                    top: 10,
                },
                &mut |m| progress.say(m),
            )?;
            drop(lock);
            let mut failures = 0;
            for s in &night.sources {
                match &s.result {
                    Ok(m) => eprintln!("{}: {m}", s.source),
                    Err(e) => {
                        failures += 1;
                        eprintln!("error: {}: {e}", s.source);
                    }
                }
            }
            progress.say(&format!("writing the report into `{}`", out.display()));
            for p in crate::nightly::write_outputs(&night.report, out)? {
                eprintln!("wrote `{}`", p.display());
            }
            if feeds.any() {
                progress.say("publishing feeds");
                match publish(&config, &store, &night.report, feeds) {
                    Ok(lines) => lines.iter().for_each(|l| eprintln!("{l}")),
                    Err(e) => {
                        failures += 1;
                        eprintln!("error: publishing: {e:#}");
                    }
                }
            }
            let digest = night.report.to_digest();
            if let Some(url) = post {
                progress.say("posting the digest");
                if let Err(e) = runtime()?.block_on(crate::nightly::post_digest(url, &digest)) {
                    failures += 1;
                    eprintln!("error: posting the digest to the webhook: {e}\nhint: check the incoming-webhook URL (--post or SPENDLENS_WEBHOOK_URL) and that the webhook still exists; the report files were written");
                }
            }
            emit(&digest)?;
            if failures > 0 {
                bail!("{failures} part(s) of the nightly run failed (see above); the report marks failed sources stale and their stored days are unchanged");
            }
            if let Some(level) = fail_on_anomaly {
                let recent_from = night.report.period.end
                    - chrono::Duration::days(i64::from(config.nightly.restate_days.max(1)) - 1);
                let hits = night
                    .report
                    .anomalies
                    .iter()
                    .filter(|a| {
                        a.severity >= *level
                            && a.date + chrono::Duration::days(a.duration_days.max(1) as i64 - 1)
                                >= recent_from
                    })
                    .count();
                if hits > 0 {
                    eprintln!(
                        "{hits} anomalies at or above `{}` severity since {recent_from}",
                        level.name()
                    );
                    return Ok(ExitCode::from(1));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Publish {
            span: Span { from, to, currency },
            feeds,
            print_schema,
        } => {
            if *print_schema {
                emit(crate::output::feeds::POSTGRES_SCHEMA.trim_start())?;
                return Ok(ExitCode::SUCCESS);
            }
            if !feeds.any() {
                bail!("nothing to publish to\nhint: pass --postgres URL (or SPENDLENS_POSTGRES_URL), --parquet DIR or --csv DIR");
            }
            let config = load_config(&cli)?;
            let store = Store::new(&cli.data_dir);
            let (from, to) = match (from, to) {
                (None, None) => crate::nightly::last_days(&store, config.nightly.period_days)?,
                (f, t) => (*f, *t),
            };
            let report = report::build(
                &store,
                &attributor(&config, &store)?,
                &ReportOptions {
                    anomalies: config.anomalies.clone(),
                    from,
                    to,
                    currency: currency.clone(),
                    top: 10,
                    stale_after_days: config.nightly.stale_after_days,
                    daily_series: report::DAILY_SERIES,
                },
            )?;
            let lines = publish(&config, &store, &report, feeds)?;
            emit(&(lines.join("\n") + "\n"))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { dir, end, format } => {
            let demo = crate::demo::build(dir, *end)?;
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
            emit(&render(&demo.report, *format))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn describe_ingest(p: &ingest::Parsed) -> String {
    let mut s = format!(
        "ingested `{}` ({}): {} row(s) read, {} kept",
        p.file.display(),
        p.format.name(),
        p.rows_read,
        p.rows_kept
    );
    if p.rows_kept < p.rows_read {
        let cost: Vec<String> = p
            .skipped_cost
            .iter()
            .map(|(c, v)| format!("{v:.2} {c}"))
            .collect();
        s.push_str(&format!(
            "; {} row(s) of {} other service(s) skipped ({}; use --services all to keep them)",
            p.rows_read - p.rows_kept,
            p.skipped_services.len(),
            cost.join(", ")
        ));
    }
    s.push('\n');
    s
}

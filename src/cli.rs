//! Command line: the clap definitions of every command and option, and [`run`], which
//! parses them and hands each command to its `run` in [`crate::commands`]. Data goes to
//! stdout, progress and warnings to stderr.

// The doc comments here are clap's help text, where `[aws]` names a config section, not a
// rustdoc link.
#![allow(rustdoc::broken_intra_doc_links)]

use crate::analyse::anomalies::Severity;
use crate::commands;
use crate::ingest::Format;
use crate::output::report;
use anyhow::Result;
use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

const EXIT_CODES: &str = "Exit codes:\n  0  success\n  1  open (not acknowledged) incidents found when asked to fail on them (`anomalies\n     --fail-on SEVERITY`, `nightly --fail-on-anomaly SEVERITY`); a difference over $0.01\n     found by `reconcile`; a budget at the level of `budgets --fail-on` or\n     `nightly --fail-on-budget`\n  2  error (bad input, bad config, store locked, I/O, a nightly source, feed, post or\n     budget that failed); nothing half-written";

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

/// Where `publish` and `nightly` send the daily attributed rollups and incidents.
#[derive(Debug, clap::Args)]
pub struct Feeds {
    /// PostgreSQL URL (`postgres://user:password@host:5432/db`); the period's days are
    /// replaced in `spendlens_daily_cost`, `spendlens_incidents` and `spendlens_anomalies`, and
    /// the budgets of its last day in `spendlens_budgets`, in one transaction.
    #[arg(long, env = "SPENDLENS_POSTGRES_URL", hide_env_values = true)]
    pub postgres: Option<String>,
    /// Write `daily_cost.parquet`, `incidents.parquet`, `anomalies.parquet` and
    /// `budgets.parquet` into this directory.
    #[arg(long, value_name = "DIR")]
    pub parquet: Option<PathBuf>,
    /// Write `daily_cost.csv`, `incidents.csv`, `anomalies.csv` and `budgets.csv` into this
    /// directory.
    #[arg(long, value_name = "DIR")]
    pub csv: Option<PathBuf>,
}

impl Feeds {
    /// Whether any feed was asked for.
    pub fn any(&self) -> bool {
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
    Ingest(IngestArgs),
    /// Spend report: totals, tag coverage, by provider / team / feature / model, top movers.
    #[command(after_help = EXIT_CODES)]
    Report(ReportArgs),
    /// Incidents in daily spend: each change once, however many series (total, provider,
    /// team, team/feature, model, account, resource) it moved, with its root causes and
    /// volume / mix / rate / credits decomposition.
    ///
    /// A day of a series is flagged when it is far from the median of the same weekday over
    /// the previous four weeks (robust z-score) and its impact passes both floors of
    /// [anomalies] in the config (default $50 and 25%); flags that share their money are one
    /// incident. `anomalies ack ID --as planned|expected|false-positive` records a verdict;
    /// acknowledged incidents stay listed but no longer fail `--fail-on` or `nightly`.
    #[command(after_help = EXIT_CODES, args_conflicts_with_subcommands = true)]
    Anomalies(AnomaliesArgs),
    /// Investigate a selection of spend: daily series, a focus day against its baseline, top
    /// movers beneath it, unit costs before and after, volume / mix / rate.
    ///
    /// Select with --where DIMENSION=VALUE (repeatable; `*` matches anything) or the
    /// shortcuts. Dimensions: provider, team, feature, team_feature, model, account, region,
    /// usage_type, resource.
    #[command(after_help = EXIT_CODES)]
    Investigate(InvestigateArgs),
    /// Reconcile: per source and billing period, the export's or API's own total as read,
    /// what the store holds, what reports count and what attribution hands out.
    ///
    /// The command to run before sending numbers to finance: any difference over $0.01
    /// exits 1, naming the source, billing period and the day that differs most.
    #[command(after_help = EXIT_CODES)]
    Reconcile(ReconcileArgs),
    /// Budgets of `[[budgets]]`: spent so far in the period, the forecast to its end with
    /// an 80% interval, thresholds crossed (by spend or by forecast, and on which day) and
    /// what grew most.
    ///
    /// Each budget is evaluated on --at (default: the store's last day) in its own currency;
    /// a budget whose selection is stored in another currency is an error, never converted.
    #[command(after_help = EXIT_CODES)]
    Budgets(BudgetsArgs),
    /// Collect spend and usage from the cloud APIs configured in spendlens.toml ([aws],
    /// [gcp], [azure]).
    ///
    /// Fetches only days the store does not already hold as final, writes each source in
    /// its own atomic commit (a failing source leaves its days untouched and does not stop
    /// the others) and says how many paid requests it made.
    #[command(after_help = EXIT_CODES)]
    Collect(CollectArgs),
    /// Check that the configured collectors can reach their APIs with the permissions they
    /// need, naming any missing IAM action.
    #[command(after_help = EXIT_CODES)]
    Doctor(DoctorArgs),
    /// Unit costs, billed prices checked against the list-price catalog, spend estimated
    /// from usage not billed yet, commitment break-even and sizing, model-tiering hints.
    #[command(after_help = EXIT_CODES)]
    Advise(AdviseArgs),
    /// The nightly job: ingest `[nightly] exports`, collect every configured cloud source
    /// (re-pulling the last `restate_days`), then write report.md / report.json /
    /// report.html / dashboard.html into --out and publish the feeds asked for.
    ///
    /// A source that fails does not stop the others; its stored days stay as they were and
    /// the report marks it stale (exit 2 after everything else is written). Progress goes to
    /// stderr, the Markdown digest to stdout.
    #[command(after_help = EXIT_CODES)]
    Nightly(NightlyArgs),
    /// Publish daily attributed rollups and anomalies to PostgreSQL (for the Grafana
    /// dashboards in `dashboards/`), Parquet or CSV. Idempotent per day.
    #[command(after_help = EXIT_CODES)]
    Publish(PublishArgs),
    /// Generate 90 days of realistic demo exports (AWS FOCUS, Azure cost details, GCP billing
    /// export), ingest them into a fresh store and print the report. No credentials, no network.
    #[command(after_help = EXIT_CODES)]
    Demo(DemoArgs),
    /// Print a shell completion script, e.g.
    /// `spendlens completions bash > /etc/bash_completion.d/spendlens`
    /// (zsh: into a directory of `$fpath` as `_spendlens`; fish:
    /// `~/.config/fish/completions/spendlens.fish`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g.
    /// `spendlens man > /usr/local/share/man/man1/spendlens.1`.
    Man,
}

/// Arguments of `spendlens reconcile`.
#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// First charge day (inclusive, YYYY-MM-DD). Default: the first day in the store.
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Last charge day (inclusive, YYYY-MM-DD). Default: the last day in the store.
    #[arg(long)]
    pub to: Option<NaiveDate>,
    /// Only the rows in this currency (each currency is reconciled on its own; none is
    /// ever added to another).
    #[arg(long)]
    pub currency: Option<String>,
    /// Only this billing period (`YYYY-MM`, the invoice's month): every stored row billed on
    /// it, whatever its charge day (a late row of the month before included), unless
    /// --from / --to narrow the days.
    #[arg(long, value_name = "YYYY-MM", value_parser = billing_period)]
    pub period: Option<String>,
    #[arg(long, value_enum, default_value = "md")]
    pub format: MdOrJson,
}

/// A `YYYY-MM` billing period.
fn billing_period(s: &str) -> Result<String, String> {
    NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d")
        .map(|_| s.to_string())
        .map_err(|_| format!("`{s}` is not a billing period; write it as YYYY-MM (2026-10)"))
}

/// Arguments of `spendlens budgets`.
#[derive(Debug, clap::Args)]
pub struct BudgetsArgs {
    /// The day to evaluate on (default: the store's last day).
    #[arg(long)]
    pub at: Option<NaiveDate>,
    #[arg(long, value_enum, default_value = "md")]
    pub format: MdOrJson,
    /// Exit with code 1 when a budget is at least this bad: `warning` (a threshold crossed
    /// by spend, or the forecast over the amount) or `over` (spend over the amount).
    #[arg(long, value_enum)]
    pub fail_on: Option<BudgetLevel>,
}

/// How bad a budget must be for `--fail-on` / `--fail-on-budget`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BudgetLevel {
    Warning,
    Over,
}

impl BudgetLevel {
    /// Whether a budget of `statuses` is at least this bad (`warning` counts a threshold
    /// reached by spend or a forecast over the amount; `over`, spend over it).
    pub fn reached_by(self, statuses: &[crate::analyse::budgets::BudgetStatus]) -> bool {
        use crate::analyse::budgets::BudgetState;
        statuses.iter().any(|s| match self {
            BudgetLevel::Warning => s.status >= BudgetState::Warning,
            BudgetLevel::Over => s.status == BudgetState::Over,
        })
    }
}

/// The body `nightly --post` sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PostFormat {
    Slack,
    Json,
}

/// Markdown for people, JSON for programs.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MdOrJson {
    Md,
    Json,
}

/// Arguments of `spendlens ingest`.
#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Export files (.csv, .parquet, .json / .jsonl).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Skip detection and read the files as this format.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Services to keep: `llm` (default: Bedrock, Vertex AI / Gemini, Azure OpenAI),
    /// `all`, or comma-separated case-insensitive substrings of service names.
    #[arg(long)]
    pub services: Option<String>,
    /// Source name for the partitions (default `<format>:<billing account>`).
    #[arg(long)]
    pub source: Option<String>,
    /// Which of Azure's two cost views the files are (default: told from each file's name,
    /// `…ActualCost…` / `…AmortizedCost…`, or content). Billed cost is read from the actual
    /// view and effective cost from the amortized view of the same account and month.
    #[arg(long, value_enum)]
    pub azure_view: Option<crate::ingest::AzureView>,
}

/// Arguments of `spendlens report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub span: Span,
    #[arg(long, value_enum, default_value = "md")]
    pub format: ReportFormat,
    /// How many top movers to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Daily rows (the dashboard's data) keep the N largest provider/team/feature/model
    /// series of the period; each team's other spend is one `(other)` series per
    /// provider, so totals stay exact. 0 keeps every series.
    #[arg(long, default_value_t = report::DAILY_SERIES)]
    pub daily_series: usize,
}

/// Arguments of `spendlens anomalies`.
#[derive(Debug, clap::Args)]
pub struct AnomaliesArgs {
    #[command(flatten)]
    pub span: Span,
    #[arg(long, value_enum, default_value = "table")]
    pub format: TextFormat,
    /// Only list incidents of at least this severity.
    #[arg(long, value_enum, default_value = "low")]
    pub min_severity: Severity,
    /// Exit with code 1 when an open (not acknowledged) incident of at least this severity
    /// is found.
    #[arg(long, value_enum)]
    pub fail_on: Option<Severity>,
    /// Which incidents to list: open ones, acknowledged ones, or all.
    #[arg(long, value_enum, default_value = "all")]
    pub status: StatusFilter,
    /// One row per flagged series (the flags incidents are made of) instead of incidents.
    #[arg(long)]
    pub series: bool,
    #[command(subcommand)]
    pub action: Option<AnomaliesAction>,
}

/// Incidents `anomalies --status` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFilter {
    Open,
    Acked,
    All,
}

#[derive(Debug, Subcommand)]
pub enum AnomaliesAction {
    /// Record a verdict on an incident: it stays listed with its status, but no longer fails
    /// `anomalies --fail-on` or the nightly exit code. Kept in the store (survives
    /// re-ingest and re-collection); acknowledging again replaces the verdict.
    #[command(after_help = EXIT_CODES)]
    Ack(AckArgs),
}

/// Arguments of `spendlens anomalies ack`.
#[derive(Debug, clap::Args)]
pub struct AckArgs {
    /// The incident's id, as `anomalies` lists it (e.g. `2026-10-14-3fa2c1`).
    pub id: String,
    /// What the incident is.
    #[arg(long = "as", value_enum)]
    pub verdict: crate::store::acks::Verdict,
    /// Why, for whoever reads the report next.
    #[arg(long)]
    pub note: Option<String>,
    /// The verdict covers the incident up to this day: if it is still under way after it,
    /// it is open again.
    #[arg(long)]
    pub until: Option<NaiveDate>,
    /// The store's currency the incident is in, when it holds several.
    #[arg(long)]
    pub currency: Option<String>,
}

/// Arguments of `spendlens investigate`.
#[derive(Debug, clap::Args)]
pub struct InvestigateArgs {
    #[command(flatten)]
    pub span: Span,
    /// DIMENSION=VALUE, e.g. `model=anthropic.claude-*`.
    #[arg(long = "where", value_name = "DIMENSION=VALUE")]
    pub selectors: Vec<String>,
    /// Shortcut for `--where team=VALUE` (`*` globs; case-insensitive).
    #[arg(long)]
    pub team: Option<String>,
    /// Shortcut for `--where feature=VALUE`.
    #[arg(long)]
    pub feature: Option<String>,
    /// Shortcut for `--where provider=VALUE` (`aws`, `gcp`, `azure`, a vendor).
    #[arg(long)]
    pub provider: Option<String>,
    /// Shortcut for `--where model=VALUE` (e.g. `anthropic.claude-*`).
    #[arg(long)]
    pub model: Option<String>,
    /// Shortcut for `--where account=VALUE` (an AWS account, GCP project or Azure subscription).
    #[arg(long)]
    pub account: Option<String>,
    /// Focus day (default: the selection's largest anomaly, else the last day).
    #[arg(long)]
    pub at: Option<NaiveDate>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: TextFormat,
}

/// Arguments of `spendlens collect`.
#[derive(Debug, clap::Args)]
pub struct CollectArgs {
    /// First day (default: `lookback_days` before today).
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Last day (default: yesterday).
    #[arg(long)]
    pub to: Option<NaiveDate>,
}

/// Arguments of `spendlens doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Print the minimal IAM policy for the AWS collectors and exit.
    #[arg(long)]
    pub policy: bool,
}

/// Arguments of `spendlens advise`.
#[derive(Debug, clap::Args)]
pub struct AdviseArgs {
    #[command(flatten)]
    pub span: Span,
    #[arg(long, value_enum, default_value = "table")]
    pub format: TextFormat,
}

/// Arguments of `spendlens nightly`.
#[derive(Debug, clap::Args)]
pub struct NightlyArgs {
    /// Directory for the report and dashboard files.
    #[arg(long, default_value = "spendlens-out")]
    pub out: PathBuf,
    /// Exit with code 1 when an open (not acknowledged) incident of at least this severity is
    /// under way on the last `restate_days` days (the days this run could have changed).
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on_anomaly: Option<Severity>,
    /// Exit with code 1 when a budget is at least this bad on the report's last day:
    /// `warning` (a threshold reached by spend, or the forecast over the amount) or `over`
    /// (spend over the amount).
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub fail_on_budget: Option<BudgetLevel>,
    /// Post the digest to this incoming-webhook URL (Slack, or any webhook with
    /// `--post-format json`). Budget thresholds crossed since the last successful post are
    /// announced once; a failed post announces them again the next night.
    #[arg(
        long,
        env = "SPENDLENS_WEBHOOK_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub post: Option<String>,
    /// What `--post` sends: `slack` (Block Kit blocks, the Markdown digest as `text`) or
    /// `json` (the digest's figures as a JSON document with `schema_version`).
    #[arg(long, value_enum, default_value = "slack")]
    pub post_format: PostFormat,
    /// Where the report files will be served (e.g. `https://finops.example.com/spendlens`):
    /// the digest links `report.html`, `dashboard.html`, `report.md` and `report.json` under it.
    #[arg(long, value_name = "URL")]
    pub report_url: Option<String>,
    /// Currency, required when the store holds several.
    #[arg(long)]
    pub currency: Option<String>,
    #[command(flatten)]
    pub feeds: Feeds,
}

/// Arguments of `spendlens publish`.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub span: Span,
    #[command(flatten)]
    pub feeds: Feeds,
    /// Print the PostgreSQL tables' DDL and exit.
    #[arg(long)]
    pub print_schema: bool,
}

/// Arguments of `spendlens demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Directory for the demo exports, config and store.
    #[arg(long, default_value = "spendlens-demo")]
    pub dir: PathBuf,
    /// Last day of the generated data.
    #[arg(long, default_value = "2026-10-31")]
    pub end: NaiveDate,
    #[arg(long, value_enum, default_value = "md")]
    pub format: ReportFormat,
}

/// Parse the arguments and run the command; the exit code on success, an error otherwise.
pub fn run() -> Result<ExitCode> {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let mut cli = <Cli as clap::FromArgMatches>::from_arg_matches(&matches)?;
    cli.config_named = !matches!(
        matches.value_source("config"),
        Some(clap::parser::ValueSource::DefaultValue) | None
    );
    crate::analyse::set_slice_rows(usize::try_from(cli.slice_rows).unwrap_or(usize::MAX));
    match &cli.command {
        Command::Ingest(args) => commands::ingest::run(&cli, args),
        Command::Report(args) => commands::report::run(&cli, args),
        Command::Anomalies(args) => commands::anomalies::run(&cli, args),
        Command::Investigate(args) => commands::investigate::run(&cli, args),
        Command::Reconcile(args) => commands::reconcile::run(&cli, args),
        Command::Budgets(args) => commands::budgets::run(&cli, args),
        Command::Collect(args) => commands::collect::run(&cli, args),
        Command::Doctor(args) => commands::doctor::run(&cli, args),
        Command::Advise(args) => commands::advise::run(&cli, args),
        Command::Nightly(args) => commands::nightly::run(&cli, args),
        Command::Publish(args) => commands::publish::run(&cli, args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Completions { shell } => commands::help::completions(*shell),
        Command::Man => commands::help::man(),
    }
}

//! Command line: clap parses raw arguments, [`run`] validates them once into plain option
//! structs and calls the library. Data goes to stdout, progress and warnings to stderr.

use crate::attribute::Attributor;
use crate::config::Config;
use crate::ingest::{self, Format, IngestOptions};
use crate::normalise::ServiceFilter;
use crate::output::report::{self, ReportOptions};
use crate::store::Store;
use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const EXIT_CODES: &str = "Exit codes:\n  0  success\n  1  anomalies found when asked to fail on them (reserved for --fail-on-anomaly)\n  2  error (bad input, bad config, store locked, I/O); nothing half-written";

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
    /// Data directory holding the Parquet cost lake.
    #[arg(
        long,
        global = true,
        env = "SPENDLENS_DATA_DIR",
        default_value = "spendlens-data"
    )]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Md,
    Json,
    Csv,
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
        /// First day (inclusive, YYYY-MM-DD). Default: the first day in the store.
        #[arg(long)]
        from: Option<NaiveDate>,
        /// Last day (inclusive, YYYY-MM-DD). Default: the last day in the store.
        #[arg(long)]
        to: Option<NaiveDate>,
        #[arg(long, value_enum, default_value = "md")]
        format: ReportFormat,
        /// Report currency, required when the store holds several.
        #[arg(long)]
        currency: Option<String>,
        /// How many top movers to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
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
    let explicit = std::env::var_os("SPENDLENS_CONFIG").is_some()
        || std::env::args_os()
            .any(|a| a == "--config" || a.to_string_lossy().starts_with("--config="));
    Ok(Config::load(&cli.config, explicit)?)
}

fn render(report: &report::Report, format: ReportFormat) -> String {
    match format {
        ReportFormat::Md => report.to_markdown(),
        ReportFormat::Json => report.to_json() + "\n",
        ReportFormat::Csv => report.to_csv(),
    }
}

pub fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Ingest {
            files,
            format,
            services,
            source,
        } => {
            let config = load_config(&cli)?;
            let opts = IngestOptions {
                format: *format,
                services: match services {
                    Some(s) => ServiceFilter::parse(s),
                    None => config.ingest.service_filter(),
                },
                source: source.clone(),
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
            from,
            to,
            format,
            currency,
            top,
        } => {
            let config = load_config(&cli)?;
            let store = Store::new(&cli.data_dir);
            let report = report::build(
                &store,
                &Attributor::new(&config.attribution),
                &ReportOptions {
                    from: *from,
                    to: *to,
                    currency: currency.clone(),
                    top: *top,
                },
            )?;
            emit(&render(&report, *format))?;
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

//! `spendlens nightly`: ingest the configured exports and collect every configured cloud
//! source (each on its own: one failing does not stop the others, and its stored days stay
//! untouched), then build the report over the last `period_days` and write it, with the
//! dashboard, into an output directory.

use crate::attribute::Attributor;
use crate::config::Config;
use crate::ingest::IngestOptions;
use crate::output::report::{self, Report, ReportOptions};
use crate::store::{Store, StoreLock};
use chrono::{Duration, NaiveDate};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum NightlyError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Report(#[from] report::ReportError),
    #[error(transparent)]
    Attribute(#[from] crate::attribute::AttributeError),
    #[error("`{path}`: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(transparent)]
    Budget(#[from] crate::analyse::budgets::BudgetError),
    #[error("starting the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// How one source did tonight.
#[derive(Debug, Clone)]
pub struct SourceOutcome {
    pub source: String,
    /// What was fetched, or why it failed.
    pub result: Result<String, String>,
}

pub struct Options<'a> {
    pub config: &'a Config,
    /// Relative `[nightly] exports` paths are relative to this directory.
    pub config_dir: PathBuf,
    pub today: NaiveDate,
    pub currency: Option<String>,
    pub top: usize,
}

pub struct Nightly {
    pub sources: Vec<SourceOutcome>,
    pub report: Report,
}

/// RFC 3339 UTC time of now, as run records store it.
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Export files named by `[nightly] exports`: files as given, directories by their
/// .csv / .parquet / .json / .jsonl files (sorted). A path that does not exist is an error
/// of that path only.
pub(crate) fn export_files(
    dir: &Path,
    paths: &[PathBuf],
) -> Vec<(PathBuf, Result<Vec<PathBuf>, String>)> {
    paths
        .iter()
        .map(|p| {
            let path = if p.is_absolute() {
                p.clone()
            } else {
                dir.join(p)
            };
            let found = if path.is_dir() {
                std::fs::read_dir(&path)
                    .map(|entries| {
                        let mut files: Vec<PathBuf> = entries
                            .flatten()
                            .map(|e| e.path())
                            .filter(|f| {
                                f.is_file()
                                    && matches!(
                                        f.extension().and_then(|e| e.to_str()),
                                        Some("csv" | "parquet" | "json" | "jsonl")
                                    )
                            })
                            .collect();
                        files.sort();
                        files
                    })
                    .map_err(|e| format!("`{}`: {e}", path.display()))
            } else if path.is_file() {
                Ok(vec![path.clone()])
            } else {
                Err(format!("`{}` does not exist", path.display()))
            };
            (path, found)
        })
        .collect()
}

/// Ingest the configured export files in one commit; every file is its own source of the
/// run (`export:<path>`), recorded with how it went.
fn ingest_exports(
    store: &Store,
    lock: &StoreLock,
    opts: &Options,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<SourceOutcome>, NightlyError> {
    let mut outcomes = Vec::new();
    let mut files = Vec::new();
    for (path, found) in export_files(&opts.config_dir, &opts.config.nightly.exports) {
        match found {
            Ok(f) => files.extend(f),
            Err(e) => outcomes.push(SourceOutcome {
                source: format!("export:{}", path.display()),
                result: Err(e),
            }),
        }
    }
    if !files.is_empty() {
        progress(&format!("ingesting {} export file(s)", files.len()));
        let ingest_opts = IngestOptions {
            format: None,
            services: opts.config.ingest.service_filter(),
            source: None,
            part_bytes: crate::ingest::PART_BYTES,
            azure_view: None,
            dates: opts.config.ingest.date_range(),
        };
        match crate::store::ingest_files(store, lock, &files, &ingest_opts) {
            Ok(report) => {
                for p in &report.parsed {
                    outcomes.push(SourceOutcome {
                        source: format!("export:{}", p.file.display()),
                        result: Ok(format!(
                            "{} row(s) read, {} kept, {} day(s)",
                            p.rows_read,
                            p.rows_kept,
                            p.covered.len()
                        )),
                    });
                }
                for e in &report.failed {
                    outcomes.push(SourceOutcome {
                        source: format!(
                            "export:{}",
                            e.file()
                                .map(|f| f.display().to_string())
                                .unwrap_or_default()
                        ),
                        result: Err(e.to_string()),
                    });
                }
            }
            // The commit itself failed: every file of it is stale tonight.
            Err(e) => {
                for f in &files {
                    outcomes.push(SourceOutcome {
                        source: format!("export:{}", f.display()),
                        result: Err(e.to_string()),
                    });
                }
            }
        }
    }
    Ok(outcomes)
}

/// Collect, record each source's run, and build the report.
pub fn run(
    store: &Store,
    lock: &StoreLock,
    opts: &Options,
    progress: &mut dyn FnMut(&str),
) -> Result<Nightly, NightlyError> {
    let cfg = &opts.config.nightly;
    let mut sources = ingest_exports(store, lock, opts, progress)?;
    let cloud = &opts.config;
    if cloud.has_collectors() {
        progress("collecting from the cloud APIs");
        let runtime = crate::collect::runtime().map_err(NightlyError::Runtime)?;
        let restate_from = opts.today - Duration::days(i64::from(cfg.restate_days.max(1)));
        let runs = runtime.block_on(crate::collect::all(
            cloud,
            store,
            lock,
            None,
            opts.today,
            Some(restate_from),
            &mut |m| eprintln!("{m}"),
        ));
        for r in runs {
            sources.push(SourceOutcome {
                source: r.source,
                result: r.result.map_err(|e| e.to_string()),
            });
        }
    }
    record_runs(store, lock, &sources)?;
    progress("building the report");
    let attributor = Attributor::for_store(&opts.config.attribution, store)?;
    let (from, to) =
        last_days(store, cfg.period_days).map_err(|e| NightlyError::Report(e.into()))?;
    let report = report::build(
        store,
        &attributor,
        &ReportOptions {
            anomalies: opts.config.anomalies.clone(),
            from,
            to,
            currency: opts.currency.clone(),
            top: opts.top,
            stale_after_days: cfg.stale_after_days,
            daily_series: crate::output::report::DAILY_SERIES,
        },
    )?
    .with_budgets(opts.config, store, &attributor)?;
    let mut report = report;
    report.budget_alerts =
        crate::analyse::budgets::fresh_alerts(&report.budgets, &store.announced()?);
    Ok(Nightly { sources, report })
}

/// The last `days` days of the store's costs (`None`s when it holds none): the period the
/// nightly report and `publish` cover by default.
pub(crate) fn last_days(
    store: &Store,
    days: u32,
) -> Result<(Option<NaiveDate>, Option<NaiveDate>), crate::analyse::AnalyseError> {
    let last = crate::analyse::bounds(store)?.map(|(_, last)| last);
    Ok((
        last.map(|l| l - Duration::days(i64::from(days.max(1)) - 1)),
        last,
    ))
}

/// Record every source's outcome in the store's run log (what `sources` in reports reads).
pub(crate) fn record_runs(
    store: &Store,
    lock: &StoreLock,
    sources: &[SourceOutcome],
) -> Result<(), NightlyError> {
    let runs: Vec<(&str, Option<String>)> = sources
        .iter()
        .map(|s| (s.source.as_str(), s.result.clone().err()))
        .collect();
    Ok(store.record_runs(lock, &now_rfc3339(), &runs)?)
}

/// Write `report.md`, `report.json`, `report.html` and `dashboard.html` into `out`, each
/// replaced atomically (a reader never sees half a file).
pub(crate) fn write_outputs(report: &Report, out: &Path) -> Result<Vec<PathBuf>, NightlyError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |cause| NightlyError::Io { path, cause }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mut written = Vec::new();
    for (name, text) in [
        ("report.md", report.to_markdown()),
        ("report.json", report.to_json() + "\n"),
        ("report.html", report.to_html()),
        ("dashboard.html", report.to_dashboard()),
    ] {
        let path = out.join(name);
        let tmp = out.join(format!(".{name}.tmp"));
        if let Err(e) = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path)) {
            // The previous file stands; nothing half-written stays behind.
            let _ = std::fs::remove_file(&tmp);
            return Err(io(&path)(e));
        }
        written.push(path);
    }
    Ok(written)
}

/// Post `body` (JSON: Slack's Block Kit message, or the digest document) to an incoming
/// webhook.
pub(crate) async fn post_digest(url: &str, body: &str) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        // reqwest's messages include the URL, and a webhook URL is a secret.
        .map_err(|e| format!("sending failed: {}", e.without_url()))?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        return Err(format!(
            "the webhook answered {status}: {}",
            text.chars().take(200).collect::<String>()
        ));
    }
    Ok(())
}

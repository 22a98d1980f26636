//! `spendlens nightly`: exports and collectors into the store, then the report files, the
//! feeds and the digest; progress on stderr, the digest on stdout.

use super::{emit, load_config, runtime};
use crate::cli::{Cli, NightlyArgs, PostFormat};
use crate::config::Config;
use crate::nightly::Nightly;
use crate::store::Store;
use anyhow::{bail, Result};
use std::process::ExitCode;

pub fn run(cli: &Cli, args: &NightlyArgs) -> Result<ExitCode> {
    let config = load_config(cli)?;
    let store = Store::new(&cli.data_dir);
    let lock = store.lock_within(std::time::Duration::from_secs(
        config.nightly.lock_wait_secs,
    ))?;
    let steps = 3 + usize::from(args.feeds.any()) + usize::from(args.post.is_some());
    let mut progress = Progress::new(steps);
    let config_dir = cli
        .config
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let night = crate::nightly::run(
        &store,
        &lock,
        &crate::nightly::Options {
            config: &config,
            config_dir,
            today: chrono::Utc::now().date_naive(),
            currency: args.currency.clone(),
            top: 10,
        },
        &mut |m| progress.say(m),
    )?;
    drop(lock);
    let delivered = deliver(&config, &store, &night, args, &mut progress)?;
    if delivered.digest_sent {
        remember_announced(&store, &night)?;
    }
    if delivered.failures > 0 {
        bail!("{} part(s) of the nightly run failed (see above); the report marks failed sources stale and their stored days are unchanged", delivered.failures);
    }
    let anomalies = args
        .fail_on_anomaly
        .is_some_and(|level| recent_anomalies(&config, &night, level));
    let budgets = args
        .fail_on_budget
        .is_some_and(|level| budgets_at(&night, level));
    Ok(if anomalies || budgets {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Seconds to wait for the store's lock to record announcements (another command may be
/// reading the store into a report).
const LOCK_WAIT_SECS: u64 = 60;

/// What delivering the night's results did.
struct Delivered {
    /// Parts that failed (sources, budgets, feeds, the post).
    failures: usize,
    /// Whether the digest reached its readers (printed, and posted when asked): only then
    /// are its budget crossings remembered as announced.
    digest_sent: bool,
}

/// Record the budget crossings the digest announced, so the next nights do not repeat them.
fn remember_announced(store: &Store, night: &Nightly) -> Result<()> {
    if night.report.budget_alerts.is_empty() {
        return Ok(());
    }
    let at = crate::nightly::now_rfc3339();
    let said: Vec<_> = night
        .report
        .budget_alerts
        .iter()
        .map(|a| a.announcement(&at))
        .collect();
    let lock = store.lock_within(std::time::Duration::from_secs(LOCK_WAIT_SECS))?;
    store.record_announced(&lock, &said)?;
    Ok(())
}

/// Whether a budget is at least `level` on the report's last day (said on stderr).
fn budgets_at(night: &Nightly, level: crate::cli::BudgetLevel) -> bool {
    let hit = level.reached_by(&night.report.budgets);
    if hit {
        let names: Vec<String> = night
            .report
            .budgets
            .iter()
            .filter(|b| level.reached_by(std::slice::from_ref(b)))
            .map(|b| format!("{} ({})", b.name, b.status.name()))
            .collect();
        eprintln!(
            "budget(s) at `--fail-on-budget` level: {}",
            names.join(", ")
        );
    }
    hit
}

/// The sources' outcomes on stderr, the report files, the feeds, the webhook post and the
/// digest on stdout; how many of them failed.
fn deliver(
    config: &Config,
    store: &Store,
    night: &Nightly,
    args: &NightlyArgs,
    progress: &mut Progress,
) -> Result<Delivered> {
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
    for p in &night.report.budget_errors {
        failures += 1;
        eprintln!("error: {}", p.error);
    }
    progress.say(&format!("writing the report into `{}`", args.out.display()));
    for p in crate::nightly::write_outputs(&night.report, &args.out)? {
        eprintln!("wrote `{}`", p.display());
    }
    if args.feeds.any() {
        progress.say("publishing feeds");
        match super::publish::to_feeds(config, store, &night.report, &args.feeds) {
            Ok(lines) => lines.iter().for_each(|l| eprintln!("{l}")),
            Err(e) => {
                failures += 1;
                eprintln!("error: publishing: {e:#}");
            }
        }
    }
    let links = crate::output::post::links(args.report_url.as_deref());
    let digest = crate::output::post::with_links(&night.report.to_digest(), &links);
    let mut digest_sent = true;
    if let Some(url) = &args.post {
        progress.say("posting the digest");
        let body = match args.post_format {
            PostFormat::Slack => crate::output::post::slack(&night.report, &digest, &links),
            PostFormat::Json => crate::output::post::json(&night.report, &digest, &links),
        };
        if let Err(e) = runtime()?.block_on(crate::nightly::post_digest(url, &body.to_string())) {
            failures += 1;
            digest_sent = false;
            eprintln!("error: posting the digest to the webhook: {e}\nhint: check the incoming-webhook URL (--post or SPENDLENS_WEBHOOK_URL) and that the webhook still exists; the report files were written, and budget crossings will be announced again next time");
        }
    }
    emit(&digest)?;
    Ok(Delivered {
        failures,
        digest_sent,
    })
}

/// Whether an open (not acknowledged) incident of at least `level` is under way on the
/// last `restate_days` days (the days this run could have changed); said on stderr.
fn recent_anomalies(
    config: &Config,
    night: &Nightly,
    level: crate::analyse::anomalies::Severity,
) -> bool {
    let recent_from = night.report.period.end
        - chrono::Duration::days(i64::from(config.nightly.restate_days.max(1)) - 1);
    let hits = night
        .report
        .incidents
        .iter()
        .filter(|i| {
            i.severity >= level
                && i.status == crate::analyse::anomalies::Status::Open
                && i.end >= recent_from
        })
        .count();
    if hits > 0 {
        eprintln!(
            "{hits} open incident(s) at or above `{}` severity since {recent_from} (`spendlens anomalies ack ID --as …` acknowledges one)",
            level.name()
        );
    }
    hits > 0
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

//! `spendlens nightly`: exports and collectors into the store, then the report files, the
//! feeds and the digest; progress on stderr, the digest on stdout.

use super::{emit, load_config, runtime};
use crate::cli::{Cli, NightlyArgs};
use crate::config::Config;
use crate::nightly::Nightly;
use crate::store::Store;
use anyhow::{bail, Result};
use std::process::ExitCode;

pub fn run(cli: &Cli, args: &NightlyArgs) -> Result<ExitCode> {
    let config = load_config(cli)?;
    let store = Store::new(&cli.data_dir);
    let lock = store.lock()?;
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
    let failures = deliver(&config, &store, &night, args, &mut progress)?;
    if failures > 0 {
        bail!("{failures} part(s) of the nightly run failed (see above); the report marks failed sources stale and their stored days are unchanged");
    }
    match args.fail_on_anomaly {
        Some(level) => Ok(exit_on_recent_anomalies(&config, &night, level)),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// The sources' outcomes on stderr, the report files, the feeds, the webhook post and the
/// digest on stdout; how many of them failed.
fn deliver(
    config: &Config,
    store: &Store,
    night: &Nightly,
    args: &NightlyArgs,
    progress: &mut Progress,
) -> Result<usize> {
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
    let digest = night.report.to_digest();
    if let Some(url) = &args.post {
        progress.say("posting the digest");
        if let Err(e) = runtime()?.block_on(crate::nightly::post_digest(url, &digest)) {
            failures += 1;
            eprintln!("error: posting the digest to the webhook: {e}\nhint: check the incoming-webhook URL (--post or SPENDLENS_WEBHOOK_URL) and that the webhook still exists; the report files were written");
        }
    }
    emit(&digest)?;
    Ok(failures)
}

/// Exit 1 when an open (not acknowledged) incident of at least `level` is under way on the
/// last `restate_days` days (the days this run could have changed).
fn exit_on_recent_anomalies(
    config: &Config,
    night: &Nightly,
    level: crate::analyse::anomalies::Severity,
) -> ExitCode {
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
    if hits == 0 {
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "{hits} open incident(s) at or above `{}` severity since {recent_from} (`spendlens anomalies ack ID --as …` acknowledges one)",
        level.name()
    );
    ExitCode::from(1)
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

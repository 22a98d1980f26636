//! `spendlens anomalies`: incidents (or, with `--series`, every flagged series) as a table
//! or JSON; exit 1 with `--fail-on` when an open one is at least that severe.
//! `spendlens anomalies ack`: a verdict on one incident, recorded in the store.

use super::{attributor, emit, load_config};
use crate::analyse;
use crate::analyse::anomalies::{self, Detection, Incident, Status};
use crate::cli::{AckArgs, AnomaliesAction, AnomaliesArgs, Cli, Span, StatusFilter, TextFormat};
use crate::config::Config;
use crate::output::terminal;
use crate::store::acks::Ack;
use crate::store::Store;
use anyhow::{bail, Result};
use std::process::ExitCode;

pub fn run(cli: &Cli, args: &AnomaliesArgs) -> Result<ExitCode> {
    if let Some(AnomaliesAction::Ack(ack)) = &args.action {
        return acknowledge(cli, ack);
    }
    let (config, store, detection, currency) = detect(cli, &args.span)?;
    let Detection {
        anomalies,
        mut incidents,
    } = detection;
    anomalies::incidents::judge(&mut incidents, &store.acks()?, &config.anomalies.planned);
    let fail_on = |severity| match args.fail_on {
        Some(level) => severity >= level,
        None => false,
    };
    let failing = if args.series {
        let shown: Vec<_> = anomalies
            .into_iter()
            .filter(|a| a.severity >= args.min_severity)
            .collect();
        emit(&match args.format {
            TextFormat::Table => terminal::anomalies_table(&shown, &currency),
            TextFormat::Json => crate::output::json_object("anomalies", &shown)?,
        })?;
        shown.iter().filter(|a| fail_on(a.severity)).count()
    } else {
        let shown: Vec<Incident> = incidents
            .into_iter()
            .filter(|i| i.severity >= args.min_severity && listed(args.status, i.status))
            .collect();
        emit(&match args.format {
            TextFormat::Table => terminal::incidents_table(&shown, &currency),
            TextFormat::Json => crate::output::json_object("incidents", &shown)?,
        })?;
        shown
            .iter()
            .filter(|i| i.status == Status::Open && fail_on(i.severity))
            .count()
    };
    if let (Some(level), true) = (args.fail_on, failing > 0) {
        let what = if args.series {
            "flagged series"
        } else {
            "open incident(s)"
        };
        eprintln!("{failing} {what} at or above `{}` severity", level.name());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn listed(filter: StatusFilter, status: Status) -> bool {
    match filter {
        StatusFilter::All => true,
        StatusFilter::Open => status == Status::Open,
        StatusFilter::Acked => status == Status::Acked,
    }
}

/// Config, store, what detection finds over `span` and the window's currency.
fn detect(cli: &Cli, span: &Span) -> Result<(Config, Store, Detection, String)> {
    let config = load_config(cli)?;
    let store = Store::new(&cli.data_dir);
    let attributor = attributor(&config, &store)?;
    let (detection, currency) = super::detect(&config, &store, &attributor, span)?;
    Ok((config, store, detection, currency))
}

/// `anomalies ack ID`: the id must name an incident the store's data raises (looked for
/// from five weeks before its start day), so a typo is an error, not a silent no-op.
fn acknowledge(cli: &Cli, args: &AckArgs) -> Result<ExitCode> {
    let Some(start) = args
        .id
        .get(..10)
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    else {
        bail!(
            "`{}` is not an incident id (they look like 2026-10-14-3fa2c1: the start day and six hex digits)\nhint: `spendlens anomalies` lists them",
            args.id
        );
    };
    let span = Span {
        from: Some(start - chrono::Duration::days(analyse::HISTORY_DAYS)),
        to: None,
        currency: args.currency.clone(),
    };
    let (_, store, detection, _) = detect(cli, &span)?;
    let Some(incident) = detection.incidents.iter().find(|i| i.id == args.id) else {
        bail!(
            "no incident `{}` in the store `{}`\nhint: `spendlens anomalies --from {start}` lists the incidents from that day on",
            args.id,
            store.dir().display()
        );
    };
    let lock = store.lock()?;
    let ack = Ack {
        verdict: args.verdict,
        note: args.note.clone(),
        until: args.until,
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        by: "ack".into(),
    };
    store.record_ack(&lock, &incident.id, ack)?;
    eprintln!(
        "acknowledged {} ({} {} `{}` from {}) as {}{}",
        incident.id,
        incident.kind.name(),
        incident.headline.dimension,
        incident.headline.value,
        incident.start,
        args.verdict.name(),
        args.until
            .map(|u| format!(" until {u}"))
            .unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

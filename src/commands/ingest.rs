//! `spendlens ingest`: export files into the store, one line per file and one for the store.

use super::{emit, load_config};
use crate::cli::{Cli, IngestArgs};
use crate::ingest::{IngestOptions, Parsed, PART_BYTES};
use crate::normalise::ServiceFilter;
use crate::store::Store;
use anyhow::{bail, Result};
use std::process::ExitCode;

pub fn run(cli: &Cli, args: &IngestArgs) -> Result<ExitCode> {
    crate::memory::keep_freed();
    let config = load_config(cli)?;
    let opts = IngestOptions {
        format: args.format,
        services: match &args.services {
            Some(s) => ServiceFilter::parse(s),
            None => config.ingest.service_filter(),
        },
        source: args.source.clone(),
        part_bytes: PART_BYTES,
        azure_view: args.azure_view,
        dates: config.ingest.date_range(),
    };
    let store = Store::new(&cli.data_dir);
    let lock = store.lock()?;
    let outcome = crate::store::ingest_files(&store, &lock, &args.files, &opts)?;
    let mut text = String::new();
    for p in &outcome.parsed {
        text.push_str(&describe(p));
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
    for (source, days) in &outcome.not_covered {
        let shown: Vec<String> = days.iter().take(5).map(ToString::to_string).collect();
        text.push_str(&format!(
            "note: source `{source}` holds {} stored day(s) of the same month(s) this ingest did not cover ({}{}): kept as they were (a newer export that drops days does not delete them)\n",
            days.len(),
            shown.join(", "),
            if days.len() > shown.len() { ", …" } else { "" }
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
            args.files.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per ingested file: rows read and kept, and what the service filter skipped.
fn describe(p: &Parsed) -> String {
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
    if let Some(v) = p.view {
        s.push_str(&format!("; Azure {} cost view ({})", v.view.name(), v.how));
    }
    s.push('\n');
    s
}

//! `spendlens investigate`: one selection of spend explained around a focus day.

use super::{attributor, emit, load_config};
use crate::analyse::investigate::{self, Selector};
use crate::analyse::{self, anomalies, Dimension};
use crate::cli::{Cli, InvestigateArgs, TextFormat};
use crate::output::terminal;
use crate::store::Store;
use anyhow::Result;
use std::process::ExitCode;

pub fn run(cli: &Cli, args: &InvestigateArgs) -> Result<ExitCode> {
    let selection = selection(args)?;
    let span = &args.span;
    // Everything investigate looks at lies within the selection: load only that.
    let config = load_config(cli)?;
    let store = Store::new(&cli.data_dir);
    let attributor = attributor(&config, &store)?;
    let (window, series) = investigate::load(
        &store,
        &attributor,
        &selection,
        span.from,
        span.to,
        span.currency.as_deref(),
        args.at,
        &config.anomalies,
    )
    .map_err(|e| with_nearest(e, &store, &attributor, &selection, span))?;
    let currency = window.currency.clone();
    let (start, end) = (window.start, window.end);
    let frame = anomalies::Frame::spanning(window.frame, window.loaded)?.ok_or_else(|| {
        analyse::AnalyseError::NoMatch(if selection.is_empty() {
            "the period".into()
        } else {
            investigate::describe(&selection)
        })
    });
    let frame = frame.map_err(|e| with_nearest(e, &store, &attributor, &selection, span))?;
    let usage = analyse::load_usage(
        &store,
        &attributor,
        start - chrono::Duration::days(analyse::HISTORY_DAYS),
        end,
    )?;
    let mut inv = investigate::investigate(
        &frame,
        &selection,
        start,
        end,
        args.at,
        &currency,
        &config.anomalies,
        usage.as_ref(),
        series,
    )?;
    investigate::name_lost_tags(&store, &attributor, &mut inv, &config.anomalies)?;
    emit(&match args.format {
        TextFormat::Table => terminal::investigation(&inv),
        TextFormat::Json => crate::output::versioned(&inv)?,
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The `--where` selectors and the shortcut options, as (dimension, pattern) pairs.
/// `e`, and when it is a selection matching nothing, the values the period holds that are
/// nearest in spelling to those asked for ("did you mean").
fn with_nearest(
    e: analyse::AnalyseError,
    store: &Store,
    attributor: &crate::attribute::Attributor,
    selection: &[(Dimension, String)],
    span: &crate::cli::Span,
) -> anyhow::Error {
    if !matches!(e, analyse::AnalyseError::NoMatch(_)) {
        return e.into();
    }
    let near = investigate::nearest_values(
        store,
        attributor,
        selection,
        (span.from, span.to),
        span.currency.as_deref(),
    )
    .unwrap_or_default();
    if near.is_empty() {
        return e.into();
    }
    let list: Vec<String> = near
        .iter()
        .map(|(d, v)| format!("--where {}={v}", d.name()))
        .collect();
    anyhow::anyhow!("{e}\nhint: did you mean {}?", list.join(" "))
}

fn selection(args: &InvestigateArgs) -> Result<Vec<(Dimension, String)>> {
    let mut selection = Vec::new();
    for s in &args.selectors {
        selection.push(Selector::parse(s).map_err(|e| anyhow::anyhow!("--where {e}"))?);
    }
    for (dim, value) in [
        (Dimension::Team, &args.team),
        (Dimension::Feature, &args.feature),
        (Dimension::Provider, &args.provider),
        (Dimension::Model, &args.model),
        (Dimension::Account, &args.account),
    ] {
        if let Some(v) = value {
            selection.push((dim, v.clone()));
        }
    }
    Ok(selection)
}

//! `spendlens-bench`: a reproducible benchmark of spendlens against DuckDB on the same data.
//!
//! Generates N rows of FOCUS 1.2 (deterministic: 3 providers, 300 accounts, 3,000 resources,
//! 50 team and 50 feature tag values, 30 models, a year of days) as CSV and Parquet, then
//! times each step as its own process (wall time and peak RSS from `wait4`):
//!
//! - ingest CSV and ingest Parquet into a fresh store (DuckDB: COPY to day-partitioned
//!   Parquet),
//! - the report over the whole store (DuckDB: the same GROUP BYs: breakdowns, the previous
//!   period, the daily rows with small series folded, unit costs, and anomaly detection),
//! - anomaly detection over every series (DuckDB: daily sums per series against the median
//!   of the same weekday over four weeks; spendlens also explains each flag),
//! - `investigate` for one team (DuckDB: that team's daily series and breakdowns),
//!
//! and prints the spendlens / DuckDB ratio per step. With `--repeat N` each step runs N times
//! (spendlens, then DuckDB, in turn; every report repeat builds the rollups again) and the
//! table shows the median time, the fastest–slowest and the largest peak. An ingest step's
//! input file is read through before each program runs (both start with it in the page
//! cache). DuckDB runs from Python (`pip install duckdb`; `bench/duckdb_steps.py`). Not a
//! test: timings vary by machine.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

struct Measured {
    seconds: f64,
    peak_mb: f64,
    /// The fastest and slowest of repeated runs (`seconds` is their median).
    spread: Option<(f64, f64)>,
}

/// Repeated runs of one step as one: the median time (the lower middle of an even count),
/// the fastest and slowest, the largest peak memory; a failed run is the answer.
fn summarize(runs: Vec<Result<Measured, String>>) -> Result<Measured, String> {
    let runs: Vec<Measured> = runs.into_iter().collect::<Result<_, _>>()?;
    let mut times: Vec<f64> = runs.iter().map(|m| m.seconds).collect();
    times.sort_by(f64::total_cmp);
    let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
        return Err("not run".into());
    };
    Ok(Measured {
        seconds: times[(times.len() - 1) / 2],
        peak_mb: runs.iter().map(|m| m.peak_mb).fold(0.0, f64::max),
        spread: (times.len() > 1).then_some((first, last)),
    })
}

/// Run `cmd` to completion; its wall time and peak resident memory.
// The child is reaped by `wait4` (which also gives its resource usage), not `Child::wait`.
#[allow(clippy::zombie_processes)]
#[allow(unsafe_code)]
fn measure(cmd: &mut Command, what: &str) -> Result<Measured, String> {
    let started = Instant::now();
    let child = cmd
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut status = 0;
    // SAFETY: plain FFI call on our own child's pid with valid out-pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
    assert!(r == pid, "{what}: wait4 failed");
    if libc::WIFSIGNALED(status) {
        return Err(format!(
            "killed by signal {} after {seconds:.0} s",
            libc::WTERMSIG(status)
        ));
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("failed (status {status})"));
    }
    Ok(Measured {
        seconds,
        // Linux reports ru_maxrss in kilobytes.
        peak_mb: usage.ru_maxrss as f64 / 1024.0,
        spread: None,
    })
}

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const PROVIDERS: [(&str, &str); 3] = [
    ("AWS", "Amazon Bedrock"),
    ("Microsoft", "Azure OpenAI"),
    ("Google Cloud", "Vertex AI"),
];
const MODELS: [&[&str]; 3] = [
    &[
        "Claude 3.5 Sonnet",
        "Claude 3.5 Haiku",
        "Claude Sonnet 4",
        "Amazon Nova Pro",
        "Amazon Nova Lite",
        "Llama 3.1 70B",
        "Mistral Large",
        "Titan Embeddings",
        "Cohere Command R",
        "Claude 3 Opus",
    ],
    &[
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-4.1-mini",
        "o3-mini",
        "text-embedding-3-large",
        "gpt-35-turbo",
        "o1",
        "gpt-4-turbo",
        "gpt-5",
    ],
    &[
        "Gemini 2.5 Pro",
        "Gemini 2.5 Flash",
        "Gemini 1.5 Pro",
        "Gemini 1.5 Flash",
        "Gemini 2.0 Flash",
        "Imagen 3",
        "text-embedding-004",
        "Gemini 2.0 Flash Lite",
        "Gemini 2.5 Flash Lite",
        "Gemini 1.0 Pro",
    ],
];

/// Write `rows` FOCUS 1.2 rows to `path` (CSV).
fn generate(path: &Path, rows: u64) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(
        out,
        "BillingAccountId,BilledCost,BillingCurrency,ChargeCategory,ChargePeriodStart,ChargePeriodEnd,ConsumedQuantity,ConsumedUnit,EffectiveCost,PricingCategory,ServiceProviderName,RegionId,ResourceId,ServiceName,SkuPriceDetails,SubAccountId,Tags,x_UsageType"
    )?;
    let mut rng = Rng(0x5eed_f0c5);
    let start = chrono::NaiveDate::from_ymd_opt(2025, 11, 1).expect("date");
    for i in 0..rows {
        let p = (i % 3) as usize;
        let (provider, service) = PROVIDERS[p];
        let model = MODELS[p][rng.below(10) as usize];
        let day = start + chrono::Duration::days((i * 365 / rows.max(1)) as i64);
        let account = rng.below(300);
        let resource = account * 10 + rng.below(10);
        let team = rng.below(50);
        let feature = rng.below(50);
        let direction = if rng.below(3) == 0 { "Output" } else { "Input" };
        let tokens = 1_000 + rng.below(5_000_000);
        let cost = tokens as f64 * (1 + rng.below(15)) as f64 * 1e-7;
        writeln!(
            out,
            "bench-billing,{cost:.6},USD,Usage,{day}T00:00:00Z,{next}T00:00:00Z,{tokens},Tokens,{cost:.6},Standard,{provider},us-east-1,res-{resource:05},{service},\"{model} {direction} Tokens\",acct-{account:04},\"{{\"\"team\"\": \"\"team-{team:02}\"\", \"\"feature\"\": \"\"feature-{feature:02}\"\"}}\",{model} {direction} tokens",
            next = day + chrono::Duration::days(1),
        )?;
    }
    out.flush()
}

/// CSV -> Parquet with polars, in its own process: a child's peak-memory figure starts at
/// its parent's (Linux carries the high-water mark over fork and exec), so the parent must
/// stay small. Read in parts and written a row group at a time, so 50M rows fit in memory.
fn to_parquet(csv: &Path, parquet: &Path) {
    use polars::prelude::*;
    use spendlens::ingest::{chunks::CsvParts, Part};
    let mut writer = None;
    let mut schema: Option<SchemaRef> = None;
    for part in CsvParts::open(csv, 256 << 20).expect("reading the CSV back") {
        let Part::Csv { bytes, .. } = part.expect("reading the CSV back") else {
            unreachable!("CSV parts")
        };
        let df = CsvReadOptions::default()
            .with_has_header(true)
            .with_schema(schema.clone())
            .into_reader_with_file_handle(std::io::Cursor::new(bytes.as_slice()))
            .finish()
            .expect("parsing the CSV back");
        let w = writer.get_or_insert_with(|| {
            schema = Some(df.schema().clone());
            ParquetWriter::new(std::fs::File::create(parquet).expect("parquet"))
                .batched(df.schema())
                .expect("writing Parquet")
        });
        w.write_batch(&df).expect("writing Parquet");
    }
    writer.expect("rows").finish().expect("writing Parquet");
}

/// The steps, in the order they run (each needs the store the ingest of Parquet leaves).
const STEPS: [&str; 5] = [
    "ingest-csv",
    "ingest-parquet",
    "report",
    "anomalies",
    "investigate",
];

/// What the command line asks for.
struct Args {
    rows: u64,
    dir: PathBuf,
    skip_duckdb: bool,
    repeat: usize,
    steps: Vec<String>,
}

/// The command line, or the usage and exit 2.
fn parse_args() -> Args {
    let mut parsed = Args {
        rows: 1_000_000,
        dir: PathBuf::from("bench-data"),
        skip_duckdb: false,
        repeat: 1,
        steps: STEPS.iter().map(std::string::ToString::to_string).collect(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rows" => {
                parsed.rows = args
                    .next()
                    .and_then(|v| v.replace('_', "").parse().ok())
                    .expect("--rows N");
            }
            "--dir" => parsed.dir = PathBuf::from(args.next().expect("--dir DIR")),
            "--no-duckdb" => parsed.skip_duckdb = true,
            "--repeat" => {
                parsed.repeat = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .expect("--repeat N (at least 1)");
            }
            "--steps" => {
                parsed.steps = args
                    .next()
                    .expect("--steps a,b,…")
                    .split(',')
                    .map(str::to_string)
                    .collect();
            }
            other => {
                eprintln!("usage: spendlens-bench [--rows N] [--dir DIR] [--no-duckdb] [--repeat N] [--steps {}]\nunknown argument `{other}`", STEPS.join(","));
                std::process::exit(2);
            }
        }
    }
    if let Some(bad) = parsed.steps.iter().find(|s| !STEPS.contains(&s.as_str())) {
        eprintln!("unknown step `{bad}` (steps: {})", STEPS.join(","));
        std::process::exit(2);
    }
    parsed
}

/// The generated CSV and its Parquet copy, made when missing.
fn inputs(dir: &Path, rows: u64) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).expect("bench dir");
    let csv = dir.join(format!("focus_{rows}.csv"));
    let parquet = dir.join(format!("focus_{rows}.parquet"));
    if !csv.exists() {
        let t = Instant::now();
        generate(&csv, rows).expect("writing the CSV");
        eprintln!(
            "generated {} in {:.1}s",
            csv.display(),
            t.elapsed().as_secs_f64()
        );
    }
    if !parquet.exists() {
        let ok = Command::new(std::env::current_exe().expect("own path"))
            .arg("--to-parquet")
            .arg(&csv)
            .arg(&parquet)
            .status()
            .expect("converting to Parquet");
        assert!(ok.success(), "converting to Parquet failed");
    }
    (csv, parquet)
}

/// One row of the results table, printed as soon as it is measured: a step that fails
/// does not lose the others.
fn print_row(step: &str, m: &Result<Measured, String>, d: Option<&Result<Measured, String>>) {
    let cell = |m: &Result<Measured, String>| match m {
        Ok(Measured {
            seconds,
            peak_mb,
            spread: Some((fastest, slowest)),
        }) => format!("{seconds:.2} ({fastest:.2}–{slowest:.2}) | {peak_mb:.0}"),
        Ok(m) => format!("{:.2} | {:.0}", m.seconds, m.peak_mb),
        Err(e) => format!("{e} | —"),
    };
    let ratio = match (m, d) {
        (Ok(m), Some(Ok(d))) => format!("{:.2}x", m.seconds / d.seconds),
        _ => "—".to_string(),
    };
    println!(
        "| {step} | {} | {} | {ratio} |",
        cell(m),
        d.map(cell).unwrap_or_else(|| "— | —".into())
    );
}

/// The input of an ingest step read once before each program's run, so neither pays for
/// the disk (spendlens runs first and would otherwise warm the cache for DuckDB).
fn warm(step: &str, csv: &Path, parquet: &Path) {
    let input = match step {
        "ingest-csv" => csv,
        "ingest-parquet" => parquet,
        _ => return,
    };
    if let Ok(mut f) = std::fs::File::open(input) {
        let _ = std::io::copy(&mut f, &mut std::io::sink());
    }
}

/// `spendlens-bench eval [--series N] [--seed S] [--nab DIR] [--dir DIR]`: the anomaly
/// detector's quality over labelled synthetic series, the NAB taxi series and the demo's
/// planted events (see `spendlens::eval`), as Markdown tables.
fn eval(argv: &[String]) {
    let (mut n, mut seed) = (350usize, 2026u64);
    let mut nab = PathBuf::from("../shared/data/nab");
    let mut dir = PathBuf::from("bench-data");
    let mut args = argv.iter();
    while let Some(a) = args.next() {
        let mut value = || args.next().cloned().unwrap_or_default();
        match a.as_str() {
            "--series" => n = value().parse().expect("--series N"),
            "--seed" => seed = value().parse().expect("--seed S"),
            "--nab" => nab = PathBuf::from(value()),
            "--dir" => dir = PathBuf::from(value()),
            other => {
                eprintln!("usage: spendlens-bench eval [--series N] [--seed S] [--nab DIR] [--dir DIR]\nunknown argument `{other}`");
                std::process::exit(2);
            }
        }
    }
    use spendlens::eval;
    let cfg = spendlens::config::AnomalyConfig::default();
    let synthetic = eval::synthetic::generate(n, seed);
    let mut scores = vec![eval::score("synthetic", &synthetic, &cfg)];
    for noise in eval::synthetic::NOISE_LEVELS {
        let tag = format!("(noise {:.0}%)", noise * 100.0);
        let some: Vec<_> = synthetic
            .iter()
            .filter(|s| s.name.ends_with(&tag))
            .cloned()
            .collect();
        scores.push(eval::score(
            &format!("synthetic, noise {:.0}%", noise * 100.0),
            &some,
            &cfg,
        ));
    }
    match eval::nab::load(&nab) {
        Ok(taxi) => scores.push(eval::score("nab nyc_taxi", &[taxi], &cfg)),
        Err(e) => eprintln!("skipping NAB: {e}"),
    }
    println!("{}", eval::table(&scores));
    let demo_dir = dir.join("eval-demo");
    let _ = std::fs::remove_dir_all(&demo_dir);
    let end = chrono::NaiveDate::from_ymd_opt(2026, 10, 31).expect("a date");
    let demo = eval::demo::run(&demo_dir, end).and_then(|demo| {
        println!("{}", demo.table());
        eval::demo::daily_series(&demo_dir)
    });
    match demo {
        Ok(series) => {
            let mut backtests = eval::forecast::backtest("demo (total and each team)", &series);
            backtests.extend(eval::forecast::backtest(
                "synthetic",
                &eval::forecast::synthetic(n, seed),
            ));
            println!("{}", eval::forecast::table(&backtests));
        }
        Err(e) => {
            eprintln!("error: the demo evaluation: {e}");
            std::process::exit(2);
        }
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--to-parquet") && argv.len() == 4 {
        to_parquet(Path::new(&argv[2]), Path::new(&argv[3]));
        return;
    }
    if argv.get(1).map(String::as_str) == Some("eval") {
        eval(&argv[2..]);
        return;
    }
    let args = parse_args();
    let dir = &args.dir;
    let spendlens = std::env::current_exe()
        .expect("own path")
        .with_file_name("spendlens");
    let (csv, parquet) = inputs(dir, args.rows);
    let run = |store: &Path, argv: &[&str], what: &str| {
        let mut c = Command::new(&spendlens);
        c.arg("--config")
            .arg("/dev/null")
            .arg("--data-dir")
            .arg(store)
            .args(argv);
        measure(&mut c, what)
    };
    let fresh = |name: &str| {
        let p = dir.join(name);
        let _ = std::fs::remove_dir_all(&p);
        p
    };
    let wanted = |step: &str| args.steps.iter().any(|s| s == step);
    let store = dir.join("store-parquet");
    let (c, p) = (csv.to_str().unwrap(), parquet.to_str().unwrap());
    println!(
        "rows: {}; CSV {:.0} MB, Parquet {:.0} MB",
        args.rows,
        std::fs::metadata(&csv).map(|m| m.len()).unwrap_or(0) as f64 / 1e6,
        std::fs::metadata(&parquet).map(|m| m.len()).unwrap_or(0) as f64 / 1e6,
    );
    println!(
        "| step | spendlens s | spendlens peak MB | DuckDB s | DuckDB peak MB | ratio (time) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/duckdb_steps.py");
    let duck_out = dir.join("duckdb");
    let duck = |step: &str| {
        (!args.skip_duckdb).then(|| {
            warm(step, &csv, &parquet);
            let mut cmd = Command::new("python3");
            cmd.arg(&script)
                .arg(step)
                .arg(&csv)
                .arg(&parquet)
                .arg(&duck_out);
            measure(&mut cmd, step)
        })
    };
    for step in STEPS {
        if !wanted(step) {
            continue;
        }
        // Each repeat runs spendlens, then DuckDB: both see the machine in the same state.
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..args.repeat {
            if step.starts_with("ingest") {
                let _ = std::fs::remove_dir_all(&duck_out);
            }
            if step == "report" {
                // Every repeat is the first report after the ingest: it builds the rollups.
                let _ = std::fs::remove_dir_all(store.join("rollup"));
            }
            warm(step, &csv, &parquet);
            ours.push(match step {
                "ingest-csv" => run(
                    &fresh("store-csv"),
                    &["ingest", "--services", "all", c],
                    step,
                ),
                "ingest-parquet" => run(
                    &fresh("store-parquet"),
                    &["ingest", "--services", "all", p],
                    step,
                ),
                "report" => run(&store, &["report", "--format", "json"], step),
                "anomalies" => run(&store, &["anomalies", "--format", "json"], step),
                _ => run(
                    &store,
                    &["investigate", "--team", "team-07", "--format", "json"],
                    step,
                ),
            });
            theirs.extend(duck(step));
        }
        let m = summarize(ours);
        let d = (!theirs.is_empty()).then(|| summarize(theirs));
        print_row(step, &m, d.as_ref());
    }
    println!("store: {:.0} MB", dir_size(&store) as f64 / 1e6);
}

fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() {
                        dir_size(&path)
                    } else {
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

//! Phase timings on stderr when `SPENDLENS_TIMINGS` is set: where a slow report or anomaly
//! run spends its time (README: Performance). Off by default and never on stdout. Also the
//! one way independent jobs are spread over the cores ([`on_all_cores`]).

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("SPENDLENS_TIMINGS").is_some_and(|v| !v.is_empty()))
}

/// Prints `timing: <name> <seconds>s cpu <seconds>s` when dropped, if timings are on: the
/// wall time and the process' CPU time (user and system, every thread) over the phase. CPU
/// near twice the wall time on two cores: the phase keeps both busy; near the wall time: one
/// core waits.
pub struct Phase {
    name: &'static str,
    started: Instant,
    cpu: f64,
}

/// Start timing a phase; the guard reports when it goes out of scope.
pub fn phase(name: &'static str) -> Option<Phase> {
    enabled().then(|| Phase {
        name,
        started: Instant::now(),
        cpu: cpu_seconds(),
    })
}

impl Drop for Phase {
    fn drop(&mut self) {
        eprintln!(
            "timing: {} {:.3}s cpu {:.2}s",
            self.name,
            self.started.elapsed().as_secs_f64(),
            cpu_seconds() - self.cpu
        );
    }
}

/// User and system CPU time of this process so far, from `/proc/self/stat` (in clock
/// ticks, usually of 10 ms; 0 where it cannot be read).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // After the command name in parentheses: state is field 3, utime and stime 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: f64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<f64>().ok())
        .sum();
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1);
    ticks / per_second as f64
}

/// `f` applied to every item on every core (each worker takes the next item), results in
/// the items' order. For independent jobs polars does not parallelise itself: encoding many
/// small Parquet files, explaining many anomalies. The jobs run on polars' thread pool, so
/// none may wait for another (a pool thread waiting would hold one of the pool's few threads).
pub fn on_all_cores<'a, T: Sync, R: Send>(items: &'a [T], f: impl Fn(&'a T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<R>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(items.len());
    // On polars' threads, which live as long as the process: threads of our own, started per
    // call, each take fresh memory from the allocator and give it back when they end.
    polars_core::runtime::THREAD_POOL.scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|_| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                *slots[i].lock().expect("no panics while held") = Some(r);
            });
        }
    });
    slots
        .into_iter()
        .map(|s| {
            s.into_inner()
                .expect("no panics while held")
                .expect("every item was taken by a worker")
        })
        .collect()
}

/// `a` and `b` at once on polars' thread pool (as [`on_all_cores`]): for two jobs that each
/// keep one core busy, done in the time of the longer.
pub fn both<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    polars_core::runtime::THREAD_POOL.join(a, b)
}

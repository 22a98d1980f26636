//! Phase timings on stderr when `SPENDLENS_TIMINGS` is set: where a slow report or anomaly
//! run spends its time (docs/performance.md). Off by default and never on stdout.

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
pub(crate) struct Phase {
    name: &'static str,
    started: Instant,
    cpu: f64,
}

/// Start timing a phase; the guard reports when it goes out of scope.
pub(crate) fn phase(name: &'static str) -> Option<Phase> {
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
#[allow(unsafe_code)]
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

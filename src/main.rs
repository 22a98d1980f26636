//! The `spendlens` binary: runs the command line and maps its outcome to an exit code (0 ok,
//! 1 anomalies found when asked to fail on them, 2 error, the error chain on stderr).

use std::process::ExitCode;

/// mimalloc returns freed memory to the system where glibc's per-thread arenas hold on to it
/// (see Cargo.toml): peak memory follows what a command needs at once.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    spendlens::memory::configure();
    match spendlens::cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

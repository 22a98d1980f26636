use std::process::ExitCode;

/// mimalloc returns freed memory to the system where glibc's per-thread arenas hold on to it
/// (see Cargo.toml): peak memory follows what a command needs at once.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Large OS pages (transparent huge pages where the kernel offers them on request): a
    // report allocates and frees gigabytes in 1M-row batches, and with 4 KB pages the page
    // faults cost seconds of system time (10M rows: first report 13.3-13.8 s -> 11.1-12.3 s).
    // SAFETY: sets one of mimalloc's documented options to a valid value; no memory is
    // touched.
    unsafe { libmimalloc_sys::mi_option_set(libmimalloc_sys::mi_option_large_os_pages, 1) };
    match spendlens::cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

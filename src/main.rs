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
    // Freed memory kept for a second before it is returned (mimalloc 2's default is 10 ms;
    // mimalloc 3 made it 1000): a command frees and allocates the same gigabytes batch after
    // batch, and each page returned early is faulted and zeroed again by the kernel. At 10M
    // rows: anomalies 4.6 -> 3.6 s (median of 4) for +130 MB peak, report ~10% faster for
    // +250 MB. mimalloc's own `MIMALLOC_PURGE_DELAY`, when set, wins (0 measures the memory
    // a command really holds).
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: as above; `mi_option_purge_delay` is 15 in mimalloc 2's `mi_option_t`,
        // which libmimalloc-sys does not name.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000) };
    }
    match spendlens::cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

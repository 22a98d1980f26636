//! Options of mimalloc, the `spendlens` binary's allocator (see `main.rs`). A test binary,
//! which allocates through the system allocator, sets options nothing reads.

/// `mi_option_purge_delay` in `mi_option_t`, which libmimalloc-sys does not name: 15 in the
/// headers of both mimalloc 2 and mimalloc 3 (libmimalloc-sys 0.1.49 builds mimalloc 3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory is kept before it is returned (see [`configure`]).
const PURGE_DELAY_MS: std::ffi::c_long = 1000;

/// The options every command runs with. Large OS pages (transparent huge pages where the
/// kernel offers them on request): a report allocates and frees gigabytes in 1M-row batches,
/// and with 4 KB pages the page faults cost seconds of system time. Freed memory kept for a
/// second before it is returned (mimalloc 2's default is 10 ms; mimalloc 3 made it 1000): a
/// command frees and allocates the same gigabytes batch after batch, and each page returned
/// early is faulted and zeroed again by the kernel; a little more peak memory buys less
/// system time (docs/performance.md has the measurements). mimalloc's own
/// `MIMALLOC_PURGE_DELAY`, when set, wins (0 measures the memory a command really holds).
#[allow(unsafe_code)]
pub fn configure() {
    // SAFETY: sets one of mimalloc's documented options to a valid value; no memory is
    // touched.
    unsafe { libmimalloc_sys::mi_option_set(libmimalloc_sys::mi_option_large_os_pages, 1) };
    set_purge_delay(PURGE_DELAY_MS);
}

/// Freed memory is not returned until the process ends. For `ingest`, whose memory is one
/// part's worth however large the file (a part's buffers are freed and the next part's
/// allocated again, hundreds of times: returning them costs system time for little memory).
/// Not for a report that builds the rollups (no faster, and a higher peak); for a window of
/// up to `analyse::KEEP_FREED_ROWS` rows read from rollups (anomalies, investigate, later
/// reports), whose decoded files are freed as the window is copied into one buffer per
/// column: the copy is much slower when those buffers were returned already.
pub(crate) fn keep_freed() {
    KEEPING.store(true, std::sync::atomic::Ordering::Relaxed);
    set_purge_delay(-1);
}

/// Whether [`keep_freed`] was called.
static KEEPING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// While the returned guard lives, freed memory goes back to the OS at once (what was kept
/// so far too), unless [`keep_freed`] holds it all anyway; afterwards it is kept for a second
/// again. For copying a window that is freed as it is copied, whose freed buffers cannot
/// be reused by the larger ones being filled: kept, they only raise the peak.
#[allow(unsafe_code)]
pub(crate) fn return_freed_at_once() -> ReturnFreed {
    if KEEPING.load(std::sync::atomic::Ordering::Relaxed) {
        return ReturnFreed(false);
    }
    set_purge_delay(0);
    // SAFETY: asks mimalloc to return the calling thread's freed memory; no pointer is
    // involved.
    unsafe { libmimalloc_sys::mi_collect(true) };
    ReturnFreed(true)
}

/// See [`return_freed_at_once`].
pub(crate) struct ReturnFreed(bool);

impl Drop for ReturnFreed {
    fn drop(&mut self) {
        if self.0 {
            set_purge_delay(PURGE_DELAY_MS);
        }
    }
}

#[allow(unsafe_code)]
fn set_purge_delay(ms: std::ffi::c_long) {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: as in `configure`; `mi_option_purge_delay` takes milliseconds, -1 for never.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, ms) };
    }
}

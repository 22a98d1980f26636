//! The one way independent jobs are spread over the cores: on polars' own thread pool, so
//! spendlens starts no threads of its own for them.

/// `f` applied to every item on every core (each worker takes the next item), results in
/// the items' order. For independent jobs polars does not parallelise itself: encoding many
/// small Parquet files, explaining many anomalies. The jobs run on polars' thread pool, so
/// none may wait for another (a pool thread waiting would hold one of the pool's few threads).
pub(crate) fn on_all_cores<'a, T: Sync, R: Send>(
    items: &'a [T],
    f: impl Fn(&'a T) -> R + Sync,
) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<R>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let workers = std::thread::available_parallelism()
        .map(std::num::NonZero::get)
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

/// `a` and `b` at once on polars' thread pool (as `on_all_cores`): for two jobs that each
/// keep one core busy, done in the time of the longer.
pub fn both<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    polars_core::runtime::THREAD_POOL.join(a, b)
}

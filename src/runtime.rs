//! The one async runtime of the process. The registry client, Harbor's REST API and the
//! GitHub client are async; commands are not. Each used to build its own runtime (with
//! its own threads); they now share this one, started on first use.

use std::future::Future;
use std::sync::OnceLock;

static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

fn runtime() -> std::io::Result<&'static tokio::runtime::Runtime> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    // Two workers: the machines harborize runs on (CI runners) are small, and the work is
    // network-bound with bounded concurrency set by each client.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    Ok(RUNTIME.get_or_init(|| rt))
}

/// Run `future` to completion on the shared runtime, from synchronous code (commands).
pub fn block_on<F: Future>(future: F) -> std::io::Result<F::Output> {
    Ok(runtime()?.block_on(future))
}

/// [`block_on`] for library entry points that may be called from within a runtime (a
/// library user's): there the future runs on a scoped thread instead of panicking.
pub fn block_on_anywhere<F>(future: F) -> std::io::Result<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return block_on(future);
    }
    let rt = runtime()?;
    std::thread::scope(|s| {
        s.spawn(|| rt.block_on(future))
            .join()
            .map_err(|_| std::io::Error::other("an async task panicked"))
    })
}

//! The process-wide runtime the language bindings run the core on.
//!
//! Pooled connections belong to the runtime that opened them, so every binding
//! (Python, Node, UniFFI) drives all I/O through this one runtime instead of
//! creating its own. It is fork-safe: a forked child (Python's `multiprocessing`,
//! gunicorn workers) finds the parent's runtime unusable — its threads did not
//! survive the fork — and transparently gets a fresh one.

use std::future::Future;
use std::sync::{Mutex, OnceLock};

use tokio::runtime::{Handle, Runtime};
use tokio::task::JoinHandle;

struct Owned {
    pid: u32,
    runtime: &'static Runtime,
}

fn slot() -> &'static Mutex<Option<Owned>> {
    static SLOT: OnceLock<Mutex<Option<Owned>>> = OnceLock::new();
    SLOT.get_or_init(|| Mutex::new(None))
}

/// Handle of the shared runtime, created on first use (and again after a fork).
pub fn handle() -> Handle {
    let pid = std::process::id();
    let mut guard = slot().lock().unwrap_or_else(|p| p.into_inner());
    match guard.as_ref() {
        Some(owned) if owned.pid == pid => owned.runtime.handle().clone(),
        _ => {
            // The parent's runtime (if any) is leaked on purpose: dropping it in the
            // child would try to join threads that do not exist here.
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(worker_threads())
                .thread_name("durable-streams-io")
                .enable_all()
                .build()
                .expect("cannot start the durable-streams I/O runtime");
            let runtime: &'static Runtime = Box::leak(Box::new(runtime));
            *guard = Some(Owned { pid, runtime });
            runtime.handle().clone()
        }
    }
}

fn worker_threads() -> usize {
    std::env::var("DURABLE_STREAMS_IO_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get().min(4)).unwrap_or(2))
}

/// Run `fut` on the shared runtime.
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    handle().spawn(fut)
}

/// Block the calling (non-runtime) thread until `fut` completes on the shared runtime.
pub fn block_on<F>(fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    handle().spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().expect("the durable-streams I/O runtime stopped")
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_futures_and_reuses_the_runtime() {
        let a = super::handle();
        let b = super::handle();
        assert_eq!(a.id(), b.id());
        assert_eq!(super::block_on(async { 40 + 2 }), 42);
    }
}

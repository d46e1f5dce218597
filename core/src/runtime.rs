//! The process-wide runtime the language bindings run the core on.
//!
//! Pooled connections belong to the runtime that opened them, so every binding
//! (Python, Node, UniFFI) drives all I/O through this one runtime instead of
//! creating its own. It is fork-safe: a forked child (Python's `multiprocessing`,
//! gunicorn workers) finds the parent's runtime unusable — its threads did not
//! survive the fork — and transparently gets a fresh one.

use std::future::Future;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Mutex, Once, OnceLock};

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

/// The runtime of this process, for the lock-free fast path; null until created and
/// again in a forked child.
static CURRENT: AtomicPtr<Runtime> = AtomicPtr::new(std::ptr::null_mut());
/// Incremented in every forked child, so per-process state (connection pools) can
/// tell that it belongs to a parent without a `getpid()` per request.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

#[cfg(unix)]
extern "C" fn after_fork_in_child() {
    CURRENT.store(std::ptr::null_mut(), Ordering::Release);
    FORK_GENERATION.fetch_add(1, Ordering::AcqRel);
}

fn watch_forks() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        #[cfg(unix)]
        // SAFETY: registering a handler that only touches atomics, which is
        // async-signal-safe as required in a forked child.
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
}

/// Changes whenever this process is a new fork; compare to detect inherited state.
pub fn fork_generation() -> u64 {
    watch_forks();
    FORK_GENERATION.load(Ordering::Acquire)
}

/// Handle of the shared runtime, created on first use (and again after a fork).
pub fn handle() -> Handle {
    let fast = CURRENT.load(Ordering::Acquire);
    if !fast.is_null() {
        // SAFETY: runtimes are leaked, never freed; the pointer stays valid.
        return unsafe { &*fast }.handle().clone();
    }
    watch_forks();
    let pid = std::process::id();
    let mut guard = slot().lock().unwrap_or_else(|p| p.into_inner());
    match guard.as_ref() {
        Some(owned) if owned.pid == pid => {
            CURRENT.store(owned.runtime as *const Runtime as *mut Runtime, Ordering::Release);
            owned.runtime.handle().clone()
        }
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
            CURRENT.store(runtime as *const Runtime as *mut Runtime, Ordering::Release);
            runtime.handle().clone()
        }
    }
}

fn worker_threads() -> usize {
    std::env::var("DURABLE_STREAMS_IO_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        // On a small machine the caller's own thread needs a core too; a second I/O
        // thread there mostly wakes up to find nothing to do.
        .unwrap_or_else(|| match std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) {
            n if n <= 2 => 1,
            n => n.min(4),
        })
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

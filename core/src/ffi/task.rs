//! Running binding work on the shared runtime, from any thread, with no panic escaping.
//!
//! A foreign executor (a Kotlin coroutine dispatcher, Swift's cooperative pool, a BEAM
//! scheduler, a Node or Python thread) has no tokio reactor; everything is spawned onto
//! [`crate::runtime`] and awaited through a [`Task`], which aborts the work when it is
//! dropped — so cancelling the caller cancels the I/O.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use tokio::task::JoinHandle;

use crate::error::{Error, ErrorKind, Result};

/// Work running on the shared runtime. Await it for the result; drop it to abort.
#[must_use = "dropping a Task aborts it"]
pub struct Task<T> {
    handle: JoinHandle<Result<T>>,
}

/// Start `fut` on the shared runtime. A panic inside it becomes an `INTERNAL` error.
pub fn spawn<T, F>(fut: F) -> Task<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    Task { handle: crate::runtime::spawn(guard(fut)) }
}

/// Start `fut` on the shared runtime and let it run to its end unobserved (its
/// result is dropped). For work whose outcome is delivered some other way.
pub fn spawn_detached<F>(fut: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    drop(crate::runtime::spawn(AssertUnwindSafe(fut).catch_unwind()));
}

impl<T> Task<T> {
    /// Abort the work now (same as dropping the task, but keeps the handle).
    pub fn abort(&self) {
        self.handle.abort();
    }

    /// Whether the work has ended (awaiting it will not wait).
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        Pin::new(&mut self.handle).poll(cx).map(|r| match r {
            Ok(result) => result,
            Err(e) if e.is_cancelled() => Err(Error::new(ErrorKind::Cancelled, "operation cancelled")),
            Err(e) => Err(Error::internal(format!("SDK task failed: {e}"))),
        })
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// `fut`, with a panic turned into an `INTERNAL` error.
pub async fn guard<T, F>(fut: F) -> Result<T>
where
    F: Future<Output = Result<T>>,
{
    AssertUnwindSafe(fut).catch_unwind().await.unwrap_or_else(|p| Err(panic_error(&*p)))
}

/// `f()`, with a panic turned into an `INTERNAL` error.
pub fn catch_panic<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(panic_error(&*p)))
}

/// The `INTERNAL` error for a caught panic's payload (its message, if it has one).
pub fn panic_error(payload: &(dyn std::any::Any + Send)) -> Error {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    Error::internal(format!("internal error in durable-streams-sdk (please report): {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    /// A foreign executor: a plain thread that polls and parks, no tokio anywhere.
    fn foreign_block_on<F: Future>(f: F) -> F::Output {
        use std::task::{Wake, Waker};
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    }

    #[test]
    fn runs_timers_for_a_caller_outside_any_runtime() {
        let v = foreign_block_on(spawn(async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(7)
        }));
        assert_eq!(v.unwrap(), 7);
    }

    #[test]
    fn a_panic_becomes_an_internal_error() {
        let err = foreign_block_on(spawn(async {
            if true {
                panic!("boom");
            }
            Ok(())
        }))
        .unwrap_err();
        assert_eq!(err.code(), "INTERNAL");
        assert!(err.message().contains("boom"));
        let err = catch_panic::<()>(|| panic!("sync boom")).unwrap_err();
        assert_eq!(err.code(), "INTERNAL");
    }

    #[test]
    fn dropping_the_task_aborts_the_work() {
        let finished = Arc::new(AtomicBool::new(false));
        let f = finished.clone();
        let task = spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            f.store(true, Ordering::SeqCst);
            Ok(())
        });
        drop(task);
        std::thread::sleep(Duration::from_millis(400));
        assert!(!finished.load(Ordering::SeqCst));
    }
}

//! Running core futures for Python: blocking (GIL released, Ctrl-C honoured) and as
//! asyncio awaitables (cancelling the asyncio future drops the Rust future).
//!
//! Every future runs on `durable_streams_sdk::runtime`, the core's one fork-safe
//! runtime; this module owns no runtime of its own. pyo3-async-runtimes is used
//! through its generic interface with [`CoreRt`], whose `spawn` is the core's.

use std::cell::OnceCell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::time::Duration;

use durable_streams_sdk::runtime;
use futures_util::FutureExt;
use pyo3::prelude::*;
use pyo3_async_runtimes::TaskLocals;
use pyo3_async_runtimes::generic::{ContextExt, Runtime};

use crate::errors::{Failure, core_error, panic_error};

/// How often a blocking call wakes up to let Python run signal handlers (Ctrl-C).
pub const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// The core's shared runtime, seen through pyo3-async-runtimes' generic runtime traits.
pub struct CoreRt;

tokio::task_local! {
    static LOCALS: OnceCell<TaskLocals>;
}

impl Runtime for CoreRt {
    type JoinError = tokio::task::JoinError;
    type JoinHandle = tokio::task::JoinHandle<()>;

    fn spawn<F>(fut: F) -> Self::JoinHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        runtime::spawn(fut)
    }

    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        runtime::handle().spawn_blocking(f)
    }
}

impl ContextExt for CoreRt {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        let cell = OnceCell::new();
        let _ = cell.set(locals);
        Box::pin(LOCALS.scope(cell, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        LOCALS.try_with(|c| c.get().cloned()).ok().flatten()
    }
}

/// The asyncio loop (and context) of the coroutine that started the current Rust task,
/// if it was started from the asyncio API.
pub fn task_locals() -> Option<TaskLocals> {
    CoreRt::get_task_locals()
}

pub type BResult<T> = Result<T, Failure>;

/// Run `fut` on the core runtime and wait for it with the GIL released. Every
/// [`SIGNAL_POLL`] the wait lets Python run its signal handlers; if one raises
/// (`KeyboardInterrupt`), the Rust future is dropped and the exception propagates.
pub fn block<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = BResult<T>> + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = sync_channel(1);
    let task = runtime::spawn(async move {
        let out = AssertUnwindSafe(fut).catch_unwind().await;
        let _ = tx.send(out);
    });
    let mut rx = rx;
    loop {
        let (got, back) = py.detach(move || (rx.recv_timeout(SIGNAL_POLL), rx));
        rx = back;
        match got {
            Ok(Ok(result)) => return result.map_err(|f| f.into_pyerr(py)),
            Ok(Err(panic)) => return Err(Failure::Core(panic_error(&*panic)).into_pyerr(py)),
            Err(RecvTimeoutError::Timeout) => {
                if let Err(interrupt) = py.check_signals() {
                    task.abort();
                    return Err(interrupt);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(Failure::Core(durable_streams_sdk::Error::internal("the I/O task stopped without an answer")).into_pyerr(py));
            }
        }
    }
}

/// `fut` as an asyncio awaitable. Cancelling the asyncio future drops `fut`; a panic
/// becomes an `InternalError`.
pub fn awaitable<'py, T, F>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = BResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    pyo3_async_runtimes::generic::future_into_py::<CoreRt, _, T>(py, async move {
        match AssertUnwindSafe(fut).catch_unwind().await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(f)) => Err(Python::attach(|py| f.into_pyerr(py))),
            Err(panic) => {
                let err = panic_error(&*panic);
                Err(Python::attach(|py| core_error(py, &err)))
            }
        }
    })
}

/// Run a synchronous closure that calls into the core, turning a panic into an exception.
pub fn guard<T>(py: Python<'_>, f: impl FnOnce() -> BResult<T>) -> PyResult<T> {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(|e| e.into_pyerr(py)),
        Err(panic) => Err(Failure::Core(panic_error(&*panic)).into_pyerr(py)),
    }
}

/// An awaitable that is already complete: `await` returns `value` without a round trip
/// through the event loop (the producer's non-blocking fast path, a read-ahead chunk).
#[pyclass(module = "durable_streams_sdk._native")]
pub struct Ready {
    value: Option<Py<PyAny>>,
    error: Option<PyErr>,
}

impl Ready {
    pub fn new(value: Option<Py<PyAny>>) -> Self {
        Ready { value, error: None }
    }

    /// An awaitable that is already complete with an exception: `await` raises `error`.
    pub fn failed(error: PyErr) -> Self {
        Ready { value: None, error: Some(error) }
    }
}

#[pymethods]
impl Ready {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let value = self.value.take().unwrap_or_else(|| py.None());
        Err(pyo3::exceptions::PyStopIteration::new_err((value,)))
    }
}

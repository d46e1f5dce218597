//! A Rust future awaited inside the asyncio event loop without a runtime task: the
//! producer's waits (flush, a pending acknowledgement, buffer room).
//!
//! `rt::awaitable` (pyo3-async-runtimes' `future_into_py`) spawns two runtime tasks per
//! await, takes the GIL on a runtime thread and runs `call_soon_threadsafe` there; for a
//! wait that is over in one round trip that cost 2-3x the CPU of the blocking API's wait
//! (a flush after each append, measured 2026-12-03). Here the future is polled on the
//! loop's own thread (GIL held): once when it is made, so that whatever it starts is
//! started by the call, as before, and then whenever its waker fires. The waker only
//! signals the loop's wake-up descriptor ([`crate::wake`]); the loop then polls the
//! future again and, once it is ready, gives the awaiting task's asyncio future its
//! result. Cancelling the task drops the future, as cancelling a `future_into_py`
//! awaitable does.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};

use futures_util::FutureExt;
use pyo3::IntoPyObjectExt;
use pyo3::exceptions::asyncio::CancelledError as PyCancelledError;
use pyo3::exceptions::{PyRuntimeError, PyStopIteration};
use pyo3::prelude::*;

use crate::errors::{core_error, panic_error};
use crate::rt::{BResult, awaitable};
#[cfg(unix)]
use crate::wake::Notifier;
use crate::wake::Wakeable;

/// The outcome, turned into Python on the loop's thread.
type Outcome = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;
type BoxFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// `fut` as an awaitable of the running loop, a [`Waiting`]; where the loop cannot watch
/// a socket (e.g. Windows' proactor loop), `rt::awaitable` instead.
pub fn loop_awaitable<'py, T, F>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = BResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let event_loop = pyo3_async_runtimes::get_running_loop(py)?;
    let Some(wakes) = loop_wakes(py, &event_loop) else {
        return awaitable(py, fut);
    };
    let fut: BoxFuture = Box::pin(fut.map(|r| -> Outcome {
        Box::new(move |py| match r {
            Ok(v) => Ok(v.into_py_any(py)?),
            Err(f) => Err(f.into_pyerr(py)),
        })
    }));
    let inner = Arc::new_cyclic(|me: &Weak<Inner>| {
        let target: Weak<dyn Wakeable> = me.clone();
        Inner {
            queued: AtomicBool::new(false),
            state: Mutex::new(State { fut: Some(fut), outcome: None, told: None }),
            waker: waker(py, &wakes, target),
        }
    });
    inner.poll(); // what the call starts, it starts now
    Ok(Bound::new(py, Waiting { inner, event_loop: event_loop.unbind(), result: None })?.into_any())
}

/// What wakes a loop: its wake-up descriptor (`durable_streams_sdk._aio.notifier`).
#[cfg(unix)]
type LoopWakes = Py<Notifier>;
#[cfg(not(unix))]
type LoopWakes = std::convert::Infallible;

/// The loop's notifier, `None` where it has none.
#[cfg(unix)]
fn loop_wakes(py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> Option<LoopWakes> {
    static NOTIFIER: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
    let get = NOTIFIER
        .get_or_try_init(py, || py.import("durable_streams_sdk._aio")?.getattr("notifier").map(Bound::unbind))
        .ok()?;
    Some(get.bind(py).call1((event_loop,)).ok()?.cast_into::<Notifier>().ok()?.unbind())
}

#[cfg(not(unix))]
fn loop_wakes(_py: Python<'_>, _event_loop: &Bound<'_, PyAny>) -> Option<LoopWakes> {
    None
}

#[cfg(unix)]
fn waker(py: Python<'_>, wakes: &LoopWakes, target: Weak<dyn Wakeable>) -> Waker {
    wakes.bind(py).get().waker(target)
}

#[cfg(not(unix))]
fn waker(_py: Python<'_>, wakes: &LoopWakes, _target: Weak<dyn Wakeable>) -> Waker {
    match *wakes {}
}

struct Inner {
    queued: AtomicBool,
    state: Mutex<State>,
    waker: Waker,
}

struct State {
    /// `None` once it finished, or was dropped by a cancellation.
    fut: Option<BoxFuture>,
    /// Set when `fut` finished, until the awaiting task takes it.
    outcome: Option<Outcome>,
    /// The asyncio future the awaiting task waits on, while it waits.
    told: Option<Py<PyAny>>,
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Poll the future (on the loop's thread); `true` once it has finished. A panic in it
    /// becomes its outcome (`InternalError`).
    fn poll(&self) -> bool {
        let mut st = self.state();
        let Some(fut) = st.fut.as_mut() else {
            return true;
        };
        let mut cx = Context::from_waker(&self.waker);
        let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx))) {
            Ok(Poll::Pending) => return false,
            Ok(Poll::Ready(outcome)) => outcome,
            Err(panic) => {
                let err = panic_error(&*panic);
                Box::new(move |py: Python<'_>| Err(core_error(py, &err))) as Outcome
            }
        };
        st.fut = None;
        st.outcome = Some(outcome);
        true
    }
}

impl Wakeable for Inner {
    fn queued(&self) -> &AtomicBool {
        &self.queued
    }

    fn on_wake(self: Arc<Self>, py: Python<'_>) -> PyResult<()> {
        if !self.poll() {
            return Ok(());
        }
        let Some(told) = self.state().told.take() else {
            return Ok(()); // not awaited yet: the outcome waits for its `__next__`
        };
        let told = told.bind(py);
        // A cancelled one is being thrown into, and drops the outcome.
        if !told.call_method0("done").and_then(|d| d.is_truthy()).unwrap_or(true) {
            let _ = told.call_method1("set_result", (py.None(),));
        }
        Ok(())
    }
}

/// A producer wait (internal): a hand-written coroutine that waits on an asyncio future
/// until the Rust future has finished, if it has not already. Like an asyncio future, it
/// may be awaited again and by several tasks: each gets the same outcome.
#[pyclass(module = "durable_streams_sdk._native")]
pub struct Waiting {
    inner: Arc<Inner>,
    event_loop: Py<PyAny>,
    result: Option<PyResult<Py<PyAny>>>,
}

#[pymethods]
impl Waiting {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        if self.result.is_none() {
            let mut st = self.inner.state();
            if let Some(outcome) = st.outcome.take() {
                drop(st);
                self.result = Some(outcome(py));
            } else if st.fut.is_none() {
                return Err(PyCancelledError::new_err("the producer wait was cancelled"));
            } else {
                // Several tasks awaiting this share one asyncio future.
                let told = match st.told.as_ref().map(|f| f.clone_ref(py)) {
                    Some(f) => f.into_bound(py),
                    None => {
                        let f = self.event_loop.bind(py).call_method0("create_future")?;
                        st.told = Some(f.clone().unbind());
                        f
                    }
                };
                drop(st);
                // What `Future.__await__` sets before yielding: the task then waits on it.
                told.setattr("_asyncio_future_blocking", true)?;
                return Ok(Some(told.unbind()));
            }
        }
        Err(match self.result.as_ref() {
            Some(Ok(v)) => PyStopIteration::new_err((v.clone_ref(py),)),
            Some(Err(e)) => e.clone_ref(py),
            None => PyRuntimeError::new_err("no outcome"),
        })
    }

    /// As `__next__` (the value sent is always `None` from asyncio).
    #[pyo3(signature = (_value, /))]
    fn send(&mut self, py: Python<'_>, _value: Bound<'_, PyAny>) -> PyResult<Option<Py<PyAny>>> {
        self.__next__(py)
    }

    /// The task was cancelled (or something was thrown in): drop the Rust future.
    #[pyo3(signature = (typ, val = None, _tb = None, /))]
    fn throw(
        &mut self,
        typ: Bound<'_, PyAny>,
        val: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.close();
        Err(match val.filter(|v| !v.is_none()) {
            Some(v) => PyErr::from_value(v),
            None => PyErr::from_value(typ),
        })
    }

    /// Drop the Rust future unless it has finished.
    fn close(&mut self) {
        let mut st = self.inner.state();
        st.fut = None;
        st.told = None;
    }
}

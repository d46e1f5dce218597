//! Waiting for a read session's next chunk inside the asyncio event loop.
//!
//! `__anext__` that finds nothing ready returns a [`Pending`] awaitable, queued on the
//! session. Pending waits are served in call order: only the first in the queue is told
//! (its [`Waiter`] completes) when a chunk can be taken, by a waker that runs no Python on
//! the runtime thread ([`crate::wake`]), and it takes the chunk only when its task
//! resumes. So a wait cancelled at any point — even after being told — has taken nothing,
//! and the session's offset never runs ahead of what callers received.
//! A session waits in one event loop at a time (the loop of the latest wait).
//!
//! The task waits on a [`Waiter`], a future-like object (asyncio's duck-typed future
//! protocol, `_asyncio_future_blocking`), not an `asyncio.Future`: told from the loop's
//! wake-up callback, it resumes the task there and then, where a future's result would
//! have been scheduled with `call_soon` and run one loop iteration later. That iteration
//! (in Python: `_run_once`, the selector, `call_soon`'s handle) was most of what a wait
//! cost beyond the blocking API's.

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Waker};

use pyo3::exceptions::{PyRuntimeError, PyStopIteration};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};

use crate::read::{Shared, step_value};
#[cfg(unix)]
use crate::wake::Notifier;
use crate::wake::Wakeable;

/// The asyncio side of one read session.
pub struct AsyncWait {
    shared: Shared,
    queued: AtomicBool,
    state: Mutex<State>,
    me: Weak<AsyncWait>,
}

#[derive(Default)]
struct State {
    /// Pending waits in call order: (id, the waiter its task waits on).
    waiters: VecDeque<(u64, Py<Waiter>)>,
    next_id: u64,
    /// The loop of the latest wait and the waker that wakes it.
    link: Option<(Py<PyAny>, Waker)>,
}

impl AsyncWait {
    pub fn new(shared: Shared) -> Arc<AsyncWait> {
        Arc::new_cyclic(|me| AsyncWait {
            shared,
            queued: AtomicBool::new(false),
            state: Mutex::default(),
            me: me.clone(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Someone is waiting: a new `__anext__` queues behind them instead of taking first.
    pub fn has_waiters(&self) -> bool {
        !self.state().waiters.is_empty()
    }

    /// A [`Pending`] wait queued in the running loop; `None` where that loop cannot watch
    /// a socket (e.g. Windows' proactor loop), and the caller waits another way.
    pub fn enqueue<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let event_loop = pyo3_async_runtimes::get_running_loop(py)?;
        let Some(waker) = self.waker_for(py, &event_loop)? else {
            return Ok(None);
        };
        let fut = Waiter::new(py, &event_loop)?;
        let id = {
            let mut st = self.state();
            st.next_id += 1;
            let id = st.next_id;
            st.waiters.push_back((id, fut.clone_ref(py)));
            id
        };
        self.dispatch(py, &waker, Tell::Scheduled)?;
        let wait = self.me.upgrade().expect("called through a live session");
        Ok(Some(
            Bound::new(
                py,
                Pending {
                    wait,
                    id,
                    fut,
                    finished: false,
                },
            )?
            .into_any(),
        ))
    }

    #[cfg(not(unix))]
    fn waker_for(
        &self,
        _py: Python<'_>,
        _event_loop: &Bound<'_, PyAny>,
    ) -> PyResult<Option<Waker>> {
        Ok(None)
    }

    #[cfg(unix)]
    fn waker_for(&self, py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> PyResult<Option<Waker>> {
        if let Some((l, w)) = &self.state().link {
            if l.is(event_loop) {
                return Ok(Some(w.clone()));
            }
        }
        static NOTIFIER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let get = NOTIFIER.get_or_try_init(py, || {
            py.import("durable_streams_sdk._aio")?
                .getattr("notifier")
                .map(Bound::unbind)
        })?;
        let Ok(notifier) = get.bind(py).call1((event_loop,)) else {
            return Ok(None);
        };
        let notifier = notifier.cast_into::<Notifier>()?;
        let me: Weak<dyn Wakeable> = self.me.clone();
        let waker = notifier.get().waker(me);
        self.state().link = Some((event_loop.clone().unbind(), waker.clone()));
        Ok(Some(waker))
    }

    /// Tell the first pending wait when a chunk can be taken; otherwise leave `waker`
    /// registered with the session, to run this again when one can.
    /// An error is what a task resumed [`Tell::Inline`] raised out of its step
    /// (`KeyboardInterrupt`, `SystemExit`): the loop's callback passes it on, as a
    /// callback of the loop would have.
    fn dispatch(&self, py: Python<'_>, waker: &Waker, how: Tell) -> PyResult<()> {
        let Some(fut) = self.state().waiters.front().map(|(_, f)| f.clone_ref(py)) else {
            return Ok(());
        };
        // Done: already told (its task has not resumed yet) or cancelled (it is being
        // thrown into and will leave the queue).
        if fut.borrow(py).done() {
            return Ok(());
        }
        if self
            .shared
            .poll_ready(&mut Context::from_waker(waker))
            .is_ready()
        {
            Waiter::tell(fut.bind(py), how)?;
        }
        Ok(())
    }

    fn dispatch_linked(&self, py: Python<'_>, how: Tell) -> PyResult<()> {
        let waker = self.state().link.as_ref().map(|(_, w)| w.clone());
        match waker {
            Some(w) => self.dispatch(py, &w, how),
            None => Ok(()),
        }
    }

    fn is_first(&self, id: u64) -> bool {
        self.state().waiters.front().is_some_and(|(i, _)| *i == id)
    }

    /// Take `id` out of the queue; `true` if it was the first.
    fn remove(&self, id: u64) -> bool {
        let mut st = self.state();
        let Some(at) = st.waiters.iter().position(|(i, _)| *i == id) else {
            return false;
        };
        drop(st.waiters.remove(at));
        at == 0
    }
}

impl Wakeable for AsyncWait {
    fn queued(&self) -> &AtomicBool {
        &self.queued
    }

    /// Runs as the loop's reader callback, outside any task: a told task may resume here.
    fn on_wake(self: Arc<Self>, py: Python<'_>) -> PyResult<()> {
        self.dispatch_linked(py, Tell::Inline)
    }
}

/// The awaitable of an `__anext__` that had to wait (internal): a hand-written coroutine
/// that waits on an asyncio future until told, then takes the chunk.
#[pyclass(module = "durable_streams_sdk._native")]
pub struct Pending {
    wait: Arc<AsyncWait>,
    id: u64,
    fut: Py<Waiter>,
    finished: bool,
}

impl Pending {
    /// Leave the queue; the next wait may be told now.
    fn finish(&mut self, py: Python<'_>) {
        if !std::mem::replace(&mut self.finished, true) && self.wait.remove(self.id) {
            // Inside this wait's task: the next one resumes through `call_soon`, which
            // raises nothing here (see `Waiter::tell`).
            let _ = self.wait.dispatch_linked(py, Tell::Scheduled);
        }
    }
}

#[pymethods]
impl Pending {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        if self.finished {
            return Err(PyRuntimeError::new_err(
                "cannot reuse an already awaited __anext__()",
            ));
        }
        if self.wait.is_first(self.id) {
            if let Some(got) = self.wait.shared.try_next() {
                self.finish(py);
                return Err(match step_value(py, got) {
                    Ok(v) => PyStopIteration::new_err((v,)),
                    Err(e) => e,
                });
            }
        }
        if self.fut.borrow(py).done() {
            // Told, but nothing to take (another taker got there first): wait again.
            let event_loop = self.fut.borrow(py).event_loop.clone_ref(py);
            self.fut = Waiter::new(py, event_loop.bind(py))?;
            if let Some(slot) = self
                .wait
                .state()
                .waiters
                .iter_mut()
                .find(|(i, _)| *i == self.id)
            {
                slot.1 = self.fut.clone_ref(py);
            }
            self.wait.dispatch_linked(py, Tell::Scheduled)?;
        }
        // What `Future.__await__` sets before yielding: the task then waits on it.
        self.fut.borrow_mut(py).blocking = true;
        Ok(Some(self.fut.clone_ref(py).into_any()))
    }

    /// As `__next__` (the value sent is always `None` from asyncio).
    #[pyo3(signature = (_value, /))]
    fn send(&mut self, py: Python<'_>, _value: Bound<'_, PyAny>) -> PyResult<Option<Py<PyAny>>> {
        self.__next__(py)
    }

    /// The task was cancelled (or something was thrown in): leave the queue, take nothing.
    #[pyo3(signature = (typ, val = None, _tb = None, /))]
    fn throw(
        &mut self,
        py: Python<'_>,
        typ: Bound<'_, PyAny>,
        val: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.finish(py);
        Err(match val.filter(|v| !v.is_none()) {
            Some(v) => PyErr::from_value(v),
            None => PyErr::from_value(typ),
        })
    }

    fn close(&mut self, py: Python<'_>) {
        self.finish(py);
    }
}

impl Drop for Pending {
    /// Dropped without finishing (never awaited): leave the queue; if it was first, the
    /// next wait is told through the loop.
    fn drop(&mut self) {
        if !self.finished && self.wait.remove(self.id) {
            if let Some((_, w)) = &self.wait.state().link {
                w.wake_by_ref();
            }
        }
    }
}

/// How a told [`Waiter`] runs its callbacks (the waiting task's wake-up).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tell {
    /// Now: only from a loop callback that is not itself inside a task (the wake-up
    /// descriptor's reader), since a task cannot be entered while another one runs.
    Inline,
    /// Through `loop.call_soon`, as an `asyncio.Future` does.
    Scheduled,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum WaiterState {
    Waiting,
    Told,
    Cancelled,
}

/// What a waiting task waits on (internal, never handed to the caller): the subset of
/// `asyncio.Future` that `asyncio.Task` and `asyncio.isfuture` use, completed with `None`
/// when the wait may take its chunk, or cancelled. Not registered in the module.
#[pyclass(module = "durable_streams_sdk._native", name = "_Waiter")]
pub struct Waiter {
    event_loop: Py<PyAny>,
    /// `_asyncio_future_blocking`: set before the task sees it, cleared by the task.
    #[pyo3(get, set, name = "_asyncio_future_blocking")]
    blocking: bool,
    state: WaiterState,
    cancel_msg: Option<Py<PyAny>>,
    /// (callback, its contextvars context).
    callbacks: Vec<(Py<PyAny>, Option<Py<PyAny>>)>,
}

impl Waiter {
    fn new(py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> PyResult<Py<Waiter>> {
        Py::new(
            py,
            Waiter {
                event_loop: event_loop.clone().unbind(),
                blocking: false,
                state: WaiterState::Waiting,
                cancel_msg: None,
                callbacks: Vec::new(),
            },
        )
    }

    /// Complete it (the wait may take its chunk now) and run its callbacks. Inline, what
    /// a callback raises is returned (the callbacks after it are scheduled instead);
    /// scheduling failures (a closed loop) are reported as unraisable.
    fn tell(slf: &Bound<'_, Waiter>, how: Tell) -> PyResult<()> {
        let callbacks = {
            let mut w = slf.borrow_mut();
            if w.state != WaiterState::Waiting {
                return Ok(());
            }
            w.state = WaiterState::Told;
            std::mem::take(&mut w.callbacks)
        };
        let mut how = how;
        let mut raised = None;
        for (cb, ctx) in callbacks {
            if how == Tell::Inline {
                if let Err(e) = Self::run_now(slf, &cb, ctx.as_ref()) {
                    raised = Some(e);
                    how = Tell::Scheduled;
                }
            } else if let Err(e) = Self::schedule(slf, &cb, ctx.as_ref()) {
                e.write_unraisable(slf.py(), Some(slf.as_any()));
            }
        }
        raised.map_or(Ok(()), Err)
    }

    fn run_now(slf: &Bound<'_, Waiter>, cb: &Py<PyAny>, ctx: Option<&Py<PyAny>>) -> PyResult<()> {
        let py = slf.py();
        match ctx {
            Some(ctx) => ctx
                .bind(py)
                .call_method1(intern!(py, "run"), (cb, slf))
                .map(drop),
            None => cb.bind(py).call1((slf,)).map(drop),
        }
    }

    fn schedule(slf: &Bound<'_, Waiter>, cb: &Py<PyAny>, ctx: Option<&Py<PyAny>>) -> PyResult<()> {
        let py = slf.py();
        let kwargs = PyDict::new(py);
        if let Some(ctx) = ctx {
            kwargs.set_item(intern!(py, "context"), ctx)?;
        }
        let event_loop = slf.borrow().event_loop.clone_ref(py);
        event_loop
            .bind(py)
            .call_method(
                intern!(py, "call_soon"),
                PyTuple::new(py, [cb.bind(py).clone(), slf.clone().into_any()])?,
                Some(&kwargs),
            )
            .map(drop)
    }

    fn cancelled_error(&self, py: Python<'_>) -> PyErr {
        let args = match &self.cancel_msg {
            Some(m) => PyTuple::new(py, [m.clone_ref(py)]),
            None => Ok(PyTuple::empty(py)),
        };
        asyncio_error(py, "CancelledError", args)
    }
}

/// An instance of `asyncio.<name>(*args)` as the error to raise.
fn asyncio_error(py: Python<'_>, name: &str, args: PyResult<Bound<'_, PyTuple>>) -> PyErr {
    match py
        .import("asyncio")
        .and_then(|m| m.getattr(name)?.call1(args?))
    {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

#[pymethods]
impl Waiter {
    fn get_loop(&self, py: Python<'_>) -> Py<PyAny> {
        self.event_loop.clone_ref(py)
    }

    fn done(&self) -> bool {
        self.state != WaiterState::Waiting
    }

    fn cancelled(&self) -> bool {
        self.state == WaiterState::Cancelled
    }

    /// `None` once told; raises `CancelledError` once cancelled.
    fn result(&self, py: Python<'_>) -> PyResult<()> {
        match self.state {
            WaiterState::Told => Ok(()),
            WaiterState::Cancelled => Err(self.cancelled_error(py)),
            WaiterState::Waiting => Err(asyncio_error(
                py,
                "InvalidStateError",
                PyTuple::new(py, ["Result is not set."]),
            )),
        }
    }

    fn exception(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.result(py).map(|()| None)
    }

    #[pyo3(signature = (callback, /, *, context = None))]
    fn add_done_callback(
        slf: &Bound<'_, Self>,
        callback: Py<PyAny>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        if slf.borrow().done() {
            return Self::schedule(slf, &callback, context.as_ref());
        }
        slf.borrow_mut().callbacks.push((callback, context));
        Ok(())
    }

    fn remove_done_callback(
        &mut self,
        py: Python<'_>,
        callback: Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        let before = self.callbacks.len();
        let mut kept = Vec::with_capacity(before);
        for (cb, ctx) in std::mem::take(&mut self.callbacks) {
            if !cb.bind(py).eq(&callback)? {
                kept.push((cb, ctx));
            }
        }
        self.callbacks = kept;
        Ok(before - self.callbacks.len())
    }

    /// The task was cancelled while waiting: complete as cancelled, callbacks through
    /// `call_soon` (the task's wake-up then throws `CancelledError` into the wait).
    #[pyo3(signature = (msg = None))]
    fn cancel(slf: &Bound<'_, Self>, msg: Option<Py<PyAny>>) -> bool {
        let callbacks = {
            let mut w = slf.borrow_mut();
            if w.state != WaiterState::Waiting {
                return false;
            }
            w.state = WaiterState::Cancelled;
            w.cancel_msg = msg;
            std::mem::take(&mut w.callbacks)
        };
        for (cb, ctx) in callbacks {
            if let Err(e) = Self::schedule(slf, &cb, ctx.as_ref()) {
                e.write_unraisable(slf.py(), Some(slf.as_any()));
            }
        }
        true
    }
}

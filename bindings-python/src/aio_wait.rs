//! Waiting for a read session's next chunk inside the asyncio event loop.
//!
//! `__anext__` that finds nothing ready returns a [`Pending`] awaitable, queued on the
//! session. Pending waits are served in call order: only the first in the queue is told
//! (its asyncio future gets a result) when a chunk can be taken, by a waker that runs no
//! Python on the runtime thread ([`crate::wake`]), and it takes the chunk only when its
//! task resumes. So a wait cancelled at any point — even after being told — has taken
//! nothing, and the session's offset never runs ahead of what callers received.
//! A session waits in one event loop at a time (the loop of the latest wait).

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Waker};

use pyo3::exceptions::{PyRuntimeError, PyStopIteration};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

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
    /// Pending waits in call order: (id, the asyncio future its task waits on).
    waiters: VecDeque<(u64, Py<PyAny>)>,
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
        let fut = event_loop.call_method0("create_future")?;
        let id = {
            let mut st = self.state();
            st.next_id += 1;
            let id = st.next_id;
            st.waiters.push_back((id, fut.clone().unbind()));
            id
        };
        self.dispatch(py, &waker);
        let wait = self.me.upgrade().expect("called through a live session");
        Ok(Some(
            Bound::new(
                py,
                Pending {
                    wait,
                    id,
                    fut: fut.unbind(),
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
    fn dispatch(&self, py: Python<'_>, waker: &Waker) {
        let Some(fut) = self.state().waiters.front().map(|(_, f)| f.clone_ref(py)) else {
            return;
        };
        let fut = fut.bind(py);
        // Done: already told (its task has not resumed yet) or cancelled (it is being
        // thrown into and will leave the queue).
        if fut
            .call_method0("done")
            .and_then(|d| d.is_truthy())
            .unwrap_or(true)
        {
            return;
        }
        if self
            .shared
            .poll_ready(&mut Context::from_waker(waker))
            .is_ready()
        {
            // Only fails if the future is done, which was just ruled out.
            let _ = fut.call_method1("set_result", (py.None(),));
        }
    }

    fn dispatch_linked(&self, py: Python<'_>) {
        let waker = self.state().link.as_ref().map(|(_, w)| w.clone());
        if let Some(w) = waker {
            self.dispatch(py, &w);
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

    fn on_wake(self: Arc<Self>, py: Python<'_>) {
        self.dispatch_linked(py);
    }
}

/// The awaitable of an `__anext__` that had to wait (internal): a hand-written coroutine
/// that waits on an asyncio future until told, then takes the chunk.
#[pyclass(module = "durable_streams_sdk._native")]
pub struct Pending {
    wait: Arc<AsyncWait>,
    id: u64,
    fut: Py<PyAny>,
    finished: bool,
}

impl Pending {
    /// Leave the queue; the next wait may be told now.
    fn finish(&mut self, py: Python<'_>) {
        if !std::mem::replace(&mut self.finished, true) && self.wait.remove(self.id) {
            self.wait.dispatch_linked(py);
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
        let mut fut = self.fut.bind(py).clone();
        if fut.call_method0("done")?.is_truthy()? {
            // Told, but nothing to take (another taker got there first): wait again.
            fut = fut
                .call_method0("get_loop")?
                .call_method0("create_future")?;
            self.fut = fut.clone().unbind();
            if let Some(slot) = self
                .wait
                .state()
                .waiters
                .iter_mut()
                .find(|(i, _)| *i == self.id)
            {
                slot.1 = fut.clone().unbind();
            }
            self.wait.dispatch_linked(py);
        }
        // What `Future.__await__` sets before yielding: the task then waits on it.
        fut.setattr("_asyncio_future_blocking", true)?;
        Ok(Some(fut.unbind()))
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

//! The consumer engine behind `durable_streams_sdk.Consumer` / `AsyncConsumer`.
//!
//! Push: `ConsumerRunner.start(handler)` drives the core's supervised consumer and calls
//! the handler object's `handle_batch` / `handle_error` / `handle_up_to_date` /
//! `handle_closed` (plain functions, or coroutines run on an asyncio loop).
//! Pull: `ConsumerRunner` is itself the (async) iterator over the core's pull consumer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use durable_streams_sdk::ffi::{ConsumerEvents, ConsumerRun, RawReadOptions};
use durable_streams_sdk::{
    self as core, BoxFuture, ConsumerEnd, ConsumerEvent as CoreEvent, ConsumerHandler, ConsumerOptions, Decision,
    Offset,
};
use pyo3::exceptions::{PyStopAsyncIteration, PyTypeError};
use pyo3::prelude::*;
use pyo3_async_runtimes::TaskLocals;

use crate::client::call_python;
use crate::convert::{header_list, live_name, record_repr, timeout_limit, within};
use crate::errors::{Failure, core_error, handler_error, misuse};
use crate::read::Chunk;
use crate::rt::{BResult, awaitable, block, guard, task_locals};
use crate::stream::{AsyncStream, Stream};

/// How a pushed consumer ended.
#[pyclass(frozen, get_all, module = "durable_streams_sdk._native")]
pub struct ConsumerResult {
    /// `"closed"` (stream closed, all handled), `"stopped"` or `"caught_up"` (live off).
    pub reason: &'static str,
    /// The final offset (closed) or the checkpoint (stopped, caught up).
    pub offset: String,
}

record_repr!(ConsumerResult: reason, offset);

fn end_result(end: ConsumerEnd) -> ConsumerResult {
    match end {
        ConsumerEnd::Closed { final_offset } => ConsumerResult { reason: "closed", offset: final_offset.to_string() },
        ConsumerEnd::Stopped { checkpoint } => ConsumerResult { reason: "stopped", offset: checkpoint.to_string() },
        ConsumerEnd::CaughtUp { checkpoint } => ConsumerResult { reason: "caught_up", offset: checkpoint.to_string() },
    }
}

/// What a pulled consumer observed.
#[pyclass(frozen, get_all, module = "durable_streams_sdk._native")]
pub struct ConsumerEvent {
    /// `"batch"`, `"up_to_date"`, `"closed"` or `"reconnecting"`.
    pub kind: &'static str,
    /// `"batch"`: the data.
    pub batch: Option<Py<Chunk>>,
    /// `"up_to_date"`: the tail offset; `"closed"`: the final offset.
    pub offset: Option<String>,
    /// `"reconnecting"`: the transient failure.
    pub error: Option<Py<PyAny>>,
    /// `"reconnecting"`: seconds until the next attempt.
    pub retry_in: Option<f64>,
}

record_repr!(ConsumerEvent: kind, offset, retry_in);

/// A core event, turned into a `ConsumerEvent` once the GIL is held.
pub struct EventOut(CoreEvent);

impl<'py> IntoPyObject<'py> for EventOut {
    type Target = ConsumerEvent;
    type Output = Bound<'py, ConsumerEvent>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let event = |kind, offset: Option<String>| ConsumerEvent { kind, batch: None, offset, error: None, retry_in: None };
        let ev = match self.0 {
            CoreEvent::Batch(c) => ConsumerEvent {
                offset: Some(c.next_offset.to_string()),
                batch: Some(Py::new(py, Chunk::new(c))?),
                ..event("batch", None)
            },
            CoreEvent::UpToDate { offset } => event("up_to_date", Some(offset.to_string())),
            CoreEvent::Closed { final_offset } => event("closed", Some(final_offset.to_string())),
            CoreEvent::Reconnecting { error, retry_in } => ConsumerEvent {
                error: Some(core_error(py, &error).into_value(py).into_any()),
                retry_in: Some(retry_in.as_secs_f64()),
                ..event("reconnecting", None)
            },
        };
        Bound::new(py, ev)
    }
}

/// Calls into the Python handler object.
struct PyHandler {
    obj: Arc<Py<PyAny>>,
    locals: Option<TaskLocals>,
    final_exc: FinalExc,
}

/// `None`/`True` → continue, `False` → stop; anything else is a `TypeError`.
fn decision(v: &Bound<'_, PyAny>, default: Decision) -> PyResult<Decision> {
    if v.is_none() {
        return Ok(default);
    }
    match v.extract::<bool>() {
        Ok(true) => Ok(Decision::Continue),
        Ok(false) => Ok(Decision::Stop),
        Err(_) => Err(PyTypeError::new_err("consumer handlers must return None, True or False")),
    }
}

impl PyHandler {
    /// `obj.<method>(*args)` (awaited if it returns an awaitable), its result made a `T`
    /// by `convert`.
    async fn call<A, T, V>(&self, method: &'static str, args: A, convert: V) -> PyResult<T>
    where
        A: for<'py> IntoPyObject<'py, Target = pyo3::types::PyTuple, Output = Bound<'py, pyo3::types::PyTuple>>
            + Send
            + 'static,
        V: Fn(&Bound<'_, PyAny>) -> PyResult<T> + Clone + Send + 'static,
        T: Send + 'static,
    {
        let obj = self.obj.clone();
        let locals = self.locals.clone();
        call_python(
            move |py| {
                let args = args.into_pyobject(py).map_err(Into::into)?;
                obj.bind(py).getattr(method)?.call1(args)
            },
            convert,
            locals,
            None,
        )
        .await
    }

    /// `handle_up_to_date` / `handle_closed`: nothing to decide; what they raise is unraisable.
    async fn notify(&self, method: &'static str, offset: &Offset) {
        if let Err(e) = self.call(method, (offset.to_string(),), |_| Ok(())).await {
            Python::attach(|py| e.write_unraisable(py, None));
        }
    }
}

impl ConsumerHandler for PyHandler {
    fn on_batch(&self, batch: core::Chunk) -> BoxFuture<'_, core::Result<Decision>> {
        let handled = self.call("handle_batch", (Chunk::new(batch),), |v| decision(v, Decision::Continue));
        Box::pin(async move { handled.await.map_err(|e| handler_error("handle_batch", e)) })
    }

    fn on_error(&self, error: &core::Error) -> BoxFuture<'_, Decision> {
        // `None` means the core's default (a failed handle_batch stops the consumer).
        // Converted here, before the error is cloned (a clone loses the original Python
        // exception of a failed handle_batch).
        let default = Decision::default_for(error);
        let exc = Python::attach(|py| core_error(py, error).into_value(py).into_any());
        Box::pin(async move {
            let arg = Python::attach(|py| exc.clone_ref(py));
            match self.call("handle_error", (arg,), move |v| decision(v, default)).await {
                Ok(Decision::Continue) => Decision::Continue,
                Ok(Decision::Stop) => {
                    set_final(&self.final_exc, Python::attach(|py| PyErr::from_value(exc.into_bound(py))));
                    Decision::Stop
                }
                Err(e) => {
                    // handle_error itself failed: stop, and make that the consumer's outcome.
                    set_final(&self.final_exc, e);
                    Decision::Stop
                }
            }
        })
    }

    fn on_up_to_date(&self, offset: &Offset) -> BoxFuture<'_, ()> {
        let offset = offset.clone();
        Box::pin(async move { self.notify("handle_up_to_date", &offset).await })
    }

    fn on_closed(&self, final_offset: &Offset) -> BoxFuture<'_, ()> {
        let offset = final_offset.clone();
        Box::pin(async move { self.notify("handle_closed", &offset).await })
    }
}

/// The Python exception a pushed consumer ended with (from a handler), raised again
/// as it was by `wait`; the core's outcome only holds a description of it.
type FinalExc = Arc<Mutex<Option<PyErr>>>;

fn set_final(slot: &FinalExc, e: PyErr) {
    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
}

/// How the consumer is used, fixed by the first call: pushed (`start`) or pulled.
enum Mode {
    Push(Arc<ConsumerRun>),
    Pull(Arc<ConsumerEvents>),
}

/// Native engine of the Python consumer classes: the core's `ConsumerRun` (pushed,
/// shared outcome) or `ConsumerEvents` (pulled, `next` served in call order).
#[pyclass(frozen, module = "durable_streams_sdk._native")]
pub struct ConsumerRunner {
    stream: core::Stream,
    opts: ConsumerOptions,
    mode: OnceLock<Mode>,
    final_exc: FinalExc,
}

/// The outcome as a Python value, or the exception it ended with.
struct OutcomeOut(core::Result<ConsumerEnd>, FinalExc);

impl<'py> IntoPyObject<'py> for OutcomeOut {
    type Target = ConsumerResult;
    type Output = Bound<'py, ConsumerResult>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        match self.0 {
            Ok(end) => Bound::new(py, end_result(end)),
            Err(e) => Err(match &*self.1.lock().unwrap_or_else(|p| p.into_inner()) {
                Some(exc) => exc.clone_ref(py),
                None => core_error(py, &e),
            }),
        }
    }
}

impl ConsumerRunner {
    fn consumer(&self) -> BResult<core::Consumer> {
        Ok(core::Consumer::new(self.stream.clone(), self.opts.clone())?)
    }

    fn run(&self) -> BResult<Arc<ConsumerRun>> {
        match self.mode.get() {
            Some(Mode::Push(run)) => Ok(run.clone()),
            Some(Mode::Pull(_)) => Err(misuse("an iterated consumer cannot also be started")),
            None => Err(misuse("the consumer was not started")),
        }
    }

    fn start_with(&self, handler: Py<PyAny>, locals: Option<TaskLocals>) -> BResult<()> {
        if self.mode.get().is_some() {
            return Err(misuse("this consumer was already started"));
        }
        let h = PyHandler { obj: Arc::new(handler), locals, final_exc: self.final_exc.clone() };
        let run = ConsumerRun::start(self.consumer()?, Arc::new(h));
        self.mode.set(Mode::Push(Arc::new(run))).map_err(|_| misuse("this consumer was already started"))
    }

    /// Wait for the engine to end (by itself, or through `stop` from anywhere).
    fn wait_fut(
        &self,
        timeout: Option<Duration>,
    ) -> BResult<impl std::future::Future<Output = BResult<OutcomeOut>> + Send + 'static> {
        let run = self.run()?;
        let final_exc = self.final_exc.clone();
        Ok(async move { Ok(OutcomeOut(within(timeout, "the consumer did not finish", run.wait()).await?, final_exc)) })
    }

    fn stop_fut(&self) -> BResult<impl std::future::Future<Output = BResult<OutcomeOut>> + Send + 'static> {
        self.run()?.stop();
        self.wait_fut(None)
    }

    /// The pull handle, made by the first call (of any thread).
    fn events(&self) -> BResult<Arc<ConsumerEvents>> {
        if self.mode.get().is_none() {
            let events = ConsumerEvents::new(self.consumer()?);
            let _ = self.mode.set(Mode::Pull(Arc::new(events)));
        }
        match self.mode.get() {
            Some(Mode::Pull(e)) => Ok(e.clone()),
            _ => Err(misuse("a started (pushed) consumer cannot also be iterated")),
        }
    }

    fn pull_next(&self) -> BResult<impl std::future::Future<Output = BResult<Option<EventOut>>> + Send + 'static> {
        let events = self.events()?;
        Ok(async move { Ok(events.next().await?.map(EventOut)) })
    }
}

#[derive(FromPyObject)]
enum AnyStream<'py> {
    Sync(PyRef<'py, Stream>),
    Async(PyRef<'py, AsyncStream>),
}

#[pymethods]
impl ConsumerRunner {
    #[new]
    #[pyo3(signature = (stream, *, offset=None, live=None, backoff_base=None, backoff_max=None, headers=None, max_chunk_bytes=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        stream: AnyStream<'_>,
        offset: Option<String>,
        live: Option<Bound<'_, PyAny>>,
        backoff_base: Option<f64>,
        backoff_max: Option<f64>,
        headers: Option<HashMap<String, String>>,
        max_chunk_bytes: Option<i64>,
    ) -> PyResult<Self> {
        let stream = match stream {
            AnyStream::Sync(s) => s.core.clone(),
            AnyStream::Async(s) => s.core.clone(),
        };
        let raw = RawReadOptions {
            offset,
            live: live.as_ref().map(live_name).transpose()?,
            headers: header_list(headers),
            max_chunk_bytes,
            backoff_base_ms: backoff_base.map(|s| s * 1e3),
            backoff_max_ms: backoff_max.map(|s| s * 1e3),
            ..Default::default()
        };
        let opts = guard(py, || Ok(raw.consumer()?))?;
        // Validate now (no I/O): the same checks the engine applies when it starts.
        let check = opts.clone();
        guard(py, || core::Consumer::new(stream.clone(), check).map(|_| ()).map_err(Failure::from))?;
        Ok(ConsumerRunner { stream, opts, mode: OnceLock::new(), final_exc: FinalExc::default() })
    }

    /// Start the pushed consumer; `handler` gets the `handle_*` calls. Coroutine
    /// handlers run on the asyncio loop running here, if any (else a helper loop).
    fn start(&self, py: Python<'_>, handler: Py<PyAny>) -> PyResult<()> {
        let locals = match pyo3_async_runtimes::get_running_loop(py) {
            Ok(lp) => Some(TaskLocals::new(lp).copy_context(py)?),
            Err(_) => task_locals(),
        };
        self.start_with(handler, locals).map_err(|f| f.into_pyerr(py))
    }

    /// Block until the consumer ends; `timeout` in seconds.
    #[pyo3(signature = (timeout=None))]
    fn wait<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, ConsumerResult>> {
        let f = self.wait_fut(timeout_limit(py, timeout)?).map_err(|f| f.into_pyerr(py))?;
        block(py, f)?.into_pyobject(py)
    }

    #[pyo3(signature = (timeout=None))]
    fn wait_async<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let f = self.wait_fut(timeout_limit(py, timeout)?).map_err(|f| f.into_pyerr(py))?;
        awaitable(py, f)
    }

    /// Stop after the batch in hand and wait for the engine to end.
    fn stop<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, ConsumerResult>> {
        let f = self.stop_fut().map_err(|f| f.into_pyerr(py))?;
        block(py, f)?.into_pyobject(py)
    }

    fn stop_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let f = self.stop_fut().map_err(|f| f.into_pyerr(py))?;
        awaitable(py, f)
    }

    /// Ask the engine to stop after the batch in hand, without waiting (used when the
    /// waiting call is interrupted).
    fn cancel(&self) {
        match self.mode.get() {
            Some(Mode::Push(run)) => run.stop(),
            Some(Mode::Pull(events)) => events.cancel(),
            None => {}
        }
    }

    fn pause(&self) {
        if let Ok(run) = self.run() {
            run.controller().pause();
        }
    }

    fn resume(&self) {
        if let Ok(run) = self.run() {
            run.controller().resume();
        }
    }

    /// The offset after the last accepted batch (persist it to resume later).
    #[getter]
    fn checkpoint(&self) -> String {
        match self.mode.get() {
            Some(Mode::Push(run)) => run.checkpoint().to_string(),
            Some(Mode::Pull(events)) => events.checkpoint().to_string(),
            None => self.opts.offset.to_string(),
        }
    }

    /// `True` while a pushed consumer is running.
    #[getter]
    fn running(&self) -> bool {
        matches!(self.mode.get(), Some(Mode::Push(run)) if run.outcome().is_none())
    }

    /// Batches, bytes, reconnects, checkpoint and last error so far (zeros before the
    /// consumer starts).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let mut s = match self.mode.get() {
            Some(Mode::Push(run)) => run.stats(),
            Some(Mode::Pull(events)) => events.stats(),
            None => Default::default(),
        };
        s.checkpoint = self.checkpoint(); // the same value as the `checkpoint` property
        crate::stats::consumer_stats(py, &s)
    }

    // Pulled: the consumer classes hand this object out as their (async) iterator.

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Next pulled event (blocking); `StopIteration` at the end.
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, ConsumerEvent>>> {
        let f = self.pull_next().map_err(|f| f.into_pyerr(py))?;
        block(py, f)?.map(|e| e.into_pyobject(py)).transpose()
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Next pulled event (awaitable); raises `StopAsyncIteration` at the end.
    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let f = self.pull_next().map_err(|f| f.into_pyerr(py))?;
        awaitable(py, async move {
            match f.await? {
                Some(ev) => Ok(ev),
                None => Err(Failure::Py(PyStopAsyncIteration::new_err(()))),
            }
        })
    }
}

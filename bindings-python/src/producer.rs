//! The idempotent producer: `Producer` (blocking) and `AsyncProducer` (asyncio), both
//! context managers, plus per-message acknowledgements (`AppendAck`).
//!
//! Both are thin over the core's ordered enqueue: a message's place is fixed by the
//! call (also across threads and tasks); only under back-pressure is there anything
//! to wait for.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use durable_streams_sdk::{self as core, Enqueued, ProducerOptions};
use futures_util::FutureExt;
use futures_util::future::Shared;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyBytes;

use crate::aio_future::loop_awaitable;
use crate::convert::{CloseResult, NoneOut, data_bytes, json_bytes, py_bool, pyrepr, record_repr, timeout_limit, within};
use crate::errors::core_error;
use crate::rt::{BResult, Ready, awaitable, block, guard};
use crate::stream::run_blocking;

/// `on_error(error, messages)`, called on a blocking-pool thread (never on an I/O
/// worker); its own exceptions are reported as unraisable.
pub fn error_callback(cb: Arc<Py<PyAny>>) -> core::ErrorCallback {
    Arc::new(move |err: &core::Error, msgs: &[Bytes]| {
        let (cb, err, msgs) = (cb.clone(), err.clone(), msgs.to_vec());
        let call = move || {
            Python::attach(|py| {
                let exc = core_error(py, &err).into_value(py);
                let list: Vec<Bound<'_, PyBytes>> = msgs.iter().map(|m| PyBytes::new(py, m)).collect();
                if let Err(e) = cb.bind(py).call1((exc, list)) {
                    e.write_unraisable(py, Some(cb.bind(py)));
                }
            })
        };
        if let Ok(h) = tokio::runtime::Handle::try_current() {
            h.spawn_blocking(call);
        } else {
            std::thread::spawn(call);
        }
    })
}

/// Where an acknowledged message landed.
#[pyclass(frozen, get_all, module = "durable_streams_sdk._native")]
pub struct Acked {
    pub next_offset: Option<String>,
    /// The server already had this batch (a retry of a request that had landed).
    pub duplicate: bool,
    pub epoch: u64,
    pub seq: u64,
}

record_repr!(Acked: next_offset, duplicate, epoch, seq);

fn acked(a: core::Acked) -> Acked {
    Acked { next_offset: a.next_offset.map(|o| o.to_string()), duplicate: a.duplicate, epoch: a.epoch, seq: a.seq }
}

type AckFuture = Shared<core::AppendAck>;

/// Resolves when the message is durably stored (or its batch failed). Blocking code
/// calls `.result()`; asyncio code awaits it.
#[pyclass(frozen, module = "durable_streams_sdk._native")]
pub struct AppendAck {
    fut: AckFuture,
}

impl AppendAck {
    fn new(ack: core::AppendAck) -> Self {
        AppendAck { fut: ack.shared() }
    }
}

#[pymethods]
impl AppendAck {
    /// Wait for the acknowledgement (GIL released, Ctrl-C honoured). `timeout` in
    /// seconds raises `DurableStreamTimeoutError` when it passes first.
    #[pyo3(signature = (timeout=None))]
    fn result(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Acked> {
        let limit = timeout_limit(py, timeout)?;
        // Known already: no task on the runtime, no wait.
        if let Some(got) = self.fut.clone().now_or_never() {
            return got.map(acked).map_err(|e| core_error(py, &e));
        }
        let fut = within(limit, "no acknowledgement", self.fut.clone());
        block(py, async move { Ok(acked(fut.await??)) })
    }

    /// `True` once the outcome is known.
    fn done(&self) -> bool {
        self.fut.clone().now_or_never().is_some()
    }

    /// Once the outcome is known, an awaitable that is already complete (awaiting many
    /// acknowledgements after they landed takes no trip through the event loop each).
    fn __await__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let ready = match self.fut.clone().now_or_never() {
            Some(Ok(a)) => Ready::new(Some(Py::new(py, acked(a))?.into_any())),
            Some(Err(e)) => Ready::failed(core_error(py, &e)),
            None => {
                let fut = self.fut.clone();
                return loop_awaitable(py, async move { Ok(acked(fut.await?)) })?.call_method0("__await__");
            }
        };
        Ok(Bound::new(py, ready)?.into_any())
    }

    fn __repr__(&self) -> String {
        format!("AppendAck(done={})", py_bool(self.done()))
    }
}

/// What a producer object holds: the core producer, and whether it was closed or
/// detached through this object (then leaving a `with` block has nothing left to do).
#[derive(Clone)]
struct Handle {
    p: core::Producer,
    id: Arc<str>,
    finished: Arc<AtomicBool>,
}

impl Handle {
    /// The core producer (it starts without I/O; the first batch learns what it needs).
    fn new(py: Python<'_>, stream: core::Stream, opts: ProducerOptions) -> PyResult<Self> {
        let id = opts.producer_id.as_str().into();
        let p = guard(py, || Ok(core::Producer::start_now(stream, opts)?))?;
        Ok(Handle { p, id, finished: Arc::default() })
    }

    fn detach(&self) -> impl Future<Output = BResult<NoneOut>> + Send + 'static {
        let h = self.clone();
        async move {
            if h.finished.swap(true, Ordering::SeqCst) {
                return Ok(NoneOut);
            }
            Ok(h.p.detach().await.map(|_| NoneOut)?)
        }
    }

    /// What leaving a `with` block does: flush and detach (unless already closed or
    /// detached). With an exception in flight, its own failure is swallowed so that
    /// the original exception propagates.
    fn exit(&self, failing: bool) -> impl Future<Output = BResult<bool>> + Send + 'static {
        let detach = self.detach();
        async move {
            match detach.await {
                Err(_) if failing => Ok(false),
                Err(e) => Err(e),
                Ok(_) => Ok(false),
            }
        }
    }

}

fn json_list(py: Python<'_>, values: &Bound<'_, PyAny>) -> PyResult<Vec<Bytes>> {
    values.try_iter()?.map(|v| json_bytes(py, &v?)).collect()
}

fn data_list(values: &Bound<'_, PyAny>) -> PyResult<Vec<Bytes>> {
    values.try_iter()?.map(|v| data_bytes(&v?)).collect()
}


/// One producer class (`Producer` or `AsyncProducer`): the methods are written once;
/// `$run` makes the flavour's result of a future (waited for, or an awaitable), `$wait`
/// that of a flush (asyncio: polled in the loop, see `aio_future`), the class's `done`
/// that of an enqueue. The docs are the flavour's own (`$(#[..])* fn name;`,
/// in the order below); `$exit` names the context-manager exit, `$extra` holds the entry.
macro_rules! producer_class {
    (
        $(#[$doc:meta])* $name:ident, $append_out:ty, $run:ident, wait = $wait:ident, exit = $exit:ident;
        $(#[$append:meta])* fn append;
        $(#[$append_json:meta])* fn append_json;
        $(#[$append_many:meta])* fn append_many;
        $(#[$append_json_many:meta])* fn append_json_many;
        $(#[$flush:meta])* fn flush;
        $(#[$close:meta])* fn close;
        $(#[$detach:meta])* fn detach;
        $(#[$epoch:meta])* fn epoch;
        $(#[$next_seq:meta])* fn next_seq;
        { $($extra:tt)* }
    ) => {
        $(#[$doc])*
        #[pyclass(frozen, module = "durable_streams_sdk._native")]
        pub struct $name {
            h: Handle,
        }

        impl $name {
            pub fn new(py: Python<'_>, stream: core::Stream, opts: ProducerOptions) -> PyResult<Self> {
                Ok($name { h: Handle::new(py, stream, opts)? })
            }
        }

        #[pymethods]
        impl $name {
            /// Messages and bytes enqueued/sent/acknowledged, batches, requests, retries, in
            /// flight, buffered bytes, last error (a dict; the core's `ProducerStats`).
            fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
                crate::stats::producer_stats(py, &self.h.p.stats())
            }

            $(#[$append])*
            #[pyo3(signature = (data, *, ack=false))]
            fn append<'py>(&self, py: Python<'py>, data: Bound<'py, PyAny>, ack: bool) -> PyResult<$append_out> {
                self.done(py, self.h.p.enqueue(data_bytes(&data)?, ack))
            }

            $(#[$append_json])*
            #[pyo3(signature = (value, *, ack=false))]
            fn append_json<'py>(&self, py: Python<'py>, value: Bound<'py, PyAny>, ack: bool) -> PyResult<$append_out> {
                self.done(py, self.h.p.enqueue(json_bytes(py, &value)?, ack))
            }

            $(#[$append_many])*
            #[pyo3(signature = (data, *, ack=false))]
            fn append_many<'py>(&self, py: Python<'py>, data: Bound<'py, PyAny>, ack: bool) -> PyResult<$append_out> {
                self.done(py, self.h.p.enqueue_many(data_list(&data)?, ack))
            }

            $(#[$append_json_many])*
            #[pyo3(signature = (values, *, ack=false))]
            fn append_json_many<'py>(&self, py: Python<'py>, values: Bound<'py, PyAny>, ack: bool) -> PyResult<$append_out> {
                self.done(py, self.h.p.enqueue_many(json_list(py, &values)?, ack))
            }

            $(#[$flush])*
            fn flush<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                let p = self.h.p.clone();
                $wait(py, async move { Ok(p.flush().await.map(|_| NoneOut)?) })
            }

            $(#[$close])*
            #[pyo3(signature = (data=None))]
            fn close<'py>(&self, py: Python<'py>, data: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
                let data = data.as_ref().map(data_bytes).transpose()?;
                let h = self.h.clone();
                $run(py, async move {
                    let r = h.p.close(data).await;
                    h.finished.store(true, Ordering::SeqCst);
                    Ok(CloseResult { final_offset: r?.final_offset.to_string() })
                })
            }

            $(#[$detach])*
            fn detach<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                $run(py, self.h.detach())
            }

            $(#[$epoch])*
            #[getter]
            fn epoch(&self) -> u64 {
                self.h.p.epoch()
            }

            $(#[$next_seq])*
            #[getter]
            fn next_seq(&self) -> u64 {
                self.h.p.next_seq()
            }

            // Leaving the `with` block: flush and detach (see `Handle::exit`).
            #[pyo3(signature = (exc_type=None, _exc=None, _tb=None))]
            fn $exit<'py>(
                &self,
                py: Python<'py>,
                exc_type: Option<Bound<'py, PyAny>>,
                _exc: Option<Bound<'py, PyAny>>,
                _tb: Option<Bound<'py, PyAny>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                $run(py, self.h.exit(exc_type.is_some_and(|t| !t.is_none())))
            }

            fn __repr__(&self) -> String {
                format!("{}({}, epoch={})", stringify!($name), pyrepr(&self.h.id), self.h.p.epoch())
            }

            $($extra)*
        }
    };
}

impl Producer {
    fn done(&self, py: Python<'_>, got: core::Result<Enqueued>) -> PyResult<Option<AppendAck>> {
        match got.map_err(|e| core_error(py, &e))? {
            Enqueued::Accepted => Ok(None),
            Enqueued::Ack(a) => Ok(Some(AppendAck::new(a))),
            Enqueued::Wait(w) => block(py, async move { Ok(w.await?.map(AppendAck::new)) }),
        }
    }
}

producer_class! {
    /// Idempotent, batching producer (blocking API). `append` does not wait for the
    /// network (only for buffer room); `flush` waits until everything is stored.
    /// As a context manager, leaving the block flushes and detaches (the stream stays open).
    Producer, Option<AppendAck>, run_blocking, wait = run_blocking, exit = __exit__;
    /// Enqueue one message (`bytes`/`str`; on a JSON stream the text of one JSON value).
    /// With `ack=True`, returns an `AppendAck`.
    fn append;
    /// Enqueue one JSON-serialisable value.
    fn append_json;
    /// Enqueue several messages in one call, in order; with `ack=True` the
    /// acknowledgement is the last message's (it resolves once all are stored).
    fn append_many;
    /// Enqueue several JSON-serialisable values in one call (see `append_many`).
    fn append_json_many;
    /// Wait until everything appended so far is stored.
    fn flush;
    /// Flush, then close the stream (atomically appending `data` as a final message).
    fn close;
    /// Flush, then stop without closing the stream.
    fn detach;
    /// The epoch in use (changes after an auto-claim).
    fn epoch;
    /// The sequence number the next batch will get.
    fn next_seq;
    {
        fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
            slf
        }
    }
}

/// What `await` of an accepted enqueue (no acknowledgement asked for) gets: `None` at
/// once, without a trip through the event loop. It holds nothing, so one shared instance
/// serves every call: the common case allocates no awaitable per message, and its
/// `__next__` ends the iteration without raising (an exhausted `tp_iternext`), which
/// `await` reads as `None`.
#[pyclass(frozen, module = "durable_streams_sdk._native")]
struct Accepted;

#[pymethods]
impl Accepted {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self) -> Option<Py<PyAny>> {
        None
    }
}

fn accepted(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static ACCEPTED: PyOnceLock<Py<Accepted>> = PyOnceLock::new();
    Ok(ACCEPTED.get_or_try_init(py, || Py::new(py, Accepted))?.bind(py).clone().into_any())
}

impl AsyncProducer {
    /// Without back-pressure, an awaitable that is already complete: no trip through
    /// the event loop.
    fn done<'py>(&self, py: Python<'py>, got: core::Result<Enqueued>) -> PyResult<Bound<'py, PyAny>> {
        match got.map_err(|e| core_error(py, &e))? {
            Enqueued::Accepted => accepted(py),
            Enqueued::Ack(a) => Ok(Bound::new(py, Ready::new(Some(Py::new(py, AppendAck::new(a))?.into_any())))?.into_any()),
            Enqueued::Wait(w) => loop_awaitable(py, async move { Ok(w.await?.map(AppendAck::new)) }),
        }
    }
}

producer_class! {
    /// Idempotent, batching producer (asyncio API). `await append(...)` returns as soon as
    /// the message is queued — at once, without a trip through the event loop, unless the
    /// buffer is full; `async with` flushes and detaches on exit.
    AsyncProducer, Bound<'py, PyAny>, awaitable, wait = loop_awaitable, exit = __aexit__;
    /// Queue one message; the awaitable resolves once queued (waiting only for buffer
    /// room). With `ack=True` it resolves to an `AppendAck` to await for durability.
    fn append;
    /// Queue one JSON-serialisable value.
    fn append_json;
    /// Queue several messages in one call, in order.
    fn append_many;
    /// Queue several JSON-serialisable values in one call, in order.
    fn append_json_many;
    fn flush;
    fn close;
    fn detach;
    fn epoch;
    fn next_seq;
    {
        fn __aenter__(slf: Py<Self>) -> Ready {
            Ready::new(Some(slf.into_any()))
        }
    }
}

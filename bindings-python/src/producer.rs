//! The idempotent producer: `Producer` (blocking) and `AsyncProducer` (asyncio), both
//! context managers, plus per-message acknowledgements (`AppendAck`).
//!
//! Both are thin over the core's ordered enqueue: a message's place is fixed by the
//! call (also across threads and tasks); only under back-pressure is there anything
//! to wait for.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use durable_streams_sdk::{self as core, Enqueued, ErrorKind, ProducerOptions, RawProducerOptions};
use futures_util::FutureExt;
use futures_util::future::Shared;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::convert::{CloseResult, NoneOut, data_bytes, header_list, json_bytes, py_bool, pyrepr, pyrepr_opt, seconds};
use crate::errors::{core_error, state};
use crate::rt::{BResult, Ready, awaitable, block, guard};

/// Validated producer settings plus the stream they apply to.
pub struct ProducerConfig {
    stream: core::Stream,
    opts: ProducerOptions,
}

impl ProducerConfig {
    /// The core producer (it starts without I/O; the first batch learns what it needs).
    fn start(self, py: Python<'_>) -> PyResult<core::Producer> {
        guard(py, || Ok(core::Producer::start_now(self.stream, self.opts)?))
    }
}

impl ProducerConfig {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        py: Python<'_>,
        stream: &core::Stream,
        producer_id: String,
        epoch: Option<i64>,
        auto_claim: Option<bool>,
        max_batch_items: Option<i64>,
        max_batch_bytes: Option<i64>,
        linger: Option<f64>,
        max_in_flight: Option<i64>,
        buffer_limit_bytes: Option<i64>,
        delivery_timeout: Option<f64>,
        content_type: Option<String>,
        headers: Option<HashMap<String, String>>,
        on_error: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let raw = RawProducerOptions {
            producer_id: Some(producer_id),
            epoch,
            auto_claim,
            max_batch_items,
            max_batch_bytes,
            linger_ms: linger.map(|s| s * 1e3),
            max_in_flight,
            buffer_limit_bytes,
        };
        let mut opts = guard(py, || Ok(ProducerOptions::from_raw(raw)?))?;
        if let Some(s) = delivery_timeout {
            opts.delivery_timeout = seconds(py, "deliveryTimeoutMs", s)?;
        }
        opts.content_type = content_type;
        opts.headers = header_list(headers);
        if let Some(cb) = on_error {
            opts.on_error = Some(error_callback(Arc::new(cb)));
        }
        Ok(ProducerConfig { stream: stream.clone(), opts })
    }
}

/// `on_error(error, messages)`, called on a blocking-pool thread (never on an I/O
/// worker); its own exceptions are reported as unraisable.
fn error_callback(cb: Arc<Py<PyAny>>) -> core::ErrorCallback {
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

#[pymethods]
impl Acked {
    fn __repr__(&self) -> String {
        format!(
            "Acked(next_offset={}, duplicate={}, epoch={}, seq={})",
            pyrepr_opt(&self.next_offset),
            py_bool(self.duplicate),
            self.epoch,
            self.seq
        )
    }
}

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
        let fut = self.fut.clone();
        let limit = timeout.map(|s| seconds(py, "timeoutMs", s)).transpose()?;
        block(py, async move {
            let r = match limit {
                None => fut.await,
                Some(d) => match tokio::time::timeout(d, fut).await {
                    Ok(r) => r,
                    Err(_) => return Err(state(ErrorKind::Timeout, format!("no acknowledgement within {}s", d.as_secs_f64()))),
                },
            };
            Ok(acked(r?))
        })
    }

    /// `True` once the outcome is known.
    fn done(&self) -> bool {
        self.fut.clone().now_or_never().is_some()
    }

    fn __await__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let fut = self.fut.clone();
        awaitable(py, async move { Ok(acked(fut.await?)) })?.call_method0("__await__")
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

/// An enqueue's outcome: done now, or waiting for buffer room.
enum Queued {
    Now(Option<AppendAck>),
    Wait(core::EnqueueWait),
}

impl Handle {
    fn new(py: Python<'_>, cfg: ProducerConfig) -> PyResult<Self> {
        let id = cfg.opts.producer_id.as_str().into();
        Ok(Handle { p: cfg.start(py)?, id, finished: Arc::default() })
    }

    fn enqueue(&self, py: Python<'_>, got: core::Result<Enqueued>) -> PyResult<Queued> {
        match got {
            Ok(Enqueued::Accepted) => Ok(Queued::Now(None)),
            Ok(Enqueued::Ack(a)) => Ok(Queued::Now(Some(AppendAck::new(a)))),
            Ok(Enqueued::Wait(w)) => Ok(Queued::Wait(w)),
            Err(e) => Err(core_error(py, &e)),
        }
    }

    fn one(&self, py: Python<'_>, data: Bytes, ack: bool) -> PyResult<Queued> {
        self.enqueue(py, self.p.enqueue(data, ack))
    }

    fn many(&self, py: Python<'_>, msgs: Vec<Bytes>, ack: bool) -> PyResult<Queued> {
        self.enqueue(py, self.p.enqueue_many(msgs, ack))
    }

    fn flush(&self) -> impl Future<Output = BResult<NoneOut>> + Send + 'static {
        let p = self.p.clone();
        async move { Ok(p.flush().await.map(|_| NoneOut)?) }
    }

    fn close(&self, data: Option<Bytes>) -> impl Future<Output = BResult<CloseResult>> + Send + 'static {
        let h = self.clone();
        async move {
            let r = h.p.close(data).await;
            h.finished.store(true, Ordering::SeqCst);
            Ok(CloseResult { final_offset: r?.final_offset.to_string() })
        }
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

    fn repr(&self, class: &str) -> String {
        format!("{class}({}, epoch={})", pyrepr(&self.id), self.p.epoch())
    }
}

fn optional_data(data: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Bytes>> {
    data.map(data_bytes).transpose()
}

fn json_list(py: Python<'_>, values: &Bound<'_, PyAny>) -> PyResult<Vec<Bytes>> {
    values.try_iter()?.map(|v| json_bytes(py, &v?)).collect()
}

fn data_list(values: &Bound<'_, PyAny>) -> PyResult<Vec<Bytes>> {
    values.try_iter()?.map(|v| data_bytes(&v?)).collect()
}

/// Idempotent, batching producer (blocking API). `append` does not wait for the
/// network (only for buffer room); `flush` waits until everything is stored.
/// As a context manager, leaving the block flushes and detaches (the stream stays open).
#[pyclass(frozen, module = "durable_streams_sdk._native")]
pub struct Producer {
    h: Handle,
}

impl Producer {
    pub fn new(py: Python<'_>, cfg: ProducerConfig) -> PyResult<Self> {
        Ok(Producer { h: Handle::new(py, cfg)? })
    }

    fn done(&self, py: Python<'_>, q: Queued) -> PyResult<Option<AppendAck>> {
        match q {
            Queued::Now(a) => Ok(a),
            Queued::Wait(w) => block(py, async move { Ok(w.await?.map(AppendAck::new)) }),
        }
    }
}

#[pymethods]
impl Producer {
    /// Messages and bytes enqueued/sent/acknowledged, batches, requests, retries, in
    /// flight, buffered bytes, last error (a dict; the core's `ProducerStats`).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        crate::stats::producer_stats(py, &self.h.p.stats())
    }

    /// Enqueue one message (`bytes`/`str`; on a JSON stream the text of one JSON value).
    /// With `ack=True`, returns an `AppendAck`.
    #[pyo3(signature = (data, *, ack=false))]
    fn append(&self, py: Python<'_>, data: Bound<'_, PyAny>, ack: bool) -> PyResult<Option<AppendAck>> {
        let q = self.h.one(py, data_bytes(&data)?, ack)?;
        self.done(py, q)
    }

    /// Enqueue one JSON-serialisable value.
    #[pyo3(signature = (value, *, ack=false))]
    fn append_json(&self, py: Python<'_>, value: Bound<'_, PyAny>, ack: bool) -> PyResult<Option<AppendAck>> {
        let q = self.h.one(py, json_bytes(py, &value)?, ack)?;
        self.done(py, q)
    }

    /// Enqueue several messages in one call, in order; with `ack=True` the
    /// acknowledgement is the last message's (it resolves once all are stored).
    #[pyo3(signature = (data, *, ack=false))]
    fn append_many(&self, py: Python<'_>, data: Bound<'_, PyAny>, ack: bool) -> PyResult<Option<AppendAck>> {
        let q = self.h.many(py, data_list(&data)?, ack)?;
        self.done(py, q)
    }

    /// Enqueue several JSON-serialisable values in one call (see `append_many`).
    #[pyo3(signature = (values, *, ack=false))]
    fn append_json_many(&self, py: Python<'_>, values: Bound<'_, PyAny>, ack: bool) -> PyResult<Option<AppendAck>> {
        let q = self.h.many(py, json_list(py, &values)?, ack)?;
        self.done(py, q)
    }

    /// Wait until everything appended so far is stored.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        block(py, self.h.flush()).map(drop)
    }

    /// Flush, then close the stream (atomically appending `data` as a final message).
    #[pyo3(signature = (data=None))]
    fn close(&self, py: Python<'_>, data: Option<Bound<'_, PyAny>>) -> PyResult<CloseResult> {
        let data = optional_data(data.as_ref())?;
        block(py, self.h.close(data))
    }

    /// Flush, then stop without closing the stream.
    fn detach(&self, py: Python<'_>) -> PyResult<()> {
        block(py, self.h.detach()).map(drop)
    }

    /// The epoch in use (changes after an auto-claim).
    #[getter]
    fn epoch(&self) -> u64 {
        self.h.p.epoch()
    }

    /// The sequence number the next batch will get.
    #[getter]
    fn next_seq(&self) -> u64 {
        self.h.p.next_seq()
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (exc_type=None, _exc=None, _tb=None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<Bound<'_, PyAny>>,
        _exc: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let failing = exc_type.is_some_and(|t| !t.is_none());
        block(py, self.h.exit(failing))
    }

    fn __repr__(&self) -> String {
        self.h.repr("Producer")
    }
}

/// Idempotent, batching producer (asyncio API). `await append(...)` returns as soon as
/// the message is queued — at once, without a trip through the event loop, unless the
/// buffer is full; `async with` flushes and detaches on exit.
#[pyclass(frozen, module = "durable_streams_sdk._native")]
pub struct AsyncProducer {
    h: Handle,
}

impl AsyncProducer {
    pub fn new(py: Python<'_>, cfg: ProducerConfig) -> PyResult<Self> {
        Ok(AsyncProducer { h: Handle::new(py, cfg)? })
    }

    fn done<'py>(&self, py: Python<'py>, q: Queued) -> PyResult<Bound<'py, PyAny>> {
        match q {
            Queued::Now(a) => {
                let value = a.map(|a| Py::new(py, a)).transpose()?.map(Py::into_any);
                Ok(Bound::new(py, Ready::new(value))?.into_any())
            }
            Queued::Wait(w) => awaitable(py, async move { Ok(w.await?.map(AppendAck::new)) }),
        }
    }
}

#[pymethods]
impl AsyncProducer {
    /// Messages and bytes enqueued/sent/acknowledged, batches, requests, retries, in
    /// flight, buffered bytes, last error (a dict; the core's `ProducerStats`).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        crate::stats::producer_stats(py, &self.h.p.stats())
    }

    /// Queue one message; the awaitable resolves once queued (waiting only for buffer
    /// room). With `ack=True` it resolves to an `AppendAck` to await for durability.
    #[pyo3(signature = (data, *, ack=false))]
    fn append<'py>(&self, py: Python<'py>, data: Bound<'py, PyAny>, ack: bool) -> PyResult<Bound<'py, PyAny>> {
        let q = self.h.one(py, data_bytes(&data)?, ack)?;
        self.done(py, q)
    }

    /// Queue one JSON-serialisable value.
    #[pyo3(signature = (value, *, ack=false))]
    fn append_json<'py>(&self, py: Python<'py>, value: Bound<'py, PyAny>, ack: bool) -> PyResult<Bound<'py, PyAny>> {
        let q = self.h.one(py, json_bytes(py, &value)?, ack)?;
        self.done(py, q)
    }

    /// Queue several messages in one call, in order.
    #[pyo3(signature = (data, *, ack=false))]
    fn append_many<'py>(&self, py: Python<'py>, data: Bound<'py, PyAny>, ack: bool) -> PyResult<Bound<'py, PyAny>> {
        let q = self.h.many(py, data_list(&data)?, ack)?;
        self.done(py, q)
    }

    /// Queue several JSON-serialisable values in one call, in order.
    #[pyo3(signature = (values, *, ack=false))]
    fn append_json_many<'py>(&self, py: Python<'py>, values: Bound<'py, PyAny>, ack: bool) -> PyResult<Bound<'py, PyAny>> {
        let q = self.h.many(py, json_list(py, &values)?, ack)?;
        self.done(py, q)
    }

    fn flush<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.h.flush())
    }

    #[pyo3(signature = (data=None))]
    fn close<'py>(&self, py: Python<'py>, data: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let data = optional_data(data.as_ref())?;
        awaitable(py, self.h.close(data))
    }

    fn detach<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.h.detach())
    }

    #[getter]
    fn epoch(&self) -> u64 {
        self.h.p.epoch()
    }

    #[getter]
    fn next_seq(&self) -> u64 {
        self.h.p.next_seq()
    }

    fn __aenter__(slf: Py<Self>) -> Ready {
        Ready::new(Some(slf.into_any()))
    }

    #[pyo3(signature = (exc_type=None, _exc=None, _tb=None))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        exc_type: Option<Bound<'py, PyAny>>,
        _exc: Option<Bound<'py, PyAny>>,
        _tb: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let failing = exc_type.is_some_and(|t| !t.is_none());
        awaitable(py, self.h.exit(failing))
    }

    fn __repr__(&self) -> String {
        self.h.repr("AsyncProducer")
    }
}

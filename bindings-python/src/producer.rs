//! The idempotent producer: `Producer` (blocking) and `AsyncProducer` (asyncio), both
//! context managers, plus per-message acknowledgements (`AppendAck`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use durable_streams_sdk::{self as core, ErrorKind, ProducerOptions, RawProducerOptions};
use futures_util::FutureExt;
use futures_util::future::Shared;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::sync::OnceCell;

use crate::client::{header_list, seconds};
use crate::errors::{Failure, core_error};
use crate::pyjson;
use crate::rt::{BResult, Ready, awaitable, block, guard};
use crate::stream::{CloseResult, data_bytes, py_bool, pyrepr, pyrepr_opt};

/// Validated producer settings plus the stream they apply to.
pub struct ProducerConfig {
    stream: core::Stream,
    opts: ProducerOptions,
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
            opts.delivery_timeout = seconds(py, "deliveryTimeout", s)?;
        }
        opts.content_type = content_type.or_else(|| stream.known_content_type());
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
        let limit = timeout.map(|s| seconds(py, "timeout", s)).transpose()?;
        block(py, async move {
            let r = match limit {
                None => fut.await,
                Some(d) => match tokio::time::timeout(d, fut).await {
                    Ok(r) => r,
                    Err(_) => return Err(Failure::State("TIMEOUT", format!("no acknowledgement within {d:?}"))),
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

/// State shared by a producer object and its in-flight futures.
struct Inner {
    cfg: ProducerConfig,
    producer: OnceCell<core::Producer>,
    /// Closed or detached through this object: the context manager has nothing left to do.
    finished: AtomicBool,
}

impl Inner {
    async fn get(&self) -> BResult<core::Producer> {
        let p = self
            .producer
            .get_or_try_init(|| core::Producer::start(self.cfg.stream.clone(), self.cfg.opts.clone()))
            .await?;
        Ok(p.clone())
    }
}

#[derive(Clone)]
struct Handle(Arc<Inner>);

enum Fast {
    Done(Option<AppendAck>),
    Slow(Bytes),
}

impl Handle {
    fn new(cfg: ProducerConfig) -> Self {
        Handle(Arc::new(Inner { cfg, producer: OnceCell::new(), finished: AtomicBool::new(false) }))
    }

    /// Enqueue without waiting when the producer runs and its buffer has room.
    fn try_fast(&self, data: Bytes, ack: bool) -> BResult<Fast> {
        let Some(p) = self.0.producer.get() else { return Ok(Fast::Slow(data)) };
        match p.try_append(data.clone(), ack) {
            Ok(a) => Ok(Fast::Done(a.map(AppendAck::new))),
            Err(e) if *e.kind() == ErrorKind::BufferFull => Ok(Fast::Slow(data)),
            Err(e) => Err(e.into()),
        }
    }

    fn append_slow(&self, data: Bytes, ack: bool) -> impl Future<Output = BResult<Option<AppendAck>>> + Send + 'static {
        let h = self.clone();
        async move {
            let p = h.0.get().await?;
            if ack {
                Ok(Some(AppendAck::new(p.append_with_ack(data).await?)))
            } else {
                p.append(data).await?;
                Ok(None)
            }
        }
    }

    fn start(&self) -> impl Future<Output = BResult<()>> + Send + 'static {
        let h = self.clone();
        async move { h.0.get().await.map(|_| ()) }
    }

    fn flush(&self) -> impl Future<Output = BResult<()>> + Send + 'static {
        let h = self.clone();
        async move { Ok(h.0.get().await?.flush().await?) }
    }

    fn close(&self, data: Option<Bytes>) -> impl Future<Output = BResult<CloseResult>> + Send + 'static {
        let h = self.clone();
        async move {
            let r = h.0.get().await?.close(data).await;
            h.0.finished.store(true, Ordering::SeqCst);
            Ok(CloseResult { final_offset: r?.final_offset.to_string() })
        }
    }

    fn detach(&self) -> impl Future<Output = BResult<()>> + Send + 'static {
        let h = self.clone();
        async move {
            if h.0.finished.load(Ordering::SeqCst) {
                return Ok(());
            }
            let r = h.0.get().await?.detach().await;
            h.0.finished.store(true, Ordering::SeqCst);
            Ok(r?)
        }
    }

    /// What leaving a `with` block does: flush and detach (unless already closed or
    /// detached, or never started). With an exception in flight, its own failure is
    /// swallowed so that the original exception propagates.
    fn exit(&self, failing: bool) -> impl Future<Output = BResult<bool>> + Send + 'static {
        let h = self.clone();
        async move {
            if h.0.finished.load(Ordering::SeqCst) || h.0.producer.get().is_none() {
                return Ok(false);
            }
            match h.detach().await {
                Err(_) if failing => Ok(false),
                Err(e) => Err(e),
                Ok(()) => Ok(false),
            }
        }
    }

    fn epoch(&self) -> u64 {
        self.0.producer.get().map(|p| p.epoch()).unwrap_or(self.0.cfg.opts.epoch)
    }

    fn next_seq(&self) -> u64 {
        self.0.producer.get().map(|p| p.next_seq()).unwrap_or(0)
    }
}

fn json_bytes(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    Ok(Bytes::from(pyjson::dumps(py, value)?.into_bytes()))
}

fn optional_data(data: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Bytes>> {
    data.map(data_bytes).transpose()
}

/// Idempotent, batching producer (blocking API). `append` does not wait for the
/// network (only for buffer room); `flush` waits until everything is stored.
/// As a context manager, leaving the block flushes and detaches (the stream stays open).
#[pyclass(frozen, module = "durable_streams_sdk._native")]
pub struct Producer {
    h: Handle,
}

impl Producer {
    pub fn new(cfg: ProducerConfig) -> Self {
        Producer { h: Handle::new(cfg) }
    }
}

impl Producer {
    fn enqueue(&self, py: Python<'_>, data: Bytes, ack: bool) -> PyResult<Option<AppendAck>> {
        match self.h.try_fast(data, ack).map_err(|f| f.into_pyerr(py))? {
            Fast::Done(a) => Ok(a),
            Fast::Slow(data) => block(py, self.h.append_slow(data, ack)),
        }
    }
}

#[pymethods]
impl Producer {
    /// Start now (learns the content type with one HEAD unless known). Optional: the
    /// first append starts the producer.
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        block(py, self.h.start())
    }

    /// Enqueue one message (`bytes`/`str`; on a JSON stream the text of one JSON value).
    /// With `ack=True`, returns an `AppendAck`.
    #[pyo3(signature = (data, *, ack=false))]
    fn append(&self, py: Python<'_>, data: Bound<'_, PyAny>, ack: bool) -> PyResult<Option<AppendAck>> {
        let data = data_bytes(&data)?;
        self.enqueue(py, data, ack)
    }

    /// Enqueue one JSON-serialisable value.
    #[pyo3(signature = (value, *, ack=false))]
    fn append_json(&self, py: Python<'_>, value: Bound<'_, PyAny>, ack: bool) -> PyResult<Option<AppendAck>> {
        let data = json_bytes(py, &value)?;
        self.enqueue(py, data, ack)
    }

    /// Wait until everything appended so far is stored.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        block(py, self.h.flush())
    }

    /// Flush, then close the stream (atomically appending `data` as a final message).
    #[pyo3(signature = (data=None))]
    fn close(&self, py: Python<'_>, data: Option<Bound<'_, PyAny>>) -> PyResult<CloseResult> {
        let data = optional_data(data.as_ref())?;
        block(py, self.h.close(data))
    }

    /// Flush, then stop without closing the stream.
    fn detach(&self, py: Python<'_>) -> PyResult<()> {
        block(py, self.h.detach())
    }

    /// The epoch in use (changes after an auto-claim).
    #[getter]
    fn epoch(&self) -> u64 {
        self.h.epoch()
    }

    /// The sequence number the next batch will get.
    #[getter]
    fn next_seq(&self) -> u64 {
        self.h.next_seq()
    }

    fn __enter__(slf: PyRef<'_, Self>, py: Python<'_>) -> PyResult<Py<Self>> {
        block(py, slf.h.start())?;
        Ok(slf.into())
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
        format!("Producer({}, epoch={})", pyrepr(&self.h.0.cfg.opts.producer_id), self.epoch())
    }
}

/// Idempotent, batching producer (asyncio API). `await append(...)` returns as soon as
/// the message is queued; `async with` flushes and detaches on exit.
#[pyclass(frozen, module = "durable_streams_sdk._native")]
pub struct AsyncProducer {
    h: Handle,
}

impl AsyncProducer {
    pub fn new(cfg: ProducerConfig) -> Self {
        AsyncProducer { h: Handle::new(cfg) }
    }

    fn enqueue<'py>(&self, py: Python<'py>, data: Bytes, ack: bool) -> PyResult<Bound<'py, PyAny>> {
        match self.h.try_fast(data, ack).map_err(|f| f.into_pyerr(py))? {
            Fast::Done(a) => {
                let value = a.map(|a| Py::new(py, a)).transpose()?.map(Py::into_any);
                Ok(Bound::new(py, Ready::new(value))?.into_any())
            }
            Fast::Slow(data) => awaitable(py, self.h.append_slow(data, ack)),
        }
    }
}

#[pymethods]
impl AsyncProducer {
    /// Start now (learns the content type with one HEAD unless known).
    fn start<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let f = self.h.start();
        awaitable(py, async move { f.await.map(|_| NoneValue) })
    }

    /// Queue one message; the awaitable resolves once queued (waiting only for buffer
    /// room). With `ack=True` it resolves to an `AppendAck` to await for durability.
    #[pyo3(signature = (data, *, ack=false))]
    fn append<'py>(&self, py: Python<'py>, data: Bound<'py, PyAny>, ack: bool) -> PyResult<Bound<'py, PyAny>> {
        let data = data_bytes(&data)?;
        self.enqueue(py, data, ack)
    }

    /// Queue one JSON-serialisable value.
    #[pyo3(signature = (value, *, ack=false))]
    fn append_json<'py>(&self, py: Python<'py>, value: Bound<'py, PyAny>, ack: bool) -> PyResult<Bound<'py, PyAny>> {
        let data = json_bytes(py, &value)?;
        self.enqueue(py, data, ack)
    }

    fn flush<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let f = self.h.flush();
        awaitable(py, async move { f.await.map(|_| NoneValue) })
    }

    #[pyo3(signature = (data=None))]
    fn close<'py>(&self, py: Python<'py>, data: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let data = optional_data(data.as_ref())?;
        awaitable(py, self.h.close(data))
    }

    fn detach<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let f = self.h.detach();
        awaitable(py, async move { f.await.map(|_| NoneValue) })
    }

    #[getter]
    fn epoch(&self) -> u64 {
        self.h.epoch()
    }

    #[getter]
    fn next_seq(&self) -> u64 {
        self.h.next_seq()
    }

    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let f = slf.get().h.start();
        let me: Py<Self> = slf.unbind();
        awaitable(py, async move { f.await.map(|_| me) })
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
        format!("AsyncProducer({}, epoch={})", pyrepr(&self.h.0.cfg.opts.producer_id), self.epoch())
    }
}

/// `None` as an awaitable result.
pub struct NoneValue;

impl<'py> IntoPyObject<'py> for NoneValue {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = std::convert::Infallible;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        Ok(py.None().into_bound(py))
    }
}

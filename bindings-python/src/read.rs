//! Read sessions as Python iterators (`for` / `async for`), chunks, and JSON items.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use durable_streams_sdk::{self as core, ffi::ReadHandle};
use pyo3::exceptions::{PyStopAsyncIteration, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList, PyMemoryView};

use crate::aio_wait::AsyncWait;
use crate::convert::{json_loads, py_bool, pyrepr};
use crate::errors::{Failure, misuse};
use crate::rt::{BResult, Ready, SIGNAL_POLL, awaitable};

/// Read-only buffer over the core's bytes (no copy): what `Chunk.data`'s `memoryview`
/// looks at. It keeps the bytes alive for as long as any view of them exists.
#[pyclass(frozen, module = "durable_streams_sdk._native")]
pub struct ChunkBuffer {
    data: bytes::Bytes,
}

#[pymethods]
impl ChunkBuffer {
    /// # Safety
    /// Called by CPython with a valid `view` to fill, per the buffer protocol.
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut pyo3::ffi::Py_buffer, flags: std::os::raw::c_int) -> PyResult<()> {
        let data = &slf.get().data;
        // Read-only, contiguous, format "B"; refuses a writable request. Takes its own
        // reference to `slf` (view->obj), released by PyBuffer_Release.
        let rc = unsafe {
            pyo3::ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                data.as_ptr() as *mut std::os::raw::c_void,
                data.len() as pyo3::ffi::Py_ssize_t,
                1,
                flags,
            )
        };
        if rc == -1 { Err(PyErr::fetch(slf.py())) } else { Ok(()) }
    }

    /// # Safety
    /// Nothing to release: the bytes live as long as this object.
    unsafe fn __releasebuffer__(&self, _view: *mut pyo3::ffi::Py_buffer) {}

    fn __len__(&self) -> usize {
        self.data.len()
    }
}

/// One batch of stream data and where it leaves the reader.
#[pyclass(frozen, module = "durable_streams_sdk._native")]
pub struct Chunk {
    inner: core::Chunk,
    data: PyOnceLock<Py<PyMemoryView>>,
}

impl Chunk {
    pub fn new(inner: core::Chunk) -> Self {
        Chunk { inner, data: PyOnceLock::new() }
    }

    pub fn core(&self) -> &core::Chunk {
        &self.inner
    }
}

/// The messages of a JSON chunk: its data is one JSON array, parsed once.
fn decode_items<'py>(py: Python<'py>, chunk: &core::Chunk) -> PyResult<Bound<'py, PyList>> {
    if !chunk.json && !chunk.data.is_empty() {
        return Err(misuse("json(): the stream is not an application/json stream").into_pyerr(py));
    }
    if chunk.data.is_empty() {
        return Ok(PyList::empty(py));
    }
    json_loads(py, &chunk.data)?.cast_into::<PyList>().map_err(|_| PyValueError::new_err("chunk data is not a JSON array"))
}

#[pymethods]
impl Chunk {
    /// The bytes (for a JSON stream: a JSON array of this chunk's messages), as a
    /// read-only `memoryview` over the received data: no copy. `bytes(chunk.data)` copies.
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyMemoryView>> {
        let view = self.data.get_or_try_init(py, || -> PyResult<Py<PyMemoryView>> {
            let owner = Bound::new(py, ChunkBuffer { data: self.inner.data.clone() })?;
            Ok(PyMemoryView::from(owner.as_any())?.unbind())
        })?;
        Ok(view.bind(py).clone())
    }

    /// JSON streams: each message's JSON text; `None` otherwise.
    #[getter]
    fn items<'py>(&self, py: Python<'py>) -> Option<Vec<Bound<'py, PyBytes>>> {
        self.inner.items().map(|items| items.iter().map(|i| PyBytes::new(py, i)).collect())
    }

    /// Where to resume after this chunk.
    #[getter]
    fn next_offset(&self) -> &str {
        self.inner.next_offset.as_str()
    }

    /// The reader has reached the current tail.
    #[getter]
    fn up_to_date(&self) -> bool {
        self.inner.up_to_date
    }

    /// The stream is closed and everything was delivered: this is the last chunk.
    #[getter]
    fn stream_closed(&self) -> bool {
        self.inner.stream_closed
    }

    #[getter]
    fn cursor(&self) -> Option<&str> {
        self.inner.cursor.as_deref()
    }

    /// More pieces of the same response follow; checkpoint only when this is `False`.
    #[getter]
    fn partial(&self) -> bool {
        self.inner.partial
    }

    /// HTTP status of the response (`204` for an empty long-poll).
    #[getter]
    fn status(&self) -> u16 {
        self.inner.status
    }

    /// The messages of a JSON chunk, decoded.
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        decode_items(py, &self.inner)
    }

    /// The data decoded as UTF-8.
    fn text(&self) -> PyResult<String> {
        std::str::from_utf8(&self.inner.data)
            .map(str::to_string)
            .map_err(|e| PyValueError::new_err(format!("chunk data is not UTF-8: {e}")))
    }

    fn __len__(&self) -> usize {
        self.inner.data.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "Chunk({} bytes, next_offset={}, up_to_date={}, stream_closed={})",
            self.inner.data.len(),
            pyrepr(self.inner.next_offset.as_str()),
            py_bool(self.inner.up_to_date),
            py_bool(self.inner.stream_closed)
        )
    }
}

/// A read session behind the core's pull handle ([`ReadHandle`]): it starts on the
/// first `next`; concurrent `next` calls are served in call order, each chunk to exactly
/// one caller; an interrupted or cancelled wait takes nothing, so the session goes on.
pub(crate) struct Session {
    unstarted: Mutex<Option<core::ReadSession>>,
    handle: OnceLock<Arc<ReadHandle>>,
    ended: AtomicBool,
}

pub(crate) type Shared = Arc<Session>;

fn shared(session: core::ReadSession) -> Shared {
    Arc::new(Session { unstarted: Mutex::new(Some(session)), handle: OnceLock::new(), ended: AtomicBool::new(false) })
}

impl Session {
    fn handle(&self) -> Arc<ReadHandle> {
        self.handle
            .get_or_init(|| {
                let session = self.unstarted.lock().unwrap_or_else(|p| p.into_inner()).take();
                let handle = ReadHandle::new(session.expect("a read session starts once"));
                if self.ended.load(Ordering::Acquire) {
                    handle.cancel();
                }
                Arc::new(handle)
            })
            .clone()
    }

    /// `Ready` once [`Session::try_next`] would return a step; takes nothing.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.ended.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        self.handle().poll_ready(cx)
    }

    fn settle(&self, got: core::Result<Option<core::Chunk>>) -> BResult<Option<core::Chunk>> {
        if matches!(got, Ok(None)) {
            self.ended.store(true, Ordering::Release);
        }
        Ok(got?)
    }

    /// A chunk ready now (`None`: wait with [`Session::next`]).
    pub(crate) fn try_next(&self) -> Option<BResult<Option<core::Chunk>>> {
        if self.ended.load(Ordering::Acquire) {
            return Some(Ok(None));
        }
        self.handle().try_next().map(|got| self.settle(got))
    }

    async fn next(self: Arc<Self>) -> BResult<Option<core::Chunk>> {
        let got = self.handle().next().await;
        self.settle(got)
    }

    /// The next chunk, waiting with the GIL released; every [`SIGNAL_POLL`] Python may
    /// run its signal handlers (Ctrl-C raises here; nothing was taken).
    fn next_blocking(&self, py: Python<'_>) -> PyResult<Option<core::Chunk>> {
        if self.ended.load(Ordering::Acquire) {
            return Ok(None);
        }
        let handle = self.handle();
        loop {
            if let Some(got) = py.detach(|| handle.blocking_next(SIGNAL_POLL)) {
                return self.settle(got).map_err(|f| f.into_pyerr(py));
            }
            py.check_signals()?;
        }
    }

    fn position(&self) -> (String, Option<String>) {
        match self.handle.get() {
            Some(h) => {
                let p = h.position();
                (p.offset.to_string(), p.cursor)
            }
            None => match &*self.unstarted.lock().unwrap_or_else(|p| p.into_inner()) {
                Some(s) => (s.offset().to_string(), s.cursor().map(str::to_string)),
                None => (String::new(), None),
            },
        }
    }

    fn sent(&self) -> (HashMap<String, String>, HashMap<String, String>) {
        self.handle.get().map(|h| h.sent_values().into_maps()).unwrap_or_default()
    }

    /// End the session; a pending `next` ends as if the stream had.
    fn close(&self) {
        self.ended.store(true, Ordering::Release);
        if let Some(h) = self.handle.get() {
            h.cancel();
        }
    }
}

macro_rules! session_class {
    ($name:ident, { $($extra:tt)* }) => {
        #[pymethods]
        impl $name {
            $($extra)*

            /// Offset to resume from: after the last complete response taken.
            #[getter]
            fn offset(&self) -> String {
                self.shared.position().0
            }

            /// The latest cursor taken.
            #[getter]
            fn cursor(&self) -> Option<String> {
                self.shared.position().1
            }

            /// `True` once the session has ended (stream closed, caught up without `live`, or closed).
            #[getter]
            fn done(&self) -> bool {
                self.shared.ended.load(Ordering::Acquire)
            }

            /// Dynamic header values sent on the request behind the last chunk taken.
            #[getter]
            fn sent_headers(&self) -> HashMap<String, String> {
                self.shared.sent().0
            }

            /// Dynamic query parameter values sent on the request behind the last chunk taken.
            #[getter]
            fn sent_params(&self) -> HashMap<String, String> {
                self.shared.sent().1
            }
        }
    };
}

/// A read session (blocking): iterate it for `Chunk`s, or `.json()` for messages.
#[pyclass(frozen, module = "durable_streams_sdk._native")]
pub struct ReadSession {
    shared: Shared,
}

impl ReadSession {
    pub fn new(session: core::ReadSession) -> Self {
        ReadSession { shared: shared(session) }
    }
}

session_class!(ReadSession, {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Chunk>> {
        Ok(self.shared.next_blocking(py)?.map(Chunk::new))
    }

    /// Iterate the decoded JSON messages instead of chunks (JSON streams only).
    fn json(&self) -> JsonIterator {
        JsonIterator { shared: self.shared.clone(), buffer: Arc::default() }
    }

    /// End the session (drops its connection).
    fn close(&self) {
        self.shared.close()
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close();
        false
    }
});

/// A read session (asyncio): `async for` it for `Chunk`s, or `.json()` for messages.
#[pyclass(frozen, module = "durable_streams_sdk._native")]
pub struct AsyncReadSession {
    shared: Shared,
    wait: Arc<AsyncWait>,
}

impl AsyncReadSession {
    pub fn new(session: core::ReadSession) -> Self {
        let shared = shared(session);
        AsyncReadSession { wait: AsyncWait::new(shared.clone()), shared }
    }
}

fn stop_async() -> Failure {
    Failure::Py(PyStopAsyncIteration::new_err(()))
}

/// What a taken step is to `__anext__`: a `Chunk`, `StopAsyncIteration` or the typed error.
pub(crate) fn step_value(py: Python<'_>, got: BResult<Option<core::Chunk>>) -> PyResult<Py<PyAny>> {
    match got {
        Ok(Some(c)) => Ok(Bound::new(py, Chunk::new(c))?.into_any().unbind()),
        Ok(None) => Err(PyStopAsyncIteration::new_err(())),
        Err(f) => Err(f.into_pyerr(py)),
    }
}

session_class!(AsyncReadSession, {
    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// A ready chunk comes back as an already completed awaitable; otherwise the wait
    /// happens in the running event loop ([`AsyncWait`]), or, where that loop cannot
    /// watch a socket, through a task on the core's runtime.
    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if !self.wait.has_waiters() {
            if let Some(got) = self.shared.try_next() {
                let ready = match step_value(py, got) {
                    Ok(v) => Ready::new(Some(v)),
                    Err(e) => Ready::failed(e),
                };
                return Bound::new(py, ready).map(Bound::into_any);
            }
        }
        if let Some(pending) = self.wait.enqueue(py)? {
            return Ok(pending);
        }
        let session = self.shared.clone();
        awaitable(py, async move { session.next().await?.map(Chunk::new).ok_or_else(stop_async) })
    }

    /// Iterate the decoded JSON messages instead of chunks (JSON streams only): an async
    /// generator over the chunks, `durable_streams_sdk._aio.AsyncJsonIterator`.
    fn json<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        static CLASS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let py = slf.py();
        let class = CLASS.get_or_try_init(py, || py.import("durable_streams_sdk._aio")?.getattr("AsyncJsonIterator").map(Bound::unbind))?;
        class.bind(py).call1((slf,))
    }

    /// End the session (drops its connection); pending `__anext__` calls end as if the stream had.
    fn close(&self) {
        self.shared.close()
    }

    fn __aenter__(slf: Py<Self>) -> Ready {
        Ready::new(Some(slf.into_any()))
    }

    #[pyo3(signature = (*_args))]
    fn __aexit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> Ready {
        self.close();
        Ready::new(None)
    }
});

type Buffer = Arc<Mutex<VecDeque<Py<PyAny>>>>;

/// The first message of a JSON chunk; the others go to `buffer`.
fn first_item(py: Python<'_>, chunk: &core::Chunk, buffer: &Buffer) -> PyResult<Option<Py<PyAny>>> {
    let mut items = decode_items(py, chunk)?.iter().map(Bound::unbind);
    let first = items.next();
    buffer.lock().unwrap_or_else(|p| p.into_inner()).extend(items);
    Ok(first)
}

fn pop(buffer: &Buffer) -> Option<Py<PyAny>> {
    buffer.lock().unwrap_or_else(|p| p.into_inner()).pop_front()
}

/// Decoded JSON messages of a read session (blocking).
#[pyclass(frozen, module = "durable_streams_sdk._native")]
pub struct JsonIterator {
    shared: Shared,
    buffer: Buffer,
}

#[pymethods]
impl JsonIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        loop {
            if let Some(v) = pop(&self.buffer) {
                return Ok(Some(v));
            }
            let Some(chunk) = self.shared.next_blocking(py)? else { return Ok(None) };
            if let Some(first) = first_item(py, &chunk, &self.buffer)? {
                return Ok(Some(first));
            }
        }
    }

    /// Offset to resume from (of the underlying session).
    #[getter]
    fn offset(&self) -> String {
        self.shared.position().0
    }
}

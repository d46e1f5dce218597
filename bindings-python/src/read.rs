//! Read sessions as Python iterators (`for` / `async for`), chunks, and JSON items.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use durable_streams_sdk::{self as core, SentValues};
use pyo3::exceptions::{PyStopAsyncIteration, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList, PyMemoryView};
use tokio::sync::watch;

use crate::errors::Failure;
use crate::pyjson;
use crate::rt::{BResult, Ready, awaitable, block};
use crate::stream::{py_bool, pyrepr, sent_maps};

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

/// Decode the messages of a JSON chunk: one `json.loads` of the chunk's array when
/// possible, message by message otherwise.
fn decode_items<'py>(py: Python<'py>, chunk: &core::Chunk) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let Some(items) = &chunk.items else {
        let v = pyjson::loads(py, &chunk.data)?;
        return match v.cast::<PyList>() {
            Ok(list) => Ok(list.iter().collect()),
            Err(_) => Err(PyValueError::new_err("chunk data is not a JSON array")),
        };
    };
    if let Ok(v) = pyjson::loads(py, &chunk.data)
        && let Ok(list) = v.cast::<PyList>()
        && list.len() == items.len()
    {
        return Ok(list.iter().collect());
    }
    items.iter().map(|i| pyjson::loads(py, i)).collect()
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
        self.inner.items.as_ref().map(|items| items.iter().map(|i| PyBytes::new(py, i)).collect())
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
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
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

/// Session state shared by the iterator objects and their in-flight futures.
struct State {
    session: Option<core::ReadSession>,
    /// A read is in flight (the session is out of the slot).
    busy: bool,
    /// An in-flight read was interrupted (Ctrl-C, task cancelled): the session is gone.
    cancelled: bool,
    finished: bool,
    offset: String,
    cursor: Option<String>,
    sent: SentValues,
}

#[derive(Clone)]
pub struct Shared(Arc<Mutex<State>>, Arc<watch::Sender<bool>>);

impl Shared {
    fn new(session: core::ReadSession) -> Self {
        Shared(
            Arc::new(Mutex::new(State {
                offset: session.offset().to_string(),
                cursor: session.cursor().map(str::to_string),
                sent: SentValues::default(),
                session: Some(session),
                busy: false,
                cancelled: false,
                finished: false,
            })),
            Arc::new(watch::channel(false).0),
        )
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take the session for one read; `None` once the session has ended.
    fn lease(&self) -> BResult<Option<Lease>> {
        let mut st = self.lock();
        if st.finished {
            return Ok(None);
        }
        if st.cancelled {
            return Err(Failure::State(
                "CANCELLED",
                format!(
                    "this read session was cancelled while a read was in flight; start a new one from offset {:?}",
                    st.offset
                ),
            ));
        }
        match st.session.take() {
            Some(s) => {
                st.busy = true;
                Ok(Some(Lease { shared: self.clone(), session: Some(s) }))
            }
            None => Err(Failure::State("INVALID_ARGUMENT", "a read session serves one read at a time".into())),
        }
    }

    /// End the session; a read in flight ends at once as if the session had ended.
    fn close(&self) {
        let mut st = self.lock();
        st.finished = true;
        st.session = None;
        drop(st);
        // Stored even with no read in flight (`send` would drop it), so a read that
        // subscribes later still sees the session closed.
        self.1.send_replace(true);
    }
}

/// The session, out of its slot for one `next_chunk`. Dropped before completion (the
/// Python call was interrupted or the asyncio task cancelled) it marks the session
/// cancelled; the request in flight is dropped with it.
struct Lease {
    shared: Shared,
    session: Option<core::ReadSession>,
}

impl Lease {
    async fn next(mut self) -> BResult<Option<core::Chunk>> {
        let session = self.session.as_mut().expect("leased session");
        let mut closed = self.shared.1.subscribe();
        let result = tokio::select! {
            r = session.next_chunk() => r,
            _ = closed.wait_for(|c| *c) => Ok(None),
        };
        let session = self.session.take().expect("leased session");
        let mut st = self.shared.lock();
        st.busy = false;
        if st.finished {
            return Ok(None); // closed meanwhile
        }
        st.offset = session.offset().to_string();
        st.cursor = session.cursor().map(str::to_string);
        st.sent = session.sent_values().clone();
        if matches!(result, Ok(None)) || session.is_done() && result.is_err() {
            st.finished = true;
        } else {
            st.session = Some(session);
        }
        Ok(result?)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.session.take().is_some() {
            let mut st = self.shared.lock();
            st.busy = false;
            st.cancelled = true;
        }
    }
}

/// The next chunk that carries JSON messages (empty chunks are skipped).
async fn next_json_chunk(shared: Shared) -> BResult<Option<core::Chunk>> {
    loop {
        let Some(lease) = shared.lease()? else { return Ok(None) };
        match lease.next().await? {
            None => return Ok(None),
            Some(c) => match &c.items {
                Some(items) if !items.is_empty() => return Ok(Some(c)),
                None if !c.data.is_empty() => {
                    return Err(Failure::State(
                        "INVALID_ARGUMENT",
                        "json(): the stream is not an application/json stream".into(),
                    ));
                }
                _ => continue,
            },
        }
    }
}

async fn next_chunk(shared: Shared) -> BResult<Option<core::Chunk>> {
    match shared.lease()? {
        None => Ok(None),
        Some(lease) => lease.next().await,
    }
}

macro_rules! session_class {
    ($name:ident, { $($extra:tt)* }) => {
        #[pymethods]
        impl $name {
            $($extra)*

            /// Offset to resume from: after the last complete response delivered.
            #[getter]
            fn offset(&self) -> String {
                self.shared.lock().offset.clone()
            }

            /// The latest cursor seen.
            #[getter]
            fn cursor(&self) -> Option<String> {
                self.shared.lock().cursor.clone()
            }

            /// `True` once the session has ended (stream closed, caught up without `live`, or closed).
            #[getter]
            fn done(&self) -> bool {
                self.shared.lock().finished
            }

            /// Dynamic header values sent on the most recent request.
            #[getter]
            fn sent_headers(&self) -> std::collections::HashMap<String, String> {
                sent_maps(&self.shared.lock().sent).0
            }

            /// Dynamic query parameter values sent on the most recent request.
            #[getter]
            fn sent_params(&self) -> std::collections::HashMap<String, String> {
                sent_maps(&self.shared.lock().sent).1
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
        ReadSession { shared: Shared::new(session) }
    }
}

session_class!(ReadSession, {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Chunk>> {
        let shared = self.shared.clone();
        Ok(block(py, next_chunk(shared))?.map(Chunk::new))
    }

    /// Iterate the decoded JSON messages instead of chunks (JSON streams only).
    fn json(&self) -> JsonIterator {
        JsonIterator { shared: self.shared.clone(), buffer: Mutex::new(VecDeque::new()) }
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
}

impl AsyncReadSession {
    pub fn new(session: core::ReadSession) -> Self {
        AsyncReadSession { shared: Shared::new(session) }
    }
}

session_class!(AsyncReadSession, {
    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let shared = self.shared.clone();
        awaitable(py, async move {
            match next_chunk(shared).await? {
                Some(c) => Ok(Chunk::new(c)),
                None => Err(Failure::Py(PyStopAsyncIteration::new_err(()))),
            }
        })
    }

    /// Iterate the decoded JSON messages instead of chunks (JSON streams only).
    fn json(&self) -> AsyncJsonIterator {
        AsyncJsonIterator { shared: self.shared.clone(), buffer: Arc::new(Mutex::new(VecDeque::new())) }
    }

    /// End the session (drops its connection).
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

/// Decoded JSON messages of a read session (blocking).
#[pyclass(frozen, module = "durable_streams_sdk._native")]
pub struct JsonIterator {
    shared: Shared,
    buffer: Mutex<VecDeque<Py<PyAny>>>,
}

#[pymethods]
impl JsonIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        if let Some(v) = self.buffer.lock().unwrap_or_else(|p| p.into_inner()).pop_front() {
            return Ok(Some(v));
        }
        let Some(chunk) = block(py, next_json_chunk(self.shared.clone()))? else { return Ok(None) };
        let mut items = decode_items(py, &chunk)?.into_iter().map(Bound::unbind);
        let first = items.next();
        self.buffer.lock().unwrap_or_else(|p| p.into_inner()).extend(items);
        Ok(first)
    }

    /// Offset to resume from (of the underlying session).
    #[getter]
    fn offset(&self) -> String {
        self.shared.lock().offset.clone()
    }
}

/// Decoded JSON messages of a read session (asyncio).
#[pyclass(frozen, module = "durable_streams_sdk._native")]
pub struct AsyncJsonIterator {
    shared: Shared,
    buffer: Arc<Mutex<VecDeque<Py<PyAny>>>>,
}

/// A JSON chunk that becomes its first message when handed to Python; the other
/// messages go to the iterator's buffer.
struct FirstItem {
    chunk: core::Chunk,
    buffer: Arc<Mutex<VecDeque<Py<PyAny>>>>,
}

impl<'py> IntoPyObject<'py> for FirstItem {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let mut items = decode_items(py, &self.chunk)?.into_iter();
        let first = items.next().unwrap_or_else(|| py.None().into_bound(py));
        self.buffer.lock().unwrap_or_else(|p| p.into_inner()).extend(items.map(Bound::unbind));
        Ok(first)
    }
}

#[pymethods]
impl AsyncJsonIterator {
    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(v) = self.buffer.lock().unwrap_or_else(|p| p.into_inner()).pop_front() {
            return Bound::new(py, Ready::new(Some(v))).map(Bound::into_any);
        }
        let shared = self.shared.clone();
        let buffer = self.buffer.clone();
        awaitable(py, async move {
            match next_json_chunk(shared).await? {
                Some(chunk) => Ok(FirstItem { chunk, buffer }),
                None => Err(Failure::Py(PyStopAsyncIteration::new_err(()))),
            }
        })
    }

    /// Offset to resume from (of the underlying session).
    #[getter]
    fn offset(&self) -> String {
        self.shared.lock().offset.clone()
    }
}

//! Read sessions as Python iterators (`for` / `async for`), chunks, and JSON items.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use durable_streams_sdk::{self as core, SentValues};
use pyo3::exceptions::{PyStopAsyncIteration, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList, PyMemoryView};
use tokio::task::AbortHandle;

use crate::errors::Failure;
use crate::pyjson;
use crate::rt::{BResult, Ready, SIGNAL_POLL, awaitable};
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

/// How many chunks a session reads ahead of Python.
const READ_AHEAD: usize = 4;

/// Session state shared by the iterator objects and their in-flight waits. `offset`,
/// `cursor` and `sent` follow the chunks Python has taken, not the ones read ahead.
struct State {
    /// Not iterated yet: reading starts on the first `next`.
    session: Option<core::ReadSession>,
    /// Reading ahead on the core runtime; out of the slot while a caller waits on it.
    pump: Option<core::PrefetchedSession>,
    abort: Option<AbortHandle>,
    /// A wait was interrupted (Ctrl-C, task cancelled): the session is gone.
    cancelled: bool,
    finished: bool,
    offset: String,
    cursor: Option<String>,
    sent: SentValues,
}

impl State {
    /// Account for a step taken from the read-ahead session.
    fn apply(&mut self, pump: &core::PrefetchedSession, result: core::Result<Option<core::Chunk>>) -> BResult<Option<core::Chunk>> {
        self.sent = pump.sent_values().clone();
        self.offset = pump.offset().to_string();
        self.cursor = pump.cursor().map(str::to_string);
        if pump.is_done() {
            self.end();
        }
        Ok(result?)
    }

    fn end(&mut self) {
        self.finished = true;
        self.session = None;
        self.pump = None;
        if let Some(a) = self.abort.take() {
            a.abort();
        }
    }
}

/// A chunk taken at once, or a wait for the next one.
enum Next {
    Got(BResult<Option<core::Chunk>>),
    Wait(Lease),
}

#[derive(Clone)]
pub struct Shared(Arc<Mutex<State>>);

impl Shared {
    fn new(session: core::ReadSession) -> Self {
        Shared(Arc::new(Mutex::new(State {
            offset: session.offset().to_string(),
            cursor: session.cursor().map(str::to_string),
            sent: SentValues::default(),
            session: Some(session),
            pump: None,
            abort: None,
            cancelled: false,
            finished: false,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next chunk if one was read ahead (no waiting, no task), else a lease to wait with.
    fn take(&self) -> Next {
        let mut st = self.lock();
        if st.finished {
            return Next::Got(Ok(None));
        }
        if st.cancelled {
            return Next::Got(Err(Failure::State(
                "CANCELLED",
                format!(
                    "this read session was cancelled while a read was in flight; start a new one from offset {:?}",
                    st.offset
                ),
            )));
        }
        if let Some(session) = st.session.take() {
            let pump = session.prefetch(READ_AHEAD);
            st.abort = Some(pump.abort_handle());
            st.pump = Some(pump);
        }
        let Some(mut pump) = st.pump.take() else {
            return Next::Got(Err(Failure::State("INVALID_ARGUMENT", "a read session serves one read at a time".into())));
        };
        match pump.try_next() {
            Some(result) => {
                let r = st.apply(&pump, result);
                if !st.finished {
                    st.pump = Some(pump);
                }
                Next::Got(r)
            }
            None => Next::Wait(Lease { shared: self.clone(), pump: Some(pump) }),
        }
    }

    /// The next chunk, waiting with the GIL released (Ctrl-C honoured) when none is ready.
    fn next_blocking(&self, py: Python<'_>) -> PyResult<Option<core::Chunk>> {
        match self.take() {
            Next::Got(r) => r.map_err(|f| f.into_pyerr(py)),
            Next::Wait(lease) => lease.wait(py),
        }
    }

    /// End the session; a wait in flight ends at once as if the session had ended.
    fn close(&self) {
        // Aborting the task closes the channel, which wakes a waiter.
        self.lock().end();
    }
}

/// The read-ahead channel, out of its slot for one wait. Dropped before an item arrives
/// (the Python call was interrupted or the asyncio task cancelled) it marks the session
/// cancelled and stops the reading.
struct Lease {
    shared: Shared,
    pump: Option<core::PrefetchedSession>,
}

impl Lease {
    fn finish(mut self, got: core::Result<Option<core::Chunk>>) -> BResult<Option<core::Chunk>> {
        let pump = self.pump.take().expect("leased pump");
        let mut st = self.shared.lock();
        if st.finished {
            return Ok(None); // closed meanwhile
        }
        let r = st.apply(&pump, got);
        if !st.finished {
            st.pump = Some(pump);
        }
        r
    }

    async fn next(mut self) -> BResult<Option<core::Chunk>> {
        let got = self.pump.as_mut().expect("leased pump").next_chunk().await;
        self.finish(got)
    }

    /// Wait on this thread with the GIL released; every [`SIGNAL_POLL`] let Python run its
    /// signal handlers, and if one raises (`KeyboardInterrupt`) give up the session.
    fn wait(mut self, py: Python<'_>) -> PyResult<Option<core::Chunk>> {
        loop {
            let pump = self.pump.as_mut().expect("leased pump");
            if let Some(got) = py.detach(|| pump.blocking_next_timeout(SIGNAL_POLL)) {
                return self.finish(got).map_err(|f| f.into_pyerr(py));
            }
            py.check_signals()?; // on error `self` drops: the session is cancelled
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.pump.take().is_some() {
            self.shared.lock().cancelled = true;
        }
    }
}

/// Whether a chunk carries JSON messages (empty chunks are skipped); an error for a
/// chunk of a stream that is not JSON.
fn has_json_items(c: &core::Chunk) -> BResult<bool> {
    match &c.items {
        Some(items) => Ok(!items.is_empty()),
        None if !c.data.is_empty() => {
            Err(Failure::State("INVALID_ARGUMENT", "json(): the stream is not an application/json stream".into()))
        }
        None => Ok(false),
    }
}

/// The next chunk that carries JSON messages, starting with a wait on `lease`.
async fn next_json_chunk(shared: Shared, lease: Lease) -> BResult<Option<core::Chunk>> {
    let mut got = lease.next().await;
    loop {
        match got? {
            None => return Ok(None),
            Some(c) if has_json_items(&c)? => return Ok(Some(c)),
            Some(_) => {}
        }
        got = match shared.take() {
            Next::Got(r) => r,
            Next::Wait(lease) => lease.next().await,
        };
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
        Ok(self.shared.next_blocking(py)?.map(Chunk::new))
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
        let ready = match self.shared.take() {
            Next::Got(Ok(Some(c))) => Ready::new(Some(Bound::new(py, Chunk::new(c))?.into_any().unbind())),
            Next::Got(Ok(None)) => Ready::failed(PyStopAsyncIteration::new_err(())),
            Next::Got(Err(f)) => Ready::failed(f.into_pyerr(py)),
            Next::Wait(lease) => {
                return awaitable(py, async move {
                    match lease.next().await? {
                        Some(c) => Ok(Chunk::new(c)),
                        None => Err(Failure::Py(PyStopAsyncIteration::new_err(()))),
                    }
                });
            }
        };
        Bound::new(py, ready).map(Bound::into_any)
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
        let chunk = loop {
            match self.shared.next_blocking(py)? {
                None => return Ok(None),
                Some(c) if has_json_items(&c).map_err(|f| f.into_pyerr(py))? => break c,
                Some(_) => {}
            }
        };
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
        let ready = loop {
            match self.shared.take() {
                Next::Got(Ok(Some(c))) => match has_json_items(&c) {
                    Ok(true) => {
                        let first = FirstItem { chunk: c, buffer: self.buffer.clone() }.into_pyobject(py)?;
                        break Ready::new(Some(first.unbind()));
                    }
                    Ok(false) => continue,
                    Err(f) => break Ready::failed(f.into_pyerr(py)),
                },
                Next::Got(Ok(None)) => break Ready::failed(PyStopAsyncIteration::new_err(())),
                Next::Got(Err(f)) => break Ready::failed(f.into_pyerr(py)),
                Next::Wait(lease) => {
                    let shared = self.shared.clone();
                    let buffer = self.buffer.clone();
                    return awaitable(py, async move {
                        match next_json_chunk(shared, lease).await? {
                            Some(chunk) => Ok(FirstItem { chunk, buffer }),
                            None => Err(Failure::Py(PyStopAsyncIteration::new_err(()))),
                        }
                    });
                }
            }
        };
        Bound::new(py, ready).map(Bound::into_any)
    }

    /// Offset to resume from (of the underlying session).
    #[getter]
    fn offset(&self) -> String {
        self.shared.lock().offset.clone()
    }
}

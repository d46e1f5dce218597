//! `Stream` / `AsyncStream` handles and the result objects of one-request operations.

use std::collections::HashMap;
use std::future::Future;

use bytes::Bytes;
use durable_streams_sdk::{
    self as core, AppendOptions, CloseOptions, CreateOptions, ForkOptions, LiveMode, Offset, ProducerHeaders,
    ReadOptions, SentValues,
};
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView};
use serde_json::value::RawValue;

use crate::client::header_list;
use crate::errors::invalid_argument;
use crate::producer::{AsyncProducer, Producer, ProducerConfig};
use crate::pyjson;
use crate::read::{AsyncReadSession, ReadSession};
use crate::rt::{BResult, awaitable, block, guard};

/// `bytes`, `bytearray`, `memoryview` or `str` (UTF-8) as bytes.
pub fn data_bytes(v: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(Bytes::copy_from_slice(b.as_bytes()));
    }
    if let Ok(s) = v.extract::<&str>() {
        return Ok(Bytes::copy_from_slice(s.as_bytes()));
    }
    if let Ok(b) = v.cast::<PyByteArray>() {
        return Ok(Bytes::from(b.to_vec()));
    }
    if v.cast::<PyMemoryView>().is_ok() {
        let b = v.py().get_type::<PyBytes>().call1((v,))?;
        return Ok(Bytes::copy_from_slice(b.cast::<PyBytes>()?.as_bytes()));
    }
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "data must be bytes, bytearray, memoryview or str, not {}",
        v.get_type().name().map(|n| n.to_string()).unwrap_or_default()
    )))
}

pub fn parse_offset(py: Python<'_>, offset: Option<&str>) -> PyResult<Offset> {
    match offset {
        None => Ok(Offset::beginning()),
        Some(o) => guard(py, || Ok(Offset::parse(o)?)),
    }
}

/// `live`: `False`/`"off"`, `True`/`"auto"`, `"long-poll"` or `"sse"`.
pub fn parse_live(py: Python<'_>, live: &Bound<'_, PyAny>) -> PyResult<LiveMode> {
    if let Ok(b) = live.extract::<bool>() {
        return Ok(if b { LiveMode::Auto } else { LiveMode::Off });
    }
    match live.extract::<String>().ok().as_deref() {
        Some("off") => Ok(LiveMode::Off),
        Some("auto") => Ok(LiveMode::Auto),
        Some("long-poll") => Ok(LiveMode::LongPoll),
        Some("sse") => Ok(LiveMode::Sse),
        _ => Err(invalid_argument(
            py,
            "live",
            format!("invalid live: {} (expected False, True, 'off', 'auto', 'long-poll' or 'sse')", live.repr()?),
        )),
    }
}

fn seq_token(seq: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    Ok(match seq {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) => Some(v.str()?.to_string()),
    })
}

/// Result of `create`.
#[pyclass(frozen, get_all, module = "durable_streams_sdk._native")]
pub struct CreateResult {
    /// `True` for a new stream, `False` when an identical stream already existed.
    pub created: bool,
    pub status: u16,
    pub next_offset: Option<String>,
    pub content_type: Option<String>,
    pub closed: bool,
}

#[pymethods]
impl CreateResult {
    fn __repr__(&self) -> String {
        format!(
            "CreateResult(created={}, status={}, next_offset={}, content_type={}, closed={})",
            py_bool(self.created),
            self.status,
            pyrepr_opt(&self.next_offset),
            pyrepr_opt(&self.content_type),
            py_bool(self.closed)
        )
    }
}

/// Result of `append`.
#[pyclass(frozen, get_all, module = "durable_streams_sdk._native")]
pub struct AppendResult {
    pub status: u16,
    pub next_offset: Option<String>,
    pub stream_closed: bool,
    pub duplicate: bool,
    pub producer_epoch: Option<u64>,
    pub producer_seq: Option<u64>,
    /// Dynamic header values sent on the final attempt.
    pub sent_headers: HashMap<String, String>,
    /// Dynamic query parameter values sent on the final attempt.
    pub sent_params: HashMap<String, String>,
}

#[pymethods]
impl AppendResult {
    fn __repr__(&self) -> String {
        format!(
            "AppendResult(status={}, next_offset={}, stream_closed={}, duplicate={})",
            self.status,
            pyrepr_opt(&self.next_offset),
            py_bool(self.stream_closed),
            py_bool(self.duplicate)
        )
    }
}

/// Result of `close`.
#[pyclass(frozen, get_all, module = "durable_streams_sdk._native")]
pub struct CloseResult {
    pub final_offset: String,
}

#[pymethods]
impl CloseResult {
    fn __repr__(&self) -> String {
        format!("CloseResult(final_offset={})", pyrepr(&self.final_offset))
    }
}

/// Result of `head`.
#[pyclass(frozen, get_all, module = "durable_streams_sdk._native")]
pub struct StreamMetadata {
    pub content_type: Option<String>,
    pub next_offset: String,
    pub closed: bool,
    pub ttl_seconds: Option<u64>,
    pub expires_at: Option<String>,
    pub etag: Option<String>,
}

#[pymethods]
impl StreamMetadata {
    fn __repr__(&self) -> String {
        format!(
            "StreamMetadata(content_type={}, next_offset={}, closed={}, ttl_seconds={}, expires_at={})",
            pyrepr_opt(&self.content_type),
            pyrepr(&self.next_offset),
            py_bool(self.closed),
            pynum_opt(&self.ttl_seconds),
            pyrepr_opt(&self.expires_at)
        )
    }
}

/// Python-style `repr` of a string.
pub fn pyrepr(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Python-style `repr` of an optional value.
pub fn pyrepr_opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    match v {
        Some(v) => pyrepr(&v.to_string()),
        None => "None".to_string(),
    }
}

/// Python-style `repr` of an optional number.
pub fn pynum_opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    match v {
        Some(v) => v.to_string(),
        None => "None".to_string(),
    }
}

pub fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

pub fn sent_maps(sent: &SentValues) -> (HashMap<String, String>, HashMap<String, String>) {
    (sent.headers.iter().cloned().collect(), sent.params.iter().cloned().collect())
}

fn append_result(r: core::AppendResult) -> AppendResult {
    let (sent_headers, sent_params) = sent_maps(&r.sent);
    AppendResult {
        status: r.status,
        next_offset: r.next_offset.map(|o| o.to_string()),
        stream_closed: r.stream_closed,
        duplicate: r.duplicate,
        producer_epoch: r.producer_epoch,
        producer_seq: r.producer_seq,
        sent_headers,
        sent_params,
    }
}

/// The operations shared by both flavours: each builds a `'static` future.
pub struct Ops;

impl Ops {
    #[allow(clippy::too_many_arguments)]
    fn create(
        py: Python<'_>,
        s: &core::Stream,
        content_type: Option<String>,
        ttl_seconds: Option<u64>,
        expires_at: Option<String>,
        closed: bool,
        data: Option<&Bound<'_, PyAny>>,
        fork_from: Option<String>,
        fork_offset: Option<&str>,
        fork_sub_offset: Option<u64>,
        headers: Option<HashMap<String, String>>,
    ) -> PyResult<impl Future<Output = BResult<CreateResult>> + Send + 'static> {
        let fork = match fork_from {
            Some(source_path) => Some(ForkOptions {
                source_path,
                offset: fork_offset.map(|o| guard(py, || Ok(Offset::parse(o)?))).transpose()?,
                sub_offset: fork_sub_offset,
            }),
            None => None,
        };
        let opts = CreateOptions {
            content_type,
            ttl_seconds,
            expires_at,
            closed,
            body: data.map(data_bytes).transpose()?,
            fork,
            headers: header_list(headers),
        };
        let s = s.clone();
        Ok(async move {
            let r = s.create(opts).await?;
            Ok(CreateResult {
                created: r.created,
                status: r.status,
                next_offset: r.next_offset.map(|o| o.to_string()),
                content_type: r.content_type,
                closed: r.closed,
            })
        })
    }

    fn append_opts(
        content_type: Option<String>,
        seq: Option<&Bound<'_, PyAny>>,
        close: bool,
        headers: Option<HashMap<String, String>>,
        producer: Option<(String, u64, u64)>,
    ) -> PyResult<AppendOptions> {
        Ok(AppendOptions {
            content_type,
            seq: seq_token(seq)?,
            producer: producer.map(|(id, epoch, seq)| ProducerHeaders { id, epoch, seq }),
            close,
            headers: header_list(headers),
        })
    }

    fn append(
        s: &core::Stream,
        data: Bytes,
        opts: AppendOptions,
    ) -> impl Future<Output = BResult<AppendResult>> + Send + 'static {
        let s = s.clone();
        async move { Ok(append_result(s.append(data, opts).await?)) }
    }

    fn append_json(
        py: Python<'_>,
        s: &core::Stream,
        value: &Bound<'_, PyAny>,
        opts: AppendOptions,
    ) -> PyResult<impl Future<Output = BResult<AppendResult>> + Send + 'static> {
        let text = pyjson::dumps(py, value)?;
        let raw =
            RawValue::from_string(text).map_err(|e| invalid_argument(py, "data", format!("invalid data: {e}")))?;
        let s = s.clone();
        Ok(async move { Ok(append_result(s.append_json(&raw, opts).await?)) })
    }

    fn append_json_batch(
        py: Python<'_>,
        s: &core::Stream,
        values: &Bound<'_, PyAny>,
        opts: AppendOptions,
    ) -> PyResult<impl Future<Output = BResult<AppendResult>> + Send + 'static> {
        let mut raws = Vec::new();
        for v in values.try_iter()? {
            let text = pyjson::dumps(py, &v?)?;
            raws.push(
                RawValue::from_string(text).map_err(|e| invalid_argument(py, "data", format!("invalid data: {e}")))?,
            );
        }
        let s = s.clone();
        Ok(async move { Ok(append_result(s.append_json_batch(&raws, opts).await?)) })
    }

    fn close(
        s: &core::Stream,
        data: Option<&Bound<'_, PyAny>>,
        content_type: Option<String>,
        headers: Option<HashMap<String, String>>,
    ) -> PyResult<impl Future<Output = BResult<CloseResult>> + Send + 'static> {
        let opts =
            CloseOptions { data: data.map(data_bytes).transpose()?, content_type, headers: header_list(headers) };
        let s = s.clone();
        Ok(async move { Ok(CloseResult { final_offset: s.close(opts).await?.final_offset.to_string() }) })
    }

    fn delete(
        s: &core::Stream,
        headers: Option<HashMap<String, String>>,
    ) -> impl Future<Output = BResult<()>> + Send + 'static {
        let s = s.clone();
        let h = header_list(headers);
        async move { Ok(s.delete_with_headers(&h).await?) }
    }

    fn head(
        s: &core::Stream,
        headers: Option<HashMap<String, String>>,
    ) -> impl Future<Output = BResult<StreamMetadata>> + Send + 'static {
        let s = s.clone();
        let h = header_list(headers);
        async move {
            let m = s.head_with_headers(&h).await?;
            Ok(StreamMetadata {
                content_type: m.content_type,
                next_offset: m.next_offset.to_string(),
                closed: m.closed,
                ttl_seconds: m.ttl_seconds,
                expires_at: m.expires_at,
                etag: m.etag,
            })
        }
    }

    fn read_all(s: &core::Stream, offset: Offset) -> impl Future<Output = BResult<BytesOut>> + Send + 'static {
        let s = s.clone();
        async move { Ok(BytesOut(s.read_all(offset).await?)) }
    }

    fn read_opts(
        py: Python<'_>,
        offset: Option<&str>,
        live: &Bound<'_, PyAny>,
        cursor: Option<String>,
        headers: Option<HashMap<String, String>>,
        max_chunk_bytes: Option<usize>,
    ) -> PyResult<ReadOptions> {
        let d = ReadOptions::default();
        if max_chunk_bytes == Some(0) {
            return Err(invalid_argument(py, "maxChunkBytes", "invalid maxChunkBytes: must be > 0"));
        }
        Ok(ReadOptions {
            offset: parse_offset(py, offset)?,
            live: parse_live(py, live)?,
            cursor,
            headers: header_list(headers),
            max_chunk_bytes: max_chunk_bytes.unwrap_or(d.max_chunk_bytes),
        })
    }
}

/// `bytes` produced on the runtime, converted when the GIL is held.
pub struct BytesOut(pub Bytes);

impl<'py> IntoPyObject<'py> for BytesOut {
    type Target = PyBytes;
    type Output = Bound<'py, PyBytes>;
    type Error = std::convert::Infallible;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        Ok(PyBytes::new(py, &self.0))
    }
}

/// Unit result that becomes `None`.
pub struct NoneOut;

impl<'py> IntoPyObject<'py> for NoneOut {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = std::convert::Infallible;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        Ok(py.None().into_bound(py))
    }
}

macro_rules! stream_class {
    ($name:ident, $run:ident, $ret:ty, $session:ident, $producer:ident, $doc:literal) => {
        #[doc = $doc]
        #[pyclass(frozen, module = "durable_streams_sdk._native")]
        pub struct $name {
            pub core: core::Stream,
        }

        impl $name {
            pub fn new(core: core::Stream) -> Self {
                $name { core }
            }
        }

        #[pymethods]
        impl $name {
            /// Full URL of the stream.
            #[getter]
            fn url(&self) -> String {
                self.core.url().to_string()
            }

            /// Content type learnt from create/head/reads (or given to `client.stream`).
            #[getter]
            fn content_type(&self) -> Option<String> {
                self.core.known_content_type()
            }

            /// Create the stream, or confirm that an identical one exists.
            #[pyo3(signature = (*, content_type=None, ttl_seconds=None, expires_at=None, closed=false, data=None, fork_from=None, fork_offset=None, fork_sub_offset=None, headers=None))]
            #[allow(clippy::too_many_arguments)]
            fn create<'py>(
                &self,
                py: Python<'py>,
                content_type: Option<String>,
                ttl_seconds: Option<u64>,
                expires_at: Option<String>,
                closed: bool,
                data: Option<Bound<'py, PyAny>>,
                fork_from: Option<String>,
                fork_offset: Option<&str>,
                fork_sub_offset: Option<u64>,
                headers: Option<HashMap<String, String>>,
            ) -> PyResult<$ret> {
                let f = Ops::create(
                    py,
                    &self.core,
                    content_type,
                    ttl_seconds,
                    expires_at,
                    closed,
                    data.as_ref(),
                    fork_from,
                    fork_offset,
                    fork_sub_offset,
                    headers,
                )?;
                $run(py, f)
            }

            /// Append one message (`bytes` or `str`). On a JSON stream `data` is the
            /// text of one JSON value, stored as exactly one message.
            #[pyo3(signature = (data, *, content_type=None, seq=None, close=false, headers=None, producer=None))]
            #[allow(clippy::too_many_arguments)]
            fn append<'py>(
                &self,
                py: Python<'py>,
                data: Bound<'py, PyAny>,
                content_type: Option<String>,
                seq: Option<Bound<'py, PyAny>>,
                close: bool,
                headers: Option<HashMap<String, String>>,
                producer: Option<(String, u64, u64)>,
            ) -> PyResult<$ret> {
                let data = data_bytes(&data)?;
                let opts = Ops::append_opts(content_type, seq.as_ref(), close, headers, producer)?;
                $run(py, Ops::append(&self.core, data, opts))
            }

            /// Append one JSON-serialisable value (the stream must be `application/json`).
            #[pyo3(signature = (value, *, seq=None, close=false, headers=None))]
            fn append_json<'py>(
                &self,
                py: Python<'py>,
                value: Bound<'py, PyAny>,
                seq: Option<Bound<'py, PyAny>>,
                close: bool,
                headers: Option<HashMap<String, String>>,
            ) -> PyResult<$ret> {
                let opts = Ops::append_opts(None, seq.as_ref(), close, headers, None)?;
                let f = Ops::append_json(py, &self.core, &value, opts)?;
                $run(py, f)
            }

            /// Append several JSON values in one request; each becomes its own message.
            #[pyo3(signature = (values, *, seq=None, close=false, headers=None))]
            fn append_json_batch<'py>(
                &self,
                py: Python<'py>,
                values: Bound<'py, PyAny>,
                seq: Option<Bound<'py, PyAny>>,
                close: bool,
                headers: Option<HashMap<String, String>>,
            ) -> PyResult<$ret> {
                let opts = Ops::append_opts(None, seq.as_ref(), close, headers, None)?;
                let f = Ops::append_json_batch(py, &self.core, &values, opts)?;
                $run(py, f)
            }

            /// Close the stream, optionally appending a final message atomically.
            #[pyo3(signature = (*, data=None, content_type=None, headers=None))]
            fn close<'py>(
                &self,
                py: Python<'py>,
                data: Option<Bound<'py, PyAny>>,
                content_type: Option<String>,
                headers: Option<HashMap<String, String>>,
            ) -> PyResult<$ret> {
                let f = Ops::close(&self.core, data.as_ref(), content_type, headers)?;
                $run(py, f)
            }

            /// Delete the stream.
            #[pyo3(signature = (*, headers=None))]
            fn delete<'py>(&self, py: Python<'py>, headers: Option<HashMap<String, String>>) -> PyResult<$ret> {
                let f = Ops::delete(&self.core, headers);
                $run(py, async move { f.await.map(|_| NoneOut) })
            }

            /// Metadata: content type, tail offset, closure, TTL / expiry.
            #[pyo3(signature = (*, headers=None))]
            fn head<'py>(&self, py: Python<'py>, headers: Option<HashMap<String, String>>) -> PyResult<$ret> {
                $run(py, Ops::head(&self.core, headers))
            }

            /// Everything from `offset` to the current tail, as one `bytes` (for a JSON
            /// stream: one JSON array of all messages).
            #[pyo3(signature = (*, offset=None))]
            fn read_all<'py>(&self, py: Python<'py>, offset: Option<&str>) -> PyResult<$ret> {
                let offset = parse_offset(py, offset)?;
                $run(py, Ops::read_all(&self.core, offset))
            }

            /// Start a read session (no I/O until iterated).
            #[pyo3(signature = (*, offset=None, live=None, cursor=None, headers=None, max_chunk_bytes=None))]
            fn read(
                &self,
                py: Python<'_>,
                offset: Option<&str>,
                live: Option<Bound<'_, PyAny>>,
                cursor: Option<String>,
                headers: Option<HashMap<String, String>>,
                max_chunk_bytes: Option<usize>,
            ) -> PyResult<$session> {
                let live = live.unwrap_or_else(|| false.into_pyobject(py).unwrap().to_owned().into_any());
                let opts = Ops::read_opts(py, offset, &live, cursor, headers, max_chunk_bytes)?;
                Ok($session::new(self.core.read(opts)))
            }

            /// An idempotent, batching producer on this stream (started on first use).
            #[pyo3(signature = (producer_id, *, epoch=None, auto_claim=None, max_batch_items=None, max_batch_bytes=None, linger=None, max_in_flight=None, buffer_limit_bytes=None, delivery_timeout=None, content_type=None, headers=None, on_error=None))]
            #[allow(clippy::too_many_arguments)]
            fn producer(
                &self,
                py: Python<'_>,
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
            ) -> PyResult<$producer> {
                let cfg = ProducerConfig::new(
                    py,
                    &self.core,
                    producer_id,
                    epoch,
                    auto_claim,
                    max_batch_items,
                    max_batch_bytes,
                    linger,
                    max_in_flight,
                    buffer_limit_bytes,
                    delivery_timeout,
                    content_type,
                    headers,
                    on_error,
                )?;
                Ok($producer::new(cfg))
            }

            fn __repr__(&self) -> String {
                format!("{}({})", stringify!($name), pyrepr(self.core.url().as_str()))
            }
        }
    };
}

fn run_blocking<'py, T, F>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = BResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let v = block(py, fut)?;
    v.into_bound_py_any(py)
}

stream_class!(Stream, run_blocking, Bound<'py, PyAny>, ReadSession, Producer, "A handle on one stream (blocking API).");
stream_class!(
    AsyncStream,
    awaitable,
    Bound<'py, PyAny>,
    AsyncReadSession,
    AsyncProducer,
    "A handle on one stream (asyncio API)."
);

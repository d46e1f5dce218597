//! `Stream` / `AsyncStream` handles and the result objects of one-request operations.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use durable_streams_sdk::{
    self as core, AppendOptions, CloseOptions, CreateOptions, ForkOptions, Offset, ProducerHeaders, ProducerOptions,
    RawProducerOptions,
};
use durable_streams_sdk::ffi::RawReadOptions;
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use serde_json::value::RawValue;

use crate::convert::{
    BytesOut, CloseResult, CreateResult, NoneOut, StreamMetadata, append_result, data_bytes, header_list, json_text,
    live_name, parse_offset, pyrepr,
};
use crate::errors::invalid_argument;
use crate::producer::{AsyncProducer, Producer, error_callback};
use crate::read::{AsyncReadSession, ReadSession};
use crate::rt::{BResult, awaitable, block, guard};

fn seq_token(seq: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    Ok(match seq {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) => Some(v.str()?.to_string()),
    })
}

fn raw_json(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Box<RawValue>> {
    RawValue::from_string(json_text(py, value)?).map_err(|e| invalid_argument(py, "value", e))
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

/// One stream class (`Stream` or `AsyncStream`): every operation is written once and
/// builds a `'static` future; `$run` makes the flavour's result of it (the blocking
/// class waits for it, the asyncio class returns it as an awaitable).
macro_rules! stream_class {
    ($(#[$doc:meta])* $name:ident, $run:ident, $session:ident, $producer:ident) => {
        $(#[$doc])*
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
            ) -> PyResult<Bound<'py, PyAny>> {
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
                    body: data.as_ref().map(data_bytes).transpose()?,
                    fork,
                    headers: header_list(headers),
                };
                let s = self.core.clone();
                $run(py, async move {
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
            ) -> PyResult<Bound<'py, PyAny>> {
                let data = data_bytes(&data)?;
                let opts = append_opts(content_type, seq.as_ref(), close, headers, producer)?;
                let s = self.core.clone();
                $run(py, async move { Ok(append_result(s.append(data, opts).await?)) })
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
            ) -> PyResult<Bound<'py, PyAny>> {
                self.append_json_batch(py, PyTuple::new(py, [value])?.into_any(), seq, close, headers)
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
            ) -> PyResult<Bound<'py, PyAny>> {
                let opts = append_opts(None, seq.as_ref(), close, headers, None)?;
                let raws = values.try_iter()?.map(|v| raw_json(py, &v?)).collect::<PyResult<Vec<_>>>()?;
                let s = self.core.clone();
                $run(py, async move { Ok(append_result(s.append_json_batch(&raws, opts).await?)) })
            }

            /// Close the stream, optionally appending a final message atomically.
            #[pyo3(signature = (*, data=None, content_type=None, headers=None))]
            fn close<'py>(
                &self,
                py: Python<'py>,
                data: Option<Bound<'py, PyAny>>,
                content_type: Option<String>,
                headers: Option<HashMap<String, String>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let data = data.as_ref().map(data_bytes).transpose()?;
                let opts = CloseOptions { data, content_type, headers: header_list(headers) };
                let s = self.core.clone();
                $run(py, async move { Ok(CloseResult { final_offset: s.close(opts).await?.final_offset.to_string() }) })
            }

            /// Delete the stream.
            #[pyo3(signature = (*, headers=None))]
            fn delete<'py>(&self, py: Python<'py>, headers: Option<HashMap<String, String>>) -> PyResult<Bound<'py, PyAny>> {
                let (s, h) = (self.core.clone(), header_list(headers));
                $run(py, async move { Ok(s.delete_with_headers(&h).await.map(|_| NoneOut)?) })
            }

            /// Metadata: content type, tail offset, closure, TTL / expiry.
            #[pyo3(signature = (*, headers=None))]
            fn head<'py>(&self, py: Python<'py>, headers: Option<HashMap<String, String>>) -> PyResult<Bound<'py, PyAny>> {
                let (s, h) = (self.core.clone(), header_list(headers));
                $run(py, async move {
                    let m = s.head_with_headers(&h).await?;
                    Ok(StreamMetadata {
                        content_type: m.content_type,
                        next_offset: m.next_offset.to_string(),
                        closed: m.closed,
                        ttl_seconds: m.ttl_seconds,
                        expires_at: m.expires_at,
                        etag: m.etag,
                    })
                })
            }

            /// Everything from `offset` to the current tail, as one `bytes` (for a JSON
            /// stream: one JSON array of all messages).
            #[pyo3(signature = (*, offset=None))]
            fn read_all<'py>(&self, py: Python<'py>, offset: Option<&str>) -> PyResult<Bound<'py, PyAny>> {
                let offset = parse_offset(py, offset)?;
                let s = self.core.clone();
                $run(py, async move { Ok(BytesOut(s.read_all(offset).await?)) })
            }

            /// Start a read session (no I/O until iterated).
            #[pyo3(signature = (*, offset=None, live=None, cursor=None, headers=None, max_chunk_bytes=None))]
            fn read(
                &self,
                py: Python<'_>,
                offset: Option<String>,
                live: Option<Bound<'_, PyAny>>,
                cursor: Option<String>,
                headers: Option<HashMap<String, String>>,
                max_chunk_bytes: Option<i64>,
            ) -> PyResult<$session> {
                let live = live.as_ref().map(live_name).transpose()?;
                let raw = RawReadOptions { offset, live, cursor, headers: header_list(headers), max_chunk_bytes, ..Default::default() };
                Ok($session::new(self.core.read(guard(py, || Ok(raw.read()?))?)))
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
                let raw = RawProducerOptions {
                    producer_id: Some(producer_id),
                    epoch,
                    auto_claim,
                    max_batch_items,
                    max_batch_bytes,
                    linger_ms: linger.map(|s| s * 1e3),
                    max_in_flight,
                    buffer_limit_bytes,
                    delivery_timeout_ms: delivery_timeout.map(|s| s * 1e3),
                    content_type,
                    headers: header_list(headers),
                };
                let mut opts = guard(py, || Ok(ProducerOptions::from_raw(raw)?))?;
                opts.on_error = on_error.map(|cb| error_callback(Arc::new(cb)));
                $producer::new(py, self.core.clone(), opts)
            }

            fn __repr__(&self) -> String {
                format!("{}({})", stringify!($name), pyrepr(self.core.url().as_str()))
            }
        }
    };
}

pub fn run_blocking<'py, T, F>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = BResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    block(py, fut)?.into_bound_py_any(py)
}

stream_class!(
    /// A handle on one stream (blocking API).
    Stream, run_blocking, ReadSession, Producer
);
stream_class!(
    /// A handle on one stream (asyncio API).
    AsyncStream, awaitable, AsyncReadSession, AsyncProducer
);

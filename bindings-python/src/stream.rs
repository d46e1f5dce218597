//! `Stream` / `AsyncStream` handles and the result objects of one-request operations.

use std::collections::HashMap;
use std::future::Future;

use bytes::Bytes;
use durable_streams_sdk::{
    self as core, AppendOptions, CloseOptions, CreateOptions, ForkOptions, Offset, ProducerHeaders, ReadOptions,
};
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use serde_json::value::RawValue;

use crate::convert::{
    AppendResult, BytesOut, CloseResult, CreateResult, NoneOut, StreamMetadata, append_result, data_bytes,
    header_list, json_text, parse_live, parse_offset, pyrepr,
};
use crate::errors::invalid_argument;
use crate::producer::{AsyncProducer, Producer, ProducerConfig};
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
        let raw = raw_json(py, value)?;
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
            raws.push(raw_json(py, &v?)?);
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
            return Err(invalid_argument(py, "maxChunkBytes", "must be > 0"));
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
                $producer::new(py, cfg)
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

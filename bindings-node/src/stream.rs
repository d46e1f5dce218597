//! `NativeStream`: one-request operations (create, append, close, delete, head, readAll)
//! and the entry points of reads, producers and consumers.

use std::collections::HashMap;

use durable_streams_sdk::{AppendOptions, CloseOptions, CreateOptions, ForkOptions, Offset, ProducerHeaders, Stream};
use napi::Env;
use napi::bindgen_prelude::PromiseRaw;
use napi_derive::napi;
use serde_json::value::RawValue;

use crate::convert::{self, Data, JsBytes, data, header_list, non_negative, offset};
use crate::error;
use crate::task::{self, AbortToken};

#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct NativeCreateOptions {
    pub content_type: Option<String>,
    pub ttl_seconds: Option<f64>,
    pub expires_at: Option<String>,
    pub closed: Option<bool>,
    pub body: Option<Data>,
    /// Path of the stream to fork from.
    pub forked_from: Option<String>,
    pub fork_offset: Option<String>,
    pub fork_sub_offset: Option<f64>,
    pub headers: Option<HashMap<String, String>>,
}

#[napi(object)]
pub struct NativeCreateResult {
    pub created: bool,
    pub status: u32,
    pub next_offset: Option<String>,
    pub content_type: Option<String>,
    pub closed: bool,
}

#[napi(object, object_to_js = false)]
pub struct NativeAppendOptions {
    pub content_type: Option<String>,
    /// `Stream-Seq` writer-coordination token.
    pub seq: Option<String>,
    /// Manual idempotent-producer headers (all three together).
    pub producer_id: Option<String>,
    pub producer_epoch: Option<f64>,
    pub producer_seq: Option<f64>,
    /// Append and close atomically.
    pub close: Option<bool>,
    pub headers: Option<HashMap<String, String>>,
}

#[napi(object)]
pub struct NativeAppendResult {
    pub status: u32,
    pub next_offset: Option<String>,
    pub stream_closed: bool,
    pub duplicate: bool,
    pub producer_epoch: Option<i64>,
    pub producer_seq: Option<i64>,
    pub sent_headers: HashMap<String, String>,
    pub sent_params: HashMap<String, String>,
}

#[napi(object, object_to_js = false)]
pub struct NativeCloseOptions {
    pub data: Option<Data>,
    pub content_type: Option<String>,
    pub headers: Option<HashMap<String, String>>,
}

#[napi(object)]
pub struct NativeCloseResult {
    pub final_offset: String,
}

#[napi(object)]
pub struct NativeStreamMetadata {
    pub content_type: Option<String>,
    pub next_offset: String,
    pub closed: bool,
    pub ttl_seconds: Option<i64>,
    pub expires_at: Option<String>,
    pub etag: Option<String>,
}

#[napi]
pub struct NativeStream {
    pub(crate) inner: Stream,
}

fn append_options(o: Option<NativeAppendOptions>) -> napi::Result<AppendOptions> {
    let Some(o) = o else {
        return Ok(AppendOptions::default());
    };
    let epoch = o.producer_epoch.map(|n| non_negative("producerEpoch", n)).transpose()?;
    let seq = o.producer_seq.map(|n| non_negative("producerSeq", n)).transpose()?;
    let producer = ProducerHeaders::from_parts(o.producer_id, epoch, seq).map_err(error::core)?;
    Ok(AppendOptions {
        content_type: o.content_type,
        seq: o.seq,
        producer,
        close: o.close.unwrap_or(false),
        headers: header_list(o.headers),
    })
}

fn append_result(r: durable_streams_sdk::AppendResult) -> NativeAppendResult {
    let (sent_headers, sent_params) = r.sent.into_maps();
    NativeAppendResult {
        status: r.status as u32,
        next_offset: r.next_offset.map(|o| o.as_str().to_string()),
        stream_closed: r.stream_closed,
        duplicate: r.duplicate,
        producer_epoch: r.producer_epoch.map(|n| n as i64),
        producer_seq: r.producer_seq.map(|n| n as i64),
        sent_headers,
        sent_params,
    }
}

pub fn close_result(r: durable_streams_sdk::CloseResult) -> NativeCloseResult {
    NativeCloseResult { final_offset: r.final_offset.as_str().to_string() }
}

#[napi]
impl NativeStream {
    #[napi(getter)]
    pub fn url(&self) -> String {
        self.inner.url().to_string()
    }

    /// The content type learnt from create/head/reads, if any.
    #[napi(getter)]
    pub fn content_type(&self) -> Option<String> {
        self.inner.known_content_type()
    }

    #[napi]
    pub fn create<'env>(
        &self,
        env: &'env Env,
        options: Option<NativeCreateOptions>,
        abort: Option<&AbortToken>,
    ) -> napi::Result<PromiseRaw<'env, NativeCreateResult>> {
        let o = options.unwrap_or_default();
        let fork = match o.forked_from {
            Some(source_path) => Some(ForkOptions {
                source_path,
                offset: o.fork_offset.map(|s| Offset::parse(&s)).transpose().map_err(error::core)?,
                sub_offset: o.fork_sub_offset.map(|n| non_negative("forkSubOffset", n)).transpose()?,
            }),
            None => None,
        };
        let opts = CreateOptions {
            content_type: o.content_type,
            ttl_seconds: o.ttl_seconds.map(|n| non_negative("ttlSeconds", n)).transpose()?,
            expires_at: o.expires_at,
            closed: o.closed.unwrap_or(false),
            body: o.body.map(data),
            fork,
            headers: header_list(o.headers),
        };
        let stream = self.inner.clone();
        task::promise(env, abort, async move {
            let r = stream.create(opts).await?;
            Ok(NativeCreateResult {
                created: r.created,
                status: r.status as u32,
                next_offset: r.next_offset.map(|o| o.as_str().to_string()),
                content_type: r.content_type,
                closed: r.closed,
            })
        })
    }

    /// Append one message (on a JSON stream: the text of one JSON value).
    #[napi]
    pub fn append<'env>(
        &self,
        env: &'env Env,
        data: Data,
        options: Option<NativeAppendOptions>,
        abort: Option<&AbortToken>,
    ) -> napi::Result<PromiseRaw<'env, NativeAppendResult>> {
        let (data, opts, stream) = (convert::data(data), append_options(options)?, self.inner.clone());
        task::promise(env, abort, async move { stream.append(data, opts).await.map(append_result) })
    }

    /// Append JSON values (each given as JSON text), one message each, in one request.
    #[napi]
    pub fn append_json<'env>(
        &self,
        env: &'env Env,
        items: Vec<String>,
        options: Option<NativeAppendOptions>,
        abort: Option<&AbortToken>,
    ) -> napi::Result<PromiseRaw<'env, NativeAppendResult>> {
        let values = items
            .into_iter()
            .map(|s| RawValue::from_string(s).map_err(|e| error::invalid_argument("data", format!("not valid JSON: {e}"))))
            .collect::<napi::Result<Vec<_>>>()?;
        let (opts, stream) = (append_options(options)?, self.inner.clone());
        task::promise(env, abort, async move { stream.append_json_batch(&values, opts).await.map(append_result) })
    }

    #[napi]
    pub fn close<'env>(
        &self,
        env: &'env Env,
        options: Option<NativeCloseOptions>,
        abort: Option<&AbortToken>,
    ) -> napi::Result<PromiseRaw<'env, NativeCloseResult>> {
        let opts = options.map_or_else(CloseOptions::default, |o| CloseOptions {
            data: o.data.map(data),
            content_type: o.content_type,
            headers: header_list(o.headers),
        });
        let stream = self.inner.clone();
        task::promise(env, abort, async move { stream.close(opts).await.map(close_result) })
    }

    #[napi]
    pub fn delete<'env>(
        &self,
        env: &'env Env,
        headers: Option<HashMap<String, String>>,
        abort: Option<&AbortToken>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (headers, stream) = (header_list(headers), self.inner.clone());
        task::promise(env, abort, async move { stream.delete_with_headers(&headers).await })
    }

    #[napi]
    pub fn head<'env>(
        &self,
        env: &'env Env,
        headers: Option<HashMap<String, String>>,
        abort: Option<&AbortToken>,
    ) -> napi::Result<PromiseRaw<'env, NativeStreamMetadata>> {
        let (headers, stream) = (header_list(headers), self.inner.clone());
        task::promise(env, abort, async move {
            let m = stream.head_with_headers(&headers).await?;
            Ok(NativeStreamMetadata {
                content_type: m.content_type,
                next_offset: m.next_offset.as_str().to_string(),
                closed: m.closed,
                ttl_seconds: m.ttl_seconds.map(|n| n as i64),
                expires_at: m.expires_at,
                etag: m.etag,
            })
        })
    }

    /// Everything from `offset` to the current tail in one buffer (for JSON streams: one
    /// JSON array of all messages).
    #[napi]
    pub fn read_all<'env>(
        &self,
        env: &'env Env,
        from: Option<String>,
        abort: Option<&AbortToken>,
    ) -> napi::Result<PromiseRaw<'env, JsBytes>> {
        let (from, stream) = (offset(from)?, self.inner.clone());
        task::promise(env, abort, async move { stream.read_all(from).await.map(JsBytes) })
    }
}

//! `NativeClient`: the core `Client`, configured from a JavaScript options object.

use std::collections::HashMap;
use std::sync::Arc;

use durable_streams_sdk::{BoxFuture, Client, Result as CoreResult, RetryPolicy, ValueProvider};
use napi::bindgen_prelude::{Promise, PromiseRaw};
use napi::{Env, Status};
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;

use crate::convert::{integer, positive_ms};
use crate::error;
use crate::stream::NativeStream;
use crate::task;

/// A dynamic header/parameter function. The JavaScript layer wraps the user's function so
/// that it always returns `Promise<string>`. Weak: it never keeps the event loop alive
/// (a request in flight does, through its own pending Promise).
pub type ValueFn = ThreadsafeFunction<(), Promise<String>, (), Status, false, true>;

#[napi(object, object_to_js = false)]
pub struct NativeRetryOptions {
    pub max_retries: Option<f64>,
    pub initial_delay_ms: Option<f64>,
    pub max_delay_ms: Option<f64>,
    pub multiplier: Option<f64>,
    pub append_retry: Option<String>,
}

#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct NativeClientOptions {
    pub headers: Option<HashMap<String, String>>,
    pub dynamic_headers: Option<HashMap<String, ValueFn>>,
    pub dynamic_params: Option<HashMap<String, ValueFn>>,
    pub retry: Option<NativeRetryOptions>,
    pub request_timeout_ms: Option<f64>,
    pub connect_timeout_ms: Option<f64>,
    pub live_idle_timeout_ms: Option<f64>,
    pub pool_idle_timeout_ms: Option<f64>,
    pub compression: Option<bool>,
}

/// Calls a JavaScript function (on the JS thread) and awaits its Promise.
struct JsValue {
    name: String,
    f: ValueFn,
}

impl ValueProvider for JsValue {
    fn value(&self) -> BoxFuture<'_, CoreResult<String>> {
        Box::pin(async move { task::call(&self.f, (), &format!("dynamic value {:?}", self.name)).await })
    }
}

fn retry_policy(r: NativeRetryOptions) -> napi::Result<RetryPolicy> {
    let max_retries = r.max_retries.map(|n| integer("maxRetries", n)).transpose()?;
    let mut policy =
        RetryPolicy::from_parts(max_retries, r.initial_delay_ms, r.max_delay_ms, r.multiplier).map_err(error::core)?;
    if let Some(s) = r.append_retry {
        policy.append_retry = s.parse().map_err(error::core)?;
    }
    Ok(policy)
}

#[napi]
pub struct NativeClient {
    inner: Client,
}

#[napi]
impl NativeClient {
    #[napi(constructor)]
    pub fn new(base_url: String, options: Option<NativeClientOptions>) -> napi::Result<Self> {
        task::sync(move || {
            let (mut b, o) = (Client::builder(base_url), options.unwrap_or_default());
            for (k, v) in o.headers.unwrap_or_default() {
                b = b.header(k, v);
            }
            for (name, f) in o.dynamic_headers.unwrap_or_default() {
                b = b.dynamic_header_arc(name.clone(), Arc::new(JsValue { name, f }));
            }
            for (name, f) in o.dynamic_params.unwrap_or_default() {
                b = b.dynamic_param_arc(name.clone(), Arc::new(JsValue { name, f }));
            }
            if let Some(r) = o.retry {
                b = b.retry_policy(retry_policy(r)?);
            }
            if let Some(ms) = o.request_timeout_ms {
                b = b.request_timeout(positive_ms("requestTimeoutMs", ms)?);
            }
            if let Some(ms) = o.connect_timeout_ms {
                b = b.connect_timeout(positive_ms("connectTimeoutMs", ms)?);
            }
            if let Some(ms) = o.live_idle_timeout_ms {
                b = b.live_idle_timeout(positive_ms("liveIdleTimeoutMs", ms)?);
            }
            if let Some(ms) = o.pool_idle_timeout_ms {
                b = b.pool_idle_timeout(positive_ms("poolIdleTimeoutMs", ms)?);
            }
            if let Some(c) = o.compression {
                b = b.compression(c);
            }
            Ok(NativeClient { inner: b.build().map_err(error::core)? })
        })
    }

    /// A handle on the stream at `path`; `contentType`, when known, saves a `HEAD`.
    #[napi]
    pub fn stream(&self, path: String, content_type: Option<String>) -> napi::Result<NativeStream> {
        let s = self.inner.stream(&path).map_err(error::core)?;
        let inner = match content_type {
            Some(ct) => s.with_content_type(ct),
            None => s,
        };
        Ok(NativeStream { inner })
    }

    /// Close the client (the core's `Client::close`): it is closed once this returns;
    /// the Promise resolves when its producers have flushed and detached.
    #[napi]
    pub fn close<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let closing = self.inner.close();
        task::promise(env, None, async move {
            closing.await;
            Ok(())
        })
    }

    /// Whether `close()` was called.
    #[napi(getter)]
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    #[napi(getter)]
    pub fn base_url(&self) -> String {
        self.inner.base_url().to_string()
    }
}

//! `Client` / `AsyncClient`, `RetryOptions`, and Python callables as dynamic values.

use std::collections::HashMap;
use std::sync::Arc;

use durable_streams_sdk::{self as core, AppendRetry, BoxFuture, ClientBuilder, RetryPolicy, ValueProvider};
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_async_runtimes::TaskLocals;

use crate::convert::{NoneOut, fields_repr, header_list, pyrepr, seconds};
use crate::errors::{Failure, callback_error, invalid_argument};
use crate::rt::{Ready, awaitable, block, guard, task_locals};
use crate::stream::{AsyncStream, Stream};

/// How transient failures are retried (exponential backoff with jitter, `Retry-After`
/// honoured). Unset options keep the core's defaults.
#[pyclass(frozen, module = "durable_streams_sdk._native")]
#[derive(Clone)]
pub struct RetryOptions {
    pub policy: RetryPolicy,
}

#[pymethods]
impl RetryOptions {
    #[new]
    #[pyo3(signature = (*, max_retries=None, initial_delay=None, max_delay=None, multiplier=None, append_retry=None))]
    fn new(
        py: Python<'_>,
        max_retries: Option<i64>,
        initial_delay: Option<f64>,
        max_delay: Option<f64>,
        multiplier: Option<f64>,
        append_retry: Option<&str>,
    ) -> PyResult<Self> {
        let mut policy = guard(py, || {
            Ok(RetryPolicy::from_parts(
                max_retries,
                initial_delay.map(|s| s * 1e3),
                max_delay.map(|s| s * 1e3),
                multiplier,
            )?)
        })?;
        if let Some(mode) = append_retry {
            policy.append_retry = guard(py, || Ok(mode.parse::<AppendRetry>()?))?;
        }
        Ok(RetryOptions { policy })
    }

    /// A policy that never retries.
    #[staticmethod]
    fn none() -> Self {
        RetryOptions { policy: RetryPolicy::none() }
    }

    #[getter]
    fn max_retries(&self) -> u32 {
        self.policy.max_retries
    }

    #[getter]
    fn initial_delay(&self) -> f64 {
        self.policy.initial_delay.as_secs_f64()
    }

    #[getter]
    fn max_delay(&self) -> f64 {
        self.policy.max_delay.as_secs_f64()
    }

    #[getter]
    fn multiplier(&self) -> f64 {
        self.policy.multiplier
    }

    #[getter]
    fn append_retry(&self) -> &'static str {
        self.policy.append_retry.as_str()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<RetryOptions>().is_ok_and(|o| o.get().policy == self.policy)
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        fields_repr(slf.as_any(), &["max_retries", "initial_delay", "max_delay", "multiplier", "append_retry"])
    }
}

/// A Python callable (sync, or returning an awaitable) called for every request.
pub struct PyCallable {
    pub callable: Arc<Py<PyAny>>,
    pub creator_loop: Option<Arc<Py<PyAny>>>,
}

/// The loop an awaitable returned by a callback is run on: the loop of the asyncio call
/// that made the request; else (producer background sends) the loop that created the
/// `AsyncClient`, if it is still running; else a helper loop on its own daemon thread
/// (`durable_streams_sdk._helper`).
fn callback_loop(py: Python<'_>, locals: Option<TaskLocals>, creator_loop: Option<&Py<PyAny>>) -> PyResult<TaskLocals> {
    if let Some(l) = locals {
        return Ok(l);
    }
    if let Some(lp) = creator_loop {
        let lp = lp.bind(py);
        if lp.call_method0("is_running")?.is_truthy()? {
            return Ok(TaskLocals::new(lp.clone()));
        }
    }
    let helper = py.import("durable_streams_sdk._helper")?.call_method0("helper_loop")?;
    Ok(TaskLocals::new(helper))
}

/// Call into Python from the core runtime (dynamic values, consumer handlers): `call`
/// runs on a blocking-pool thread with the GIL, never on an I/O worker, so a busy
/// interpreter cannot stall the runtime; `convert` makes its result a `T` there. An
/// awaitable result runs on the loop [`callback_loop`] picks, and is converted when done.
pub async fn call_python<T, C, V>(
    call: C,
    convert: V,
    locals: Option<TaskLocals>,
    creator_loop: Option<Arc<Py<PyAny>>>,
) -> PyResult<T>
where
    C: for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyAny>> + Send + 'static,
    V: Fn(&Bound<'_, PyAny>) -> PyResult<T> + Clone + Send + 'static,
    T: Send + 'static,
{
    let on_pool = convert.clone();
    let called = tokio::task::spawn_blocking(move || {
        Python::attach(|py| -> PyResult<Result<T, BoxFuture<'static, PyResult<Py<PyAny>>>>> {
            let value = call(py)?;
            if !py.import("inspect")?.call_method1("isawaitable", (&value,))?.is_truthy()? {
                return Ok(Ok(on_pool(&value)?));
            }
            let locals = callback_loop(py, locals, creator_loop.as_deref())?;
            Ok(Err(Box::pin(pyo3_async_runtimes::into_future_with_locals(&locals, value)?)))
        })
    })
    .await
    .map_err(|join| PyRuntimeError::new_err(format!("the Python callback crashed: {join}")))??;
    match called {
        Ok(v) => Ok(v),
        Err(awaited) => {
            let obj = awaited.await?;
            Python::attach(|py| convert(obj.bind(py)))
        }
    }
}

impl ValueProvider for PyCallable {
    fn value(&self) -> BoxFuture<'_, core::Result<String>> {
        let callable = self.callable.clone();
        let called = call_python(move |py| callable.bind(py).call0(), to_value, task_locals(), self.creator_loop.clone());
        Box::pin(async move { called.await.map_err(|e| callback_error("dynamic header/param callable", e)) })
    }
}

fn to_value(v: &Bound<'_, PyAny>) -> PyResult<String> {
    v.extract::<String>().map_err(|_| {
        PyTypeError::new_err(format!(
            "a dynamic header/param callable must return str (or an awaitable of str), got {}",
            v.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        ))
    })
}

/// `{name: callable}` as the core's dynamic values; `what` names the option in errors.
fn callables(
    py: Python<'_>,
    d: Option<&Bound<'_, PyDict>>,
    what: &'static str,
    creator_loop: &Option<Arc<Py<PyAny>>>,
) -> PyResult<Vec<(String, PyCallable)>> {
    let mut out = Vec::new();
    for (k, v) in d.into_iter().flat_map(|d| d.iter()) {
        let name: String = k.extract()?;
        if !v.is_callable() {
            return Err(invalid_argument(py, what, format!("the value for {name:?} is not callable")));
        }
        out.push((name, PyCallable { callable: Arc::new(v.unbind()), creator_loop: creator_loop.clone() }));
    }
    Ok(out)
}

/// One client class (`Client` or `AsyncClient`): the same options and methods; the
/// flavour decides the stream class, whether awaitable callbacks may use the creating
/// loop, and the context-manager protocol (`$extra`).
macro_rules! client_class {
    ($(#[$doc:meta])* $name:ident, $stream:ident, asyncio = $asyncio:literal, { $($extra:tt)* }) => {
        $(#[$doc])*
        #[pyclass(frozen, module = "durable_streams_sdk._native")]
        pub struct $name {
            pub core: core::Client,
        }

        #[pymethods]
        impl $name {
            #[new]
            #[pyo3(signature = (base_url, *, headers=None, dynamic_headers=None, dynamic_params=None, retry=None, connect_timeout=None, request_timeout=None, live_idle_timeout=None, pool_idle_timeout=None, compression=None))]
            #[allow(clippy::too_many_arguments)]
            fn new(
                py: Python<'_>,
                base_url: &str,
                headers: Option<HashMap<String, String>>,
                dynamic_headers: Option<Bound<'_, PyDict>>,
                dynamic_params: Option<Bound<'_, PyDict>>,
                retry: Option<PyRef<'_, RetryOptions>>,
                connect_timeout: Option<f64>,
                request_timeout: Option<f64>,
                live_idle_timeout: Option<f64>,
                pool_idle_timeout: Option<f64>,
                compression: Option<bool>,
            ) -> PyResult<Self> {
                let creator_loop = if $asyncio { pyo3_async_runtimes::get_running_loop(py).ok().map(|l| Arc::new(l.unbind())) } else { None };
                let mut b = ClientBuilder::new(base_url);
                for (name, value) in header_list(headers) {
                    b = b.header(name, value);
                }
                for (name, p) in callables(py, dynamic_headers.as_ref(), "dynamic_headers", &creator_loop)? {
                    b = b.dynamic_header(name, p);
                }
                for (name, p) in callables(py, dynamic_params.as_ref(), "dynamic_params", &creator_loop)? {
                    b = b.dynamic_param(name, p);
                }
                if let Some(r) = retry {
                    b = b.retry_policy(r.policy.clone());
                }
                if let Some(s) = connect_timeout {
                    b = b.connect_timeout(seconds(py, "connectTimeoutMs", s)?);
                }
                if let Some(s) = request_timeout {
                    b = b.request_timeout(seconds(py, "requestTimeoutMs", s)?);
                }
                if let Some(s) = live_idle_timeout {
                    b = b.live_idle_timeout(seconds(py, "liveIdleTimeoutMs", s)?);
                }
                if let Some(s) = pool_idle_timeout {
                    b = b.pool_idle_timeout(seconds(py, "poolIdleTimeoutMs", s)?);
                }
                if let Some(c) = compression {
                    b = b.compression(c);
                }
                let core = guard(py, || b.build().map_err(Failure::from))?;
                Ok($name { core })
            }

            /// A handle on the stream at `path` (below the base URL). No I/O happens here.
            #[pyo3(signature = (path, *, content_type=None))]
            fn stream(&self, py: Python<'_>, path: &str, content_type: Option<String>) -> PyResult<$stream> {
                let s = guard(py, || Ok(self.core.stream(path)?))?;
                Ok($stream::new(match content_type {
                    Some(ct) => s.with_content_type(ct),
                    None => s,
                }))
            }

            #[getter]
            fn base_url(&self) -> &str {
                self.core.base_url()
            }

            #[getter]
            fn retry(&self) -> RetryOptions {
                RetryOptions { policy: self.core.retry_policy().clone() }
            }

            #[getter]
            fn closed(&self) -> bool {
                self.core.is_closed()
            }

            fn __repr__(&self) -> String {
                format!("{}({})", stringify!($name), pyrepr(self.core.base_url()))
            }

            $($extra)*
        }
    };
}

client_class!(
    /// Blocking client. Thread-safe; share one per process (it pools connections).
    Client, Stream, asyncio = false, {
    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Close the client: reads in progress end, consumers stop, producers flush and
    /// detach (this waits for them), and every later call through the client or its
    /// streams fails with `ClosedError`. Leaving a `with` block does the same; closing
    /// again does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let closing = self.core.close();
        block(py, async move {
            closing.await;
            Ok(())
        })
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }
});

client_class!(
    /// asyncio client: the same options, awaitable operations.
    AsyncClient, AsyncStream, asyncio = true, {
    fn __aenter__(slf: Py<Self>) -> Ready {
        Ready::new(Some(slf.into_any()))
    }

    /// Close the client (as `Client.close`), at once; the awaitable waits for producers
    /// to flush.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let closing = self.core.close();
        awaitable(py, async move {
            closing.await;
            Ok(NoneOut)
        })
    }

    #[pyo3(signature = (*_args))]
    fn __aexit__<'py>(&self, py: Python<'py>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<Bound<'py, PyAny>> {
        let closing = self.core.close();
        awaitable(py, async move {
            closing.await;
            Ok(false)
        })
    }
});

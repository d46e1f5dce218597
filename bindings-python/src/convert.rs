//! Conversions between Python values and the core's types, shared by every class of
//! the binding: data and JSON, durations, options, result records, Python `repr`s.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use durable_streams_sdk::{self as core, ErrorKind, Offset};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyMemoryView};

use crate::errors::{invalid_argument, state};
use crate::rt::{BResult, guard};

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

/// `live` as the core's options take it: `False`/`True`, or one of the mode names
/// (`"off"`, `"auto"`, `"long-poll"`, `"sse"`); anything else by its `repr`, which the
/// core then refuses naming the option.
pub fn live_name(live: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(b) = live.extract::<bool>() {
        return Ok(b.to_string());
    }
    live.extract().or_else(|_| Ok(live.repr()?.to_string()))
}

struct Json {
    /// `json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode`,
    /// built once: `json.dumps(value, **kwargs)` would build a new encoder per call.
    encode: Py<PyAny>,
    loads: Py<PyAny>,
}

fn json(py: Python<'_>) -> PyResult<&Json> {
    static J: PyOnceLock<Json> = PyOnceLock::new();
    J.get_or_try_init(py, || -> PyResult<Json> {
        let m = py.import("json")?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("separators", (",", ":"))?;
        kwargs.set_item("ensure_ascii", false)?;
        kwargs.set_item("allow_nan", false)?;
        let encoder = m.getattr("JSONEncoder")?.call((), Some(&kwargs))?;
        Ok(Json { encode: encoder.getattr("encode")?.unbind(), loads: m.getattr("loads")?.unbind() })
    })
}

/// Compact JSON text of `value` (Python's own `json`, so ints stay ints); a value
/// that is not serialisable is an `InvalidArgumentError`.
pub fn json_text(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<String> {
    match json(py)?.encode.bind(py).call1((value,)) {
        Ok(text) => text.extract(),
        Err(e) if e.is_instance_of::<PyTypeError>(py) || e.is_instance_of::<PyValueError>(py) => {
            Err(invalid_argument(py, "value", format!("not JSON-serialisable: {}", e.value(py))))
        }
        Err(e) => Err(e),
    }
}

pub fn json_bytes(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    Ok(Bytes::from(json_text(py, value)?.into_bytes()))
}

/// A flat core record (`Serialize`: errors, statistics) as a dict of its fields, built
/// directly (no JSON text on the way: an error costs what a hand-written dict did).
pub fn record_dict<'py>(py: Python<'py>, record: &impl serde::Serialize) -> PyResult<Bound<'py, PyDict>> {
    use serde_json::Value;
    let d = PyDict::new(py);
    let Ok(Value::Object(fields)) = serde_json::to_value(record) else {
        return Err(PyTypeError::new_err("a core record did not serialize to an object"));
    };
    for (k, v) in fields {
        match v {
            Value::Null => d.set_item(k, py.None())?,
            Value::Bool(b) => d.set_item(k, b)?,
            Value::Number(n) if n.is_u64() => d.set_item(k, n.as_u64())?,
            Value::Number(n) if n.is_i64() => d.set_item(k, n.as_i64())?,
            Value::Number(n) => d.set_item(k, n.as_f64())?,
            Value::String(s) => d.set_item(k, s)?,
            nested => d.set_item(k, json_loads(py, nested.to_string().as_bytes())?)?,
        }
    }
    Ok(d)
}

/// Decode JSON text.
pub fn json_loads<'py>(py: Python<'py>, text: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    json(py)?.loads.bind(py).call1((PyBytes::new(py, text),))
}

/// Seconds (float) → `Duration`; `field` is the core's option name (reported the
/// Python way), negative and non-finite values are rejected.
pub fn seconds(py: Python<'_>, field: &'static str, value: f64) -> PyResult<Duration> {
    if !(value.is_finite() && value >= 0.0) {
        return Err(invalid_argument(py, field, "must be a finite number of seconds >= 0"));
    }
    // Finite is not enough: beyond Duration's range from_secs_f64 panics.
    Duration::try_from_secs_f64(value).map_err(|_| invalid_argument(py, field, "too large"))
}

/// A `timeout` argument (seconds, `None`: no limit) as a limit for [`within`].
pub fn timeout_limit(py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Duration>> {
    timeout.map(|s| seconds(py, "timeoutMs", s)).transpose()
}

/// `fut`'s output, or a `TimeoutError` ("`what` within N s") once `limit` has passed.
pub async fn within<F: Future>(limit: Option<Duration>, what: &'static str, fut: F) -> BResult<F::Output> {
    match limit {
        None => Ok(fut.await),
        Some(d) => tokio::time::timeout(d, fut)
            .await
            .map_err(|_| state(ErrorKind::Timeout, format!("{what} within {}s", d.as_secs_f64()))),
    }
}

pub fn header_list(headers: Option<HashMap<String, String>>) -> Vec<(String, String)> {
    headers.map(|h| h.into_iter().collect()).unwrap_or_default()
}

/// Python-style `repr` of a string.
pub fn pyrepr(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

pub fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// `Name(field=<repr>, ...)` over the attributes named, each shown by Python's `repr`.
pub fn fields_repr(obj: &Bound<'_, PyAny>, fields: &[&str]) -> PyResult<String> {
    let shown = fields.iter().map(|f| Ok(format!("{f}={}", obj.getattr(*f)?.repr()?))).collect::<PyResult<Vec<_>>>()?;
    Ok(format!("{}({})", obj.get_type().name()?, shown.join(", ")))
}

/// `__repr__` of a record class (one with no other `#[pymethods]`): [`fields_repr`].
macro_rules! record_repr {
    ($name:ident: $($field:ident),+) => {
        #[pymethods]
        impl $name {
            fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
                $crate::convert::fields_repr(slf.as_any(), &[$(stringify!($field)),+])
            }
        }
    };
}
pub(crate) use record_repr;

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

record_repr!(CreateResult: created, status, next_offset, content_type, closed);

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

record_repr!(AppendResult: status, next_offset, stream_closed, duplicate);

/// Result of `close`.
#[pyclass(frozen, get_all, module = "durable_streams_sdk._native")]
pub struct CloseResult {
    pub final_offset: String,
}

record_repr!(CloseResult: final_offset);

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

record_repr!(StreamMetadata: content_type, next_offset, closed, ttl_seconds, expires_at);

pub fn append_result(r: core::AppendResult) -> AppendResult {
    let (sent_headers, sent_params) = r.sent.into_maps();
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


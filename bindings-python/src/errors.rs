//! Core errors → the Python exception classes of `durable_streams_sdk.errors`.
//!
//! The classes are plain Python (so they subclass builtins such as `ValueError` and
//! `TimeoutError` and carry typed attributes); this module only gathers the data the
//! core error carries and asks `errors._from_native` to build the right instance.

use durable_streams_sdk::{Error, ErrorKind, Offset};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

/// Everything that can fail in the binding, converted to a Python exception only
/// where the GIL is held.
pub enum Failure {
    Core(Error),
    Py(PyErr),
    /// A Rust panic caught at the boundary.
    Panic(String),
    /// A binding-level misuse (e.g. a consumed session): `code`, message.
    State(&'static str, String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Core(e)
    }
}

impl From<PyErr> for Failure {
    fn from(e: PyErr) -> Self {
        Failure::Py(e)
    }
}

impl Failure {
    pub fn into_pyerr(self, py: Python<'_>) -> PyErr {
        match self {
            Failure::Py(e) => e,
            Failure::Core(e) => core_error(py, &e),
            Failure::Panic(msg) => build(
                py,
                "INTERNAL",
                &format!("internal error (Rust panic): {msg}"),
                None,
                false,
                "INTERNAL_ERROR",
                None,
            ),
            Failure::State(code, msg) => build(py, code, &msg, None, false, "INTERNAL_ERROR", None),
        }
    }
}

fn from_native(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static F: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    F.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("durable_streams_sdk.errors")?.getattr("_from_native")?.unbind())
    })
    .map(|f| f.bind(py))
}

fn build(
    py: Python<'_>,
    code: &str,
    message: &str,
    status: Option<u16>,
    transient: bool,
    conformance_code: &str,
    extra: Option<Bound<'_, PyDict>>,
) -> PyErr {
    let attempt = || -> PyResult<PyErr> {
        let extra = match extra {
            Some(d) => d,
            None => PyDict::new(py),
        };
        let args = (code, message, status, transient, conformance_code, extra);
        let exc = from_native(py)?.call1(args)?;
        Ok(PyErr::from_value(exc))
    };
    attempt().unwrap_or_else(|e| e)
}

/// The Python exception for a core error.
pub fn core_error(py: Python<'_>, e: &Error) -> PyErr {
    if let Some(original) = original_exception(py, e) {
        return original;
    }
    let extra = PyDict::new(py);
    let fill = || -> PyResult<()> {
        match e.kind() {
            ErrorKind::StreamClosed { next_offset } => {
                extra.set_item("final_offset", next_offset.as_ref().map(Offset::as_str))?
            }
            ErrorKind::Gone { earliest_offset } => {
                extra.set_item("earliest_offset", earliest_offset.as_ref().map(Offset::as_str))?
            }
            ErrorKind::StaleEpoch { current_epoch } => extra.set_item("current_epoch", current_epoch)?,
            ErrorKind::SequenceGap { expected, received } => {
                extra.set_item("expected", expected)?;
                extra.set_item("received", received)?;
            }
            ErrorKind::BadRequest { server_message } => extra.set_item("server_message", server_message)?,
            ErrorKind::RateLimited { retry_after } => {
                extra.set_item("retry_after", retry_after.map(|d| d.as_secs_f64()))?
            }
            ErrorKind::InvalidArgument { field } => extra.set_item("field", field)?,
            _ => {}
        }
        Ok(())
    };
    if let Err(err) = fill() {
        return err;
    }
    build(py, e.code(), e.message(), e.status(), e.is_transient(), e.conformance_code(), Some(extra))
}

/// `InvalidArgumentError` raised before any I/O (bad option values in the binding).
pub fn invalid_argument(py: Python<'_>, field: &str, message: impl Into<String>) -> PyErr {
    let extra = PyDict::new(py);
    let _ = extra.set_item("field", field);
    build(py, "INVALID_ARGUMENT", &message.into(), None, false, "INVALID_ARGUMENT", Some(extra))
}

/// The core error for a failed Python callback (dynamic header/param callable, consumer
/// handler): `ErrorKind::Callback` with the Python exception as its source, so that the
/// original exception is re-raised when the error reaches Python.
pub fn callback_error(what: &str, err: PyErr) -> Error {
    let text =
        Python::attach(|py| err.value(py).repr().map(|r| r.to_string()).unwrap_or_else(|_| "<exception>".to_string()));
    Error::callback(format!("{what} raised {text}")).with_source(err)
}

/// The Python exception carried by a callback error, if it still has its source (a
/// producer's shared errors are clones, whose sources are flattened into the message).
fn original_exception(py: Python<'_>, e: &Error) -> Option<PyErr> {
    if !matches!(e.kind(), ErrorKind::Callback) {
        return None;
    }
    std::error::Error::source(e).and_then(|s| s.downcast_ref::<PyErr>()).map(|p| p.clone_ref(py))
}

//! Core errors → the exception classes of `durable_streams_sdk.errors`.
//!
//! The core flattens an error into an [`ErrorInfo`] (names and units shared by every
//! binding, options spelled the Python way); this module hands that record (a dict)
//! to `errors._from_native`, which picks the class from the code.

use durable_streams_sdk::ffi::{ErrorInfo, Naming};
use durable_streams_sdk::{Error, ErrorKind};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::convert::record_dict;

/// Everything that can fail in the binding, converted to a Python exception only
/// where the GIL is held.
pub enum Failure {
    Core(Error),
    Py(PyErr),
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

/// A Python exception raised by a dynamic header/param callable: reported as
/// `CallbackFailedError` with the original as its `__cause__`.
#[derive(Debug)]
pub struct Raised(pub PyErr);

impl std::fmt::Display for Raised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Raised {}

/// The Python exception for a core error.
pub fn core_error(py: Python<'_>, e: &Error) -> PyErr {
    let source = std::error::Error::source(e);
    // A consumer handler's own exception is raised again as it was.
    if let Some(original) = source.and_then(|s| s.downcast_ref::<PyErr>()) {
        return original.clone_ref(py);
    }
    let build = || -> PyResult<PyErr> {
        let record = record_dict(py, &ErrorInfo::new(e, Naming::SnakeSeconds))?;
        let exc = from_native(py)?.call1((record,))?;
        if let Some(Raised(original)) = source.and_then(|s| s.downcast_ref::<Raised>()) {
            exc.setattr("__cause__", original.value(py))?;
        }
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|e| e)
}

/// `InvalidArgumentError` for a value rejected by the binding; `field` in the core's
/// spelling (respelled the Python way like every other option error).
pub fn invalid_argument(py: Python<'_>, field: &'static str, why: impl std::fmt::Display) -> PyErr {
    core_error(py, &Error::invalid_argument(field, why))
}

/// A consumer handler failed: its exception is raised again as it was.
pub fn handler_error(what: &str, err: PyErr) -> Error {
    Error::callback(format!("{what} raised {}", describe(&err))).with_source(err)
}

/// A dynamic header/param callable failed: `CallbackFailedError` caused by `err`.
pub fn callback_error(what: &str, err: PyErr) -> Error {
    Error::callback(format!("{what} raised {}", describe(&err))).with_source(Raised(err))
}

fn describe(err: &PyErr) -> String {
    Python::attach(|py| err.value(py).repr().map(|r| r.to_string()).unwrap_or_else(|_| "<exception>".to_string()))
}

/// The error for a Rust panic caught at the boundary (the core's, as in every binding).
pub use durable_streams_sdk::ffi::panic_error;

/// A failure of the binding's own making, as a core error of `kind`.
pub fn state(kind: ErrorKind, message: impl Into<String>) -> Failure {
    Failure::Core(Error::new(kind, message))
}

/// Using an object the wrong way (e.g. two iterations of one consumer at once).
pub fn misuse(message: impl Into<String>) -> Failure {
    state(ErrorKind::InvalidArgument { field: "self" }, message)
}

//! JSON through Python's own (C-accelerated) `json` module, so values round-trip
//! exactly as Python users expect (ints stay ints, floats stay floats).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict};

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

/// Compact JSON text of `value` (`TypeError`/`ValueError` if it is not serialisable).
pub fn dumps(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<String> {
    let j = json(py)?;
    j.encode.bind(py).call1((value,))?.extract()
}

/// Decode JSON text.
pub fn loads<'py>(py: Python<'py>, text: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let j = json(py)?;
    j.loads.bind(py).call1((PyBytes::new(py, text),))
}

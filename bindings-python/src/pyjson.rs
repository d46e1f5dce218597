//! JSON through Python's own (C-accelerated) `json` module, so values round-trip
//! exactly as Python users expect (ints stay ints, floats stay floats).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict};

struct Json {
    dumps: Py<PyAny>,
    loads: Py<PyAny>,
    kwargs: Py<PyDict>,
}

fn json(py: Python<'_>) -> PyResult<&Json> {
    static J: PyOnceLock<Json> = PyOnceLock::new();
    J.get_or_try_init(py, || -> PyResult<Json> {
        let m = py.import("json")?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("separators", (",", ":"))?;
        kwargs.set_item("ensure_ascii", false)?;
        kwargs.set_item("allow_nan", false)?;
        Ok(Json { dumps: m.getattr("dumps")?.unbind(), loads: m.getattr("loads")?.unbind(), kwargs: kwargs.unbind() })
    })
}

/// Compact JSON text of `value` (`TypeError`/`ValueError` if it is not serialisable).
pub fn dumps(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<String> {
    let j = json(py)?;
    j.dumps.bind(py).call((value,), Some(j.kwargs.bind(py)))?.extract()
}

/// Decode JSON text.
pub fn loads<'py>(py: Python<'py>, text: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let j = json(py)?;
    j.loads.bind(py).call1((PyBytes::new(py, text),))
}

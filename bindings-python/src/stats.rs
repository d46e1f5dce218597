//! The core's producer statistics (`core/src/stats.rs`) as a Python dict.

use durable_streams_sdk::stats::ProducerStats;
use pyo3::prelude::*;
use pyo3::types::PyDict;

pub fn producer_stats<'py>(py: Python<'py>, s: &ProducerStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in [
        ("messages_enqueued", s.messages_enqueued),
        ("messages_sent", s.messages_sent),
        ("bytes_sent", s.bytes_sent),
        ("messages_acked", s.messages_acked),
        ("bytes_acked", s.bytes_acked),
        ("batches", s.batches),
        ("requests", s.requests),
        ("retries", s.retries),
        ("sequence_gaps", s.sequence_gaps),
        ("in_flight", s.in_flight),
        ("buffered_bytes", s.buffered_bytes),
    ] {
        d.set_item(k, v)?;
    }
    d.set_item("last_error", s.last_error.as_deref())?;
    Ok(d)
}

//! The core's producer and consumer statistics (`core/src/stats.rs`) as Python dicts
//! (typed by `durable_streams_sdk.stats`).

use durable_streams_sdk::stats::{ConsumerStats, ProducerStats};
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

pub fn consumer_stats<'py>(py: Python<'py>, s: &ConsumerStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("batches", s.batches)?;
    d.set_item("bytes", s.bytes)?;
    d.set_item("reconnects", s.reconnects)?;
    d.set_item("checkpoint", &s.checkpoint)?;
    d.set_item("last_error", s.last_error.as_deref())?;
    Ok(d)
}

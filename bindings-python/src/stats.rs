//! The core's producer and consumer statistics (`core/src/stats.rs`) as Python dicts
//! (typed by `durable_streams_sdk.stats`): the core's record, keys as they are.

use durable_streams_sdk::stats::{ConsumerStats, ProducerStats};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::record_dict;

pub fn producer_stats<'py>(py: Python<'py>, s: &ProducerStats) -> PyResult<Bound<'py, PyDict>> {
    record_dict(py, s)
}

pub fn consumer_stats<'py>(py: Python<'py>, s: &ConsumerStats) -> PyResult<Bound<'py, PyDict>> {
    record_dict(py, s)
}

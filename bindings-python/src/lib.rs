//! `durable_streams_sdk._native`: the pyo3 extension behind the `durable_streams_sdk`
//! Python package. It converts types, maps errors and adapts blocking calls, asyncio
//! awaitables, iterators and callbacks to Python; all protocol logic is in the core.

mod aio_future;
mod aio_wait;
mod client;
mod consumer;
mod convert;
mod errors;
mod logging;
mod producer;
mod read;
mod rt;
mod stats;
mod stream;
mod wake;

use pyo3::prelude::*;

/// The core's error table as JSON (a list of `{code, name, parent, details, doc}`):
/// what `durable_streams_sdk.errors` is checked against.
#[pyfunction]
fn error_table_json() -> String {
    durable_streams_sdk::ffi::error_table_json()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(error_table_json, m)?)?;
    m.add_class::<client::RetryOptions>()?;
    m.add_class::<client::Client>()?;
    m.add_class::<client::AsyncClient>()?;
    m.add_class::<stream::Stream>()?;
    m.add_class::<stream::AsyncStream>()?;
    m.add_class::<convert::CreateResult>()?;
    m.add_class::<convert::AppendResult>()?;
    m.add_class::<convert::CloseResult>()?;
    m.add_class::<convert::StreamMetadata>()?;
    m.add_class::<read::Chunk>()?;
    m.add_class::<read::ReadSession>()?;
    m.add_class::<read::AsyncReadSession>()?;
    m.add_class::<read::JsonIterator>()?;
    m.add_class::<producer::Producer>()?;
    m.add_class::<producer::AsyncProducer>()?;
    m.add_class::<producer::AppendAck>()?;
    m.add_class::<producer::Acked>()?;
    m.add_class::<consumer::ConsumerRunner>()?;
    m.add_class::<consumer::ConsumerEvent>()?;
    m.add_class::<consumer::ConsumerResult>()?;
    m.add_class::<rt::Ready>()?;
    m.add_class::<aio_wait::Pending>()?;
    #[cfg(unix)]
    m.add_class::<wake::Notifier>()?;
    logging::register(m)?;
    Ok(())
}

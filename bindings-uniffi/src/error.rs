//! The error that crosses the boundary: one variant carrying the core's flat
//! `ffi::ErrorInfo`. The Kotlin and Swift layers turn it into their class hierarchy
//! (built from the same error table).

use durable_streams_sdk::ffi::{ErrorInfo, Naming};
use durable_streams_sdk::Error;

/// `ffi::ErrorInfo` as a UniFFI record (detail names as in the error table).
#[derive(Debug, Clone, uniffi::Record)]
pub struct ErrorDetails {
    pub code: String,
    /// Class name stem from the error table, e.g. `StreamClosed`.
    pub class_name: String,
    /// The code in the conformance adapter protocol's vocabulary.
    pub conformance_code: String,
    pub message: String,
    pub status: Option<u16>,
    pub transient: bool,
    pub next_offset: Option<String>,
    pub earliest_offset: Option<String>,
    pub current_epoch: Option<u64>,
    pub expected_seq: Option<u64>,
    pub received_seq: Option<u64>,
    pub retry_after_ms: Option<u64>,
    pub field: Option<String>,
    pub server_message: Option<String>,
    pub cause: Option<String>,
}

#[derive(Debug, uniffi::Error)]
pub enum FfiError {
    Failure { details: ErrorDetails },
}

impl std::fmt::Display for FfiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let FfiError::Failure { details } = self;
        f.write_str(&details.message)
    }
}

impl std::error::Error for FfiError {}

impl From<ErrorInfo> for ErrorDetails {
    fn from(i: ErrorInfo) -> Self {
        ErrorDetails {
            code: i.code.into(),
            class_name: i.class.into(),
            conformance_code: i.conformance_code.into(),
            message: i.message,
            status: i.status,
            transient: i.transient,
            next_offset: i.next_offset,
            earliest_offset: i.earliest_offset,
            current_epoch: i.current_epoch,
            expected_seq: i.expected_seq,
            received_seq: i.received_seq,
            retry_after_ms: i.retry_after_ms,
            field: i.field,
            server_message: i.server_message,
            cause: i.cause.map(str::to_string),
        }
    }
}

impl From<&Error> for ErrorDetails {
    fn from(e: &Error) -> Self {
        ErrorInfo::new(e, Naming::Camel).into()
    }
}

impl From<Error> for FfiError {
    fn from(e: Error) -> Self {
        FfiError::Failure { details: (&e).into() }
    }
}

/// A foreign callback threw something that is not an `FfiError`.
impl From<uniffi::UnexpectedUniFFICallbackError> for FfiError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Error::callback(format!("callback failed: {}", e.reason)).into()
    }
}

/// An error raised by application code (a foreign callback), back into the core.
pub(crate) fn into_core(e: FfiError) -> Error {
    let FfiError::Failure { details } = e;
    Error::callback(details.message)
}

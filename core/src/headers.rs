//! Protocol header names and values computed per request.

use std::future::Future;
use std::pin::Pin;

use crate::error::Result;

pub(crate) const STREAM_NEXT_OFFSET: &str = "stream-next-offset";
pub(crate) const STREAM_UP_TO_DATE: &str = "stream-up-to-date";
pub(crate) const STREAM_CLOSED: &str = "stream-closed";
pub(crate) const STREAM_CURSOR: &str = "stream-cursor";
pub(crate) const STREAM_TTL: &str = "stream-ttl";
pub(crate) const STREAM_EXPIRES_AT: &str = "stream-expires-at";
pub(crate) const STREAM_SEQ: &str = "stream-seq";
pub(crate) const STREAM_FORKED_FROM: &str = "stream-forked-from";
pub(crate) const STREAM_FORK_OFFSET: &str = "stream-fork-offset";
pub(crate) const STREAM_FORK_SUB_OFFSET: &str = "stream-fork-sub-offset";
pub(crate) const SSE_DATA_ENCODING: &str = "stream-sse-data-encoding";
pub(crate) const PRODUCER_ID: &str = "producer-id";
pub(crate) const PRODUCER_EPOCH: &str = "producer-epoch";
pub(crate) const PRODUCER_SEQ: &str = "producer-seq";
pub(crate) const PRODUCER_EXPECTED_SEQ: &str = "producer-expected-seq";
pub(crate) const PRODUCER_RECEIVED_SEQ: &str = "producer-received-seq";

/// Boxed future used by object-safe async callbacks.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A header or query-parameter value computed afresh for every request, including
/// retries and reconnects (refreshed tokens, correlation ids).
///
/// Any `Fn() -> impl Future<Output = Result<String>>` closure implements it; bindings
/// implement it to call back into their language.
pub trait ValueProvider: Send + Sync + 'static {
    fn value(&self) -> BoxFuture<'_, Result<String>>;
}

impl<F, Fut> ValueProvider for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<String>> + Send + 'static,
{
    fn value(&self) -> BoxFuture<'_, Result<String>> {
        Box::pin(self())
    }
}

/// `Stream-Closed` and `Stream-Up-To-Date` count only with the value `true`
/// (case-insensitive); anything else is as if absent.
pub(crate) fn is_true(value: Option<&reqwest::header::HeaderValue>) -> bool {
    value.and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

pub(crate) fn get_str<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub(crate) fn get_u64(headers: &reqwest::header::HeaderMap, name: &str) -> Option<u64> {
    get_str(headers, name).and_then(|v| v.trim().parse().ok())
}

/// Media type of a content type, lowercased, parameters dropped.
pub(crate) fn media_type(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// JSON mode applies to `application/json` streams only.
pub(crate) fn is_json(content_type: &str) -> bool {
    media_type(content_type) == "application/json"
}

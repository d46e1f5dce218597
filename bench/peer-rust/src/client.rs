//! Upstream's `Client`, reduced to what its other modules use: a reqwest client with
//! upstream's pool settings (the same in every stored version), no default headers.

use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::stream::DurableStream;

#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) inner: reqwest::Client,
}

impl Client {
    pub fn new() -> Client {
        let inner = reqwest::Client::builder()
            .pool_max_idle_per_host(10)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .expect("http client");
        Client { inner }
    }

    /// A handle for the stream at `url` (no request is made).
    pub fn stream(&self, url: &str) -> DurableStream {
        DurableStream { url: url.to_string(), client: self.clone(), content_type: None }
    }

    /// Headers added to every request: none in the benchmark.
    pub(crate) fn get_headers(&self) -> HeaderMap {
        HeaderMap::new()
    }
}

impl Default for Client {
    fn default() -> Client {
        Client::new()
    }
}

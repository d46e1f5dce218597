use std::time::Duration;

use crate::producer::ProducerBuilder;

pub(crate) const HEADER_CONTENT_TYPE: &str = "content-type";
pub(crate) const HEADER_STREAM_OFFSET: &str = "stream-next-offset";
pub(crate) const HEADER_PRODUCER_ID: &str = "producer-id";
pub(crate) const HEADER_PRODUCER_EPOCH: &str = "producer-epoch";
pub(crate) const HEADER_PRODUCER_SEQ: &str = "producer-seq";
pub(crate) const HEADER_PRODUCER_EXPECTED_SEQ: &str = "producer-expected-seq";

/// Upstream's `Client`: a reqwest client with upstream's pool settings.
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

    pub fn http(&self) -> &reqwest::Client {
        &self.inner
    }
}

#[derive(Clone, Debug)]
pub struct DurableStream {
    pub(crate) url: String,
    pub(crate) client: Client,
    pub(crate) content_type: Option<String>,
}

impl DurableStream {
    pub fn new(client: &Client, url: &str, content_type: &str) -> DurableStream {
        DurableStream { url: url.to_string(), client: client.clone(), content_type: Some(content_type.to_string()) }
    }

    pub fn producer(&self, id: impl Into<String>) -> ProducerBuilder {
        ProducerBuilder::new(self.clone(), id.into())
    }
}

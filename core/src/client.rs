//! The client: base URL, connection pool, default and dynamic headers, retries.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use url::Url;

use crate::error::{Error, ErrorKind, Result};
use crate::headers::ValueProvider;
use crate::retry::{AppendRetry, RetryPolicy, parse_retry_after};
use crate::stream::Stream;

/// Entry point: holds the connection pool and the settings shared by every stream handle.
/// Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<ClientInner>,
}

pub(crate) struct ClientInner {
    /// The connection pool of the current process. Pooled connections are driven by
    /// tasks of the runtime that opened them; a forked child has neither, so it
    /// builds its own pool (see [`crate::runtime`]).
    http: std::sync::Mutex<(u64, reqwest::Client)>,
    http_config: HttpConfig,
    pub(crate) base: String,
    pub(crate) default_headers: HeaderMap,
    /// (name as the caller spelled it, parsed name, provider)
    pub(crate) dynamic_headers: Vec<(String, HeaderName, Arc<dyn ValueProvider>)>,
    pub(crate) dynamic_params: Vec<(String, Arc<dyn ValueProvider>)>,
    pub(crate) retry: RetryPolicy,
    pub(crate) request_timeout: Duration,
    pub(crate) live_idle_timeout: Duration,
    /// Producers, reads and consumers end when the client closes ([`Client::close`]).
    pub(crate) owned: crate::owned::Owned,
}

/// Default of [`ClientBuilder::connect_timeout`].
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Configures a [`Client`].
pub struct ClientBuilder {
    base_url: String,
    default_headers: Vec<(String, String)>,
    dynamic_headers: Vec<(String, Arc<dyn ValueProvider>)>,
    dynamic_params: Vec<(String, Arc<dyn ValueProvider>)>,
    retry: RetryPolicy,
    connect_timeout: Duration,
    request_timeout: Duration,
    live_idle_timeout: Duration,
    pool_idle_timeout: Duration,
    compression: bool,
}

impl ClientBuilder {
    pub fn new(base_url: impl Into<String>) -> Self {
        ClientBuilder {
            base_url: base_url.into(),
            default_headers: Vec::new(),
            dynamic_headers: Vec::new(),
            dynamic_params: Vec::new(),
            retry: RetryPolicy::default(),
            // Short: an address that does not answer should fail in seconds, not in a
            // minute (a reachable server completes a TCP/TLS handshake far faster).
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: Duration::from_secs(30),
            live_idle_timeout: Duration::from_secs(90),
            pool_idle_timeout: Duration::from_secs(90),
            compression: true,
        }
    }

    /// A header sent on every request (e.g. a static `Authorization`).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.default_headers.push((name.into(), value.into()));
        self
    }

    /// A header whose value is computed on every request, retries and reconnects included.
    pub fn dynamic_header(mut self, name: impl Into<String>, provider: impl ValueProvider) -> Self {
        self.dynamic_headers.push((name.into(), Arc::new(provider)));
        self
    }

    /// Like [`ClientBuilder::dynamic_header`], for an already shared provider.
    pub fn dynamic_header_arc(mut self, name: impl Into<String>, provider: Arc<dyn ValueProvider>) -> Self {
        self.dynamic_headers.push((name.into(), provider));
        self
    }

    /// A query parameter whose value is computed on every request.
    pub fn dynamic_param(mut self, name: impl Into<String>, provider: impl ValueProvider) -> Self {
        self.dynamic_params.push((name.into(), Arc::new(provider)));
        self
    }

    pub fn dynamic_param_arc(mut self, name: impl Into<String>, provider: Arc<dyn ValueProvider>) -> Self {
        self.dynamic_params.push((name.into(), provider));
        self
    }

    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Longest wait for a connection (TCP and TLS handshakes), default 5 s. A request
    /// whose connection timed out is not retried: the kernel has already repeated the
    /// handshake within that time, so retrying would only multiply the wait.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Deadline for one whole request/response of a non-read operation (create, append,
    /// close, delete, head). Reads are never cut by it: they use the idle timeout.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long a read may go without receiving a single byte before the connection is
    /// considered dead and re-established. Must exceed the server's long-poll timeout
    /// and SSE keep-alive interval; a healthy SSE body is never cut.
    pub fn live_idle_timeout(mut self, timeout: Duration) -> Self {
        self.live_idle_timeout = timeout;
        self
    }

    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool_idle_timeout = timeout;
        self
    }

    /// Ask for gzip/deflate-compressed responses (on by default).
    pub fn compression(mut self, enabled: bool) -> Self {
        self.compression = enabled;
        self
    }

    pub fn build(self) -> Result<Client> {
        let base = parse_base_url(&self.base_url)?;
        let mut default_headers = HeaderMap::new();
        for (name, value) in &self.default_headers {
            let (n, v) = header_pair(name, value)?;
            default_headers.append(n, v);
        }
        let mut dynamic_headers = Vec::with_capacity(self.dynamic_headers.len());
        for (name, provider) in self.dynamic_headers {
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::invalid_argument("headers", format!("{name:?} is not a valid header name")))?;
            dynamic_headers.push((name, n, provider));
        }
        for (name, _) in &self.dynamic_params {
            if name.is_empty() {
                return Err(Error::invalid_argument("params", "parameter name must not be empty"));
            }
        }
        if self.live_idle_timeout.is_zero() || self.request_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(Error::invalid_argument("timeout", "must be > 0"));
        }
        let http_config = HttpConfig {
            connect_timeout: self.connect_timeout,
            pool_idle_timeout: self.pool_idle_timeout,
            compression: self.compression,
        };
        let http = http_config.build()?;
        Ok(Client {
            inner: Arc::new(ClientInner {
                http: std::sync::Mutex::new((crate::runtime::fork_generation(), http)),
                http_config,
                base,
                default_headers,
                dynamic_headers,
                dynamic_params: self.dynamic_params,
                retry: self.retry,
                request_timeout: self.request_timeout,
                live_idle_timeout: self.live_idle_timeout,
                owned: crate::owned::Owned::new(),
            }),
        })
    }
}

impl Client {
    /// A client with default settings.
    pub fn new(base_url: impl Into<String>) -> Result<Client> {
        ClientBuilder::new(base_url).build()
    }

    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(base_url)
    }

    /// A handle on the stream at `path` below the base URL. No I/O happens until it is used.
    pub fn stream(&self, path: &str) -> Result<Stream> {
        self.inner.owned.check()?;
        let url = stream_url(&self.inner.base, path)?;
        Ok(Stream::new(self.clone(), url))
    }

    /// Close the client, for every clone and every stream made from it: later operations
    /// fail with `CLOSED`, reads in progress end (a pull consumer with them), pushed
    /// consumers stop, producers flush and detach; resolves when the producers have.
    /// The client is closed as soon as this is called (before the future is awaited), and
    /// the flush goes on if the future is dropped. Closing again waits for the same flush.
    pub fn close(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.inner.owned.close()
    }

    /// Whether [`Client::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.owned.is_closed()
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }
}

#[derive(Debug, Clone)]
struct HttpConfig {
    connect_timeout: Duration,
    pool_idle_timeout: Duration,
    compression: bool,
}

impl HttpConfig {
    fn build(&self) -> Result<reqwest::Client> {
        // ring is the one crypto provider we link (no aws-lc, no system OpenSSL). If the
        // application installed another provider first, that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .pool_idle_timeout(self.pool_idle_timeout)
            .tcp_nodelay(true)
            .gzip(self.compression)
            .deflate(self.compression)
            .user_agent(concat!("durable-streams-sdk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::new(ErrorKind::InvalidArgument { field: "client" }, "cannot build HTTP client").with_source(e))
    }
}

fn parse_base_url(raw: &str) -> Result<String> {
    let url = Url::parse(raw.trim())
        .map_err(|e| Error::invalid_argument("baseUrl", format!("{raw:?} is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::invalid_argument("baseUrl", format!("{raw:?}: scheme must be http or https")));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::invalid_argument("baseUrl", format!("{raw:?} has no host")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::invalid_argument("baseUrl", format!("{raw:?} must not have a query or fragment")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid_argument(
            "baseUrl",
            "credentials in the URL are refused; send them in an Authorization header",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// The stream URL is the base URL followed by the path, verbatim.
fn stream_url(base: &str, path: &str) -> Result<Url> {
    let trimmed = path.trim_start_matches('/');
    if trimmed.is_empty() {
        return Err(Error::invalid_argument("path", "must name a stream (got an empty path)"));
    }
    if let Some(c) = path.chars().find(|c| matches!(c, '?' | '#') || c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid_argument("path", format!("{path:?} contains forbidden character {c:?}")));
    }
    let segments: Vec<&str> = trimmed.split('/').collect();
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return Err(Error::invalid_argument("path", format!("{path:?} contains a '.' or '..' segment")));
    }
    if segments.first() == Some(&"__ds") {
        return Err(Error::invalid_argument("path", "the __ds namespace is reserved for control APIs"));
    }
    let full = format!("{base}/{trimmed}");
    Url::parse(&full).map_err(|e| Error::invalid_argument("path", format!("{path:?} does not form a URL ({e})")))
}

pub(crate) fn header_pair(name: &str, value: &str) -> Result<(HeaderName, HeaderValue)> {
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Error::invalid_argument("headers", format!("{name:?} is not a valid header name")))?;
    let v = HeaderValue::from_str(value)
        .map_err(|_| Error::invalid_argument("headers", format!("value of {name:?} is not a valid header value")))?;
    Ok((n, v))
}

/// Which failures of a request may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// Safe to repeat (GET, HEAD, PUT, DELETE, close-only and producer POSTs).
    Safe,
    /// Plain append: governed by [`AppendRetry`].
    PlainAppend,
}

/// One logical request; re-sent verbatim (with fresh dynamic values) on retry.
pub(crate) struct Request<'a> {
    pub method: Method,
    pub url: &'a Url,
    pub query: Vec<(&'static str, String)>,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
    pub repeat: Repeat,
    /// `None`: a read; no total deadline, the caller enforces idle timeouts.
    pub timeout: Option<Duration>,
}

/// What was actually sent on the last attempt (dynamic values are only known then).
#[derive(Debug, Clone, Default)]
pub struct SentValues {
    pub headers: Vec<(String, String)>,
    pub params: Vec<(String, String)>,
}

impl SentValues {
    /// Headers and query parameters as the maps every binding hands out.
    pub fn into_maps(self) -> (HashMap<String, String>, HashMap<String, String>) {
        (self.headers.into_iter().collect(), self.params.into_iter().collect())
    }
}

pub(crate) enum Outcome {
    Response(Response),
    /// `connect_failed`: the request never left this machine, so repeating it is safe.
    Failed { error: Error, connect_failed: bool },
}

impl Outcome {
    /// Why it may be repeated, for the retry log line (a status or an error code).
    fn reason(&self) -> String {
        match self {
            Outcome::Response(r) => crate::trace::reason_of_status(r.status().as_u16()),
            Outcome::Failed { error, .. } => crate::trace::reason_of_error(error),
        }
    }
}

impl ClientInner {
    /// The pool for this process (rebuilt once in a forked child).
    fn http(&self) -> Result<reqwest::Client> {
        let generation = crate::runtime::fork_generation();
        let mut guard = self.http.lock().unwrap_or_else(|p| p.into_inner());
        if guard.0 != generation {
            *guard = (generation, self.http_config.build()?);
        }
        Ok(guard.1.clone())
    }

    /// Send with retries. Returns the final response whatever its status (the caller
    /// maps statuses to errors in the context of its operation) or a transport error.
    pub(crate) async fn send(&self, req: &Request<'_>, sent: Option<&mut SentValues>) -> Result<Response> {
        let mut retry = 0u32;
        let mut sent = sent;
        loop {
            let outcome = self.attempt(req, sent.as_deref_mut()).await?;
            let (retryable, retry_after) = self.classify(req, &outcome);
            if !retryable || retry >= self.retry.max_retries {
                return match outcome {
                    Outcome::Response(r) => Ok(r),
                    Outcome::Failed { error, .. } => Err(error),
                };
            }
            let delay = self.retry.backoff(retry, retry_after);
            crate::trace::retry(req.method.as_str(), req.url.path(), retry + 1, &outcome.reason(), delay);
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }

    pub(crate) async fn attempt(&self, req: &Request<'_>, sent: Option<&mut SentValues>) -> Result<Outcome> {
        self.attempt_with(req, sent, None).await
    }

    /// [`ClientInner::attempt`] with `body` sent instead of `req.body` (the producer's
    /// body that reports when the connection takes it).
    pub(crate) async fn attempt_with(
        &self,
        req: &Request<'_>,
        sent: Option<&mut SentValues>,
        body: Option<reqwest::Body>,
    ) -> Result<Outcome> {
        let mut url = req.url.clone();
        let mut params: Vec<(String, String)> = req.query.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect();
        let mut dyn_params = Vec::new();
        for (name, provider) in &self.dynamic_params {
            let v = provider.value().await?;
            dyn_params.push((name.clone(), v.clone()));
            params.push((name.clone(), v));
        }
        // Lexicographic key order lets CDNs collapse identical requests.
        params.sort_by(|a, b| a.0.cmp(&b.0));
        if !params.is_empty() {
            url.query_pairs_mut().extend_pairs(params.iter());
        }
        let mut headers = self.default_headers.clone();
        let mut dyn_headers = Vec::new();
        for (spelling, name, provider) in &self.dynamic_headers {
            let v = provider.value().await?;
            let hv = HeaderValue::from_str(&v).map_err(|_| {
                Error::invalid_argument("headers", format!("dynamic value of {spelling} is not a valid header value"))
            })?;
            dyn_headers.push((spelling.clone(), v));
            headers.insert(name.clone(), hv);
        }
        // Per-request headers win over dynamic and default ones.
        for (name, value) in &req.headers {
            headers.insert(name.clone(), value.clone());
        }
        if let Some(sent) = sent {
            sent.headers = dyn_headers;
            sent.params = dyn_params;
        }
        let mut builder = self.http()?.request(req.method.clone(), url).headers(headers);
        if let Some(t) = req.timeout {
            builder = builder.timeout(t);
        }
        if let Some(body) = body {
            builder = builder.body(body);
        } else if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        let started = std::time::Instant::now();
        let outcome = match builder.send().await {
            Ok(r) => Outcome::Response(r),
            Err(e) if e.is_connect() && e.is_timeout() => {
                Outcome::Failed { connect_failed: true, error: connect_timeout_error(e, req.url, self.http_config.connect_timeout) }
            }
            Err(e) => Outcome::Failed { connect_failed: e.is_connect(), error: transport_error(e, req.url) },
        };
        let status = match &outcome {
            Outcome::Response(r) => Ok(r.status().as_u16()),
            Outcome::Failed { error, .. } => Err(error),
        };
        crate::trace::request(req.method.as_str(), req.url.path(), status, started.elapsed());
        Ok(outcome)
    }

    fn classify(&self, req: &Request<'_>, outcome: &Outcome) -> (bool, Option<Duration>) {
        let at_least_once = req.repeat == Repeat::Safe || self.retry.append_retry == AppendRetry::AtLeastOnce;
        match outcome {
            Outcome::Response(r) => {
                let s = r.status();
                let retry_after = r
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                let unprocessed = s == StatusCode::TOO_MANY_REQUESTS || s == StatusCode::SERVICE_UNAVAILABLE;
                let retryable = unprocessed || (s.is_server_error() && s != StatusCode::NOT_IMPLEMENTED && at_least_once);
                (retryable, retry_after)
            }
            // A connect timeout already waited out the kernel's own handshake retries.
            Outcome::Failed { error, .. } if error.cause() == Some("connect_timeout") => (false, None),
            Outcome::Failed { error, connect_failed } => {
                (error.is_transient() && (at_least_once || *connect_failed), None)
            }
        }
    }
}

pub(crate) fn transport_error(e: reqwest::Error, url: &Url) -> Error {
    let cause = network_cause(&e);
    let why = cause_text(cause);
    let err = if e.is_timeout() && e.is_connect() {
        Error::new(ErrorKind::Timeout, format!("cannot connect to {url}: timed out (connect timeout)"))
    } else if e.is_timeout() {
        Error::new(ErrorKind::Timeout, format!("request to {url} timed out"))
    } else if e.is_connect() {
        Error::new(ErrorKind::Network, format!("cannot connect to {url}: {why}"))
    } else if e.is_decode() && cause == "other" {
        // reqwest reports any failure while a body is read as a decoding error, a
        // connection reset mid-body included: only one with no network cause in its
        // chain is a body that cannot be decoded (the rest is transient, retried).
        Error::new(ErrorKind::MalformedResponse, format!("cannot decode response from {url}"))
    } else {
        Error::new(ErrorKind::Network, format!("request to {url} failed: {why}"))
    };
    // reqwest's own text names the URL it sent, query included (dynamic params may be tokens).
    err.with_cause(cause).with_source(e.without_url())
}

/// A connection that did not come up in time: how long was waited, and that the request
/// was not repeated (see [`ClientBuilder::connect_timeout`]).
fn connect_timeout_error(e: reqwest::Error, url: &Url, after: Duration) -> Error {
    let why = format!("no answer within {} (connect timeout; not retried)", crate::error::human_duration(after));
    Error::new(ErrorKind::Timeout, format!("cannot connect to {url}: {why}"))
        .with_cause("connect_timeout")
        .with_source(e.without_url())
}

/// What a transport failure was, from the innermost error that says so: users need
/// "connection refused" vs "DNS" vs "TLS" to know where to look.
fn network_cause(e: &reqwest::Error) -> &'static str {
    use std::io::ErrorKind as Io;
    if e.is_timeout() {
        return if e.is_connect() { "connect_timeout" } else { "timeout" };
    }
    let mut text = String::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                Io::ConnectionRefused => return "connection_refused",
                Io::ConnectionReset | Io::ConnectionAborted | Io::BrokenPipe | Io::UnexpectedEof => return "reset",
                Io::TimedOut => return "timeout",
                _ => {}
            }
        }
        text.push_str(&err.to_string().to_ascii_lowercase());
        text.push('\n');
        next = err.source();
    }
    if text.contains("dns") || text.contains("failed to lookup") || text.contains("name or service not known") {
        "dns"
    } else if text.contains("tls") || text.contains("certificate") || text.contains("handshake") {
        "tls"
    } else if text.contains("connection refused") {
        "connection_refused"
    } else if text.contains("reset") || text.contains("closed before message completed") || text.contains("broken pipe") {
        "reset"
    } else {
        "other"
    }
}

fn cause_text(cause: &str) -> &'static str {
    match cause {
        "connection_refused" => "connection refused",
        "dns" => "the host name could not be resolved (DNS)",
        "reset" => "the connection was reset or closed early",
        "tls" => "TLS handshake or certificate failure",
        "timeout" | "connect_timeout" => "timed out",
        _ => "network error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_validation() {
        for bad in ["", "not a url", "ftp://x", "http://", "http://h/?q=1", "http://u:p@h/", "/relative"] {
            let err = Client::new(bad).err().unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert_eq!(err.code(), "INVALID_ARGUMENT", "{bad:?}");
        }
        let c = Client::new("http://127.0.0.1:1/v1/stream/").unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:1/v1/stream");
    }

    #[test]
    fn stream_paths() {
        let base = "http://h:1/root";
        assert_eq!(stream_url(base, "/a/b").unwrap().as_str(), "http://h:1/root/a/b");
        assert_eq!(stream_url(base, "a").unwrap().as_str(), "http://h:1/root/a");
        for bad in ["", "/", "a?b", "a#b", "a b", "/../x", "/a/./b", "/__ds/subscriptions/x", "a\u{7}"] {
            let err = stream_url(base, bad).unwrap_err();
            assert_eq!(err.code(), "INVALID_ARGUMENT", "{bad:?}");
            assert!(err.message().contains("path"));
        }
    }
}

//! Shared helpers of the core's integration tests.
//!
//! - [`server`]: the reference Durable Streams server (`tests/server/ref-server.mjs`),
//!   started once per test binary and shared by its tests. It exits by itself when
//!   this process ends (its stdin, a pipe we hold, reaches EOF).
//! - [`fresh_path`]: a stream path no other test uses.
//! - [`inject`] / [`disarm`]: the server's per-path fault injection.
//! - [`Mock`]: a minimal raw-bytes HTTP server, only for what no real server can be
//!   made to send (garbage, broken framing, missing headers, auth failures, 413).
#![allow(dead_code)]

pub mod chaos_proxy;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use durable_streams_sdk::{Client, ClientBuilder, RetryPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A running reference server. Killed when dropped.
pub struct RefServer {
    child: Mutex<Child>,
    pub url: String,
}

impl RefServer {
    /// Start a new server process (most tests share [`server`] instead).
    pub fn start() -> RefServer {
        let root = repo_root();
        let tests_dir = root.join("tests");
        if !tests_dir.join("node_modules").join("@durable-streams").join("server").is_dir() {
            panic!(
                "the reference server's dependencies are missing ({}): run `npm ci --prefix tests` in {} first",
                tests_dir.join("node_modules").display(),
                root.display()
            );
        }
        let script = tests_dir.join("server").join("ref-server.mjs");
        let stderr = if std::env::var_os("DS_SERVER_LOG").is_some() { Stdio::inherit() } else { Stdio::null() };
        let mut child = Command::new("node")
            .arg(&script)
            .env("DS_PORT", "0")
            .env_remove("DS_IGNORE_STDIN")
            .stdin(Stdio::piped()) // kept open: the server exits when it closes
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `node {}`: {e} (is Node.js >= 20 installed?)", script.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = tx.send(reader.read_line(&mut line).map(|_| line));
            // Keep draining so the server never sees a closed stdout.
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(line)) if line.trim().starts_with("http") => line,
            other => {
                let _ = child.kill();
                panic!("reference server did not print its URL: {other:?} (run with DS_SERVER_LOG=1 to see its log)");
            }
        };
        RefServer { child: Mutex::new(child), url: line.trim().to_string() }
    }
}

impl Drop for RefServer {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|p| p.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("core/ has a parent").to_path_buf()
}

/// The server shared by every test of this binary.
pub fn server() -> &'static RefServer {
    static SERVER: OnceLock<RefServer> = OnceLock::new();
    SERVER.get_or_init(RefServer::start)
}

pub fn base_url() -> String {
    server().url.clone()
}

/// A stream path unique to this test run: `/t/<name>-<random>`.
pub fn fresh_path(name: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("/t/{name}-{:08x}{}", fastrand::u32(..), N.fetch_add(1, Ordering::Relaxed))
}

/// Fast retries so fault tests stay quick.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 8,
        initial_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(200),
        ..RetryPolicy::default()
    }
}

pub fn builder() -> ClientBuilder {
    Client::builder(base_url()).retry_policy(fast_retry())
}

pub fn client() -> Client {
    builder().build().expect("client")
}

/// A client that counts its requests (every attempt, retries included) through a
/// dynamic header, `x-request-count`.
pub fn counting_client(b: ClientBuilder) -> (Client, Arc<AtomicU64>) {
    let n = Arc::new(AtomicU64::new(0));
    let c = n.clone();
    let client = b
        .dynamic_header("x-request-count", move || {
            let v = c.fetch_add(1, Ordering::SeqCst) + 1;
            async move { Ok(v.to_string()) }
        })
        .build()
        .expect("client");
    (client, n)
}

fn control_http() -> &'static reqwest::Client {
    static HTTP: OnceLock<reqwest::Client> = OnceLock::new();
    HTTP.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        // No transparent decompression: tests look at Content-Encoding themselves. No
        // pooled connections: each #[tokio::test] has its own runtime, and a connection
        // kept from a finished test's runtime fails with "runtime dropped the dispatch task".
        reqwest::Client::builder()
            .no_gzip()
            .no_deflate()
            .pool_max_idle_per_host(0)
            .build()
            .expect("control client")
    })
}

/// Arm a fault on `path` (`fault` is the JSON of `/_test/inject-error` without `path`).
/// Arming a path again replaces its fault.
pub async fn inject(path: &str, fault: serde_json::Value) {
    let mut body = fault;
    body["path"] = serde_json::Value::String(path.to_string());
    let resp = control_http()
        .post(format!("{}/_test/inject-error", base_url()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("inject-error request");
    assert_eq!(resp.status().as_u16(), 200, "inject-error refused {body}: {:?}", resp.text().await);
}

/// Disarm the fault of one path only. (`DELETE /_test/inject-error` would clear the
/// faults of every test running concurrently on the shared server.) The server keeps
/// one fault per path, so this replaces it with one whose method never matches.
pub async fn disarm(path: &str) {
    inject(path, serde_json::json!({"delayMs": 0, "count": 1, "method": "NO-SUCH-METHOD"})).await;
}

/// Raw GET against the reference server, for facts the SDK does not expose
/// (e.g. whether a response was compressed).
pub async fn raw_get(path_and_query: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut rb = control_http().get(format!("{}{}", base_url(), path_and_query));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb.send().await.expect("raw GET")
}

/// Minimal HTTP server on 127.0.0.1 that answers every request with bytes chosen by
/// `respond` (given the request head) and then closes the connection. Used only for
/// responses a conforming server never sends.
pub struct Mock {
    pub url: String,
    pub requests: Arc<AtomicUsize>,
    pub heads: Arc<Mutex<Vec<String>>>,
}

impl Mock {
    pub async fn start<F>(respond: F) -> Mock
    where
        F: Fn(&str) -> Vec<u8> + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind mock");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let respond = Arc::new(respond);
        let (r2, h2) = (requests.clone(), heads.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else { return };
                let (respond, requests, heads) = (respond.clone(), r2.clone(), h2.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut tmp = [0u8; 4096];
                    let head_end = loop {
                        if let Some(i) = find(&buf, b"\r\n\r\n") {
                            break i + 4;
                        }
                        match sock.read(&mut tmp).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&tmp[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let len = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.trim().eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        match sock.read(&mut tmp).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => buf.extend_from_slice(&tmp[..n]),
                        }
                    }
                    requests.fetch_add(1, Ordering::SeqCst);
                    heads.lock().unwrap().push(head.clone());
                    let out = respond(&head);
                    let _ = sock.write_all(&out).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Mock { url, requests, heads }
    }

    pub fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `HTTP/1.1 <status>` response with the given headers and body (adds
/// `content-length` and `connection: close`).
pub fn http_response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

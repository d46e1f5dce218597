//! Stalls and slow servers.
//!
//! 1. A server that accepts the connection and never answers: a raw TCP listener that
//!    reads nothing and writes nothing (a mock, since no real server can be made to do
//!    this). Every kind of request must end with a TIMEOUT error within the configured
//!    deadline, not the 30 s default and not never.
//! 2. A live SSE read whose server stops sending bytes mid-stream: the chaos proxy's
//!    `stall` fault in front of the reference server. The read must notice after the
//!    live idle timeout, reconnect from the last complete batch, and miss nothing.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use durable_streams_sdk::{Client, CreateOptions, LiveMode, Offset, ReadOptions, RetryPolicy};
use serde_json::{Value, json};
use support::chaos_proxy::Proxy;
use tokio::net::TcpListener;

/// Accepts connections and keeps them open, silent, until the test ends.
async fn silent_server() -> (String, Arc<Mutex<Vec<tokio::net::TcpStream>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let held = Arc::new(Mutex::new(Vec::new()));
    let h = held.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            h.lock().unwrap().push(sock);
        }
    });
    (url, held)
}

fn silent_client(url: &str, retries: u32) -> Client {
    Client::builder(url)
        .request_timeout(Duration::from_millis(400))
        .live_idle_timeout(Duration::from_millis(600))
        .retry_policy(RetryPolicy { max_retries: retries, initial_delay: Duration::from_millis(10), ..Default::default() })
        .build()
        .unwrap()
}

fn assert_timeout(what: &str, r: durable_streams_sdk::Result<impl std::fmt::Debug>, took: Duration, within: Duration) {
    let e = r.expect_err(&format!("{what}: a silent server must not produce a result"));
    assert_eq!(e.code(), "TIMEOUT", "{what}: {e}");
    assert!(took < within, "{what}: took {took:?}, deadline {within:?}");
}

#[tokio::test]
async fn silent_server_catch_up_read_times_out_within_the_request_timeout() {
    let (url, held) = silent_server().await;
    for retries in [0, 3] {
        let s = silent_client(&url, retries).stream("/silent").unwrap().with_content_type("application/json");
        let t = Instant::now();
        let r = s.read(ReadOptions::default()).next_chunk().await;
        // The request timeout bounds the whole request, retries included.
        assert_timeout(&format!("catch-up read, {retries} retries"), r, t.elapsed(), Duration::from_millis(1500));
        assert!(t.elapsed() >= Duration::from_millis(350), "gave up before the deadline: {:?}", t.elapsed());
    }
    assert!(!held.lock().unwrap().is_empty(), "the client never connected");
}

#[tokio::test]
async fn silent_server_live_reads_time_out_within_the_idle_timeout() {
    let (url, _held) = silent_server().await;
    let client = silent_client(&url, 0);
    for live in [LiveMode::LongPoll, LiveMode::Sse] {
        let s = client.stream("/silent").unwrap().with_content_type("application/json");
        let t = Instant::now();
        let r = s.read(ReadOptions { offset: Offset::now(), live, ..Default::default() }).next_chunk().await;
        assert_timeout(&format!("live read ({})", live.as_str()), r, t.elapsed(), Duration::from_millis(2000));
    }
}

#[tokio::test]
async fn silent_server_writes_and_metadata_time_out_within_the_request_timeout() {
    let (url, _held) = silent_server().await;
    let s = silent_client(&url, 0).stream("/silent").unwrap().with_content_type("application/json");
    let t = Instant::now();
    assert_timeout("head", s.head().await, t.elapsed(), Duration::from_millis(1500));
    let t = Instant::now();
    assert_timeout("append", s.append_json(&json!({"a": 1}), Default::default()).await, t.elapsed(), Duration::from_millis(1500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_sse_reconnects_after_the_idle_timeout_and_misses_nothing() {
    // Stalled connections are held open (silent) for 20 s: only a client-side idle
    // timeout can get the read going again within the 8 s we allow.
    let proxy = Proxy::start(7, 0.0, 20_000);
    let path = "/stalls/sse";
    let direct = Client::new(&proxy.server).unwrap().stream(path).unwrap();
    direct.create(CreateOptions { content_type: Some("application/json".into()), ..Default::default() }).await.unwrap();
    let pad = "x".repeat(200); // the stall cuts within the first 256 bytes of the event stream
    for n in 0..3 {
        direct.append_json(&json!({"n": n, "pad": pad}), Default::default()).await.unwrap();
    }

    let idle = Duration::from_millis(1000);
    let proxied = Client::builder(&proxy.proxy).live_idle_timeout(idle).build().unwrap();
    let via_proxy = proxied.stream(path).unwrap();
    proxy.force("stall").await;
    let started = Instant::now();
    let mut items = via_proxy.read(ReadOptions { offset: Offset::beginning(), live: LiveMode::Sse, ..Default::default() }).json_items();

    let writer = {
        let direct = direct.clone();
        let pad = pad.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            for n in 3..6 {
                direct.append_json(&json!({"n": n, "pad": pad}), Default::default()).await.unwrap();
            }
        })
    };
    let mut seen = Vec::new();
    while seen.len() < 6 {
        let v = tokio::time::timeout(Duration::from_secs(8), items.next::<Value>())
            .await
            .expect("the read must recover from the stall long before the proxy lets go")
            .expect("a stall is transient: the read reconnects instead of failing")
            .expect("the stream is open");
        seen.push(v["n"].as_u64().unwrap());
    }
    let took = started.elapsed();
    writer.await.unwrap();
    assert_eq!(seen, vec![0, 1, 2, 3, 4, 5], "every message once, in order");
    assert!(took >= idle, "recovered in {took:?}: the stall was not felt (was it injected?)");
    assert!(took < Duration::from_secs(8), "recovery took {took:?}");
    let stats = proxy.stats().await;
    assert_eq!(stats["faults"]["stall"], 1, "{stats}");
    assert!(stats["byMethod"]["GET"].as_u64().unwrap() >= 2, "no reconnect seen by the proxy: {stats}");
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_reconnect_answered_after_the_idle_timeout_is_retried_not_the_end() {
    // Found by the chaos runs' mid-stream faults: a live read re-opening its connection
    // met `503` with `Retry-After: 1` (longer than the idle timeout) and the session ended
    // with TIMEOUT although the retry policy allowed more attempts. The session's own
    // deadline on one attempt is a transient failure of a live read: it reconnects.
    let proxy = Proxy::start(7, 0.0, 20_000);
    let direct = Client::new(&proxy.server).unwrap();
    let idle = Duration::from_millis(600);
    let proxied = Client::builder(&proxy.proxy)
        .live_idle_timeout(idle)
        .retry_policy(RetryPolicy { max_retries: 5, initial_delay: Duration::from_millis(10), ..Default::default() })
        .build()
        .unwrap();
    for live in [LiveMode::Sse, LiveMode::LongPoll] {
        let path = format!("/stalls/slow-reconnect-{}", live.as_str());
        let d = direct.stream(&path).unwrap();
        d.create(CreateOptions { content_type: Some("application/json".into()), ..Default::default() }).await.unwrap();
        d.append_json(&json!({"n": 0}), Default::default()).await.unwrap();
        // The catch-up request goes through; the first live request gets the slow 503.
        proxy.force("none").await;
        proxy.force("503-ra").await;
        let mut items = proxied
            .stream(&path)
            .unwrap()
            .read(ReadOptions { offset: Offset::beginning(), live, ..Default::default() })
            .json_items();
        let writer = {
            let d = d.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                d.append_json(&json!({"n": 1}), Default::default()).await.unwrap();
            })
        };
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let v = tokio::time::timeout(Duration::from_secs(8), items.next::<Value>())
                .await
                .unwrap_or_else(|_| panic!("{}: no message within 8 s", live.as_str()))
                .unwrap_or_else(|e| panic!("{}: the read ended instead of reconnecting: {e}", live.as_str()))
                .expect("the stream is open");
            seen.push(v["n"].as_u64().unwrap());
        }
        writer.await.unwrap();
        assert_eq!(seen, vec![0, 1], "{}: every message once, in order", live.as_str());
    }
    let stats = proxy.stats().await;
    assert_eq!(stats["faults"]["503-ra"], 2, "the slow answers were not injected: {stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_sse_read_cut_stalled_or_ended_mid_stream_reconnects_and_misses_nothing() {
    // The chaos proxy's mid-stream faults on a piece of the event stream: cut
    // (connection closed, possibly inside a `data:` line), stalled (silent, then closed)
    // and ended cleanly mid-event. Each time the read reconnects from its last control
    // event. A connection that broke inside the body used to end the read with
    // MALFORMED_RESPONSE ("cannot decode response"): reqwest reports every failure while
    // reading a body as a decoding error, also a reset connection.
    let proxy = Proxy::start(11, 0.0, 5_000);
    let direct = Client::new(&proxy.server).unwrap();
    let idle = Duration::from_millis(800);
    let proxied = Client::builder(&proxy.proxy)
        .live_idle_timeout(idle)
        .retry_policy(RetryPolicy { max_retries: 5, initial_delay: Duration::from_millis(10), ..Default::default() })
        .build()
        .unwrap();
    let pad = "y".repeat(100);
    for kind in ["live-cut", "live-stall", "live-end"] {
        let path = format!("/stalls/mid-stream-{kind}");
        let d = direct.stream(&path).unwrap();
        d.create(CreateOptions { content_type: Some("application/json".into()), ..Default::default() }).await.unwrap();
        for n in 0..3 {
            d.append_json(&json!({"n": n, "pad": pad}), Default::default()).await.unwrap();
        }
        // After the catch-up request, the first piece of the event stream passes (so the
        // response has begun); the next draw (a time slice later) gets the fault, which
        // cuts the next piece (a keep-alive). Messages 3..5 are written once the fault
        // has happened, so only the reconnected read can deliver them.
        proxy.force("live-none").await;
        proxy.force(kind).await;
        let mut items = proxied
            .stream(&path)
            .unwrap()
            .read(ReadOptions { offset: Offset::beginning(), live: LiveMode::Sse, ..Default::default() })
            .json_items();
        let reader = tokio::spawn(async move {
            let mut seen = Vec::new();
            while seen.len() < 6 {
                let v = tokio::time::timeout(Duration::from_secs(10), items.next::<Value>())
                    .await
                    .map_err(|_| format!("{kind}: no message within 10 s"))?
                    .map_err(|e| format!("{kind}: the read ended instead of reconnecting: {e} ({e:?})"))?
                    .ok_or_else(|| format!("{kind}: the read ended"))?;
                seen.push(v["n"].as_u64().unwrap());
            }
            Ok::<_, String>(seen)
        });
        let t = Instant::now();
        while proxy.stats().await["faults"][kind] != 1 {
            assert!(t.elapsed() < Duration::from_secs(5), "{kind} was not injected: {}", proxy.stats().await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for n in 3..6 {
            d.append_json(&json!({"n": n, "pad": pad}), Default::default()).await.unwrap();
        }
        let seen = reader.await.unwrap().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(seen, vec![0, 1, 2, 3, 4, 5], "{kind}: every message once, in order");
    }
    let stats = proxy.stats().await;
    for kind in ["live-cut", "live-stall", "live-end"] {
        assert_eq!(stats["faults"][kind], 1, "{kind} was not injected: {stats}");
    }
    assert!(stats["reader"]["reconnects"].as_u64().unwrap() >= 3, "no reconnects seen by the proxy: {stats}");
}

//! The core's own producer and live consumer through the chaos proxy
//! (`tests/chaos/proxy.mjs`, in front of the reference server): drops before
//! forwarding, 503/429 with and without Retry-After, commit-then-drop, truncated
//! and stalled responses, delays — each at `DS_CHAOS_RATE` (default 4%) per request —
//! and, on the live reader's long-lived responses, cuts, stalls and clean ends in
//! mid-stream at the same rate per time slice (at least 5 met at 4% or more in
//! 20,000 messages or more).
//!
//! N messages (`DS_CHAOS_MESSAGES`, default 20 000) go through the proxy with default
//! producer options, in bursts of 50 every 20 ms (else default batching sends them in one request); then the stream is read back straight from the server: every
//! message exactly once, in order. A live consumer reading through the same proxy
//! while the producer writes must see the same. Prints one `summary: chaos (rust): ...`
//! line (written past the test harness's capture, so it shows in every run).
//! Full size: `DS_CHAOS_MESSAGES=100000 cargo test -p durable-streams-sdk --test chaos`.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use durable_streams_sdk::{Client, CreateOptions, LiveMode, Offset, Producer, ProducerOptions, ReadOptions, RetryPolicy, Stream};
use serde_json::{Value, json};
use support::chaos_proxy::Proxy;

/// Messages sent back to back before a pause of PAUSE_MS (see the producer loop).
const BURST: u64 = 50;
const PAUSE_MS: u64 = 20;
/// Mid-stream faults the live reader must have met at the default rate (4%) or above in
/// a run of at least 20,000 messages (the CI size; it sees about 8–15), so that the run
/// proves the live reader survives them (a short run may meet none).
const MIN_LIVE_FAULTS: u64 = 5;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// (duplicates, lost, out of order) of the numbers seen, against 0..n.
fn tally(seen: &[u64], n: u64) -> (u64, u64, u64) {
    let mut count = vec![0u32; n as usize];
    let mut stray = 0;
    for &v in seen {
        match count.get_mut(v as usize) {
            Some(c) => *c += 1,
            None => stray += 1,
        }
    }
    let dups = count.iter().filter(|c| **c > 1).map(|c| u64::from(*c - 1)).sum::<u64>() + stray;
    let lost = count.iter().filter(|c| **c == 0).count() as u64;
    let ooo = seen.windows(2).filter(|w| w[1] <= w[0]).count() as u64;
    (dups, lost, ooo)
}

fn numbers(items: &[Value]) -> Vec<u64> {
    items.iter().map(|v| v["n"].as_u64().unwrap_or(u64::MAX)).collect()
}

async fn read_back(stream: &Stream) -> Vec<Value> {
    let mut items = stream.read(ReadOptions { offset: Offset::beginning(), live: LiveMode::Off, ..Default::default() }).json_items();
    let mut out = Vec::new();
    while let Some(v) = items.next::<Value>().await.expect("read back from the server") {
        out.push(v);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_exactly_once_through_the_proxy() {
    let n: u64 = env_or("DS_CHAOS_MESSAGES", 20_000);
    let seed: u64 = env_or("DS_CHAOS_SEED", 1);
    let rate: f64 = env_or("DS_CHAOS_RATE", 0.04);
    let proxy = Proxy::start(seed, rate, 2500);
    let path = format!("/chaos/rust-{}", std::process::id());

    let direct = Client::new(&proxy.server).unwrap().stream(&path).unwrap();
    direct.create(CreateOptions { content_type: Some("application/json".into()), ..Default::default() }).await.unwrap();

    // Timeouts shorter than the proxy's 2.5 s stall, so a stall is noticed; retries enough
    // for a run of faults in a row (about a third of all requests are faulted at 4%).
    let proxied = Client::builder(&proxy.proxy)
        .request_timeout(Duration::from_secs(1))
        .live_idle_timeout(Duration::from_millis(1500))
        .retry_policy(RetryPolicy { max_retries: 30, ..Default::default() })
        .build()
        .unwrap();
    let via_proxy = proxied.stream(&path).unwrap();

    let started = Instant::now();
    let live = via_proxy.clone();
    let consumer = tokio::spawn(async move {
        let mut items = live.read(ReadOptions { offset: Offset::beginning(), live: LiveMode::Auto, ..Default::default() }).json_items();
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(240);
        while (seen.len() as u64) < n && Instant::now() < deadline {
            match tokio::time::timeout(Duration::from_secs(20), items.next::<Value>()).await {
                Ok(Ok(Some(v))) => seen.push(v),
                Ok(Ok(None)) => break,
                Ok(Err(e)) => return Err(e),
                Err(_) => break,
            }
        }
        Ok(seen)
    });

    let producer = Producer::start(via_proxy.clone(), ProducerOptions::new("chaos-rust")).await.unwrap();
    // Bursts of 50 with a 20 ms pause in between, so that default batching
    // still makes hundreds of requests for the proxy to fault (all at once would be one).
    for i in 0..n {
        producer.append_json(&json!({ "n": i })).await.expect("append");
        if i % BURST == BURST - 1 {
            tokio::time::sleep(Duration::from_millis(PAUSE_MS)).await;
        }
    }
    let flushed = producer.flush().await;
    let produced_in = started.elapsed();

    let stored = numbers(&read_back(&direct).await);
    let live_seen = match tokio::time::timeout(Duration::from_secs(60), consumer).await {
        Ok(Ok(Ok(items))) => Ok(numbers(&items)),
        Ok(Ok(Err(e))) => Err(format!("live consumer failed: {e}")),
        Ok(Err(e)) => Err(format!("live consumer task: {e}")),
        Err(_) => Err("live consumer did not finish".to_string()),
    };
    let stats = proxy.stats().await;

    let (dups, lost, ooo) = tally(&stored, n);
    let (live_n, live_dups, live_lost, live_ooo) = match &live_seen {
        Ok(s) => {
            let (d, l, o) = tally(s, n);
            (s.len() as u64, d, l, o)
        }
        Err(_) => (0, 0, n, 0),
    };
    let faults: u64 = stats["faults"].as_object().unwrap().values().filter_map(Value::as_u64).sum();
    let requests = stats["requests"].as_u64().unwrap_or(0);
    let p = &stats["producer"];
    let (p_requests, p_batches, p_faults) =
        (p["requests"].as_u64().unwrap_or(0), p["batches"].as_u64().unwrap_or(0), p["faults"].as_u64().unwrap_or(0));
    // Repeats over faults on the producer's own requests (tests/chaos/proxy.mjs, extraPerFault).
    let extra_per_fault = p_requests.saturating_sub(p_batches) as f64 / p_faults.max(1) as f64;
    // What the live reader went through: faults on its reads (per request and mid-stream)
    // and the live requests that re-opened its read (tests/chaos/proxy.mjs, `reader`).
    let r = &stats["reader"];
    let r_faults: u64 = r["faults"].as_object().map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
    let (r_mid, r_reconnects) = (r["midStream"].as_u64().unwrap_or(0), r["reconnects"].as_u64().unwrap_or(0));
    let min_live = if rate >= 0.04 && n >= 20_000 { MIN_LIVE_FAULTS } else { 0 };
    let ok = flushed.is_ok() && live_seen.is_ok() && stored.len() as u64 == n && dups + lost + ooo == 0
        && live_n == n && live_dups + live_lost + live_ooo == 0 && r_mid >= min_live;
    let line = format!(
        "summary: chaos (rust): {} passed, {} failed, 0 skipped — sent {n}, stored {}, duplicates {dups}, lost {lost}, out of order {ooo}, \
         requests per fault {extra_per_fault:.2} (producer: {p_requests} requests for {p_batches} batches, {p_faults} faults, {} 409s); \
         live consumer saw {live_n} (duplicates {live_dups}, lost {live_lost}, out of order {live_ooo}) \
         through {r_faults} faults ({r_mid} mid-stream) and {r_reconnects} reconnects; \
         proxy requests {requests}, faults {faults} {}; {:.1} s (seed {seed}, rate {rate})\n",
        u8::from(ok),
        u8::from(!ok),
        stored.len(),
        p["statuses"]["409"].as_u64().unwrap_or(0),
        stats["faults"],
        produced_in.as_secs_f64(),
    );
    // Straight to the file descriptor: libtest captures only print!/eprint!.
    let _ = std::io::stdout().write_all(line.as_bytes());
    flushed.expect("flush reports no loss");
    if let Err(e) = &live_seen {
        panic!("{e}");
    }
    assert!(r_mid >= min_live, "the live reader met {r_mid} mid-stream faults, fewer than {min_live}: not exercised ({line})");
    assert!(ok, "exactly-once broken: {line}");
}

//! Closing a client ends what it handed out, whichever binding calls it: later operations
//! fail with CLOSED, a live read in progress ends, a pushed consumer stops, and a producer
//! flushes what it holds and detaches. Against the reference server.

mod support;

use std::sync::Arc;
use std::time::Duration;

use durable_streams_sdk::{
    BoxFuture, Chunk, Client, Consumer, ConsumerEnd, ConsumerHandler, ConsumerOptions, CreateOptions, Decision, LiveMode,
    Offset, Producer, ProducerOptions, ReadOptions,
};
use serde_json::{Value, json};
use support::*;

async fn json_stream(c: &Client, name: &str) -> durable_streams_sdk::Stream {
    let s = c.stream(&fresh_path(name)).unwrap();
    s.create(CreateOptions { content_type: Some("application/json".into()), ..Default::default() }).await.unwrap();
    s
}

fn is_closed_error<T>(r: durable_streams_sdk::Result<T>) -> bool {
    matches!(r, Err(e) if e.code() == "CLOSED")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_flushes_producers_and_ends_reads_then_refuses_everything() {
    let c = client();
    let s = json_stream(&c, "close-all").await;
    // Held back by a long linger: only the close's flush sends them.
    let mut opts = ProducerOptions::new("closer");
    opts.linger = Duration::from_secs(30);
    opts.max_batch_items = 1_000_000;
    let p = Producer::start(s.clone(), opts).await.unwrap();
    for i in 0..100 {
        p.append_json(&json!({ "n": i })).await.unwrap();
    }
    let mut live = s.read(ReadOptions { offset: Offset::now(), live: LiveMode::Sse, ..Default::default() });
    let reading = tokio::spawn(async move {
        let mut got = 0usize;
        while let Some(chunk) = live.next_chunk().await.unwrap() {
            got += chunk.json::<Value>().map_or(0, |v| v.len());
        }
        got
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    tokio::time::timeout(Duration::from_secs(10), c.close()).await.expect("close returns once producers detached");
    assert!(c.is_closed());
    // The live read ended (no error) rather than waiting for more.
    tokio::time::timeout(Duration::from_secs(5), reading).await.expect("live read ends on close").unwrap();
    // Everything the producer held was stored.
    let stored = client().stream(s.url().path()).unwrap().read_all(Offset::beginning()).await.unwrap();
    let stored: Vec<Value> = serde_json::from_slice(&stored).unwrap();
    assert_eq!(stored.len(), 100);
    // The producer is detached; everything through the client (any clone, any stream) is refused.
    assert!(is_closed_error(p.append_json(&json!({ "late": true })).await));
    assert!(is_closed_error(s.head().await));
    assert!(is_closed_error(s.append_json(&json!(1), Default::default()).await));
    assert!(is_closed_error(s.read_all(Offset::beginning()).await));
    assert!(is_closed_error(s.read(ReadOptions::default()).next_chunk().await));
    assert!(is_closed_error(c.clone().stream("/other")));
    assert!(is_closed_error(Producer::start(s.clone(), ProducerOptions::new("late")).await));
    assert!(is_closed_error(Consumer::new(s.clone(), ConsumerOptions::default())));
    // Closing again resolves (the flush is done) and changes nothing.
    c.close().await;
}

struct Count(std::sync::atomic::AtomicUsize);

impl ConsumerHandler for Count {
    fn on_batch(&self, _batch: Chunk) -> BoxFuture<'_, durable_streams_sdk::Result<Decision>> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async { Ok(Decision::Continue) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_stops_a_pushed_consumer() {
    let c = client();
    let s = json_stream(&c, "close-consumer").await;
    s.append_json(&json!({ "n": 1 }), Default::default()).await.unwrap();
    let consumer = Consumer::new(s.clone(), ConsumerOptions { live: LiveMode::Sse, ..Default::default() }).unwrap();
    let handler = Arc::new(Count(Default::default()));
    let handle = consumer.spawn(handler.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.close().await;
    let end = tokio::time::timeout(Duration::from_secs(5), handle.wait()).await.expect("consumer stops on close").unwrap();
    assert!(matches!(end, ConsumerEnd::Stopped { .. }), "{end:?}");
    assert!(handler.0.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}

/// A binding may drop the close's future unpolled (a cancelled wait, a released handle):
/// the flush still happens, and a later close waits for that same flush.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flush_goes_on_without_its_waiter_and_a_second_close_waits_for_it() {
    let c = client();
    let s = json_stream(&c, "close-dropped").await;
    let mut opts = ProducerOptions::new("dropped-waiter");
    opts.linger = Duration::from_secs(30);
    opts.max_batch_items = 1_000_000;
    let p = Producer::start(s.clone(), opts).await.unwrap();
    for i in 0..50 {
        p.append_json(&json!({ "n": i })).await.unwrap();
    }
    drop(c.close()); // never polled
    assert!(c.is_closed());
    tokio::time::timeout(Duration::from_secs(10), c.close()).await.expect("the second close resolves with the flush");
    // The second close resolved only once the flush was done: everything is stored now.
    let stored = client().stream(s.url().path()).unwrap().read_all(Offset::beginning()).await.unwrap();
    let stored: Vec<Value> = serde_json::from_slice(&stored).unwrap();
    assert_eq!(stored.len(), 50);
}

//! Exactly-once writes and exactly-once reads under faults.
//!
//! The reference server injects, per path and at random, `500`, `503`, `429`,
//! dropped connections and delays (it holds one fault per path, so a background
//! task rotates through them every 50 ms). Through all of it, one `Producer` must
//! store every message exactly once and in order, and a `Consumer` must see each
//! message exactly once, in order, and the end of the stream exactly once.
//!
//! Message count: env `DS_FAULT_MESSAGES` (default 20 000, which keeps a debug run
//! well under a minute). The full-size run is
//!
//! ```text
//! DS_FAULT_MESSAGES=100000 cargo test -p durable-streams-sdk --test producer_faults -- --nocapture
//! ```

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use durable_streams_sdk::{
    AppendOptions, BoxFuture, Chunk, Client, Consumer, ConsumerEnd, ConsumerEvent, ConsumerHandler, ConsumerOptions,
    CreateOptions, Decision, Error, LiveMode, Offset, Producer, ProducerOptions, Stream,
};
use serde_json::{Value, json};
use support::*;

fn message_count() -> u64 {
    std::env::var("DS_FAULT_MESSAGES").ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(20_000)
}

async fn json_stream(client: &Client, name: &str) -> Stream {
    let s = client.stream(&fresh_path(name)).unwrap();
    s.create(CreateOptions { content_type: Some("application/json".into()), ..Default::default() }).await.unwrap();
    s
}

fn path_of(s: &Stream) -> String {
    s.url().path().to_string()
}

/// The faults, all for one HTTP method. `probability` draws happen per request.
fn faults(method: &str) -> Vec<Value> {
    vec![
        json!({"status": 503, "count": 100000, "probability": 0.05, "method": method}),
        json!({"status": 500, "count": 100000, "probability": 0.05, "method": method}),
        json!({"status": 429, "retryAfter": 0, "count": 100000, "probability": 0.05, "method": method}),
        json!({"dropConnection": true, "count": 100000, "probability": 0.02, "method": method}),
        json!({"delayMs": 20, "jitterMs": 30, "count": 100000, "probability": 0.1, "method": method}),
        // A delay then a dropped connection: the client waited and got nothing.
        json!({"delayMs": 30, "dropConnection": true, "count": 100000, "probability": 0.02, "method": method}),
        // Certain ones: the next request fails, whatever the draw.
        json!({"status": 503, "count": 1, "method": method}),
        json!({"dropConnection": true, "count": 1, "method": method}),
    ]
}

/// Rotates the faults on `path` until dropped, then disarms it.
struct FaultRotation {
    stop: Arc<AtomicBool>,
    task: Option<tokio::task::JoinHandle<u64>>,
}

impl FaultRotation {
    fn start(path: String, method: &'static str) -> FaultRotation {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let task = tokio::spawn(async move {
            let all = faults(method);
            let mut armed = 0u64;
            while !s.load(Ordering::SeqCst) {
                inject(&path, all[armed as usize % all.len()].clone()).await;
                armed += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            disarm(&path).await;
            armed
        });
        FaultRotation { stop, task: Some(task) }
    }

    /// Stop rotating and disarm; returns how many faults were armed.
    async fn clear(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.task.take().unwrap().await.unwrap()
    }
}

fn faulty_client() -> Client {
    builder().build().unwrap()
}

#[derive(Debug, Default)]
struct Tally {
    received: u64,
    duplicates: u64,
    out_of_order: u64,
    missing: u64,
}

/// Checks that `seqs` is exactly 0..n in order; counts what deviates.
fn tally(seqs: &[u64], n: u64) -> Tally {
    let mut seen = HashMap::new();
    let mut t = Tally { received: seqs.len() as u64, ..Default::default() };
    let mut last: Option<u64> = None;
    for &s in seqs {
        if *seen.entry(s).and_modify(|c| *c += 1).or_insert(1u32) > 1 {
            t.duplicates += 1;
        }
        if last.is_some_and(|l| s <= l) {
            t.out_of_order += 1;
        }
        last = Some(s);
    }
    t.missing = (0..n).filter(|i| !seen.contains_key(i)).count() as u64;
    t
}

fn seqs_of(items: &[Value]) -> Vec<u64> {
    items.iter().map(|v| v["seq"].as_u64().unwrap_or_else(|| panic!("no seq in {v}"))).collect()
}

async fn read_back(s: &Stream) -> Vec<Value> {
    // A fresh client: nothing left over from the faulty one.
    let clean = client().stream(&path_of(s)).unwrap();
    serde_json::from_slice(&clean.read_all(Offset::beginning()).await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_writes_exactly_once_under_faults() {
    let n = message_count();
    let (c, requests) = counting_client(builder());
    let s = json_stream(&c, "exactly-once").await;
    let errors = Arc::new(AtomicUsize::new(0));
    let e2 = errors.clone();
    let opts = ProducerOptions {
        max_in_flight: 5,
        max_batch_items: 10,
        content_type: Some("application/json".into()),
        on_error: Some(Arc::new(move |_: &Error, _: &[Bytes]| {
            e2.fetch_add(1, Ordering::SeqCst);
        })),
        ..ProducerOptions::new("exactly-once")
    };
    let producer = Producer::start(s.clone(), opts).await.unwrap();
    let faults = FaultRotation::start(path_of(&s), "POST");
    let t = Instant::now();
    for seq in 0..n {
        producer.append_json(&json!({"seq": seq, "body": "x".repeat((seq % 7) as usize)})).await.unwrap();
    }
    producer.flush().await.expect("flush through faults");
    let took = t.elapsed();
    let armed = faults.clear().await;

    let items = read_back(&s).await;
    let t = tally(&seqs_of(&items), n);
    let batches = producer.next_seq();
    let sent_requests = requests.load(Ordering::SeqCst) - 1; // minus the create
    println!(
        "producer: sent {n}, received {}, duplicates {}, out of order {}, missing {} ({took:?}; {batches} batches in \
         {sent_requests} requests, i.e. {} repeated; {armed} fault rotations)",
        t.received,
        t.duplicates,
        t.out_of_order,
        t.missing,
        sent_requests - batches,
    );
    assert!(sent_requests > batches, "no fault was hit: the test proves nothing");
    assert_eq!(errors.load(Ordering::SeqCst), 0, "the error callback fired");
    assert_eq!((t.duplicates, t.out_of_order, t.missing), (0, 0, 0));
    assert_eq!(t.received, n);
    assert_eq!(seqs_of(&items), (0..n).collect::<Vec<_>>());
}

/// Requests time out while the server still holds them (delay faults longer than the
/// client's request timeout), so the server later stores requests whose answers
/// nobody receives, and the retries arrive as duplicates or overtake them: the
/// server's deduplication must make this exactly-once as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_writes_exactly_once_when_answers_are_lost() {
    let n = (message_count() / 4).max(1000);
    let s = json_stream(&client(), "lost-answers").await;
    // The producer's client gives up on a request after 80 ms (and retries it).
    let (impatient, requests) = counting_client(builder().request_timeout(Duration::from_millis(80)));
    let producer = Producer::start(
        impatient.stream(&path_of(&s)).unwrap(),
        ProducerOptions {
            max_in_flight: 5,
            max_batch_items: 10,
            content_type: Some("application/json".into()),
            ..ProducerOptions::new("lost-answers")
        },
    )
    .await
    .unwrap();
    inject(&path_of(&s), json!({"delayMs": 100, "jitterMs": 50, "count": 100000, "probability": 0.1, "method": "POST"})).await;
    let mut acks = Vec::with_capacity(n as usize);
    for seq in 0..n {
        acks.push(producer.append_with_ack(Bytes::from(json!({"seq": seq}).to_string())).await.unwrap());
    }
    producer.flush().await.expect("flush through lost answers");
    disarm(&path_of(&s)).await;
    let mut duplicate_acks = 0;
    for ack in acks {
        duplicate_acks += usize::from(ack.await.unwrap().duplicate);
    }
    let items = read_back(&s).await;
    let t = tally(&seqs_of(&items), n);
    println!(
        "lost answers: sent {n}, received {}, duplicates {}, out of order {}, missing {}; {} batches in {} requests; \
         {duplicate_acks} messages acknowledged as server-side duplicates",
        t.received,
        t.duplicates,
        t.out_of_order,
        t.missing,
        producer.next_seq(),
        requests.load(Ordering::SeqCst)
    );
    assert!(requests.load(Ordering::SeqCst) > producer.next_seq(), "no request timed out: the test proves nothing");
    assert_eq!((t.received, t.duplicates, t.out_of_order, t.missing), (n, 0, 0, 0));
}

/// What a consumer saw.
#[derive(Default)]
struct Seen {
    seqs: Vec<u64>,
    closed: u32,
    reconnects: u32,
    empty_batches: u32,
}

/// Appends `from..to` a few at a time (so live readers make many requests), then
/// closes the stream. Returns the final offset.
async fn feed(s: Stream, from: u64, to: u64) -> Offset {
    let producer = Producer::start(
        s,
        ProducerOptions { content_type: Some("application/json".into()), max_batch_items: 20, ..ProducerOptions::new("feeder") },
    )
    .await
    .unwrap();
    for seq in from..to {
        producer.append_json(&json!({"seq": seq})).await.unwrap();
        if seq % 20 == 19 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if seq % 1000 == 999 {
            // Idle phases: live connections go quiet (see `consumer_client`).
            producer.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    }
    producer.close(None).await.unwrap().final_offset
}

async fn prefill(s: &Stream, n: u64) {
    let batch: Vec<Value> = (0..n).map(|seq| json!({"seq": seq})).collect();
    for part in batch.chunks(2000) {
        s.append_json_batch(part, AppendOptions::default()).await.unwrap();
    }
}

fn consumer_opts(live: LiveMode) -> ConsumerOptions {
    ConsumerOptions {
        live,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(200),
        max_chunk_bytes: 4096,
        ..ConsumerOptions::default()
    }
}

/// The consumer's own client does not retry, so every injected fault reaches the
/// consumer's reconnect logic (resume from the checkpoint) instead of being absorbed
/// by the HTTP layer's retries.
///
/// An established SSE connection makes no new requests, so request faults alone
/// would hardly ever hit it. For SSE the client therefore declares a connection dead
/// after 300 ms of silence (the server's keep-alive comes every 500 ms): each idle
/// phase of the feeder cuts the connection mid-stream, as a dying proxy would, and
/// the reconnects meet the injected faults.
fn consumer_client(live: LiveMode) -> (Client, Arc<AtomicU64>) {
    let b = builder().retry_policy(durable_streams_sdk::RetryPolicy::none());
    let b = if live == LiveMode::LongPoll { b } else { b.live_idle_timeout(Duration::from_millis(300)) };
    counting_client(b)
}

fn is_empty(chunk: &Chunk) -> bool {
    !chunk.has_data()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_consumer_sees_every_message_once_under_faults() {
    for live in [LiveMode::LongPoll, LiveMode::Auto] {
        let n = (message_count() / 4).max(1000);
        let (c, requests) = consumer_client(live);
        let s = json_stream(&c, "consumer-pull").await;
        prefill(&s, n / 2).await;
        let faults = FaultRotation::start(path_of(&s), "GET");
        let writer = tokio::spawn(feed(client().stream(&path_of(&s)).unwrap(), n / 2, n));
        let mut consumer = Consumer::new(s.clone(), consumer_opts(live)).unwrap();
        let mut seen = Seen::default();
        let mut last_checkpoint = consumer.checkpoint().clone();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(Instant::now() < deadline, "{live:?}: consumer did not finish");
            let ev = tokio::time::timeout(Duration::from_secs(20), consumer.next()).await.expect("consumer hangs");
            match ev.unwrap_or_else(|e| panic!("{live:?}: permanent error under transient faults: {e:?}")) {
                None => break,
                Some(ConsumerEvent::Batch(chunk)) => {
                    seen.empty_batches += u32::from(is_empty(&chunk));
                    seen.seqs.extend(seqs_of(&chunk.json::<Value>().unwrap()));
                }
                Some(ConsumerEvent::Closed { final_offset }) => {
                    seen.closed += 1;
                    last_checkpoint = final_offset;
                }
                Some(ConsumerEvent::UpToDate { .. }) => {}
                Some(ConsumerEvent::Reconnecting { error, .. }) => {
                    assert!(error.is_transient(), "{error:?}");
                    seen.reconnects += 1;
                }
            }
        }
        let final_offset = writer.await.unwrap();
        faults.clear().await;
        let t = tally(&seen.seqs, n);
        println!(
            "pull consumer ({live:?}): expected {n}, received {}, duplicates {}, out of order {}, missing {}; \
             {} requests, {} reconnects, {} closed events, {} empty batches",
            t.received,
            t.duplicates,
            t.out_of_order,
            t.missing,
            requests.load(Ordering::SeqCst),
            seen.reconnects,
            seen.closed,
            seen.empty_batches
        );
        assert_eq!((t.duplicates, t.out_of_order, t.missing), (0, 0, 0), "{live:?}");
        assert_eq!(seen.closed, 1, "{live:?}: closure reported exactly once");
        assert_eq!(last_checkpoint, final_offset);
        assert_eq!(consumer.checkpoint(), &final_offset);
        assert!(consumer.next().await.unwrap().is_none(), "an ended consumer stays ended");
        assert!(seen.reconnects > 0, "{live:?}: no fault reached the consumer: the test proves nothing");
        assert_eq!(seen.empty_batches, 0, "{live:?}: Batch events are documented as never empty");
    }
}

/// `ConsumerEvent::Batch` is "new data (never empty)": idle keep-alives of a live
/// JSON stream must not surface as batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_batches_are_never_empty() {
    for live in [LiveMode::LongPoll, LiveMode::Sse, LiveMode::Auto] {
        let s = json_stream(&client(), "consumer-idle").await;
        s.append_json(&json!({"seq": 0}), AppendOptions::default()).await.unwrap();
        let mut consumer = Consumer::new(s.clone(), consumer_opts(live)).unwrap();
        let w = s.clone();
        tokio::spawn(async move {
            // Long enough for two 500 ms long-poll timeouts / SSE keep-alives.
            tokio::time::sleep(Duration::from_millis(1300)).await;
            w.close(Default::default()).await.unwrap();
        });
        let mut batches = Vec::new();
        while let Some(ev) = tokio::time::timeout(Duration::from_secs(10), consumer.next()).await.unwrap().unwrap() {
            if let ConsumerEvent::Batch(c) = ev {
                batches.push(c);
            }
        }
        let empty: Vec<_> = batches.iter().filter(|c| is_empty(c)).map(|c| String::from_utf8_lossy(&c.data).to_string()).collect();
        assert!(empty.is_empty(), "{live:?}: {} empty Batch events (data {:?})", empty.len(), empty);
        assert_eq!(batches.len(), 1, "{live:?}");
    }
}

struct Collector {
    seen: Mutex<Seen>,
    errors: AtomicUsize,
}

impl ConsumerHandler for Collector {
    fn on_batch(&self, batch: Chunk) -> BoxFuture<'_, durable_streams_sdk::Result<Decision>> {
        let seqs = seqs_of(&batch.json::<Value>().unwrap());
        let mut seen = self.seen.lock().unwrap();
        seen.empty_batches += u32::from(is_empty(&batch));
        seen.seqs.extend(seqs);
        Box::pin(async { Ok(Decision::Continue) })
    }

    fn on_error(&self, error: &Error) -> BoxFuture<'_, Decision> {
        self.errors.fetch_add(1, Ordering::SeqCst);
        let d = if error.is_transient() { Decision::Continue } else { Decision::Stop };
        Box::pin(async move { d })
    }

    fn on_closed(&self, _final_offset: &Offset) -> BoxFuture<'_, ()> {
        self.seen.lock().unwrap().closed += 1;
        Box::pin(async {})
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_consumer_sees_every_message_once_under_faults() {
    let n = (message_count() / 4).max(1000);
    let (c, requests) = consumer_client(LiveMode::Auto);
    let s = json_stream(&c, "consumer-push").await;
    prefill(&s, n / 2).await;
    let faults = FaultRotation::start(path_of(&s), "GET");
    let writer = tokio::spawn(feed(client().stream(&path_of(&s)).unwrap(), n / 2, n));
    let handler = Arc::new(Collector { seen: Mutex::new(Seen::default()), errors: AtomicUsize::new(0) });
    let handle = Consumer::new(s.clone(), consumer_opts(LiveMode::Auto)).unwrap().spawn(handler.clone());
    let end = tokio::time::timeout(Duration::from_secs(60), handle.wait()).await.expect("push consumer hangs");
    let final_offset = writer.await.unwrap();
    faults.clear().await;
    let seen = handler.seen.lock().unwrap();
    let t = tally(&seen.seqs, n);
    let errors = handler.errors.load(Ordering::SeqCst);
    println!(
        "push consumer: expected {n}, received {}, duplicates {}, out of order {}, missing {}; {} requests, \
         {errors} transient errors, {} on_closed calls",
        t.received,
        t.duplicates,
        t.out_of_order,
        t.missing,
        requests.load(Ordering::SeqCst),
        seen.closed
    );
    assert_eq!(end.unwrap(), ConsumerEnd::Closed { final_offset });
    assert_eq!(seen.closed, 1);
    assert_eq!((t.duplicates, t.out_of_order, t.missing), (0, 0, 0));
    assert!(errors > 0, "no fault reached the consumer: the test proves nothing");
    assert_eq!(seen.empty_batches, 0, "on_batch was called with empty batches");
}

/// A deleted stream ends the consumer with NOT_FOUND, once, and nothing keeps
/// requesting afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_stream_ends_the_consumer_without_a_request_loop() {
    for live in [LiveMode::LongPoll, LiveMode::Auto] {
        let (c, requests) = counting_client(builder().live_idle_timeout(Duration::from_secs(3)));
        let s = json_stream(&c, "consumer-deleted").await;
        s.append_json(&json!({"seq": 0}), AppendOptions::default()).await.unwrap();
        let mut consumer = Consumer::new(s.clone(), consumer_opts(live)).unwrap();
        // Read up to the tail.
        loop {
            match consumer.next().await.unwrap().unwrap() {
                ConsumerEvent::UpToDate { .. } => break,
                _ => continue,
            }
        }
        let deleter = s.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            deleter.delete().await.unwrap();
        });
        let t = Instant::now();
        let err = loop {
            match tokio::time::timeout(Duration::from_secs(15), consumer.next()).await.expect("consumer hangs") {
                Ok(Some(ConsumerEvent::Reconnecting { .. } | ConsumerEvent::UpToDate { .. })) => continue,
                // Empty batches are a separate defect (consumer_batches_are_never_empty).
                Ok(Some(ConsumerEvent::Batch(c))) if is_empty(&c) => continue,
                Ok(other) => panic!("{live:?}: expected NOT_FOUND, got {other:?}"),
                Err(e) => break e,
            }
        };
        let took = t.elapsed();
        assert_eq!((err.code(), err.status()), ("NOT_FOUND", Some(404)), "{live:?}: {err:?}");
        let at_error = requests.load(Ordering::SeqCst);
        assert!(consumer.next().await.unwrap().is_none());
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let after = requests.load(Ordering::SeqCst);
        println!("deleted stream ({live:?}): NOT_FOUND after {took:?}, {at_error} requests in all");
        assert_eq!(after, at_error, "{live:?}: requests after the consumer ended");
        assert!(at_error < 30, "{live:?}: {at_error} requests for a short session");
    }

    // Push mode: the handle's task ends with the error.
    let (c, requests) = counting_client(builder());
    let s = json_stream(&c, "consumer-deleted-push").await;
    let handler = Arc::new(Collector { seen: Mutex::new(Seen::default()), errors: AtomicUsize::new(0) });
    let handle = Consumer::new(s.clone(), consumer_opts(LiveMode::LongPoll)).unwrap().spawn(handler.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.delete().await.unwrap();
    let end = tokio::time::timeout(Duration::from_secs(15), handle.wait()).await.expect("push consumer hangs");
    assert_eq!(end.unwrap_err().code(), "NOT_FOUND");
    let at_end = requests.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(requests.load(Ordering::SeqCst), at_end);
    assert_eq!(handler.errors.load(Ordering::SeqCst), 1, "on_error sees the NOT_FOUND once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_claim_continues_after_being_fenced() {
    let c = faulty_client();
    let s = json_stream(&c, "auto-claim").await;
    let opts = |id: &str, epoch: u64, auto_claim: bool| ProducerOptions {
        epoch,
        auto_claim,
        content_type: Some("application/json".into()),
        max_batch_items: 10,
        ..ProducerOptions::new(id)
    };
    let first = Producer::start(s.clone(), opts("writer", 0, true)).await.unwrap();
    for i in 0..100 {
        first.append_json(&json!({"from": "first", "i": i})).await.unwrap();
    }
    first.flush().await.unwrap();
    assert_eq!(first.epoch(), 0);

    // Same producer id, higher epoch: fences the first.
    let second = Producer::start(s.clone(), opts("writer", 5, false)).await.unwrap();
    second.append_json(&json!({"from": "second", "i": 0})).await.unwrap();
    second.flush().await.unwrap();

    // The first continues at epoch 6, losing and duplicating nothing, under faults.
    let faults = FaultRotation::start(path_of(&s), "POST");
    for i in 100..300 {
        first.append_json(&json!({"from": "first", "i": i})).await.unwrap();
    }
    first.flush().await.expect("auto-claim continues");
    faults.clear().await;
    assert_eq!(first.epoch(), 6);

    // The second is now fenced in turn and (without auto-claim) fails loudly.
    let lost = Arc::new(Mutex::new(Vec::<Bytes>::new()));
    let l2 = lost.clone();
    let third = Producer::start(
        s.clone(),
        ProducerOptions {
            on_error: Some(Arc::new(move |_: &Error, msgs: &[Bytes]| l2.lock().unwrap().extend_from_slice(msgs))),
            ..opts("writer", 5, false)
        },
    )
    .await
    .unwrap();
    third.append_json(&json!({"from": "third"})).await.unwrap();
    let e = third.flush().await.unwrap_err();
    assert_eq!((e.code(), e.status()), ("STALE_EPOCH", Some(403)), "{e:?}");
    assert_eq!(lost.lock().unwrap().len(), 1);

    let items = read_back(&s).await;
    let firsts: Vec<u64> = items.iter().filter(|v| v["from"] == "first").map(|v| v["i"].as_u64().unwrap()).collect();
    assert_eq!(firsts, (0..300).collect::<Vec<_>>());
    assert_eq!(items.iter().filter(|v| v["from"] == "second").count(), 1);
    assert_eq!(items.iter().filter(|v| v["from"] == "third").count(), 0);
    assert_eq!(items.len(), 301);
}

/// A batch that fails permanently (the stream is deleted half-way) fails flush, and
/// the error callback receives exactly the messages that were not stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_reports_a_permanent_failure() {
    let c = faulty_client();
    let s = json_stream(&c, "permanent-failure").await;
    let reported = Arc::new(Mutex::new(Vec::<(String, Vec<Bytes>)>::new()));
    let r2 = reported.clone();
    let producer = Producer::start(
        s.clone(),
        ProducerOptions {
            content_type: Some("application/json".into()),
            max_batch_items: 10,
            on_error: Some(Arc::new(move |e: &Error, msgs: &[Bytes]| {
                r2.lock().unwrap().push((e.code().to_string(), msgs.to_vec()));
            })),
            ..ProducerOptions::new("doomed")
        },
    )
    .await
    .unwrap();
    // Slow the appends down so that the deletion lands in the middle of the traffic.
    inject(&path_of(&s), json!({"delayMs": 10, "count": 100000, "method": "POST"})).await;
    let mut acks: Vec<(u64, durable_streams_sdk::AppendAck)> = Vec::new();
    let mut stored_early: Vec<u64> = Vec::new();
    let mut refused = 0u64;
    for i in 0..1000u64 {
        if i == 300 {
            // Once the first 300 messages are stored, delete the stream while the
            // rest keeps flowing.
            let (last, ack) = acks.pop().expect("acks");
            ack.await.expect("the first messages are stored");
            stored_early.push(last);
            let d = s.clone();
            tokio::spawn(async move { d.delete().await.unwrap() });
        }
        if i % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        match producer.append_with_ack(Bytes::from(format!("{{\"i\":{i}}}"))).await {
            Ok(ack) => acks.push((i, ack)),
            Err(e) => {
                assert_eq!(e.code(), "NOT_FOUND", "appends after the failure report it: {e:?}");
                refused += 1;
            }
        }
    }
    let e = producer.flush().await.unwrap_err();
    assert_eq!((e.code(), e.status()), ("NOT_FOUND", Some(404)), "{e:?}");

    let mut stored = stored_early;
    let mut failed = Vec::new();
    for (i, ack) in acks {
        match ack.await {
            Ok(_) => stored.push(i),
            Err(e) => {
                assert_eq!(e.code(), "NOT_FOUND");
                failed.push(i);
            }
        }
    }
    let reported = reported.lock().unwrap();
    assert!(reported.iter().all(|(code, _)| code == "NOT_FOUND"));
    let mut in_callback: Vec<u64> = reported
        .iter()
        .flat_map(|(_, msgs)| msgs.iter().map(|m| serde_json::from_slice::<Value>(m).unwrap()["i"].as_u64().unwrap()))
        .collect();
    in_callback.sort_unstable();
    println!(
        "permanent failure: {} stored, {} failed (callback: {} messages in {} calls), {refused} refused after the failure",
        stored.len(),
        failed.len(),
        in_callback.len(),
        reported.len()
    );
    assert!(!failed.is_empty(), "some messages must have failed");
    assert_eq!(in_callback, failed, "the callback receives exactly the failed messages");
    assert!(stored.len() >= 300, "the first 300 were stored before the deletion");
    assert_eq!(stored.len() + failed.len() + refused as usize, 1000);
    // Stored ones form a prefix: nothing after a failed message was stored.
    assert!(stored.iter().all(|s| failed.iter().all(|f| s < f)));
    // The producer stays failed.
    assert_eq!(producer.append_json(&1).await.unwrap_err().code(), "NOT_FOUND");
    assert_eq!(producer.close(None).await.unwrap_err().code(), "NOT_FOUND");
    disarm(&path_of(&s)).await;
}

/// A producer whose client's own backoff is far too long to be waited out here: any
/// recovery that finishes quickly used the producer's own retry rules.
async fn recovery_producer(name: &str, max_in_flight: usize) -> (Stream, Producer) {
    let slow = durable_streams_sdk::RetryPolicy {
        initial_delay: Duration::from_secs(5),
        max_delay: Duration::from_secs(10),
        ..durable_streams_sdk::RetryPolicy::default()
    };
    let c = Client::builder(base_url()).retry_policy(slow).build().unwrap();
    let s = json_stream(&c, name).await;
    let p = Producer::start(
        s.clone(),
        ProducerOptions {
            max_batch_items: 1,
            max_in_flight,
            content_type: Some("application/json".into()),
            ..ProducerOptions::new(name)
        },
    )
    .await
    .unwrap();
    (s, p)
}

/// One fault costs one extra request: the failed batch is resent first (with one
/// request in flight: exactly one more request, no gap answer). A `503` without
/// `Retry-After` proves nothing was stored and gets a short retry; an unanswered
/// request (dropped connection) is resent at once. With five in flight the batches
/// pipelined behind the failed one are held back until it lands, and everything is
/// stored once, in order. (Pipelined requests also overtake each other on the way
/// into the reference server without any fault, so gap counts there are not exact.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_fault_costs_one_round_trip() {
    const WARM: u64 = 20;
    for in_flight in [1, 5] {
        for fault in [
            json!({"status": 503, "count": 1, "method": "POST"}),
            json!({"dropConnection": true, "count": 1, "method": "POST"}),
        ] {
            let (s, p) = recovery_producer("one-fault", in_flight).await;
            for i in 0..WARM {
                p.append_json(&json!({"seq": i})).await.unwrap();
            }
            p.flush().await.unwrap();
            let before = p.counters();
            inject(&path_of(&s), fault.clone()).await;
            let t = Instant::now();
            for i in WARM..WARM + 100 {
                p.append_json(&json!({"seq": i})).await.unwrap();
            }
            p.flush().await.unwrap();
            let took = t.elapsed();
            let c = p.counters();
            let (requests, gaps) = (c.requests - before.requests, c.sequence_gaps - before.sequence_gaps);
            println!("{in_flight} in flight, {fault}: {requests} requests for 100 batches, {gaps} gaps, {took:?}");
            assert_eq!(c.failures - before.failures, 1, "{fault}: exactly the injected failure");
            if in_flight == 1 {
                assert_eq!((requests, gaps), (101, 0), "{fault}");
            }
            // The client's 5 s backoff was not waited for.
            assert!(took < Duration::from_secs(3), "{fault}: recovery took {took:?}");
            assert_eq!(seqs_of(&read_back(&s).await), (0..WARM + 100).collect::<Vec<_>>(), "{fault}");
        }
    }
}

/// A server's `Retry-After` is honoured, not cut short by the quick retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let (s, p) = recovery_producer("retry-after", 5).await;
    inject(&path_of(&s), json!({"status": 503, "retryAfter": 1, "count": 1, "method": "POST"})).await;
    let t = Instant::now();
    p.append_json(&json!({"seq": 0})).await.unwrap();
    p.flush().await.unwrap();
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(950), "resent after {took:?}, before the server's Retry-After of 1 s");
    assert_eq!(p.counters().requests, 2);
    assert_eq!(seqs_of(&read_back(&s).await), vec![0]);
}

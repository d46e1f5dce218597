//! The binding layer (`durable_streams_sdk::ffi`) against the real reference server:
//! pull handles under concurrent callers, positions during a pending `next`, cancel,
//! shared consumer outcomes, and network errors that name their cause.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use durable_streams_sdk::ffi::{self, ConsumerEvents, ConsumerRun, ErrorInfo, Naming, ReadHandle};
use durable_streams_sdk::{
    Chunk, ConsumerEnd, ConsumerEvent, ConsumerHandler, ConsumerOptions, CreateOptions, Decision, LiveMode, Offset,
    ReadOptions, Stream,
};
use support::*;

async fn text_stream(name: &str, messages: usize) -> Stream {
    let s = client().stream(&fresh_path(name)).unwrap();
    s.create(CreateOptions { content_type: Some("text/plain".into()), ..Default::default() }).await.unwrap();
    for i in 0..messages {
        s.append(format!("m{i};"), Default::default()).await.unwrap();
    }
    s
}

#[tokio::test]
async fn concurrent_next_hands_each_chunk_to_exactly_one_caller() {
    let s = text_stream("ffi-concurrent", 0).await;
    let handle = Arc::new(ReadHandle::new(s.read(ReadOptions { live: LiveMode::LongPoll, ..Default::default() })));
    // Drain the empty catch-up, then let four callers wait at once.
    let first = handle.next().await.unwrap().unwrap();
    assert!(first.up_to_date);
    let mut waiters = Vec::new();
    for _ in 0..4 {
        let h = handle.clone();
        waiters.push(tokio::spawn(async move { h.next().await }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The position stays readable while every caller is pending.
    let pos = handle.position();
    assert!(pos.up_to_date);
    for i in 0..4 {
        s.append(format!("x{i}"), Default::default()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let mut seen = Vec::new();
    for w in waiters {
        let chunk: Chunk = tokio::time::timeout(Duration::from_secs(10), w).await.unwrap().unwrap().unwrap().unwrap();
        seen.push(String::from_utf8(chunk.data.to_vec()).unwrap());
    }
    let all: String = seen.concat();
    for i in 0..4 {
        assert_eq!(all.matches(&format!("x{i}")).count(), 1, "x{i} delivered once: {seen:?}");
    }
    assert_ne!(handle.position().offset, pos.offset);
}

#[tokio::test]
async fn cancel_ends_a_pending_next_and_every_later_one() {
    let s = text_stream("ffi-cancel", 1).await;
    let handle = Arc::new(ReadHandle::new(s.read(ReadOptions { live: LiveMode::LongPoll, ..Default::default() })));
    assert!(handle.next().await.unwrap().is_some());
    let h = handle.clone();
    let pending = tokio::spawn(async move { h.next().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    handle.cancel();
    let r = tokio::time::timeout(Duration::from_secs(5), pending).await.expect("cancel wakes the caller").unwrap();
    assert!(r.unwrap().is_none());
    assert!(handle.next().await.unwrap().is_none());
}

/// No tokio test runtime here: the joining thread would block that runtime, and with
/// it the connections the setup opened on it.
#[test]
fn blocking_next_works_from_a_plain_thread() {
    let s = durable_streams_sdk::runtime::block_on(text_stream("ffi-blocking", 3));
    let handle = ReadHandle::new(s.read(ReadOptions::default()));
    let got = std::thread::spawn(move || {
        let mut text = String::new();
        loop {
            match handle.blocking_next(Duration::from_millis(50)) {
                None => continue,
                Some(Ok(Some(c))) => text.push_str(std::str::from_utf8(&c.data).unwrap()),
                Some(Ok(None)) => return (text, handle.position()),
                Some(Err(e)) => panic!("{e}"),
            }
        }
    })
    .join()
    .unwrap();
    assert_eq!(got.0, "m0;m1;m2;");
    assert!(got.1.up_to_date);
    let tail = durable_streams_sdk::runtime::block_on(async move { s.head().await }).unwrap().next_offset;
    assert_eq!(got.1.offset, tail);
}

#[tokio::test]
async fn consumer_events_track_the_checkpoint_of_taken_batches() {
    let s = text_stream("ffi-events", 2).await;
    let c = durable_streams_sdk::Consumer::new(s.clone(), ConsumerOptions { live: LiveMode::Off, ..Default::default() })
        .unwrap();
    let events = ConsumerEvents::new(c);
    assert_eq!(events.checkpoint(), Offset::beginning());
    let mut data = Vec::new();
    while let Some(ev) = events.next().await.unwrap() {
        if let ConsumerEvent::Batch(b) = ev {
            data.extend_from_slice(&b.data);
        }
    }
    assert_eq!(data, b"m0;m1;");
    assert_eq!(events.checkpoint(), s.head().await.unwrap().next_offset);
}

struct Collect(std::sync::Mutex<Vec<u8>>);

impl ConsumerHandler for Collect {
    fn on_batch(&self, batch: Chunk) -> durable_streams_sdk::BoxFuture<'_, durable_streams_sdk::Result<Decision>> {
        self.0.lock().unwrap().extend_from_slice(&batch.data);
        Box::pin(async { Ok(Decision::Continue) })
    }
}

#[tokio::test]
async fn several_waiters_get_the_same_consumer_outcome() {
    let s = text_stream("ffi-run", 2).await;
    s.close(Default::default()).await.unwrap();
    let c = durable_streams_sdk::Consumer::new(s.clone(), ConsumerOptions::default()).unwrap();
    let handler = Arc::new(Collect(Default::default()));
    let run = Arc::new(ConsumerRun::start(c, handler.clone()));
    let (a, b) = (run.clone(), run.clone());
    let (ra, rb) = tokio::join!(async move { a.wait().await }, async move { b.wait().await });
    let final_offset = s.head().await.unwrap().next_offset;
    assert_eq!(ra.unwrap(), ConsumerEnd::Closed { final_offset: final_offset.clone() });
    assert_eq!(rb.unwrap(), ConsumerEnd::Closed { final_offset: final_offset.clone() });
    assert!(run.outcome().is_some());
    // After the end, the checkpoint (and the stats' copy of it) is where it ended.
    assert_eq!(run.checkpoint(), final_offset);
    assert_eq!(run.stats().checkpoint, final_offset.as_str());
    assert_eq!(&*handler.0.lock().unwrap(), b"m0;m1;");
}

#[test]
fn a_refused_connection_names_its_cause() {
    // Port 9 (discard) is closed on this machine's loopback.
    let client = durable_streams_sdk::Client::builder("http://127.0.0.1:9")
        .retry_policy(durable_streams_sdk::RetryPolicy::none())
        .build()
        .unwrap();
    let s = client.stream("/x").unwrap();
    let err = durable_streams_sdk::runtime::block_on(async move { s.head().await }).unwrap_err();
    let info = ErrorInfo::new(&err, Naming::Camel);
    assert_eq!(info.code, "NETWORK_ERROR");
    assert_eq!(info.class, "Network");
    assert_eq!(info.cause, Some("connection_refused"));
    assert!(info.message.contains("connection refused"), "{}", info.message);
}

#[test]
fn validation_errors_use_the_callers_spelling() {
    let s = client().stream("/x").unwrap();
    let opts = ConsumerOptions { backoff_max: Duration::from_millis(1), ..Default::default() };
    let err = durable_streams_sdk::Consumer::new(s, opts).err().unwrap();
    let py = ErrorInfo::new(&err, Naming::SnakeSeconds);
    assert_eq!(py.field.as_deref(), Some("backoff_max"));
    assert_eq!(py.message, "invalid backoff_max: must be >= backoff_base");
    let js = ErrorInfo::new(&err, Naming::Camel);
    assert_eq!(js.field.as_deref(), Some("backoffMaxMs"));
    let codes: HashSet<_> = ffi::ERROR_TABLE.iter().map(|c| c.code).collect();
    assert!(codes.contains(js.code));
}

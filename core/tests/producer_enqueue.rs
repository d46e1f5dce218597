//! The producer's enqueue: order is call order (across threads, and under
//! back-pressure), nothing lost or duplicated, callable from threads and executors
//! that are not tokio's, and a start that does not wait for the network.
//! Everything is read back from the reference server.

mod support;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::Bytes;
use durable_streams_sdk::{CreateOptions, Enqueued, Offset, Producer, ProducerOptions, Stream, runtime};
use serde_json::{Value, json};
use support::*;

/// A minimal executor: polls on the calling thread, parks between wake-ups. No tokio.
fn block_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

fn json_stream(name: &str) -> Stream {
    let s = client().stream(&fresh_path(name)).unwrap();
    let s2 = s.clone();
    runtime::block_on(async move {
        s2.create(CreateOptions { content_type: Some("application/json".into()), ..Default::default() }).await
    })
    .unwrap();
    s
}

fn read_back(s: &Stream) -> Vec<Value> {
    let clean = client().stream(s.url().path()).unwrap();
    let body = runtime::block_on(async move { clean.read_all(Offset::beginning()).await }).unwrap();
    serde_json::from_slice(&body).unwrap()
}

fn msg(v: Value) -> Bytes {
    Bytes::from(v.to_string())
}

/// `Producer::start`, enqueue, flush and close from a plain thread through a
/// non-tokio executor: the producer runs on the shared runtime, so nobody has to
/// enter a runtime first.
#[test]
fn works_from_a_thread_without_a_runtime() {
    let s = json_stream("no-runtime");
    let s2 = s.clone();
    let out = std::thread::spawn(move || {
        assert!(tokio::runtime::Handle::try_current().is_err(), "this thread must not be inside a runtime");
        block_on(async move {
            let p = Producer::start(s2, ProducerOptions::new("no-runtime")).await?;
            for i in 0..100 {
                p.append(msg(json!({ "i": i }))).await?;
            }
            let ack = p.append_with_ack(msg(json!({ "i": 100 }))).await?;
            p.flush().await?;
            let acked = ack.await?;
            p.close(None).await?;
            Ok::<_, durable_streams_sdk::Error>(acked)
        })
    })
    .join()
    .unwrap()
    .unwrap();
    assert!(out.next_offset.is_some());
    let items = read_back(&s);
    assert_eq!(items.iter().map(|v| v["i"].as_u64().unwrap()).collect::<Vec<_>>(), (0..=100).collect::<Vec<_>>());
}

/// Several threads enqueue at once, with a buffer small enough that many calls have
/// to wait: each thread's messages arrive in its call order, none lost, none twice.
#[test]
fn concurrent_threads_keep_their_order() {
    const THREADS: u64 = 4;
    const EACH: u64 = 5000;
    let s = json_stream("threads");
    let p = Producer::start_now(
        s.clone(),
        ProducerOptions { buffer_limit_bytes: 32 << 10, max_batch_bytes: 8 << 10, ..ProducerOptions::new("threads") },
    )
    .unwrap();
    let waits = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (p, waits) = (p.clone(), waits.clone());
            std::thread::spawn(move || {
                for i in 0..EACH {
                    let data = msg(json!({ "t": t, "i": i, "pad": "x".repeat((i % 13) as usize) }));
                    // Every 50th message asks for an acknowledgement, every 7th goes in a list.
                    let r = if i % 7 == 0 && i + 1 < EACH {
                        let next = msg(json!({ "t": t, "i": i + 1, "pad": "" }));
                        let r = p.enqueue_many(vec![data, next], false).unwrap();
                        if let Enqueued::Wait(w) = r {
                            waits.fetch_add(1, Ordering::Relaxed);
                            block_on(w).unwrap();
                        }
                        continue;
                    } else if i > 0 && (i - 1) % 7 == 0 {
                        continue; // sent with its predecessor
                    } else {
                        p.enqueue(data, i % 50 == 0).unwrap()
                    };
                    match r {
                        Enqueued::Accepted => {}
                        Enqueued::Ack(a) => drop(a),
                        Enqueued::Wait(w) => {
                            waits.fetch_add(1, Ordering::Relaxed);
                            block_on(w).unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    block_on(p.flush()).unwrap();
    let items = read_back(&s);
    assert_eq!(items.len() as u64, THREADS * EACH, "lost or duplicated messages");
    for t in 0..THREADS {
        let seen: Vec<u64> = items.iter().filter(|v| v["t"] == t).map(|v| v["i"].as_u64().unwrap()).collect();
        assert_eq!(seen, (0..EACH).collect::<Vec<_>>(), "thread {t}: order or content differs");
    }
    println!("{} of {} calls waited for buffer room", waits.load(Ordering::Relaxed), THREADS * EACH);
    assert!(waits.load(Ordering::Relaxed) > 0, "the buffer never filled: back-pressure untested");
}

/// Tokio tasks appending at once through the async API keep their order as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tasks_keep_their_order() {
    const TASKS: u64 = 8;
    const EACH: u64 = 2000;
    let s = client().stream(&fresh_path("tasks")).unwrap();
    s.create(CreateOptions { content_type: Some("application/json".into()), ..Default::default() }).await.unwrap();
    let p = Producer::start(s.clone(), ProducerOptions { buffer_limit_bytes: 16 << 10, ..ProducerOptions::new("tasks") })
        .await
        .unwrap();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let p = p.clone();
            tokio::spawn(async move {
                for i in 0..EACH {
                    p.append_json(&json!({ "t": t, "i": i })).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    p.flush().await.unwrap();
    let body = s.read_all(Offset::beginning()).await.unwrap();
    let items: Vec<Value> = serde_json::from_slice(&body).unwrap();
    assert_eq!(items.len() as u64, TASKS * EACH);
    for t in 0..TASKS {
        let seen: Vec<u64> = items.iter().filter(|v| v["t"] == t).map(|v| v["i"].as_u64().unwrap()).collect();
        assert_eq!(seen, (0..EACH).collect::<Vec<_>>(), "task {t}");
    }
}

/// A call that finds someone waiting for room waits behind them, even when it would
/// fit; dropping a wait does not withdraw the message.
#[test]
fn a_later_call_never_overtakes_a_waiting_one() {
    let s = json_stream("overtake");
    let p = Producer::start_now(
        s.clone(),
        ProducerOptions {
            buffer_limit_bytes: 1000,
            // Nothing is sent before the flush, so the buffer stays as filled here.
            linger: Duration::from_secs(3600),
            ..ProducerOptions::new("overtake")
        },
    )
    .unwrap();
    let big = |tag: &str| msg(json!({ "tag": tag, "pad": "x".repeat(600) }));
    assert!(matches!(p.enqueue(big("a"), false).unwrap(), Enqueued::Accepted));
    let Enqueued::Wait(wait_b) = p.enqueue(big("b"), true).unwrap() else { panic!("b should wait for room") };
    // c is small enough for the free room, but b is waiting ahead of it.
    let e = p.try_append(msg(json!({ "tag": "c" })), false).err().unwrap();
    assert_eq!(e.code(), "BUFFER_FULL");
    let Enqueued::Wait(wait_c) = p.enqueue(msg(json!({ "tag": "c" })), false).unwrap() else { panic!("c must queue behind b") };
    drop(wait_c);
    let Enqueued::Wait(wait_d) = p.enqueue_many(vec![msg(json!({ "tag": "d1" })), msg(json!({ "tag": "d2" }))], true).unwrap()
    else {
        panic!("d must queue behind c")
    };
    block_on(p.flush()).unwrap();
    let ack_b = block_on(wait_b).unwrap().expect("an ack was asked for");
    let ack_d = block_on(wait_d).unwrap().expect("an ack was asked for");
    let (b, d) = (block_on(ack_b).unwrap(), block_on(ack_d).unwrap());
    assert!(b.seq < d.seq, "b's batch precedes d's");
    let tags: Vec<String> = read_back(&s).iter().map(|v| v["tag"].as_str().unwrap().to_string()).collect();
    assert_eq!(tags, ["a", "b", "c", "d1", "d2"]);
}

/// Validation stays synchronous and typed when the content type is known.
#[test]
fn enqueue_checks_input_at_the_call() {
    let s = json_stream("checks");
    let p = Producer::start_now(s.clone(), ProducerOptions { buffer_limit_bytes: 4096, ..ProducerOptions::new("checks") }).unwrap();
    let e = p.enqueue(Bytes::from_static(b"{nope"), false).err().unwrap();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
    // One bad message refuses the whole list: nothing of it is enqueued.
    let e = p.enqueue_many(vec![msg(json!(1)), Bytes::from_static(b"[")], false).err().unwrap();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
    let e = p.enqueue(Bytes::from(vec![b'1'; 5000]), false).err().unwrap();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
    assert!(e.message().contains("bufferLimitBytes"), "{}", e.message());
    assert_eq!(p.enqueue_many(vec![], false).err().unwrap().code(), "INVALID_ARGUMENT");
    assert!(matches!(p.enqueue(msg(json!(2)), false).unwrap(), Enqueued::Accepted));
    block_on(p.flush()).unwrap();
    assert_eq!(read_back(&s), vec![json!(2)]);
}

/// Without a known content type, start sends nothing; the type is learned before the
/// first request, and what could not be checked at the call fails the flush.
#[tokio::test]
async fn lazy_start_learns_the_content_type_before_sending() {
    let created = json_stream("lazy");
    let (c, requests) = counting_client(builder());
    // A fresh handle: it knows nothing about the stream.
    let s = c.stream(created.url().path()).unwrap();
    assert!(s.known_content_type().is_none());
    let p = Producer::start(s.clone(), ProducerOptions::new("lazy")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(requests.load(Ordering::SeqCst), 0, "start must not wait for (or send) a HEAD");
    p.append(msg(json!({ "ok": 1 }))).await.unwrap();
    p.flush().await.unwrap();
    // One HEAD, one POST.
    assert_eq!(requests.load(Ordering::SeqCst), 2);
    // Now known: bad JSON is refused at the call.
    assert_eq!(p.append(Bytes::from_static(b"{bad")).await.unwrap_err().code(), "INVALID_ARGUMENT");

    // Bad JSON enqueued before the type is known cannot be refused at the call: it
    // fails the producer (flush, ack) before anything of its batch is sent.
    let s = c.stream(created.url().path()).unwrap();
    let p = Producer::start(s, ProducerOptions::new("lazy-bad")).await.unwrap();
    let ack = p.append_with_ack(Bytes::from_static(b"{bad")).await.unwrap();
    assert_eq!(p.flush().await.unwrap_err().code(), "INVALID_ARGUMENT");
    assert_eq!(ack.await.unwrap_err().code(), "INVALID_ARGUMENT");
    assert_eq!(items_of(&created).await, vec![json!({ "ok": 1 })]);

    // A stream that does not exist: start succeeds, the flush reports NOT_FOUND.
    let missing = c.stream(&fresh_path("lazy-missing")).unwrap();
    let p = Producer::start(missing, ProducerOptions::new("lazy-missing")).await.unwrap();
    p.append(msg(json!(1))).await.unwrap();
    let e = p.flush().await.unwrap_err();
    assert_eq!((e.code(), e.status()), ("NOT_FOUND", Some(404)), "{e:?}");
    assert_eq!(p.close(None).await.unwrap_err().code(), "NOT_FOUND");
}

async fn items_of(s: &Stream) -> Vec<Value> {
    serde_json::from_slice(&s.read_all(Offset::beginning()).await.unwrap()).unwrap()
}

/// A text stream takes the bytes as they are, and `enqueue_many` puts a list in one
/// batch when it fits.
#[tokio::test]
async fn enqueue_many_on_a_text_stream() {
    let s = client().stream(&fresh_path("many-text")).unwrap();
    s.create(CreateOptions { content_type: Some("text/plain".into()), ..Default::default() }).await.unwrap();
    let p = Producer::start(s.clone(), ProducerOptions::new("many-text")).await.unwrap();
    let msgs: Vec<Bytes> = (0..1000).map(|i| Bytes::from(format!("{i};"))).collect();
    let Enqueued::Ack(ack) = p.enqueue_many(msgs, true).unwrap() else { panic!("room for all") };
    p.flush().await.unwrap();
    let acked = ack.await.unwrap();
    assert_eq!(acked.seq, 0, "one batch for the list");
    let want: String = (0..1000).map(|i| format!("{i};")).collect();
    assert_eq!(s.read_all(Offset::beginning()).await.unwrap(), want.as_bytes());
}

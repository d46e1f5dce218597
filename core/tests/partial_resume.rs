//! A read whose response breaks after part of it was handed out resumes without
//! handing that part out again. Through the chaos proxy's `truncate` fault (the body is
//! cut, connection closed) in front of the reference server.

mod support;

use std::time::Duration;

use durable_streams_sdk::{Client, CreateOptions, LiveMode, Offset, ReadOptions, RetryPolicy};
use serde_json::{Value, json};
use support::chaos_proxy::Proxy;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_cut_after_its_first_pieces_is_not_delivered_twice() {
    let proxy = Proxy::start(3, 0.0, 2_000);
    let direct = Client::new(&proxy.server).unwrap().stream("/partial/json").unwrap();
    direct.create(CreateOptions { content_type: Some("application/json".into()), ..Default::default() }).await.unwrap();
    let n = 400u64;
    // Digits that do not compress much, so the (gzip) body is long and the cut lands
    // after the first pieces.
    let mut x = 12345u64;
    let msgs: Vec<Value> = (0..n)
        .map(|i| {
            let pad: String = (0..60)
                .map(|_| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    char::from(b'a' + (x >> 59) as u8 % 26)
                })
                .collect();
            json!({"n": i, "pad": pad})
        })
        .collect();
    for m in &msgs {
        direct.append_json(m, Default::default()).await.unwrap();
    }

    let proxied = Client::builder(&proxy.proxy)
        .retry_policy(RetryPolicy { max_retries: 5, initial_delay: Duration::from_millis(10), ..Default::default() })
        .build()
        .unwrap();
    for round in 0..4 {
        proxy.force("truncate").await;
        let opts = ReadOptions { offset: Offset::beginning(), live: LiveMode::Off, max_chunk_bytes: 1024, ..Default::default() };
        let mut items = proxied.stream("/partial/json").unwrap().read(opts).json_items();
        let mut seen = Vec::new();
        while let Some(v) = items.next::<Value>().await.unwrap_or_else(|e| panic!("round {round}: {e}")) {
            seen.push(v["n"].as_u64().unwrap());
        }
        assert_eq!(seen, (0..n).collect::<Vec<_>>(), "round {round}: every message once, in order");
    }
    let stats = proxy.stats().await;
    assert_eq!(stats["faults"]["truncate"], 4, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_response_cut_after_its_first_pieces_is_not_delivered_twice() {
    let proxy = Proxy::start(5, 0.0, 2_000);
    let direct = Client::new(&proxy.server).unwrap().stream("/partial/text").unwrap();
    direct.create(CreateOptions { content_type: Some("text/plain".into()), ..Default::default() }).await.unwrap();
    let mut x = 999u64;
    for i in 0..300 {
        let line: String = (0..60)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                char::from(b'a' + (x >> 59) as u8 % 26)
            })
            .collect();
        direct.append(format!("{i} {line}\n"), Default::default()).await.unwrap();
    }
    let want = direct.read_all(Offset::beginning()).await.unwrap();
    let proxied = Client::builder(&proxy.proxy)
        .retry_policy(RetryPolicy { max_retries: 5, initial_delay: Duration::from_millis(10), ..Default::default() })
        .build()
        .unwrap();
    for round in 0..4 {
        proxy.force("truncate").await;
        let opts = ReadOptions { offset: Offset::beginning(), live: LiveMode::Off, max_chunk_bytes: 1024, ..Default::default() };
        let mut session = proxied.stream("/partial/text").unwrap().read(opts);
        let mut got = Vec::new();
        while let Some(c) = session.next_chunk().await.unwrap_or_else(|e| panic!("round {round}: {e}")) {
            got.extend_from_slice(&c.data);
        }
        assert!(got == want[..], "round {round}: {} bytes read, {} stored", got.len(), want.len());
    }
    assert_eq!(proxy.stats().await["faults"]["truncate"], 4);
}

/// A long-poll answer on a JSON stream that breaks part way through its array (at any
/// byte: the proxy's `live-end`, which on a long-poll response closes the connection)
/// is read again and each message handed out once. Uncompressed, so the cut lands in
/// the JSON itself, not in a gzip stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_long_poll_answer_cut_part_way_is_read_again() {
    let proxy = Proxy::start(7, 0.0, 2_000);
    let direct = Client::new(&proxy.server).unwrap().stream("/partial/json-end").unwrap();
    direct.create(CreateOptions { content_type: Some("application/json".into()), ..Default::default() }).await.unwrap();
    let proxied = Client::builder(&proxy.proxy)
        .compression(false)
        .retry_policy(RetryPolicy { max_retries: 5, initial_delay: Duration::from_millis(10), ..Default::default() })
        .build()
        .unwrap();
    let per_round = 50u64;
    for round in 0..6u64 {
        proxy.force("live-end").await;
        // The read waits at the tail; the batch appended meanwhile is its long-poll's answer.
        let tail = direct.head().await.unwrap().next_offset;
        let opts = ReadOptions { offset: tail, live: LiveMode::LongPoll, ..Default::default() };
        let mut items = proxied.stream("/partial/json-end").unwrap().read(opts).json_items();
        let writer = direct.clone();
        let append = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            let batch: Vec<Value> = (0..per_round).map(|i| json!({"n": round * per_round + i, "pad": "x".repeat(40)})).collect();
            writer.append_json_batch(&batch, Default::default()).await.unwrap();
        });
        let mut seen = Vec::new();
        while seen.len() < per_round as usize {
            let v = tokio::time::timeout(Duration::from_secs(10), items.next::<Value>())
                .await
                .unwrap_or_else(|_| panic!("round {round}: no message within 10 s after {}", seen.len()))
                .unwrap_or_else(|e| panic!("round {round}: {e}"))
                .expect("a live read does not end");
            seen.push(v["n"].as_u64().unwrap());
        }
        append.await.unwrap();
        let want: Vec<u64> = (round * per_round..(round + 1) * per_round).collect();
        assert_eq!(seen, want, "round {round}: every message once, in order");
    }
    let stats = proxy.stats().await;
    assert_eq!(stats["faults"]["live-end"], 6, "{stats}");
}

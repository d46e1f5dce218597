//! Every stream operation of the core against the real reference server.
//!
//! Needs Node.js and `npm ci --prefix tests` (see `support`). Each test uses its own
//! fresh stream path on one shared server; fault injection is per path.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use durable_streams_sdk::{
    AppendOptions, AppendRetry, Chunk, Client, CloseOptions, CreateOptions, ForkOptions, LiveMode, Offset, Producer,
    ProducerOptions, ReadOptions, ReadSession, RetryPolicy, Stream,
};
use serde_json::{Value, json};
use support::*;

const JSON: &str = "application/json";
const TEXT: &str = "text/plain";

fn ct(content_type: &str) -> CreateOptions {
    CreateOptions { content_type: Some(content_type.to_string()), ..Default::default() }
}

async fn new_stream(client: &Client, name: &str, content_type: &str) -> Stream {
    let s = client.stream(&fresh_path(name)).expect("path");
    let r = s.create(ct(content_type)).await.expect("create");
    assert!(r.created);
    s
}

fn values(bytes: &[u8]) -> Vec<Value> {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not a JSON array ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// The next chunk within `secs` seconds (a hang is a failure, not a stuck test run).
async fn next_within(session: &mut ReadSession, secs: u64) -> Option<Chunk> {
    tokio::time::timeout(Duration::from_secs(secs), session.next_chunk())
        .await
        .unwrap_or_else(|_| panic!("no chunk within {secs} s"))
        .expect("read")
}

fn stream_path(s: &Stream) -> String {
    s.url().path().to_string()
}

// ---------------------------------------------------------------- create

#[tokio::test]
async fn create_is_idempotent_and_conflicts_on_different_config() {
    let s = client().stream(&fresh_path("create")).unwrap();
    let first = s.create(ct(TEXT)).await.unwrap();
    assert!(first.created);
    assert_eq!(first.status, 201);
    assert!(!first.closed);
    let tail = first.next_offset.clone().expect("201 carries Stream-Next-Offset");

    let again = s.create(ct(TEXT)).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.status, 200);
    assert_eq!(again.next_offset, Some(tail));

    let e = s.create(ct(JSON)).await.unwrap_err();
    assert_eq!((e.code(), e.status()), ("CONFLICT", Some(409)), "{e:?}");
    // Closure status is part of the configuration.
    let e = s.create(CreateOptions { closed: true, ..ct(TEXT) }).await.unwrap_err();
    assert_eq!((e.code(), e.status()), ("CONFLICT", Some(409)), "{e:?}");
    // A different TTL is a different configuration too.
    let e = s.create(CreateOptions { ttl_seconds: Some(60), ..ct(TEXT) }).await.unwrap_err();
    assert_eq!(e.code(), "CONFLICT", "{e:?}");
}

#[tokio::test]
async fn create_with_initial_body() {
    let s = client().stream(&fresh_path("initial")).unwrap();
    let r = s
        .create(CreateOptions { body: Some(Bytes::from_static(br#"[{"a":1},{"b":2}]"#)), ..ct(JSON) })
        .await
        .unwrap();
    assert!(r.created);
    let head = s.head().await.unwrap();
    assert_eq!(r.next_offset.as_ref(), Some(&head.next_offset));
    assert_eq!(values(&s.read_all(Offset::beginning()).await.unwrap()), vec![json!({"a":1}), json!({"b":2})]);
}

#[tokio::test]
async fn create_closed_with_initial_body() {
    let s = client().stream(&fresh_path("closed-at-create")).unwrap();
    let opts = CreateOptions { closed: true, body: Some(Bytes::from_static(b"final words")), ..ct(TEXT) };
    let r = s.create(opts.clone()).await.unwrap();
    assert!(r.created && r.closed);
    let head = s.head().await.unwrap();
    assert!(head.closed);
    assert_eq!(&s.read_all(Offset::beginning()).await.unwrap()[..], b"final words");
    // Same closed configuration: idempotent.
    assert!(!s.create(opts).await.unwrap().created);
    let e = s.append("more", AppendOptions::default()).await.unwrap_err();
    assert_eq!((e.code(), e.status()), ("STREAM_CLOSED", Some(409)));
    assert_eq!(e.final_offset(), Some(&head.next_offset));
    // A live read of a closed stream ends at once.
    let mut session = s.read(ReadOptions { live: LiveMode::LongPoll, ..Default::default() });
    let c = next_within(&mut session, 10).await.unwrap();
    assert_eq!(&c.data[..], b"final words");
    assert!(c.stream_closed);
    assert!(next_within(&mut session, 10).await.is_none());
}

#[tokio::test]
async fn create_with_ttl_and_with_expiry() {
    let c = client();
    let s = c.stream(&fresh_path("ttl")).unwrap();
    s.create(CreateOptions { ttl_seconds: Some(3600), ..ct(TEXT) }).await.unwrap();
    let h = s.head().await.unwrap();
    assert_eq!(h.ttl_seconds, Some(3600));
    assert_eq!(h.expires_at, None);

    let s = c.stream(&fresh_path("expires")).unwrap();
    let at = "2099-01-01T00:00:00Z";
    s.create(CreateOptions { expires_at: Some(at.into()), ..ct(TEXT) }).await.unwrap();
    let h = s.head().await.unwrap();
    assert_eq!(h.expires_at.as_deref(), Some(at));
    assert_eq!(h.ttl_seconds, None);
}

#[tokio::test]
async fn fork_headers() {
    let c = client();
    let src = new_stream(&c, "fork-src", JSON).await;
    let after_a = src.append_json(&json!("a"), AppendOptions::default()).await.unwrap().next_offset.unwrap();
    src.append_json_batch(&[json!("b"), json!("c")], AppendOptions::default()).await.unwrap();
    let fork_of = |offset: Option<Offset>, sub_offset: Option<u64>| CreateOptions {
        fork: Some(ForkOptions { source_path: stream_path(&src), offset, sub_offset }),
        ..Default::default()
    };

    let at_tail = c.stream(&fresh_path("fork-tail")).unwrap();
    let r = at_tail.create(fork_of(None, None)).await.unwrap();
    assert!(r.created);
    assert_eq!(values(&at_tail.read_all(Offset::beginning()).await.unwrap()), vec![json!("a"), json!("b"), json!("c")]);

    let at_a = c.stream(&fresh_path("fork-a")).unwrap();
    at_a.create(fork_of(Some(after_a.clone()), None)).await.unwrap();
    assert_eq!(values(&at_a.read_all(Offset::beginning()).await.unwrap()), vec![json!("a")]);

    let at_a_plus_1 = c.stream(&fresh_path("fork-a1")).unwrap();
    at_a_plus_1.create(fork_of(Some(after_a), Some(1))).await.unwrap();
    assert_eq!(values(&at_a_plus_1.read_all(Offset::beginning()).await.unwrap()), vec![json!("a"), json!("b")]);

    // The fork diverges: its appends do not reach the source.
    at_tail.append_json(&json!("d"), AppendOptions::default()).await.unwrap();
    assert_eq!(values(&at_tail.read_all(Offset::beginning()).await.unwrap()).len(), 4);
    assert_eq!(values(&src.read_all(Offset::beginning()).await.unwrap()).len(), 3);

    let missing = c.stream(&fresh_path("fork-missing")).unwrap();
    let e = missing
        .create(CreateOptions {
            fork: Some(ForkOptions { source_path: "/t/no-such-source".into(), ..Default::default() }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!((e.code(), e.status()), ("NOT_FOUND", Some(404)), "{e:?}");
}

// ---------------------------------------------------------------- append

#[tokio::test]
async fn append_bytes_and_text() {
    let c = client();
    let bin = c.stream(&fresh_path("bytes")).unwrap();
    bin.create(CreateOptions::default()).await.unwrap();
    assert_eq!(bin.content_type().await.unwrap(), "application/octet-stream");
    let r = bin.append(vec![0u8, 1, 2, 255], AppendOptions::default()).await.unwrap();
    assert!(r.next_offset.is_some());
    assert!(!r.stream_closed);
    bin.append(Bytes::from_static(&[0, 0xfe]), AppendOptions::default()).await.unwrap();
    assert_eq!(&bin.read_all(Offset::beginning()).await.unwrap()[..], &[0, 1, 2, 255, 0, 0xfe]);

    let text = new_stream(&c, "text", "text/plain; charset=utf-8").await;
    text.append("héllo ", AppendOptions::default()).await.unwrap();
    text.append(String::from("wörld 😀"), AppendOptions::default()).await.unwrap();
    assert_eq!(&text.read_all(Offset::beginning()).await.unwrap()[..], "héllo wörld 😀".as_bytes());
}

#[tokio::test]
async fn append_json_values_keep_their_boundaries() {
    let s = new_stream(&client(), "json", JSON).await;
    let o = AppendOptions::default;
    // Raw JSON text: one message, even when it is an array.
    s.append(r#"{"a": 1}"#, o()).await.unwrap();
    s.append("[1, 2]", o()).await.unwrap();
    // Serialised values: one message each, arrays included.
    s.append_json(&json!([3, 4]), o()).await.unwrap();
    s.append_json(&json!([[5]]), o()).await.unwrap();
    // A batch: one message per element, whatever the element is.
    let r = s.append_json_batch(&[json!({"b": 2}), json!([6, 7]), json!("x")], o()).await.unwrap();
    let all = s.read_all(Offset::beginning()).await.unwrap();
    assert_eq!(
        values(&all),
        vec![json!({"a":1}), json!([1, 2]), json!([3, 4]), json!([[5]]), json!({"b":2}), json!([6, 7]), json!("x")]
    );
    assert_eq!(r.next_offset, Some(s.head().await.unwrap().next_offset));
}

#[tokio::test]
async fn stream_seq_regression_is_a_sequence_conflict() {
    let s = new_stream(&client(), "seq", TEXT).await;
    let seq = |v: &str| AppendOptions { seq: Some(v.to_string()), ..Default::default() };
    s.append("a", seq("0001")).await.unwrap();
    s.append("b", seq("0002")).await.unwrap();
    for stale in ["0002", "0001"] {
        let e = s.append("x", seq(stale)).await.unwrap_err();
        assert_eq!((e.code(), e.status()), ("SEQUENCE_CONFLICT", Some(409)), "{stale}: {e:?}");
    }
    s.append("c", seq("0010")).await.unwrap();
    assert_eq!(&s.read_all(Offset::beginning()).await.unwrap()[..], b"abc");
}

#[tokio::test]
async fn content_type_mismatch() {
    let c = client();
    let json_stream = new_stream(&c, "ct-json", JSON).await;
    let e = json_stream
        .append("plain", AppendOptions { content_type: Some(TEXT.into()), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!((e.code(), e.status()), ("CONTENT_TYPE_MISMATCH", Some(409)), "{e:?}");

    let text_stream = new_stream(&c, "ct-text", TEXT).await;
    let e = text_stream.append_json(&json!({"a": 1}), AppendOptions::default()).await.unwrap_err();
    assert_eq!((e.code(), e.status()), ("CONTENT_TYPE_MISMATCH", Some(409)), "{e:?}");
    // With a Stream-Seq too, a content-type mismatch is still reported as such.
    let e = text_stream
        .append_json(&json!(1), AppendOptions { seq: Some("5".into()), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), "CONTENT_TYPE_MISMATCH", "{e:?}");
    assert!(text_stream.read_all(Offset::beginning()).await.unwrap().is_empty());
}

// ---------------------------------------------------------------- close / delete / head

#[tokio::test]
async fn close_without_final_message() {
    let s = new_stream(&client(), "close", TEXT).await;
    s.append("a", AppendOptions::default()).await.unwrap();
    let closed = s.close(CloseOptions::default()).await.unwrap();
    let head = s.head().await.unwrap();
    assert!(head.closed);
    assert_eq!(closed.final_offset, head.next_offset);
    // Closing again is idempotent.
    assert_eq!(s.close(CloseOptions::default()).await.unwrap().final_offset, closed.final_offset);
    let e = s.append("b", AppendOptions::default()).await.unwrap_err();
    assert_eq!((e.code(), e.status()), ("STREAM_CLOSED", Some(409)));
    assert_eq!(e.final_offset(), Some(&closed.final_offset));
    assert_eq!(&s.read_all(Offset::beginning()).await.unwrap()[..], b"a");
}

#[tokio::test]
async fn close_with_final_message() {
    let s = new_stream(&client(), "close-final", JSON).await;
    s.append_json(&1, AppendOptions::default()).await.unwrap();
    let closed = s.close(CloseOptions { data: Some(Bytes::from_static(b"[2]")), ..Default::default() }).await.unwrap();
    assert_eq!(closed.final_offset, s.head().await.unwrap().next_offset);
    // The final message is one JSON message, even though it is an array.
    assert_eq!(values(&s.read_all(Offset::beginning()).await.unwrap()), vec![json!(1), json!([2])]);
    // Append-and-close on a closed stream is not idempotent; close-only is.
    let e = s.close(CloseOptions { data: Some(Bytes::from_static(b"3")), ..Default::default() }).await.unwrap_err();
    assert_eq!(e.code(), "STREAM_CLOSED", "{e:?}");
    assert_eq!(e.final_offset(), Some(&closed.final_offset));
    assert_eq!(s.close(CloseOptions::default()).await.unwrap().final_offset, closed.final_offset);
    let e = s.append_json(&4, AppendOptions::default()).await.unwrap_err();
    assert_eq!(e.code(), "STREAM_CLOSED");
}

#[tokio::test]
async fn append_with_close_flag() {
    let s = new_stream(&client(), "append-close", TEXT).await;
    let r = s.append("last", AppendOptions { close: true, ..Default::default() }).await.unwrap();
    assert!(r.stream_closed);
    assert!(s.head().await.unwrap().closed);
}

#[tokio::test]
async fn delete_then_not_found() {
    let s = new_stream(&client(), "delete", TEXT).await;
    s.append("x", AppendOptions::default()).await.unwrap();
    s.delete().await.unwrap();
    let not_found = |e: durable_streams_sdk::Error| {
        assert_eq!((e.code(), e.status()), ("NOT_FOUND", Some(404)), "{e:?}");
    };
    not_found(s.head().await.unwrap_err());
    not_found(s.read_all(Offset::beginning()).await.unwrap_err());
    not_found(s.append("y", AppendOptions { content_type: Some(TEXT.into()), ..Default::default() }).await.unwrap_err());
    not_found(s.close(CloseOptions::default()).await.unwrap_err());
    not_found(s.delete().await.unwrap_err());
    // A live read of a deleted stream fails once and ends.
    let mut session = s.read(ReadOptions { live: LiveMode::LongPoll, ..Default::default() });
    not_found(session.next_chunk().await.unwrap_err());
    assert!(session.next_chunk().await.unwrap().is_none());
}

#[tokio::test]
async fn head_metadata() {
    let s = new_stream(&client(), "head", JSON).await;
    let r = s.append_json_batch(&[1, 2], AppendOptions::default()).await.unwrap();
    // A fresh handle learns everything from HEAD.
    let fresh = client().stream(&stream_path(&s)).unwrap();
    assert_eq!(fresh.known_content_type(), None);
    let h = fresh.head().await.unwrap();
    assert_eq!(h.content_type.as_deref(), Some(JSON));
    assert_eq!(Some(h.next_offset.clone()), r.next_offset);
    assert!(!h.closed);
    assert!(h.etag.is_some());
    assert_eq!((h.ttl_seconds, h.expires_at.as_deref()), (None, None));
    assert_eq!(fresh.known_content_type().as_deref(), Some(JSON));
}

// ---------------------------------------------------------------- reads

#[tokio::test]
async fn read_all_from_offsets() {
    let s = new_stream(&client(), "read-all", TEXT).await;
    let after_a = s.append("a", AppendOptions::default()).await.unwrap().next_offset.unwrap();
    s.append("b", AppendOptions::default()).await.unwrap();
    assert_eq!(&s.read_all(Offset::beginning()).await.unwrap()[..], b"ab");
    assert_eq!(&s.read_all(after_a).await.unwrap()[..], b"b");
    assert!(s.read_all(Offset::now()).await.unwrap().is_empty());
    // A saved offset survives being stored as text.
    let tail = s.head().await.unwrap().next_offset;
    let restored = Offset::parse(&tail.to_string()).unwrap();
    assert!(s.read_all(restored).await.unwrap().is_empty());
}

#[derive(Clone, Copy, Debug)]
enum Start {
    Beginning,
    Saved,
    Now,
}

/// A session in `mode` from `start` on a JSON stream holding 0, 1, 2: sees the history
/// it should, then (live modes) values appended concurrently, and ends exactly once
/// when the stream is closed.
async fn check_session(mode: LiveMode, start: Start) {
    let s = new_stream(&client(), &format!("session-{mode:?}-{start:?}").to_lowercase(), JSON).await;
    let after_0 = s.append_json(&0, AppendOptions::default()).await.unwrap().next_offset.unwrap();
    s.append_json_batch(&[1, 2], AppendOptions::default()).await.unwrap();
    let (offset, history): (Offset, Vec<i64>) = match start {
        Start::Beginning => (Offset::beginning(), vec![0, 1, 2]),
        Start::Saved => (after_0, vec![1, 2]),
        Start::Now => (Offset::now(), vec![]),
    };
    let mut session = s.read(ReadOptions { offset, live: mode, ..Default::default() });
    let mut got: Vec<i64> = Vec::new();
    if mode == LiveMode::Off {
        while let Some(c) = next_within(&mut session, 10).await {
            assert!(!c.stream_closed);
            got.extend(c.json::<i64>().unwrap());
        }
        assert_eq!(got, history, "{mode:?} from {start:?}");
        assert!(session.is_done());
        return;
    }
    loop {
        let c = next_within(&mut session, 10).await.expect("live session ended early");
        got.extend(c.json::<i64>().unwrap());
        if c.up_to_date && got.len() >= history.len() {
            break;
        }
    }
    assert_eq!(got, history, "{mode:?} from {start:?}: history");

    let writer = s.clone();
    let w = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        writer.append_json(&3, AppendOptions::default()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        writer.append_json_batch(&[4, 5], AppendOptions::default()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        writer.close(CloseOptions::default()).await.unwrap()
    });
    let mut closed_chunks = 0;
    let mut after_close = 0;
    while let Some(c) = next_within(&mut session, 10).await {
        if closed_chunks > 0 {
            after_close += 1;
        }
        got.extend(c.json::<i64>().unwrap());
        if c.stream_closed {
            closed_chunks += 1;
            assert!(c.up_to_date);
        }
    }
    let final_offset = w.await.unwrap().final_offset;
    let mut expected = history.clone();
    expected.extend([3, 4, 5]);
    assert_eq!(got, expected, "{mode:?} from {start:?}: live values");
    assert_eq!((closed_chunks, after_close), (1, 0), "{mode:?}: exactly one closing chunk, and it is the last");
    assert_eq!(session.offset(), &final_offset);
    assert!(session.is_done());
    assert!(next_within(&mut session, 5).await.is_none(), "an ended session stays ended");
}

#[tokio::test]
async fn session_off() {
    for start in [Start::Beginning, Start::Saved, Start::Now] {
        check_session(LiveMode::Off, start).await;
    }
}

#[tokio::test]
async fn session_long_poll() {
    for start in [Start::Beginning, Start::Saved, Start::Now] {
        check_session(LiveMode::LongPoll, start).await;
    }
}

#[tokio::test]
async fn session_sse() {
    for start in [Start::Beginning, Start::Saved, Start::Now] {
        check_session(LiveMode::Sse, start).await;
    }
}

#[tokio::test]
async fn session_auto() {
    for start in [Start::Beginning, Start::Saved, Start::Now] {
        check_session(LiveMode::Auto, start).await;
    }
}

#[tokio::test]
async fn binary_stream_live_reads() {
    // Binary data travels base64-encoded over SSE; Auto picks long-poll for it.
    for mode in [LiveMode::Sse, LiveMode::Auto, LiveMode::LongPoll] {
        let s = client().stream(&fresh_path("binary-live")).unwrap();
        s.create(CreateOptions::default()).await.unwrap();
        s.append(vec![0u8, 0xff, 0x80], AppendOptions::default()).await.unwrap();
        let mut session = s.read(ReadOptions { live: mode, ..Default::default() });
        let w = s.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            w.append(vec![0u8, 10, 13, 0xfe], AppendOptions::default()).await.unwrap();
            w.close(CloseOptions::default()).await.unwrap();
        });
        let mut data = Vec::new();
        while let Some(c) = next_within(&mut session, 10).await {
            data.extend_from_slice(&c.data);
        }
        assert_eq!(data, vec![0, 0xff, 0x80, 0, 10, 13, 0xfe], "{mode:?}");
    }
}

#[tokio::test]
async fn json_items_iteration() {
    let s = new_stream(&client(), "json-items", JSON).await;
    s.append_json_batch(&[json!({"n": 1}), json!([2]), json!("three")], AppendOptions::default()).await.unwrap();
    let mut items = s.read(ReadOptions::default()).json_items();
    assert_eq!(items.next::<Value>().await.unwrap(), Some(json!({"n": 1})));
    assert_eq!(&items.next_raw().await.unwrap().unwrap()[..], b"[2]");
    assert_eq!(items.next::<String>().await.unwrap().as_deref(), Some("three"));
    assert_eq!(items.next::<Value>().await.unwrap(), None);

    // Live: items appended later arrive one by one, then the iteration ends at closure.
    let mut live = s.read(ReadOptions { live: LiveMode::Auto, ..Default::default() }).json_items();
    for _ in 0..3 {
        live.next::<Value>().await.unwrap().unwrap();
    }
    let w = s.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        w.append_json_batch(&[4, 5], AppendOptions::default()).await.unwrap();
        w.close(CloseOptions::default()).await.unwrap();
    });
    let mut rest = Vec::new();
    while let Some(v) = tokio::time::timeout(Duration::from_secs(10), live.next::<i64>()).await.unwrap().unwrap() {
        rest.push(v);
    }
    assert_eq!(rest, vec![4, 5]);
    // A typed read of the wrong shape is an error, not a panic.
    let mut wrong = s.read(ReadOptions::default()).json_items();
    let e = wrong.next::<u32>().await.unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
}

/// The reference server derives a response cursor from the request's: a client cursor
/// at or beyond the current interval comes back strictly larger. So a huge starting
/// cursor proves the session sent it, and ever larger cursors prove it echoes each one.
#[tokio::test]
async fn cursor_is_echoed() {
    let huge: u64 = 90_000_000_000;
    let s = new_stream(&client(), "cursor", TEXT).await;

    // Without a cursor the server hands out the current interval (far below `huge`).
    let mut plain = s.read(ReadOptions { offset: Offset::now(), live: LiveMode::LongPoll, ..Default::default() });
    let c = next_within(&mut plain, 10).await.unwrap();
    let baseline: u64 = c.cursor.expect("long-poll responses carry a cursor").parse().unwrap();
    assert!(baseline < huge);

    let mut session = s.read(ReadOptions {
        offset: Offset::now(),
        live: LiveMode::LongPoll,
        cursor: Some(huge.to_string()),
        ..Default::default()
    });
    let mut last = huge;
    for _ in 0..3 {
        let c = next_within(&mut session, 10).await.unwrap(); // 204 after the 500 ms long-poll timeout
        assert_eq!(c.status, 204);
        let cursor: u64 = c.cursor.clone().unwrap().parse().unwrap();
        assert!(cursor > last, "cursor {cursor} should exceed the echoed {last}");
        assert_eq!(session.cursor(), c.cursor.as_deref());
        last = cursor;
    }

    // SSE: the connection's cursor parameter is the one echoed.
    let mut sse = s.read(ReadOptions {
        offset: Offset::now(),
        live: LiveMode::Sse,
        cursor: Some(huge.to_string()),
        ..Default::default()
    });
    let c = next_within(&mut sse, 10).await.unwrap();
    let cursor: u64 = c.cursor.unwrap().parse().unwrap();
    assert!(cursor > huge);
}

/// Several MiB read with a small `max_chunk_bytes`: many partial chunks, the data
/// intact, and no UTF-8 character split between two pieces of a text stream.
#[tokio::test]
async fn large_text_response_is_streamed_in_pieces() {
    let s = new_stream(&client(), "large-text", "text/plain; charset=utf-8").await;
    let unit = "ascii é ü € 😀 🎉 ∑ — ";
    let mut text = String::new();
    while text.len() < 3 << 20 {
        text.push_str(unit);
        text.push_str(&text.len().to_string());
    }
    // Two appends so the body spans two stored messages.
    let (a, b) = text.split_at(text.char_indices().nth(text.chars().count() / 2).unwrap().0);
    s.append(a.to_string(), AppendOptions::default()).await.unwrap();
    s.append(b.to_string(), AppendOptions::default()).await.unwrap();

    let max = 16 * 1024 + 1; // odd size: cuts fall everywhere
    let mut session = s.read(ReadOptions { max_chunk_bytes: max, ..Default::default() });
    let mut joined = Vec::new();
    let (mut partial, mut complete) = (0, 0);
    while let Some(c) = next_within(&mut session, 30).await {
        assert!(std::str::from_utf8(&c.data).is_ok(), "a piece splits a UTF-8 character");
        assert!(c.data.len() <= max + 64 * 1024, "piece of {} bytes", c.data.len());
        if c.partial {
            partial += 1;
            assert_eq!(c.next_offset, Offset::beginning(), "a partial chunk keeps the response's start offset");
            assert!(!c.up_to_date);
        } else {
            complete += 1;
        }
        joined.extend_from_slice(&c.data);
    }
    assert_eq!(complete, 1);
    assert!(partial >= 50, "only {partial} partial chunks");
    assert_eq!(joined.len(), text.len());
    assert!(joined == text.as_bytes(), "data altered");
}

#[tokio::test]
async fn large_json_response_is_streamed_in_whole_messages() {
    let s = new_stream(&client(), "large-json", JSON).await;
    let n = 30_000;
    let all: Vec<Value> = (0..n).map(|i| json!({"i": i, "text": format!("message {i} — ünïcödé 😀")})).collect();
    for part in all.chunks(5_000) {
        s.append_json_batch(part, AppendOptions::default()).await.unwrap();
    }
    let mut session = s.read(ReadOptions { max_chunk_bytes: 8 * 1024, ..Default::default() });
    let mut got = Vec::new();
    let mut partial = 0;
    while let Some(c) = next_within(&mut session, 30).await {
        partial += usize::from(c.partial);
        let items = c.items().expect("JSON chunks carry items");
        // Each piece is itself a valid JSON array of exactly its items.
        assert_eq!(values(&c.data).len(), items.len());
        for i in items {
            got.push(serde_json::from_slice::<Value>(&i).unwrap());
        }
    }
    assert!(partial >= 100, "only {partial} partial chunks");
    assert_eq!(got.len(), all.len());
    assert!(got == all, "messages altered or reordered");
}

/// The server gzips GET bodies of 1 KiB or more when asked; the client asks and
/// must hand out the decompressed bytes unchanged (and work with compression off).
#[tokio::test]
async fn gzip_bodies_arrive_intact() {
    let s = new_stream(&client(), "gzip", TEXT).await;
    let text: String = (0..20_000).map(|i| format!("{i} é\n")).collect();
    s.append(text.clone(), AppendOptions::default()).await.unwrap();

    let raw = raw_get(&format!("{}?offset=-1", stream_path(&s)), &[("accept-encoding", "gzip")]).await;
    assert_eq!(raw.headers().get("content-encoding").and_then(|v| v.to_str().ok()), Some("gzip"));
    let wire = raw.bytes().await.unwrap();
    assert!(wire.len() < text.len() / 2, "the body on the wire should be compressed");

    assert!(s.read_all(Offset::beginning()).await.unwrap() == text.as_bytes());
    let mut session = s.read(ReadOptions { max_chunk_bytes: 1000, ..Default::default() });
    let mut joined = Vec::new();
    while let Some(c) = next_within(&mut session, 10).await {
        joined.extend_from_slice(&c.data);
    }
    assert!(joined == text.as_bytes());
    let uncompressed = builder().compression(false).build().unwrap().stream(&stream_path(&s)).unwrap();
    assert!(uncompressed.read_all(Offset::beginning()).await.unwrap() == text.as_bytes());
}

// ---------------------------------------------------------------- headers and params

#[tokio::test]
async fn dynamic_headers_and_params_are_evaluated_on_every_request() {
    let param_calls = Arc::new(AtomicU64::new(0));
    let p = param_calls.clone();
    let (c, requests) = counting_client(builder().dynamic_param("token", move || {
        let v = p.fetch_add(1, Ordering::SeqCst) + 1;
        async move { Ok(format!("t{v}")) }
    }));
    let s = c.stream(&fresh_path("dynamic")).unwrap();
    s.create(ct(TEXT)).await.unwrap();
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    let r = s.append("a", AppendOptions::default()).await.unwrap();
    assert_eq!(requests.load(Ordering::SeqCst), 2);
    assert_eq!(r.sent.headers, vec![("x-request-count".to_string(), "2".to_string())]);
    assert_eq!(r.sent.params, vec![("token".to_string(), "t2".to_string())]);

    // Retries evaluate the providers again: two injected failures, then success.
    inject(&stream_path(&s), json!({"status": 503, "count": 2, "method": "GET"})).await;
    let mut session = s.read(ReadOptions::default());
    assert_eq!(&next_within(&mut session, 10).await.unwrap().data[..], b"a");
    assert_eq!(requests.load(Ordering::SeqCst), 5);
    assert_eq!(param_calls.load(Ordering::SeqCst), 5);
    assert_eq!(session.sent_values().headers, vec![("x-request-count".to_string(), "5".to_string())]);
    assert_eq!(session.sent_values().params, vec![("token".to_string(), "t5".to_string())]);
}

/// A dynamic `Stream-Seq` header: the server requires it to increase strictly, so
/// appends succeed only if the value really is recomputed for every request.
#[tokio::test]
async fn dynamic_header_values_reach_the_server() {
    let n = Arc::new(AtomicU64::new(0));
    let n2 = n.clone();
    let c = builder()
        .dynamic_header("Stream-Seq", move || {
            let v = n2.fetch_add(1, Ordering::SeqCst);
            async move { Ok(format!("{v:08}")) }
        })
        .build()
        .unwrap();
    let s = c.stream(&fresh_path("dynamic-seq")).unwrap();
    s.create(ct(TEXT)).await.unwrap();
    inject(&stream_path(&s), json!({"status": 503, "count": 1, "method": "POST"})).await;
    for part in ["a", "b", "c"] {
        s.append(part, AppendOptions::default()).await.unwrap();
    }
    assert_eq!(&s.read_all(Offset::beginning()).await.unwrap()[..], b"abc");
    // A per-request Stream-Seq (a lower one) wins over the dynamic header.
    let e = s.append("x", AppendOptions { seq: Some("00000000".into()), ..Default::default() }).await.unwrap_err();
    assert_eq!(e.code(), "SEQUENCE_CONFLICT", "{e:?}");
}

#[tokio::test]
async fn per_request_headers_reach_the_server() {
    let c = client();
    // Create: a TTL given as a raw header.
    let s = c.stream(&fresh_path("per-request")).unwrap();
    s.create(CreateOptions { headers: vec![("Stream-TTL".into(), "120".into())], ..ct(TEXT) }).await.unwrap();
    assert_eq!(s.head().await.unwrap().ttl_seconds, Some(120));
    // Append: a Stream-Seq given as a raw header is enforced by the server.
    s.append("a", AppendOptions { headers: vec![("Stream-Seq".into(), "0005".into())], ..Default::default() })
        .await
        .unwrap();
    let e = s.append("b", AppendOptions { seq: Some("0004".into()), ..Default::default() }).await.unwrap_err();
    assert_eq!(e.code(), "SEQUENCE_CONFLICT");
    // Read: a conditional request with the stream's current ETag is answered 304,
    // which only happens if the header was sent.
    let etag = s.head().await.unwrap().etag.unwrap();
    assert!(!s.read_all(Offset::beginning()).await.unwrap().is_empty());
    let mut session = s.read(ReadOptions { headers: vec![("If-None-Match".into(), etag)], ..Default::default() });
    let e = session.next_chunk().await.unwrap_err();
    assert_eq!(e.status(), Some(304), "{e:?}");
    // Default (client-wide) headers go out too: a stale Stream-Seq is refused...
    let with_default = builder().header("Stream-Seq", "0001").build().unwrap().stream(&stream_path(&s)).unwrap();
    let e = with_default.append("c", AppendOptions::default()).await.unwrap_err();
    assert_eq!(e.status(), Some(409), "{e:?}");
    assert_eq!(&s.read_all(Offset::beginning()).await.unwrap()[..], b"a");
    // ... and the refusal is a sequence conflict, however the header was supplied.
    assert_eq!(e.code(), "SEQUENCE_CONFLICT", "Stream-Seq as a default header: {e:?}");
    let e = s
        .append("d", AppendOptions { headers: vec![("Stream-Seq".into(), "0003".into())], ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), "SEQUENCE_CONFLICT", "Stream-Seq as a per-request header: {e:?}");
}

// ---------------------------------------------------------------- retries

#[tokio::test]
async fn reads_retry_through_500_503_and_429() {
    let (c, requests) = counting_client(builder());
    let s = new_stream(&c, "retry-read", TEXT).await;
    s.append("data", AppendOptions::default()).await.unwrap();
    for (status, retry_after) in [(500, None), (503, None), (429, Some(1)), (502, None)] {
        let mut fault = json!({"status": status, "count": 1, "method": "GET"});
        if let Some(ra) = retry_after {
            fault["retryAfter"] = json!(ra);
        }
        inject(&stream_path(&s), fault).await;
        let before = requests.load(Ordering::SeqCst);
        let t = Instant::now();
        assert_eq!(&s.read_all(Offset::beginning()).await.unwrap()[..], b"data", "after {status}");
        assert_eq!(requests.load(Ordering::SeqCst) - before, 2, "one failure, one retry ({status})");
        if retry_after.is_some() {
            assert!(t.elapsed() >= Duration::from_millis(950), "Retry-After ignored: {:?}", t.elapsed());
        }
    }
    // Live reads too.
    inject(&stream_path(&s), json!({"status": 503, "count": 2, "method": "GET"})).await;
    let mut session = s.read(ReadOptions { live: LiveMode::Sse, ..Default::default() });
    assert_eq!(&next_within(&mut session, 10).await.unwrap().data[..], b"data");
}

#[tokio::test]
async fn close_only_retries() {
    for (status, retry_after) in [(500, None), (503, None), (429, Some(0))] {
        let s = new_stream(&client(), "retry-close", TEXT).await;
        let mut fault = json!({"status": status, "count": 2, "method": "POST"});
        if let Some(ra) = retry_after {
            fault["retryAfter"] = json!(ra);
        }
        inject(&stream_path(&s), fault).await;
        let r = s.close(CloseOptions::default()).await.unwrap_or_else(|e| panic!("{status}: {e:?}"));
        assert_eq!(r.final_offset, s.head().await.unwrap().next_offset);
        assert!(s.head().await.unwrap().closed);
    }
}

#[tokio::test]
async fn persistent_500_fails_in_bounded_time() {
    // The default policy: 5 retries with capped exponential backoff.
    let (c, requests) = counting_client(Client::builder(base_url()));
    let s = new_stream(&c, "retry-exhausted", TEXT).await;
    inject(&stream_path(&s), json!({"status": 500, "count": 20, "method": "GET"})).await;
    let before = requests.load(Ordering::SeqCst);
    let t = Instant::now();
    let e = s.read_all(Offset::beginning()).await.unwrap_err();
    let took = t.elapsed();
    disarm(&stream_path(&s)).await;
    assert_eq!((e.code(), e.status()), ("UNEXPECTED_STATUS", Some(500)), "{e:?}");
    assert!(e.is_transient());
    assert_eq!(requests.load(Ordering::SeqCst) - before, 1 + RetryPolicy::default().max_retries as u64);
    assert!(took < Duration::from_secs(8), "took {took:?}");
}

#[tokio::test]
async fn plain_append_is_retried_only_when_allowed() {
    // Default policy: a 500 may have been applied, so a plain append is not repeated.
    let (c, requests) = counting_client(builder());
    let s = new_stream(&c, "retry-append", TEXT).await;
    inject(&stream_path(&s), json!({"status": 500, "count": 1, "method": "POST"})).await;
    let before = requests.load(Ordering::SeqCst);
    let e = s.append("once", AppendOptions::default()).await.unwrap_err();
    assert_eq!((e.code(), e.status()), ("UNEXPECTED_STATUS", Some(500)), "{e:?}");
    assert_eq!(requests.load(Ordering::SeqCst) - before, 1);
    assert!(s.read_all(Offset::beginning()).await.unwrap().is_empty());

    // ... but a 503 proves it was not applied, so it is repeated.
    inject(&stream_path(&s), json!({"status": 503, "count": 1, "method": "POST"})).await;
    s.append("a", AppendOptions::default()).await.unwrap();
    assert_eq!(&s.read_all(Offset::beginning()).await.unwrap()[..], b"a");

    // At-least-once: retried after a 500 as well.
    let (c2, requests2) =
        counting_client(builder().retry_policy(RetryPolicy { append_retry: AppendRetry::AtLeastOnce, ..fast_retry() }));
    let s2 = c2.stream(&stream_path(&s)).unwrap().with_content_type(TEXT);
    inject(&stream_path(&s), json!({"status": 500, "count": 1, "method": "POST"})).await;
    s2.append("b", AppendOptions::default()).await.unwrap();
    assert_eq!(requests2.load(Ordering::SeqCst), 2);
    assert_eq!(&s.read_all(Offset::beginning()).await.unwrap()[..], b"ab");
}

#[tokio::test]
async fn producer_appends_are_retried() {
    let s = new_stream(&client(), "retry-producer", JSON).await;
    let p = Producer::start(s.clone(), ProducerOptions::new("retrying")).await.unwrap();
    inject(&stream_path(&s), json!({"status": 500, "count": 3, "method": "POST"})).await;
    for i in 0..10 {
        p.append_json(&i).await.unwrap();
    }
    p.flush().await.unwrap();
    inject(&stream_path(&s), json!({"dropConnection": true, "count": 2, "method": "POST"})).await;
    for i in 10..20 {
        p.append_json(&i).await.unwrap();
    }
    p.flush().await.unwrap();
    let got: Vec<i64> = serde_json::from_slice(&s.read_all(Offset::beginning()).await.unwrap()).unwrap();
    assert_eq!(got, (0..20).collect::<Vec<_>>());
}

// ---------------------------------------------------------------- cancellation

/// Dropping a live session stops it: no request is made after the drop, and the
/// abandoned request does not hold up the client.
#[tokio::test]
async fn dropping_a_live_session_cancels_it() {
    for mode in [LiveMode::LongPoll, LiveMode::Sse] {
        let (c, requests) = counting_client(builder());
        let s = new_stream(&c, "drop", TEXT).await;
        let mut session = s.read(ReadOptions { offset: Offset::now(), live: mode, ..Default::default() });
        // Keep the session inside a request: every GET is held 5 s by the server.
        inject(&stream_path(&s), json!({"delayMs": 5000, "count": 1000, "method": "GET"})).await;
        let pending = tokio::time::timeout(Duration::from_millis(300), session.next_chunk()).await;
        assert!(pending.is_err(), "{mode:?}: the request should still be pending");
        let t = Instant::now();
        drop(session);
        assert!(t.elapsed() < Duration::from_millis(100), "drop blocked");
        let after_drop = requests.load(Ordering::SeqCst);
        disarm(&stream_path(&s)).await;
        // The client is not held up by the abandoned request.
        let t = Instant::now();
        s.append("x", AppendOptions::default()).await.unwrap();
        assert_eq!(&s.read_all(Offset::beginning()).await.unwrap()[..], b"x");
        assert!(t.elapsed() < Duration::from_secs(2), "{mode:?}: client blocked for {:?}", t.elapsed());
        // Nothing keeps polling in the background.
        let base = requests.load(Ordering::SeqCst);
        assert_eq!(base - after_drop, 2);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(requests.load(Ordering::SeqCst), base, "{mode:?}: requests after the session was dropped");
    }
}

#[tokio::test]
async fn prefetched_session_reads_ahead_and_ends_once() {
    let s = client().stream(&fresh_path("prefetch")).unwrap();
    s.create(CreateOptions { content_type: Some("text/plain".into()), ..Default::default() }).await.unwrap();
    for i in 0..3 {
        s.append(format!("{i};"), AppendOptions::default()).await.unwrap();
    }
    let mut p = s.read(ReadOptions { live: LiveMode::LongPoll, ..Default::default() }).prefetch(8);
    let w = s.clone();
    tokio::spawn(async move {
        for i in 3..6 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            w.append(format!("{i};"), AppendOptions::default()).await.unwrap();
        }
        w.close(CloseOptions::default()).await.unwrap();
    });
    let mut text = String::new();
    let mut closed = 0;
    while let Some(c) = p.next_chunk().await.unwrap() {
        text.push_str(std::str::from_utf8(&c.data).unwrap());
        closed += usize::from(c.stream_closed);
    }
    assert_eq!(text, "0;1;2;3;4;5;");
    assert_eq!(closed, 1);
    // Offset follows the chunks taken: the stream's final offset.
    assert_eq!(p.offset(), &s.head().await.unwrap().next_offset);
    assert!(p.next_chunk().await.unwrap().is_none(), "stays ended");
    // A prefetched session that is ready hands out without waiting.
    let mut q = s.read(ReadOptions::default()).prefetch(4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ready = q.try_next().expect("read ahead").unwrap().unwrap();
    assert_eq!(&ready.data[..], b"0;1;2;3;4;5;");
}

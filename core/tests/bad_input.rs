//! Bad input and bad servers: one test per row of docs/bad-input.md.
//!
//! Real server (the reference server) wherever it can produce the situation; a
//! minimal raw-bytes mock (`support::Mock`) only for responses no conforming server
//! sends, and each such test says why it needs one.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use durable_streams_sdk::{
    AppendOptions, Client, CloseOptions, CreateOptions, ErrorKind, LiveMode, Offset, Producer, ProducerOptions,
    RawProducerOptions, ReadOptions, RetryPolicy, Stream,
};
use serde_json::json;
use support::*;

fn no_retry_client(base: &str) -> Client {
    Client::builder(base).retry_policy(RetryPolicy::none()).build().unwrap()
}

async fn json_stream(name: &str) -> Stream {
    let s = client().stream(&fresh_path(name)).unwrap();
    s.create(CreateOptions { content_type: Some("application/json".into()), ..Default::default() }).await.unwrap();
    s
}

fn field(e: &durable_streams_sdk::Error) -> &'static str {
    match e.kind() {
        ErrorKind::InvalidArgument { field } => field,
        other => panic!("expected INVALID_ARGUMENT, got {other:?}: {e}"),
    }
}

// Row 1
#[test]
fn invalid_base_url() {
    for bad in ["", "not a url", "ftp://host/x", "http://", "http://h/?q=1", "http://h/#f", "http://user:pw@h/", "/relative"] {
        let e = Client::new(bad).err().unwrap_or_else(|| panic!("{bad:?} accepted"));
        assert_eq!(e.code(), "INVALID_ARGUMENT", "{bad:?}");
        assert_eq!(field(&e), "baseUrl", "{bad:?}");
        assert_eq!(e.status(), None);
    }
}

// Row 2
#[test]
fn empty_or_invalid_stream_path() {
    let c = Client::new("http://127.0.0.1:9").unwrap();
    for bad in ["", "/", "a?b", "a#b", "with space", "/../etc", "/a/./b", "/__ds/subscriptions", "tab\there"] {
        let e = c.stream(bad).err().unwrap_or_else(|| panic!("{bad:?} accepted"));
        assert_eq!((e.code(), field(&e)), ("INVALID_ARGUMENT", "path"), "{bad:?}");
    }
}

// Row 3
#[test]
fn malformed_offset_is_rejected_locally() {
    for bad in ["", "1,2", "a&b", "a=b", "a?b", "a/b", "has space", "line\nbreak", &"9".repeat(5000)] {
        let e = Offset::parse(bad).err().unwrap_or_else(|| panic!("{bad:?} accepted"));
        assert_eq!((e.code(), field(&e)), ("INVALID_ARGUMENT", "offset"), "{bad:?}");
    }
}

// Row 4
#[tokio::test]
async fn offset_rejected_by_the_server() {
    let s = json_stream("bad-offset").await;
    let offset = Offset::parse("not-a-valid-offset-format").expect("plausible tokens are left to the server");
    for live in [LiveMode::Off, LiveMode::LongPoll, LiveMode::Sse] {
        let mut session = s.read(ReadOptions { offset: offset.clone(), live, ..Default::default() });
        let e = session.next_chunk().await.unwrap_err();
        assert_eq!((e.code(), e.status()), ("INVALID_OFFSET", Some(400)), "{live:?}: {e:?}");
        assert!(session.next_chunk().await.unwrap().is_none(), "{live:?}: the session ends after the error");
    }
}

// Row 5
#[tokio::test]
async fn non_json_body_on_a_json_stream_fails_before_any_io() {
    let (c, requests) = counting_client(builder());
    let s = c.stream(&fresh_path("not-json")).unwrap();
    s.create(CreateOptions { content_type: Some("application/json".into()), ..Default::default() }).await.unwrap();
    let before = requests.load(std::sync::atomic::Ordering::SeqCst);
    for bad in [&b"{not json"[..], b"", b"[1,", b"\xff\xfe", b"1 2"] {
        let e = s.append(Bytes::copy_from_slice(bad), AppendOptions::default()).await.unwrap_err();
        assert_eq!((e.code(), field(&e)), ("INVALID_ARGUMENT", "data"), "{bad:?}");
        let e = s
            .close(CloseOptions { data: Some(Bytes::copy_from_slice(bad)), ..Default::default() })
            .await
            .unwrap_err();
        assert_eq!((e.code(), field(&e)), ("INVALID_ARGUMENT", "data"), "close {bad:?}");
    }
    let p = Producer::start(s.clone(), ProducerOptions::new("bad-json")).await.unwrap();
    let e = p.append(&b"{oops"[..]).await.unwrap_err();
    assert_eq!((e.code(), field(&e)), ("INVALID_ARGUMENT", "data"));
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), before, "no request may be sent");
    // The producer is still usable after refusing bad input.
    p.append(&b"{\"ok\":true}"[..]).await.unwrap();
    p.flush().await.unwrap();
    assert_eq!(&s.read_all(Offset::beginning()).await.unwrap()[..], br#"[{"ok":true}]"#);
}

// Row 6
#[tokio::test]
async fn invalid_header_names_and_values() {
    let s = client().stream(&fresh_path("bad-header")).unwrap();
    let e = s
        .create(CreateOptions { headers: vec![("bad header".into(), "v".into())], ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!((e.code(), field(&e)), ("INVALID_ARGUMENT", "headers"));
    let e = s
        .append("x", AppendOptions { content_type: Some("text/plain".into()), headers: vec![("x-ok".into(), "line\nbreak".into())], ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!((e.code(), field(&e)), ("INVALID_ARGUMENT", "headers"));
    let e = Client::builder(base_url()).header("bad:name", "v").build().err().unwrap();
    assert_eq!((e.code(), field(&e)), ("INVALID_ARGUMENT", "headers"));
    let e = s.head_with_headers(&[("".into(), "v".into())]).await.unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
}

// Row 7
#[tokio::test]
async fn invalid_options() {
    let e = RetryPolicy::from_parts(Some(-1), None, None, None).unwrap_err();
    assert_eq!((e.code(), field(&e)), ("INVALID_ARGUMENT", "maxRetries"));
    let e = ProducerOptions::from_raw(RawProducerOptions {
        producer_id: Some("p".into()),
        max_in_flight: Some(0),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!((e.code(), field(&e)), ("INVALID_ARGUMENT", "maxInFlight"));
    for ms in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e300] {
        let raw = RawProducerOptions { producer_id: Some("p".into()), delivery_timeout_ms: Some(ms), ..Default::default() };
        let e = ProducerOptions::from_raw(raw).unwrap_err();
        assert_eq!((e.code(), field(&e)), ("INVALID_ARGUMENT", "deliveryTimeoutMs"), "{ms}");
    }
    // The record carries every producer option a binding passes (none patched on afterwards).
    let o = ProducerOptions::from_raw(RawProducerOptions {
        producer_id: Some("p".into()),
        delivery_timeout_ms: Some(1500.0),
        content_type: Some("application/json".into()),
        headers: vec![("x-team".into(), "a".into())],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(o.delivery_timeout, std::time::Duration::from_millis(1500));
    assert_eq!(o.content_type.as_deref(), Some("application/json"));
    assert_eq!(o.headers, vec![("x-team".to_string(), "a".to_string())]);
    let s = json_stream("bad-producer").await;
    let e = Producer::start(s, ProducerOptions::new("")).await.err().unwrap();
    assert_eq!((e.code(), field(&e)), ("INVALID_ARGUMENT", "producerId"));
}

// Row 8
#[tokio::test]
async fn wrong_content_type() {
    let s = json_stream("wrong-ct").await;
    let e = s
        .append("text", AppendOptions { content_type: Some("text/plain".into()), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!((e.code(), e.status()), ("CONTENT_TYPE_MISMATCH", Some(409)), "{e:?}");
    assert!(!e.is_transient());
}

// Row 9
#[tokio::test]
async fn requests_the_server_refuses_as_malformed() {
    // TTL and absolute expiry together.
    let s = client().stream(&fresh_path("ttl-and-expiry")).unwrap();
    let e = s
        .create(CreateOptions { ttl_seconds: Some(60), expires_at: Some("2099-01-01T00:00:00Z".into()), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!((e.code(), e.status()), ("BAD_REQUEST", Some(400)), "{e:?}");
    match e.kind() {
        ErrorKind::BadRequest { server_message } => assert!(!server_message.is_empty()),
        k => panic!("{k:?}"),
    }
    // An empty JSON batch (the protocol forbids appending `[]`).
    let s = json_stream("empty-batch").await;
    let e = s.append_json_batch::<u8>(&[], AppendOptions::default()).await.unwrap_err();
    // Rejected locally, before any I/O.
    assert_eq!((e.code(), e.status()), ("INVALID_ARGUMENT", None), "{e:?}");
    assert!(matches!(e.kind(), ErrorKind::InvalidArgument { field: "values" }), "{e:?}");
    assert_eq!(&s.read_all(Offset::beginning()).await.unwrap()[..], b"[]");
}

// Row 10
#[tokio::test]
async fn unreachable_server() {
    // Port 9 (discard) is closed on the test machine: connection refused.
    let c = Client::builder("http://127.0.0.1:9")
        .retry_policy(RetryPolicy { max_retries: 2, initial_delay: Duration::from_millis(5), ..RetryPolicy::default() })
        .build()
        .unwrap();
    let e = c.stream("/x").unwrap().head().await.unwrap_err();
    assert_eq!((e.code(), e.status()), ("NETWORK_ERROR", None), "{e:?}");
    assert!(e.is_transient());
}

// Row 11
/// Mock: a real server always speaks HTTP; this one answers with bytes that are not
/// an HTTP response at all.
#[tokio::test]
async fn server_replying_with_garbage() {
    let mock = Mock::start(|_| b"\x00\x01\x02 this is not HTTP \xff\xfe\r\n\r\n".to_vec()).await;
    let c = Client::builder(&mock.url)
        .retry_policy(RetryPolicy { max_retries: 2, initial_delay: Duration::from_millis(5), ..RetryPolicy::default() })
        .build()
        .unwrap();
    let s = c.stream("/garbage").unwrap().with_content_type("application/json");
    let e = s.read_all(Offset::beginning()).await.unwrap_err();
    assert_eq!(e.code(), "NETWORK_ERROR", "{e:?}");
    assert_eq!(mock.count(), 3, "retried as a transport failure, boundedly");
}

// Row 12
/// Mock: a JSON stream whose read body is not JSON (no conforming server sends it;
/// the reference server's corruptBody fault only applies to bodies it compresses).
#[tokio::test]
async fn json_read_body_that_is_not_json() {
    let mock = Mock::start(|_| {
        http_response(
            "200 OK",
            &[("content-type", "application/json"), ("stream-next-offset", "0_5"), ("stream-up-to-date", "true")],
            b"<html>oops</html>",
        )
    })
    .await;
    let s = no_retry_client(&mock.url).stream("/s").unwrap().with_content_type("application/json");
    let e = s.read_all(Offset::beginning()).await.unwrap_err();
    assert_eq!(e.code(), "PARSE_ERROR", "{e:?}");
    assert_eq!(mock.count(), 1);
}

// Row 13
#[tokio::test]
async fn truncated_json_body() {
    let s = json_stream("truncated").await;
    s.append_json_batch(&[json!({"a": 1}), json!({"b": 2})], AppendOptions::default()).await.unwrap();
    inject(&s.url().path().to_string(), json!({"truncateBodyBytes": 10, "count": 1, "method": "GET"})).await;
    let e = s.read_all(Offset::beginning()).await.unwrap_err();
    assert_eq!(e.code(), "PARSE_ERROR", "{e:?}");
    // The fault was one-shot; the data itself is fine.
    assert_eq!(&s.read_all(Offset::beginning()).await.unwrap()[..], br#"[{"a":1},{"b":2}]"#);
}

// Row 14
#[tokio::test]
async fn malformed_sse_control_event() {
    for live in [LiveMode::Sse, LiveMode::Auto] {
        let s = json_stream("bad-control").await;
        s.append_json(&1, AppendOptions::default()).await.unwrap();
        // count 2: a client catching up with a plain GET first consumes one.
        inject(
            &s.url().path().to_string(),
            json!({"injectSseEvent": {"eventType": "control", "data": "{invalid"}, "count": 2, "method": "GET"}),
        )
        .await;
        let mut session = s.read(ReadOptions { live, ..Default::default() });
        let err = loop {
            match tokio::time::timeout(Duration::from_secs(10), session.next_chunk()).await.expect("hang") {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("{live:?}: session ended without an error"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.code(), "PARSE_ERROR", "{live:?}: {err:?}");
        assert!(session.next_chunk().await.unwrap().is_none());
        disarm(&s.url().path().to_string()).await;
    }
}

// Row 15
/// Mock: SSE framing no server produces — a control event without its required
/// `streamNextOffset`, and an SSE request answered with a non-SSE content type.
#[tokio::test]
async fn broken_sse_framing() {
    let missing_offset = Mock::start(|_| {
        http_response(
            "200 OK",
            &[("content-type", "text/event-stream")],
            b"event: data\ndata: [1]\n\nevent: control\ndata: {\"upToDate\":true}\n\n",
        )
    })
    .await;
    let s = no_retry_client(&missing_offset.url).stream("/s").unwrap().with_content_type("application/json");
    let mut session = s.read(ReadOptions { offset: Offset::now(), live: LiveMode::Sse, ..Default::default() });
    let e = session.next_chunk().await.unwrap_err();
    assert_eq!(e.code(), "PARSE_ERROR", "{e:?}");

    let not_sse = Mock::start(|_| {
        http_response("200 OK", &[("content-type", "application/json"), ("stream-next-offset", "0_1")], b"[]")
    })
    .await;
    let s = no_retry_client(&not_sse.url).stream("/s").unwrap().with_content_type("application/json");
    let mut session = s.read(ReadOptions { offset: Offset::now(), live: LiveMode::Sse, ..Default::default() });
    let e = session.next_chunk().await.unwrap_err();
    assert_eq!(e.code(), "PARSE_ERROR", "{e:?}");
    assert_eq!(not_sse.count(), 1);

    let bad_offset = Mock::start(|_| {
        http_response(
            "200 OK",
            &[("content-type", "text/event-stream")],
            b"event: control\ndata: {\"streamNextOffset\":\"a,b\",\"upToDate\":true}\n\n",
        )
    })
    .await;
    let s = no_retry_client(&bad_offset.url).stream("/s").unwrap().with_content_type("application/json");
    let mut session = s.read(ReadOptions { offset: Offset::now(), live: LiveMode::Sse, ..Default::default() });
    assert_eq!(session.next_chunk().await.unwrap_err().code(), "PARSE_ERROR");
}

// Row 16
/// Mock: every protocol response carries `Stream-Next-Offset`; this one does not.
#[tokio::test]
async fn missing_stream_next_offset() {
    let mock = Mock::start(|head| {
        let h: &[(&str, &str)] = &[("content-type", "text/plain"), ("stream-up-to-date", "true")];
        if head.starts_with("HEAD") { http_response("200 OK", h, b"") } else { http_response("200 OK", h, b"abc") }
    })
    .await;
    let s = no_retry_client(&mock.url).stream("/s").unwrap().with_content_type("text/plain");
    assert_eq!(s.read_all(Offset::beginning()).await.unwrap_err().code(), "PARSE_ERROR");
    assert_eq!(s.head().await.unwrap_err().code(), "PARSE_ERROR");
    assert_eq!(s.close(CloseOptions::default()).await.unwrap_err().code(), "PARSE_ERROR");
}

// Row 17
/// Mock: a server whose catch-up answers never advance the offset and never say
/// "up to date" would make a naive reader loop forever.
#[tokio::test]
async fn server_that_never_advances_the_offset() {
    let mock = Mock::start(|_| {
        http_response("200 OK", &[("content-type", "text/plain"), ("stream-next-offset", "0_0")], b"")
    })
    .await;
    let s = client_for(&mock.url).stream("/s").unwrap().with_content_type("text/plain");
    let t = Instant::now();
    let mut session = s.read(ReadOptions { offset: Offset::parse("0_0").unwrap(), ..Default::default() });
    let e = session.next_chunk().await.unwrap_err();
    assert_eq!(e.code(), "PARSE_ERROR", "{e:?}");
    assert!(session.next_chunk().await.unwrap().is_none());
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(mock.count(), 1, "no request loop");
}

fn client_for(base: &str) -> Client {
    Client::builder(base).retry_policy(fast_retry()).build().unwrap()
}

// Row 18
/// Mock: the reference server has no body size limit, so a 413 needs a mock.
#[tokio::test]
async fn oversized_payload() {
    let mock = Mock::start(|_| http_response("413 Payload Too Large", &[("content-type", "text/plain")], b"too big")).await;
    let s = client_for(&mock.url).stream("/s").unwrap().with_content_type("application/octet-stream");
    let e = s.append(vec![0u8; 1 << 20], AppendOptions::default()).await.unwrap_err();
    assert_eq!((e.code(), e.status()), ("PAYLOAD_TOO_LARGE", Some(413)), "{e:?}");
    assert!(!e.is_transient());
    assert_eq!(mock.count(), 1, "a 413 is not retried");
}

// Row 19
/// Mock: the reference server has no authentication.
#[tokio::test]
async fn unauthorized_and_forbidden() {
    for (status, code) in [("401 Unauthorized", "UNAUTHORIZED"), ("403 Forbidden", "FORBIDDEN")] {
        let mock = Mock::start(move |_| http_response(status, &[("content-type", "text/plain")], b"no")).await;
        let s = client_for(&mock.url).stream("/s").unwrap().with_content_type("text/plain");
        let e = s.read_all(Offset::beginning()).await.unwrap_err();
        assert_eq!((e.code(), e.status()), (code, Some(status[..3].parse().unwrap())), "{e:?}");
        let e = s.append("x", AppendOptions::default()).await.unwrap_err();
        assert_eq!(e.code(), code, "{e:?}");
        let e = s.head().await.unwrap_err();
        assert_eq!(e.code(), code, "{e:?}");
        assert!(!e.is_transient());
        assert_eq!(mock.count(), 3, "never retried");
    }
}

// Row 20
/// Mock: an offset token the protocol forbids (contains `,`), sent by the server.
#[tokio::test]
async fn server_sends_an_unusable_offset() {
    let mock = Mock::start(|_| {
        http_response(
            "200 OK",
            &[("content-type", "text/plain"), ("stream-next-offset", "1,2"), ("stream-up-to-date", "true")],
            b"abc",
        )
    })
    .await;
    let s = no_retry_client(&mock.url).stream("/s").unwrap().with_content_type("text/plain");
    assert_eq!(s.read_all(Offset::beginning()).await.unwrap_err().code(), "PARSE_ERROR");
}

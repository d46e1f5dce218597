//! The core's `tracing` events, captured through `trace::Forward` (the subscriber the
//! bindings use) against the reference server with fault injection: a retried request
//! logs its retry; a producer logs its batches and stats count them; and no header,
//! token or query value appears in any line. One test: the subscriber is process-global.

mod support;

use std::sync::{Arc, Mutex};

use durable_streams_sdk::trace::{Forward, LogRecord, Threshold, level_rank};
use durable_streams_sdk::{AppendOptions, CreateOptions, Offset, Producer, ProducerOptions};
use serde_json::json;
use support::*;

const SECRET: &str = "s3cr3t-token-4f9a";

#[tokio::test]
async fn retries_are_logged_and_secrets_never_are() {
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = lines.clone();
    let sub = Forward::new(Threshold::new(level_rank(tracing::Level::TRACE)), move |r: LogRecord| {
        sink.lock().unwrap().push(format!("{} {} {}", r.target, r.level, r.line))
    });
    tracing::subscriber::set_global_default(sub).expect("first subscriber");

    let client = builder()
        .header("authorization", format!("Bearer {SECRET}"))
        .dynamic_header("x-api-key", || async { Ok(SECRET.to_string()) })
        .dynamic_param("token", || async { Ok(SECRET.to_string()) })
        .build()
        .unwrap();
    let path = fresh_path("trace");
    let s = client.stream(&path).unwrap();
    s.create(CreateOptions { content_type: Some("text/plain".into()), ..Default::default() }).await.unwrap();
    inject(&s.url().path().to_string(), json!({"status": 503, "count": 1, "method": "POST"})).await;
    s.append("x", AppendOptions::default()).await.unwrap();
    inject(&s.url().path().to_string(), json!({"status": 500, "count": 1, "method": "GET"})).await;
    assert_eq!(&s.read_all(Offset::beginning()).await.unwrap()[..], b"x");

    let producer = Producer::start(s.clone(), ProducerOptions::new("p-trace")).await.unwrap();
    producer.append("y").await.unwrap();
    producer.append("z").await.unwrap();
    producer.flush().await.unwrap();
    let stats = producer.stats();
    assert_eq!((stats.messages_acked, stats.bytes_acked, stats.in_flight, stats.last_error.as_deref()), (2, 2, 0, None), "{stats:?}");
    assert!(stats.batches >= 1 && stats.requests >= stats.batches && stats.messages_enqueued == 2, "{stats:?}");

    let lines = lines.lock().unwrap().clone();
    let url_path = s.url().path().to_string();
    let retry = lines.iter().find(|l| l.contains(" retry method=POST")).unwrap_or_else(|| panic!("no POST retry: {lines:#?}"));
    assert_eq!(
        retry.split(" delay_ms=").next().unwrap(),
        format!("durable_streams_sdk::http INFO retry method=POST path={url_path} attempt=1 reason=status 503")
    );
    assert!(lines.iter().any(|l| l.contains(" retry method=GET") && l.contains("reason=status 500")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains(&format!("request method=POST path={url_path} status=503"))), "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("durable_streams_sdk::producer DEBUG batch")), "{lines:#?}");
    let leaked: Vec<_> = lines.iter().filter(|l| l.contains(SECRET) || l.contains("Bearer") || l.contains("token=")).collect();
    assert!(leaked.is_empty(), "{leaked:#?}");
}

/// A network error's text (its whole source chain) never shows a query value either.
#[tokio::test]
async fn network_errors_carry_no_query_value() {
    let client = durable_streams_sdk::Client::builder("http://127.0.0.1:9")
        .retry_policy(durable_streams_sdk::RetryPolicy::none())
        .dynamic_param("token", || async { Ok(SECRET.to_string()) })
        .build()
        .unwrap();
    let e = client.stream("/x").unwrap().head().await.unwrap_err();
    let mut text = e.to_string();
    let mut next = std::error::Error::source(&e);
    while let Some(err) = next {
        text.push_str(&format!(" | {err}"));
        next = err.source();
    }
    assert!(text.contains("connection refused"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
}

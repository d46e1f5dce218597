//! W1 (bench/README.md) through the upstream Rust client's idempotent producer:
//! create a JSON stream, append JSON messages 0..N (one `append_json` call each,
//! default producer options), `flush()`; timed section and CPU as ds-bench measures
//! them; then read the stream back and count. Prints one JSON line.

use std::time::Instant;

use durable_streams::{Client, DurableStream};

#[derive(serde::Serialize)]
struct Msg<'a> {
    i: u64,
    p: &'a str,
}

fn cpu_s() -> f64 {
    // SAFETY: getrusage fills the zeroed struct; RUSAGE_SELF is always valid.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() {
    let url = arg("--server-url").expect("--server-url");
    let n: u64 = arg("--messages").and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let size: usize = arg("--msg-size").and_then(|v| v.parse().ok()).unwrap_or(100);
    let path = format!("{url}/bench/upstream-rust/{}-{}", std::process::id(), Instant::now().elapsed().as_nanos());
    let client = Client::new();
    let r = client.http().put(&path).header("content-type", "application/json").send().await.expect("create");
    assert!(r.status().is_success(), "create: {}", r.status());
    let stream = DurableStream::new(&client, &path, "application/json");
    let producer = stream.producer(format!("w1-{}", std::process::id())).build();
    // The same JSON text as ds-bench's message i: {"i":<i>,"p":"xxx…"}, 100 bytes.
    let pads: Vec<String> = (0..=size).map(|k| "x".repeat(k)).collect();
    let (t, c) = (Instant::now(), cpu_s());
    for i in 0..n {
        let head = format!("{{\"i\":{i},\"p\":\"").len();
        let pad = size.saturating_sub(head + 2);
        producer.append_json(&Msg { i, p: &pads[pad] });
    }
    producer.flush().await.expect("flush");
    let (elapsed, cpu) = (t.elapsed().as_secs_f64(), cpu_s() - c);
    // Not timed: count what the server holds.
    let (mut offset, mut count) = ("-1".to_string(), 0u64);
    loop {
        let r = client.http().get(format!("{path}?offset={offset}")).send().await.expect("read");
        let next = r.headers().get("stream-next-offset").and_then(|v| v.to_str().ok()).map(str::to_string);
        let done = r.headers().get("stream-up-to-date").is_some_and(|v| v == "true");
        let body = r.bytes().await.expect("body");
        let items: Vec<serde::de::IgnoredAny> = serde_json::from_slice(&body).expect("json array");
        count += items.len() as u64;
        match next {
            Some(o) if !done && o != offset => offset = o,
            _ => break,
        }
    }
    println!(
        "{}",
        serde_json::json!({"schema": 1, "workload": "W1", "client": "rust-upstream (packages/client-rust producer)",
            "messages": n, "count": count, "ok": count == n, "elapsed_s": elapsed, "throughput": n as f64 / elapsed,
            "unit": "msgs/s", "cpu_s": cpu, "batches": producer.next_seq()})
    );
}

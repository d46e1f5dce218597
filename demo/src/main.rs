//! The README demo: a local reference server, one JSON stream, a producer and a live
//! consumer running at the same time through the durable-streams-sdk core.
//!
//!     bash scripts/demo.sh        (or: cargo run -p ds-demo)

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use durable_streams_sdk::{
    BoxFuture, Chunk, Client, Consumer, ConsumerEnd, ConsumerHandler, ConsumerOptions, CreateOptions, Decision, Error,
    LiveMode, Offset, Producer, ProducerOptions,
};

const ROUNDS: u64 = 6;
const PER_ROUND: u64 = 50;

/// The reference server, stopped when dropped (it exits when its stdin closes).
struct RefServer {
    child: Child,
    url: String,
}

impl RefServer {
    fn start() -> Result<RefServer, String> {
        let script = std::env::var_os("DS_REF_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/server/ref-server.mjs"));
        let mut child = Command::new("node")
            .arg(&script)
            .env("DS_LONGPOLL_MS", "30000")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run `node {}`: {e}", script.display()))?;
        let mut line = String::new();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        BufReader::new(stdout).read_line(&mut line).map_err(|e| e.to_string())?;
        let url = line.trim().to_string();
        if !url.starts_with("http") {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("the reference server did not start (is `npm ci --prefix tests` done?); got {line:?}"));
        }
        Ok(RefServer { child, url })
    }
}

impl Drop for RefServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the consumer saw, checked at the end.
#[derive(Default)]
struct Seen {
    numbers: Mutex<Vec<u64>>,
    batches: AtomicUsize,
    up_to_date: AtomicUsize,
    closed: AtomicUsize,
}

struct Printer(Arc<Seen>);

impl ConsumerHandler for Printer {
    fn on_batch(&self, batch: Chunk) -> BoxFuture<'_, durable_streams_sdk::Result<Decision>> {
        Box::pin(async move {
            let values: Vec<serde_json::Value> = batch.json()?;
            let ns: Vec<u64> = values.iter().filter_map(|v| v["n"].as_u64()).collect();
            if ns.is_empty() {
                // An empty JSON array ("[]") from a catch-up or closing response.
                return Ok(Decision::Continue);
            }
            let b = self.0.batches.fetch_add(1, Ordering::Relaxed) + 1;
            let range = match (ns.first(), ns.last()) {
                (Some(a), Some(z)) => format!("#{a}..#{z}"),
                _ => "-".into(),
            };
            println!("  consumer  batch {b}: {:>3} messages {range:<12} checkpoint -> {}", ns.len(), batch.next_offset);
            self.0.numbers.lock().unwrap_or_else(|p| p.into_inner()).extend(ns);
            Ok(Decision::Continue)
        })
    }

    fn on_up_to_date(&self, offset: &Offset) -> BoxFuture<'_, ()> {
        let first = self.0.up_to_date.fetch_add(1, Ordering::Relaxed) == 0;
        let offset = offset.clone();
        Box::pin(async move {
            if first {
                println!("  consumer  caught up at {offset}, now following live");
            }
        })
    }

    fn on_closed(&self, final_offset: &Offset) -> BoxFuture<'_, ()> {
        let n = self.0.closed.fetch_add(1, Ordering::Relaxed) + 1;
        let final_offset = final_offset.clone();
        Box::pin(async move { println!("  consumer  stream closed at {final_offset} (on_closed call #{n})") })
    }

    fn on_error(&self, error: &Error) -> BoxFuture<'_, Decision> {
        println!("  consumer  error: {error} (code {})", error.code());
        let d = if error.is_transient() { Decision::Continue } else { Decision::Stop };
        Box::pin(async move { d })
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match demo().await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("demo failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn demo() -> Result<bool, String> {
    let server = RefServer::start()?;
    println!("durable-streams demo");
    println!("  server    {} (local reference server, in memory)", server.url);

    let client = Client::new(&server.url).map_err(|e| e.to_string())?;
    let path = format!("/demo/orders-{}", std::process::id());
    let stream = client.stream(&path).map_err(|e| e.to_string())?;
    stream
        .create(CreateOptions { content_type: Some("application/json".into()), ..Default::default() })
        .await
        .map_err(|e| e.to_string())?;
    println!("  stream    {path} created (application/json)");

    // The consumer starts first, from the beginning, and follows the stream live.
    let seen = Arc::new(Seen::default());
    let consumer = Consumer::new(
        stream.clone(),
        ConsumerOptions { offset: Offset::beginning(), live: LiveMode::Sse, ..Default::default() },
    )
    .map_err(|e| e.to_string())?;
    let handle = consumer.spawn(Arc::new(Printer(seen.clone())));
    println!("  consumer  started (live: SSE, from the beginning)");

    let mut opts = ProducerOptions::new("demo-producer");
    opts.content_type = Some("application/json".into());
    let producer = Producer::start(stream.clone(), opts).await.map_err(|e| e.to_string())?;
    println!("  producer  {} messages in {ROUNDS} rounds of {PER_ROUND}, each with an acknowledgement", ROUNDS * PER_ROUND);

    let mut batches_seen = std::collections::BTreeSet::new();
    let mut acked = 0u64;
    for round in 0..ROUNDS {
        let mut acks = Vec::with_capacity(PER_ROUND as usize);
        for i in 0..PER_ROUND {
            let n = round * PER_ROUND + i;
            let msg = serde_json::json!({"n": n, "item": format!("order-{n:04}"), "qty": 1 + n % 5});
            let ack = producer.append_with_ack(msg.to_string()).await.map_err(|e| e.to_string())?;
            acks.push(ack);
        }
        // Acknowledgements resolve once the batch holding the message is stored.
        let mut per_seq: std::collections::BTreeMap<u64, (u64, Option<Offset>)> = Default::default();
        for ack in acks {
            let a = ack.await.map_err(|e| e.to_string())?;
            let e = per_seq.entry(a.seq).or_insert((0, None));
            e.0 += 1;
            e.1 = a.next_offset.clone();
            acked += 1;
        }
        for (seq, (count, offset)) in per_seq {
            batches_seen.insert(seq);
            let at = offset.map(|o| o.to_string()).unwrap_or_else(|| "-".into());
            println!("  producer  batch seq {seq}: {count:>3} messages acknowledged, stream tail {at}");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    let closed = producer.close(None).await.map_err(|e| e.to_string())?;
    println!("  producer  flushed and closed the stream at {}", closed.final_offset);

    let end = tokio::time::timeout(Duration::from_secs(30), handle.wait())
        .await
        .map_err(|_| "the consumer did not end within 30 s".to_string())?
        .map_err(|e| e.to_string())?;
    let numbers = seen.numbers.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let total = ROUNDS * PER_ROUND;
    let in_order = numbers.iter().copied().eq(0..total);
    let closed_calls = seen.closed.load(Ordering::Relaxed);
    let ended = match &end {
        ConsumerEnd::Closed { final_offset } => format!("Closed at {final_offset}"),
        other => format!("{other:?}"),
    };
    println!("  consumer  ended: {ended}");
    println!(
        "  summary   produced {total} messages ({acked} acknowledged) in {} batches; consumed {} in {} batches",
        batches_seen.len(),
        numbers.len(),
        seen.batches.load(Ordering::Relaxed),
    );
    println!(
        "            every message exactly once and in order: {}; closure delivered {closed_calls} time(s)",
        if in_order { "yes" } else { "NO" },
    );
    let ok = in_order && closed_calls == 1 && matches!(end, ConsumerEnd::Closed { .. }) && acked == total;
    drop(server);
    Ok(ok)
}

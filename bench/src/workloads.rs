//! The workloads. Their exact definitions are in bench/README.md; keep the two in sync.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use durable_streams_sdk::{
    AppendOptions, Client, CreateOptions, LiveMode, Offset, Producer, ProducerOptions, ReadOptions, Stream, runtime,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::ceiling;
use crate::measure::{Meter, percentiles_ms, unix_ns};
use crate::opts::Opts;
use crate::report::{Ceiling, Outcome};
use crate::server::Server;

const MIB: f64 = 1024.0 * 1024.0;
const JSON: &str = "application/json";
const TEXT: &str = "text/plain";

type R<T> = Result<T, String>;

fn err(e: durable_streams_sdk::Error) -> String {
    e.to_string()
}

// ---------------------------------------------------------------------------------
// Messages (bench/README.md, "Messages")

/// `{"i":<i>,"p":"xxx…"}`, padded with `x` to `size` bytes.
pub fn json_message(i: u64, size: usize, out: &mut Vec<u8>) {
    use std::io::Write;
    out.clear();
    let _ = write!(out, "{{\"i\":{i},\"p\":\"");
    let pad = size.saturating_sub(out.len() + 2);
    out.resize(out.len() + pad, b'x');
    out.extend_from_slice(b"\"}");
}

/// `{"i":<i>,"t":<unix ns>,"p":"xxx…"}`, padded to `size` bytes.
pub fn timed_message(i: u64, t: u64, size: usize, out: &mut Vec<u8>) {
    use std::io::Write;
    out.clear();
    let _ = write!(out, "{{\"i\":{i},\"t\":{t},\"p\":\"");
    let pad = size.saturating_sub(out.len() + 2);
    out.resize(out.len() + pad, b'x');
    out.extend_from_slice(b"\"}");
}

/// `<i, 10 digits> xxx…\n`, exactly `size` bytes (size >= 12).
pub fn text_record(i: u64, size: usize, out: &mut Vec<u8>) {
    use std::io::Write;
    out.clear();
    let _ = write!(out, "{i:010} ");
    out.resize(size.max(12) - 1, b'x');
    out.push(b'\n');
}

#[derive(serde::Deserialize)]
struct Timed {
    i: u64,
    t: u64,
}

// ---------------------------------------------------------------------------------
// Shared plumbing

fn client(url: &str, compression: bool) -> R<Client> {
    Client::builder(url)
        .compression(compression)
        // A 1 GiB catch-up from the reference server takes seconds before the headers
        // arrive (it builds the whole body first), longer when it gzips it.
        .request_timeout(Duration::from_secs(300))
        .build()
        .map_err(err)
}

fn run_id() -> String {
    format!("{}-{}", unix_ns() / 1_000_000, std::process::id())
}

fn compression(opts: &Opts) -> R<bool> {
    opts.bool_or("compression", false)
}

fn ceiling_wanted(opts: &Opts) -> R<bool> {
    let on = opts.bool_or("ceiling", true)?;
    if on && !ceiling::wrk_available() {
        eprintln!("note: wrk not installed: no server ceiling (apt-get install wrk)");
        return Ok(false);
    }
    Ok(on)
}

fn ceiling_secs(opts: &Opts, client_elapsed: f64) -> R<u64> {
    let base = opts.float("ceiling-secs", 10.0)?;
    // Long enough for a couple of full reads of a big stream.
    Ok(base.max(2.5 * client_elapsed).min(180.0).ceil() as u64)
}

fn usize_opt(opts: &Opts, k: &str, default: u64, quick: u64) -> R<usize> {
    opts.size(k, default, quick).map(|v| v as usize)
}

async fn create(client: &Client, path: &str, content_type: &str) -> R<Stream> {
    let stream = client.stream(path).map_err(err)?;
    stream
        .create(CreateOptions { content_type: Some(content_type.into()), ..Default::default() })
        .await
        .map_err(err)?;
    Ok(stream)
}

/// Run this same binary as a helper process (prefill, writer) and return its summary line.
fn helper(args: &[String]) -> R<Value> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run helper: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("helper {:?} failed ({}): {stdout}", args.first(), out.status));
    }
    let last = stdout.lines().last().unwrap_or("");
    serde_json::from_str(last).map_err(|e| format!("helper printed {last:?}: {e}"))
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

// ---------------------------------------------------------------------------------
// Helpers run as separate processes

/// `ds-bench prefill`: append `count` messages through a producer with big batches.
pub fn prefill(opts: &Opts) -> R<()> {
    let url = opts.str("server-url").ok_or("--server-url is required")?.to_string();
    let path = opts.str("stream").ok_or("--stream is required")?.to_string();
    let kind = opts.string_or("kind", "json");
    let count = opts.size("count", 0, 0)?;
    let (content_type, size, batch_items) = match kind.as_str() {
        "json" => (JSON, usize_opt(opts, "msg-size", 100, 100)?, 10_000),
        "text" => (TEXT, usize_opt(opts, "msg-size", 1024, 1024)?, 1024),
        other => return Err(format!("--kind: json or text, got {other:?}")),
    };
    let summary = runtime::block_on(async move {
        let client = client(&url, false)?;
        let stream = create(&client, &path, content_type).await?;
        let mut po = ProducerOptions::new(format!("prefill-{}", std::process::id()));
        po.content_type = Some(content_type.into());
        po.max_batch_items = batch_items;
        po.max_batch_bytes = 1 << 20;
        po.max_in_flight = 5;
        let producer = Producer::start(stream, po).await.map_err(err)?;
        let started = Instant::now();
        let mut buf = Vec::with_capacity(size + 32);
        for i in 0..count {
            if content_type == JSON {
                json_message(i, size, &mut buf);
            } else {
                text_record(i, size, &mut buf);
            }
            producer.append(Bytes::copy_from_slice(&buf)).await.map_err(err)?;
        }
        producer.flush().await.map_err(err)?;
        producer.detach().await.map_err(err)?;
        Ok::<_, String>(json!({"appended": count, "elapsed_s": started.elapsed().as_secs_f64()}))
    })?;
    println!("{summary}");
    Ok(())
}

/// `ds-bench writer`: timed messages to `{prefix}{k}` streams (k chosen at random), one
/// plain append per message, on a fixed schedule.
pub fn writer(opts: &Opts) -> R<()> {
    let url = opts.str("server-url").ok_or("--server-url is required")?.to_string();
    let prefix = opts.str("stream-prefix").ok_or("--stream-prefix is required")?.to_string();
    let streams = opts.size("streams", 1, 1)? as usize;
    let n = opts.size("messages", 1000, 1000)?;
    let size = usize_opt(opts, "msg-size", 100, 100)?;
    let period = match (opts.str("rate"), opts.str("interval-ms")) {
        (Some(_), _) => Duration::from_secs_f64(1.0 / opts.float("rate", 1.0)?),
        (None, Some(_)) => Duration::from_secs_f64(opts.float("interval-ms", 5.0)? / 1e3),
        (None, None) => return Err("--rate or --interval-ms is required".into()),
    };
    let writers = (opts.size("writers", 1, 1)? as usize).max(1);
    let seed = opts.size("seed", 42, 42)?;
    let summary = runtime::block_on(async move {
        let client = client(&url, false)?;
        let handles: Vec<Stream> = (0..streams)
            .map(|k| client.stream(&format!("{prefix}{k}")).map(|s| s.with_content_type(JSON)))
            .collect::<Result<_, _>>()
            .map_err(err)?;
        let mut rng = fastrand::Rng::with_seed(seed);
        let targets: Arc<Vec<u32>> = Arc::new((0..n).map(|_| rng.u32(0..streams as u32)).collect());
        let handles = Arc::new(handles);
        let start = tokio::time::Instant::now() + Duration::from_millis(20);
        let mut tasks = Vec::new();
        for w in 0..writers {
            let (targets, handles) = (targets.clone(), handles.clone());
            tasks.push(tokio::spawn(async move {
                let (mut sent, mut errors, mut late_max) = (0u64, 0u64, Duration::ZERO);
                let mut first_error = None;
                let mut buf = Vec::with_capacity(size + 48);
                let mut k = w as u64;
                while k < n {
                    let at = start + period.mul_f64(k as f64);
                    tokio::time::sleep_until(at).await;
                    late_max = late_max.max(tokio::time::Instant::now().saturating_duration_since(at));
                    timed_message(k, unix_ns(), size, &mut buf);
                    let stream = &handles[targets[k as usize] as usize];
                    let opts = AppendOptions { content_type: Some(JSON.into()), ..Default::default() };
                    match stream.append(Bytes::copy_from_slice(&buf), opts).await {
                        Ok(_) => sent += 1,
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert(e.to_string());
                        }
                    }
                    k += writers as u64;
                }
                (sent, errors, late_max, first_error)
            }));
        }
        let (mut sent, mut errors, mut late_max, mut first_error) = (0, 0, Duration::ZERO, None);
        for t in tasks {
            let (s, e, l, f) = t.await.map_err(|e| e.to_string())?;
            sent += s;
            errors += e;
            late_max = late_max.max(l);
            first_error = first_error.or(f);
        }
        Ok::<_, String>(json!({
            "sent": sent, "errors": errors, "first_error": first_error,
            "elapsed_s": start.elapsed().as_secs_f64(),
            "behind_schedule_max_ms": late_max.as_secs_f64() * 1e3,
        }))
    })?;
    println!("{summary}");
    Ok(())
}

// ---------------------------------------------------------------------------------
// W1: produce

pub fn w1(opts: &Opts) -> R<Vec<Outcome>> {
    let n = opts.size("messages", 1_000_000, 100_000)?;
    let size = usize_opt(opts, "msg-size", 100, 100)?;
    let default_items = durable_streams_sdk::DEFAULT_MAX_BATCH_ITEMS as u64;
    let batch_items = usize_opt(opts, "batch-items", default_items, default_items)?;
    let batch_bytes = usize_opt(opts, "batch-bytes", 1 << 20, 1 << 20)?;
    let linger_ms = opts.float("linger-ms", 5.0)?;
    let in_flight = usize_opt(opts, "in-flight", 5, 5)?;
    let buffer_limit = opts.str("buffer-limit").map(crate::opts::parse_size).transpose()?;
    let verify = opts.bool_or("verify", true)?;
    let compression = compression(opts)?;
    let want_ceiling = ceiling_wanted(opts)?;
    let server = Server::from_opts(opts)?;
    let (url, pid, run) = (server.url.clone(), server.pid, run_id());
    let path = format!("/bench/{run}/w1");

    let (measured, read_back, stream) = runtime::block_on({
        let url = url.clone();
        async move {
            let client = client(&url, compression)?;
            let stream = create(&client, &path, JSON).await?;
            let mut po = ProducerOptions::new(format!("bench-w1-{run}"));
            po.content_type = Some(JSON.into());
            po.max_batch_items = batch_items;
            po.max_batch_bytes = batch_bytes;
            po.linger = Duration::from_secs_f64(linger_ms / 1e3);
            po.max_in_flight = in_flight;
            if let Some(b) = buffer_limit {
                po.buffer_limit_bytes = b as usize;
            }
            let producer = Producer::start(stream.clone(), po).await.map_err(err)?;
            let mut buf = Vec::with_capacity(size + 32);
            let meter = Meter::start(pid);
            for i in 0..n {
                json_message(i, size, &mut buf);
                producer.append(Bytes::copy_from_slice(&buf)).await.map_err(err)?;
            }
            producer.flush().await.map_err(err)?;
            let measured = meter.stop();
            producer.detach().await.map_err(err)?;
            // Verify (not timed): count the messages read back.
            let mut session = stream.read(ReadOptions::default());
            let mut count = if verify { 0u64 } else { n };
            while let Some(c) = session.next_chunk().await.map_err(err)?.filter(|_| verify) {
                count += c.items().map_or(0, |i| i.len() as u64);
            }
            Ok::<_, String>((measured, count, stream))
        }
    })?;

    let ceiling = if want_ceiling {
        let secs = ceiling_secs(opts, 0.0)?;
        let mut buf = Vec::new();
        let mut body = String::from("[");
        // The producer's batches: as many messages as fit the byte limit.
        let per_batch = (batch_items as u64).min((batch_bytes / (size + 1)).max(1) as u64);
        for i in 0..per_batch {
            json_message(i, size, &mut buf);
            if i > 0 {
                body.push(',');
            }
            body.push_str(std::str::from_utf8(&buf).unwrap_or_default());
        }
        body.push(']');
        // Two ceilings on fresh streams: producer requests (what the client sends, the
        // reported ceiling) and plain appends of the same bodies (for reference).
        let base = format!("{url}{}", stream.url().path());
        let producer = ceiling_stream(&url, &format!("{}-ceiling-producer", stream.url().path()), JSON).and_then(|_| {
            ceiling::producer_appends(&format!("{base}-ceiling-producer"), &body, JSON, in_flight as u32, secs, per_batch)
        });
        let plain = ceiling_stream(&url, &format!("{}-ceiling-plain", stream.url().path()), JSON).and_then(|_| {
            ceiling::appends(&format!("{base}-ceiling-plain"), &body, JSON, in_flight as u32, secs, per_batch)
        });
        let c = match (producer, plain) {
            (Ok(mut p), plain) => {
                p.detail["plain_appends"] = match plain {
                    Ok(c) => json!({"throughput": c.throughput, "detail": c.detail}),
                    Err(e) => json!({"error": e}),
                };
                Ok(p)
            }
            (Err(e), _) => Err(e),
        };
        report_ceiling(c)
    } else {
        None
    };
    let throughput = n as f64 / measured.elapsed_s;
    Ok(vec![Outcome {
        workload: "W1",
        variant: None,
        server: server.kind.clone(),
        compression,
        params: json!({"messages": n, "msg_size": size, "batch_items": batch_items, "batch_bytes": batch_bytes,
                       "linger_ms": linger_ms, "in_flight": in_flight, "buffer_limit": buffer_limit}),
        ok: read_back == n,
        check: if verify { format!("{read_back}/{n} read back") } else { "not verified".into() },
        count: n,
        bytes: n * size as u64,
        unit: "msgs/s",
        throughput,
        measured,
        latency_ms: None,
        ceiling,
    }])
}

fn ceiling_stream(url: &str, path: &str, content_type: &str) -> R<()> {
    let (url, path, ct) = (url.to_string(), path.to_string(), content_type.to_string());
    runtime::block_on(async move { create(&client(&url, false)?, &path, &ct).await.map(|_| ()) })
}

fn report_ceiling(c: R<Ceiling>) -> Option<Ceiling> {
    match c {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("ceiling: {e}");
            None
        }
    }
}

// ---------------------------------------------------------------------------------
// W2: catch-up read of a big text stream

pub fn w2(opts: &Opts) -> R<Vec<Outcome>> {
    let total = opts.size("bytes", 1 << 30, 64 << 20)?;
    let append_size = usize_opt(opts, "append-size", 1024, 1024)?.max(12);
    let count = total / append_size as u64;
    let expected = count * append_size as u64;
    let reads = opts.size("reads", 3, 3)?.max(1);
    let warmup = opts.bool_or("warmup", true)?;
    let compression = compression(opts)?;
    let want_ceiling = ceiling_wanted(opts)?;
    let server = Server::from_opts(opts)?;
    let (url, pid, run) = (server.url.clone(), server.pid, run_id());
    let path = match prefilled_stream(opts) {
        Some(p) => p,
        None => {
            let path = format!("/bench/{run}/w2");
            let mut pre = vec![s("prefill")];
            pre.extend(server.child_args());
            pre.extend([s("--stream"), path.clone(), s("--kind"), s("text"), s("--count"), s(count), s("--msg-size"), s(append_size)]);
            eprintln!("W2: pre-filling {path} with {count} appends of {append_size} B (not timed)...");
            let pf = helper(&pre)?;
            eprintln!("W2: pre-filled in {:.1} s", pf["elapsed_s"].as_f64().unwrap_or(0.0));
            path
        }
    };

    let (measured, received, chunks, per_read) = runtime::block_on({
        let (url, path) = (url.clone(), path.clone());
        async move {
            let stream = client(&url, compression)?.stream(&path).map_err(err)?;
            if warmup {
                read_text(&stream).await?;
            }
            let meter = Meter::start(pid);
            let (mut bytes, mut chunks, mut per_read) = (0u64, 0u64, Vec::new());
            for _ in 0..reads {
                let t = Instant::now();
                let (b, c) = read_text(&stream).await?;
                per_read.push((t.elapsed().as_secs_f64() * 1e3).round() / 1e3);
                bytes += b;
                chunks += c;
            }
            Ok::<_, String>((meter.stop(), bytes, chunks, per_read))
        }
    })?;
    let throughput = received as f64 / MIB / measured.elapsed_s;
    let expected_total = expected * reads;
    let ceiling = if want_ceiling {
        let secs = ceiling_secs(opts, measured.elapsed_s)?;
        report_ceiling(ceiling::reads(&format!("{url}{path}"), compression, secs).map(|r| {
            let rate = if compression {
                r.requests as f64 * expected as f64 / r.duration_s
            } else {
                r.bytes as f64 / r.duration_s
            };
            Ceiling { tool: "wrk".into(), throughput: rate / MIB, detail: json!({"connections": 1, "wrk": r.raw}) }
        }))
    } else {
        None
    };
    Ok(vec![Outcome {
        workload: "W2",
        variant: None,
        server: server.kind.clone(),
        compression,
        params: json!({"bytes": expected, "append_size": append_size, "prefill_batch_bytes": 1 << 20,
                       "reads": reads, "warmup": warmup, "read_s": per_read, "chunks": chunks}),
        ok: received == expected_total,
        check: format!("{received}/{expected_total} bytes ({reads} reads)"),
        count: received,
        bytes: received,
        unit: "MiB/s",
        throughput,
        measured,
        latency_ms: None,
        ceiling,
    }])
}

/// W2/W3 `--stream P`: read a stream that is already pre-filled with the same sizes
/// (scripts/bench-all.sh pre-fills one and has every client read it), instead of pre-filling one.
fn prefilled_stream(opts: &Opts) -> Option<String> {
    opts.str("stream").map(str::to_string)
}

/// One streamed catch-up read of a byte/text stream: (bytes, chunks).
async fn read_text(stream: &Stream) -> R<(u64, u64)> {
    let mut session = stream.read(ReadOptions { offset: Offset::beginning(), live: LiveMode::Off, ..Default::default() });
    let (mut bytes, mut chunks) = (0u64, 0u64);
    while let Some(c) = session.next_chunk().await.map_err(err)? {
        bytes += c.data.len() as u64;
        chunks += 1;
    }
    Ok((bytes, chunks))
}

/// One catch-up read of a JSON stream, message by message: the number of messages.
async fn read_json(stream: &Stream, raw: bool) -> R<u64> {
    let mut items = stream.read(ReadOptions::default()).json_items();
    let mut count = 0u64;
    if raw {
        while items.next_raw().await.map_err(err)?.is_some() {
            count += 1;
        }
    } else {
        while let Some(v) = items.next::<Value>().await.map_err(err)? {
            // Touch the value so decoding cannot be optimised away.
            count += u64::from(!v.is_null());
        }
    }
    Ok(count)
}

// ---------------------------------------------------------------------------------
// W3: iterate JSON messages

pub fn w3(opts: &Opts) -> R<Vec<Outcome>> {
    let n = opts.size("messages", 1_000_000, 100_000)?;
    let size = usize_opt(opts, "msg-size", 100, 100)?;
    let decode = opts.string_or("decode", "value");
    let reads = opts.size("reads", 3, 3)?.max(1);
    let warmup = opts.bool_or("warmup", true)?;
    if !matches!(decode.as_str(), "value" | "raw") {
        return Err(format!("--decode: value or raw, got {decode:?}"));
    }
    let compression = compression(opts)?;
    let want_ceiling = ceiling_wanted(opts)?;
    let server = Server::from_opts(opts)?;
    let (url, pid, run) = (server.url.clone(), server.pid, run_id());
    let path = match prefilled_stream(opts) {
        Some(p) => p,
        None => {
            let path = format!("/bench/{run}/w3");
            let mut pre = vec![s("prefill")];
            pre.extend(server.child_args());
            pre.extend([s("--stream"), path.clone(), s("--kind"), s("json"), s("--count"), s(n), s("--msg-size"), s(size)]);
            eprintln!("W3: pre-filling {path} with {n} JSON messages of {size} B (not timed)...");
            let pf = helper(&pre)?;
            eprintln!("W3: pre-filled in {:.1} s", pf["elapsed_s"].as_f64().unwrap_or(0.0));
            path
        }
    };

    let raw = decode == "raw";
    let (measured, count, per_read) = runtime::block_on({
        let (url, path) = (url.clone(), path.clone());
        async move {
            let stream = client(&url, compression)?.stream(&path).map_err(err)?;
            if warmup {
                read_json(&stream, raw).await?;
            }
            let meter = Meter::start(pid);
            let (mut count, mut per_read) = (0u64, Vec::new());
            for _ in 0..reads {
                let t = Instant::now();
                count += read_json(&stream, raw).await?;
                per_read.push((t.elapsed().as_secs_f64() * 1e3).round() / 1e3);
            }
            Ok::<_, String>((meter.stop(), count, per_read))
        }
    })?;
    let throughput = count as f64 / measured.elapsed_s;
    let ceiling = if want_ceiling {
        let secs = ceiling_secs(opts, measured.elapsed_s)?;
        // The response body is `[m0,m1,…]`: every message plus a separator.
        let per_item = (size + 1) as f64;
        report_ceiling(ceiling::reads(&format!("{url}{path}"), compression, secs).map(|r| {
            let rate = if compression {
                r.requests as f64 * n as f64 / r.duration_s
            } else {
                r.bytes as f64 / per_item / r.duration_s
            };
            Ceiling { tool: "wrk".into(), throughput: rate, detail: json!({"connections": 1, "wrk": r.raw}) }
        }))
    } else {
        None
    };
    Ok(vec![Outcome {
        workload: "W3",
        variant: None,
        server: server.kind.clone(),
        compression,
        params: json!({"messages": n, "msg_size": size, "decode": decode, "prefill_batch_items": 10_000,
                       "reads": reads, "warmup": warmup, "read_s": per_read}),
        ok: count == n * reads,
        check: format!("{count}/{} items ({reads} reads)", n * reads),
        count,
        bytes: n * reads * size as u64,
        unit: "items/s",
        throughput,
        measured,
        latency_ms: None,
        ceiling,
    }])
}

// ---------------------------------------------------------------------------------
// W4 / W5: live tails, latency append -> receive

struct TailResult {
    measured: crate::measure::Measured,
    latencies: Vec<u64>,
    received: u64,
    duplicates: u64,
    errors: Vec<String>,
    writer: Value,
}

enum Event {
    Ready,
    Latency { i: u64, ns: u64 },
    Failed(String),
}

/// Tail `paths` live, start the writer process, collect append→receive latencies.
fn tail(server: &Server, paths: &[String], live: LiveMode, n: u64, writer_args: Vec<String>, patience: Duration) -> R<TailResult> {
    let url = server.url.clone();
    let pid = server.pid;
    let k = paths.len();
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let client = client(&url, false)?;
    let streams: Vec<Stream> =
        paths.iter().map(|p| client.stream(p).map(|s| s.with_content_type(JSON))).collect::<Result<_, _>>().map_err(err)?;

    let mut tasks = Vec::with_capacity(k);
    for stream in streams {
        let tx = tx.clone();
        tasks.push(runtime::spawn(async move {
            let mut session = stream.read(ReadOptions { offset: Offset::beginning(), live, ..Default::default() });
            let mut ready = false;
            loop {
                match session.next_chunk().await {
                    Ok(Some(c)) => {
                        let now = unix_ns();
                        if let Some(items) = c.items() {
                            for raw in &items {
                                match serde_json::from_slice::<Timed>(raw) {
                                    Ok(m) => {
                                        let _ = tx.send(Event::Latency { i: m.i, ns: now.saturating_sub(m.t) });
                                    }
                                    Err(e) => {
                                        let _ = tx.send(Event::Failed(format!("bad message: {e}")));
                                    }
                                }
                            }
                        }
                        if c.up_to_date && !ready {
                            ready = true;
                            let _ = tx.send(Event::Ready);
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(Event::Failed(e.to_string()));
                        break;
                    }
                }
            }
        }));
    }
    drop(tx);

    let result = runtime::block_on(async move {
        // All sessions connected and caught up before anything is written.
        let mut ready = 0;
        let mut errors = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while ready < k {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(Event::Ready)) => ready += 1,
                Ok(Some(Event::Failed(e))) => errors.push(e),
                Ok(Some(Event::Latency { .. })) => {}
                Ok(None) | Err(_) => return Err(format!("only {ready}/{k} sessions caught up: {errors:?}")),
            }
        }
        // Caught up means the catch-up read answered; give the live request (long-poll
        // or SSE connection) that follows it time to reach the server.
        tokio::time::sleep(Duration::from_millis(500 + 2 * k as u64)).await;
        // Timed from here: start the writer; collect until everything arrived (or
        // patience runs out).
        let meter = Meter::start(pid);
        let writer = tokio::task::spawn_blocking(move || helper(&writer_args));
        let mut latencies = Vec::with_capacity(n as usize);
        let mut seen = vec![false; n as usize];
        let (mut received, mut duplicates) = (0u64, 0u64);
        let deadline = tokio::time::Instant::now() + patience;
        while received < n {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(Event::Latency { i, ns })) => {
                    match seen.get_mut(i as usize) {
                        Some(s) if *s => duplicates += 1,
                        Some(s) => {
                            *s = true;
                            received += 1;
                        }
                        None => errors.push(format!("unexpected message {i}")),
                    }
                    latencies.push(ns);
                }
                Ok(Some(Event::Failed(e))) => errors.push(e),
                Ok(Some(Event::Ready)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        let measured = meter.stop();
        let writer = writer.await.map_err(|e| e.to_string())??;
        Ok::<_, String>(TailResult { measured, latencies, received, duplicates, errors, writer })
    });
    for t in tasks {
        t.abort();
    }
    result
}

pub fn w4(opts: &Opts) -> R<Vec<Outcome>> {
    let n = opts.size("messages", 1000, 200)?;
    let interval_ms = opts.float("interval-ms", 5.0)?;
    let size = usize_opt(opts, "msg-size", 100, 100)?;
    let variants: Vec<(&'static str, LiveMode)> = match opts.str("live").unwrap_or("both") {
        "both" => vec![("long-poll", LiveMode::LongPoll), ("sse", LiveMode::Sse)],
        "long-poll" => vec![("long-poll", LiveMode::LongPoll)],
        "sse" => vec![("sse", LiveMode::Sse)],
        other => return Err(format!("--live: long-poll, sse or both, got {other:?}")),
    };
    let server = Server::from_opts(opts)?;
    let run = run_id();
    let mut out = Vec::new();
    for (name, live) in variants {
        let prefix = format!("/bench/{run}/w4-{name}/");
        let path = format!("{prefix}0");
        runtime::block_on({
            let url = server.url.clone();
            let path = path.clone();
            async move { create(&client(&url, false)?, &path, JSON).await.map(|_| ()) }
        })?;
        let mut wargs = vec![s("writer")];
        wargs.extend(server.child_args());
        wargs.extend([s("--stream-prefix"), prefix, s("--streams"), s(1), s("--messages"), s(n)]);
        wargs.extend([s("--interval-ms"), s(interval_ms), s("--writers"), s(1), s("--msg-size"), s(size)]);
        eprintln!("W4 {name}: {n} messages, {interval_ms} ms apart...");
        let patience = Duration::from_secs_f64(n as f64 * interval_ms / 1e3 + 30.0);
        let mut r = tail(&server, &[path], live, n, wargs, patience)?;
        out.push(live_outcome("W4", Some(name), &server, &mut r, n, json!({"messages": n, "interval_ms": interval_ms, "msg_size": size})));
    }
    Ok(out)
}

pub fn w5(opts: &Opts) -> R<Vec<Outcome>> {
    let k = opts.size("streams", 200, 20)? as usize;
    let n = opts.size("messages", 20_000, 2_000)?;
    let rate = opts.float("rate", 2000.0)?;
    let writers = opts.size("writers", 16, 16)?;
    let size = usize_opt(opts, "msg-size", 100, 100)?;
    let server = Server::from_opts(opts)?;
    let run = run_id();
    let prefix = format!("/bench/{run}/w5/");
    let paths: Vec<String> = (0..k).map(|i| format!("{prefix}{i}")).collect();
    runtime::block_on({
        let (url, paths) = (server.url.clone(), paths.clone());
        async move {
            let c = client(&url, false)?;
            for p in &paths {
                create(&c, p, JSON).await?;
            }
            Ok::<_, String>(())
        }
    })?;
    let mut wargs = vec![s("writer")];
    wargs.extend(server.child_args());
    wargs.extend([s("--stream-prefix"), prefix, s("--streams"), s(k), s("--messages"), s(n)]);
    wargs.extend([s("--rate"), s(rate), s("--writers"), s(writers), s("--msg-size"), s(size)]);
    eprintln!("W5: tailing {k} streams over SSE, {n} messages at {rate}/s...");
    let patience = Duration::from_secs_f64(n as f64 / rate + 30.0);
    let mut r = tail(&server, &paths, LiveMode::Sse, n, wargs, patience)?;
    Ok(vec![live_outcome(
        "W5",
        None,
        &server,
        &mut r,
        n,
        json!({"streams": k, "messages": n, "rate": rate, "writers": writers, "msg_size": size}),
    )])
}

fn live_outcome(workload: &'static str, variant: Option<&'static str>, server: &Server, r: &mut TailResult, n: u64, mut params: Value) -> Outcome {
    let latency = percentiles_ms(&mut r.latencies);
    params["writer"] = r.writer.clone();
    let writer_errors = r.writer.get("errors").and_then(Value::as_u64).unwrap_or(0);
    let mut check = format!("{}/{n} received, {} dup", r.received, r.duplicates);
    if writer_errors > 0 {
        check.push_str(&format!(", {writer_errors} append errors"));
    }
    if let Some(e) = r.errors.first() {
        check.push_str(&format!(", {} errors (first: {e})", r.errors.len()));
    }
    let measured = std::mem::replace(
        &mut r.measured,
        crate::measure::Measured { elapsed_s: 0.0, cpu_user_s: 0.0, cpu_sys_s: 0.0, peak_rss_mib: 0.0, server_cpu_s: None },
    );
    Outcome {
        workload,
        variant,
        server: server.kind.clone(),
        compression: false,
        params,
        ok: r.received == n && r.duplicates == 0 && r.errors.is_empty() && writer_errors == 0,
        check,
        count: r.received,
        bytes: 0,
        unit: "msgs/s",
        throughput: r.received as f64 / measured.elapsed_s,
        measured,
        latency_ms: latency,
        ceiling: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_shapes() {
        let mut b = Vec::new();
        json_message(7, 100, &mut b);
        assert_eq!(b.len(), 100);
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["i"], 7);
        timed_message(3, 1_700_000_000_000_000_000, 100, &mut b);
        assert_eq!(b.len(), 100);
        let t: Timed = serde_json::from_slice(&b).unwrap();
        assert_eq!((t.i, t.t), (3, 1_700_000_000_000_000_000));
        text_record(42, 1024, &mut b);
        assert_eq!(b.len(), 1024);
        assert!(b.starts_with(b"0000000042 x"));
        assert_eq!(*b.last().unwrap(), b'\n');
    }
}

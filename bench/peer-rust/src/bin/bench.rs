//! W1–W5 (bench/README.md) through the upstream Rust client, printing ds-bench's JSON result
//! line: its idempotent producer (W1: `append_json` per message, its defaults, `flush()`), its
//! `ChunkIterator` for catch-up reads (W2 bytes; W3 decodes each response's JSON array into
//! `serde_json::Value`s, as this client has no per-message JSON reader) and for live tails
//! (W4 long-poll and SSE, W5 200 streams over SSE). Timed sections and client CPU as ds-bench
//! measures them; the W2/W3 pre-fill and the W4/W5 writer are `ds-bench prefill` / `ds-bench
//! writer` ($DS_BENCH), separate processes.
//!
//!   bench-upstream-rust w1|w2|w3|w4|w5 --server-url U [--server-kind K] [--stream P] [--quick]
//!       [--messages N] [--msg-size B] [--bytes B] [--append-size B] [--reads N] [--warmup on|off]
//!       [--live long-poll|sse|both] [--interval-ms MS] [--streams K] [--rate R] [--writers N]

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use durable_streams::{Client, CreateOptions, DurableStream, LiveMode, Offset};
use serde_json::{json, Value};
use tokio::sync::mpsc;

type R<T> = Result<T, String>;
const JSON: &str = "application/json";

// ---------------------------------------------------------------------------------
// Options (ds-bench's names, defaults and --quick sizes)

struct Opts {
    flags: HashMap<String, String>,
    quick: bool,
}

impl Opts {
    fn parse(args: &[String]) -> R<Opts> {
        let (mut flags, mut quick, mut i) = (HashMap::new(), false, 0);
        while i < args.len() {
            let a = args[i].strip_prefix("--").ok_or_else(|| format!("unexpected argument {:?}", args[i]))?;
            if a == "quick" {
                quick = true;
                i += 1;
                continue;
            }
            let v = args.get(i + 1).ok_or_else(|| format!("--{a} needs a value"))?;
            flags.insert(a.to_string(), v.clone());
            i += 2;
        }
        Ok(Opts { flags, quick })
    }

    fn str(&self, k: &str) -> Option<&str> {
        self.flags.get(k).map(String::as_str)
    }

    fn size(&self, k: &str, default: u64, quick: u64) -> R<u64> {
        match self.str(k) {
            Some(v) => parse_size(v),
            None => Ok(if self.quick { quick } else { default }),
        }
    }

    fn float(&self, k: &str, default: f64) -> R<f64> {
        self.str(k).map_or(Ok(default), |v| v.parse().map_err(|_| format!("--{k}: not a number: {v}")))
    }
}

fn parse_size(v: &str) -> R<u64> {
    let split = v.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let mult = match unit {
        "" | "B" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("not a size: {v}")),
    };
    num.parse::<f64>().map(|n| (n * mult) as u64).map_err(|_| format!("not a size: {v}"))
}

// ---------------------------------------------------------------------------------
// Measurement

struct Measured {
    elapsed_s: f64,
    user_s: f64,
    sys_s: f64,
    peak_rss_mib: f64,
}

fn rusage() -> libc::rusage {
    // SAFETY: getrusage fills the zeroed struct; RUSAGE_SELF is always valid.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    }
}

fn secs(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}

/// Wall time and client CPU (every thread of this process) of a timed section.
struct Meter(Instant, libc::rusage);

impl Meter {
    fn start() -> Meter {
        Meter(Instant::now(), rusage())
    }

    fn stop(&self) -> Measured {
        let ru = rusage();
        Measured {
            elapsed_s: self.0.elapsed().as_secs_f64(),
            user_s: secs(ru.ru_utime) - secs(self.1.ru_utime),
            sys_s: secs(ru.ru_stime) - secs(self.1.ru_stime),
            peak_rss_mib: ru.ru_maxrss as f64 / 1024.0,
        }
    }
}

fn unix_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, so no date crate is needed).
fn utc_now() -> String {
    let s = unix_ns() / 1_000_000_000;
    let (days, rem) = ((s / 86_400) as i64, s % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

struct Outcome {
    workload: &'static str,
    variant: Option<&'static str>,
    params: Value,
    ok: bool,
    check: String,
    count: u64,
    bytes: u64,
    unit: &'static str,
    throughput: f64,
    m: Measured,
    latency_ms: Option<Value>,
}

fn print_line(opts: &Opts, o: &Outcome) {
    let line = json!({
        "schema": 1, "workload": o.workload, "variant": o.variant, "client": "rust-upstream",
        "client_version": "packages/client-rust (source)", "server": opts.str("server-kind").unwrap_or("external"),
        "date": utc_now(), "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "compression": false, "params": o.params, "ok": o.ok, "check": o.check, "count": o.count, "bytes": o.bytes,
        "elapsed_s": o.m.elapsed_s, "throughput": o.throughput, "unit": o.unit, "cpu_s": o.m.user_s + o.m.sys_s,
        "cpu_user_s": o.m.user_s, "cpu_sys_s": o.m.sys_s, "peak_rss_mib": o.m.peak_rss_mib,
        "latency_ms": o.latency_ms, "server_cpu_s": null, "ceiling": null, "pct_of_ceiling": null,
    });
    println!("{line}");
}

// ---------------------------------------------------------------------------------
// Helpers: streams and ds-bench's helper processes

fn run_id() -> String {
    format!("{}-{}", unix_ns() / 1_000_000, std::process::id())
}

async fn create(client: &Client, url: &str) -> R<DurableStream> {
    let mut stream = client.stream(url);
    stream.create_with(CreateOptions::new().content_type(JSON)).await.map_err(|e| e.to_string())?;
    stream.set_content_type(JSON);
    Ok(stream)
}

/// Run `ds-bench ARGS` and return its last stdout line, parsed.
async fn ds_bench(args: Vec<String>) -> R<Value> {
    let exe = std::env::var("DS_BENCH").map_err(|_| "DS_BENCH (the ds-bench binary) is not set".to_string())?;
    let out = tokio::process::Command::new(&exe)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .await
        .map_err(|e| format!("{exe}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    if !out.status.success() {
        return Err(format!("ds-bench {} failed ({}): {last}", args[0], out.status));
    }
    serde_json::from_str(last).map_err(|e| format!("ds-bench {} printed {last:?}: {e}", args[0]))
}

/// W2/W3: the stream given with --stream, else one pre-filled here (not timed).
async fn prefilled(opts: &Opts, url: &str, kind: &str, count: u64, size: u64) -> R<String> {
    if let Some(p) = opts.str("stream") {
        return Ok(p.to_string());
    }
    let path = format!("/bench/upstream-rust/{}/{kind}", run_id());
    let s = |v: &dyn ToString| v.to_string();
    let args = ["prefill", "--server-url", url, "--stream", &path, "--kind", kind];
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.extend([s(&"--count"), s(&count), s(&"--msg-size"), s(&size)]);
    ds_bench(args).await?;
    Ok(path)
}

// ---------------------------------------------------------------------------------
// W1: produce

#[derive(serde::Serialize)]
struct Msg<'a> {
    i: u64,
    p: &'a str,
}

async fn w1(opts: &Opts, url: &str) -> R<Vec<Outcome>> {
    let n = opts.size("messages", 1_000_000, 100_000)?;
    let size = opts.size("msg-size", 100, 100)? as usize;
    let client = Client::new();
    let stream = create(&client, &format!("{url}/bench/upstream-rust/{}/w1", run_id())).await?;
    let producer = stream.producer(format!("w1-{}", std::process::id())).build();
    // The same JSON text as ds-bench's message i, {"i":<i>,"p":"xxx…"} of `size` bytes,
    // built without formatting in the timed loop (`{"i":` + digits + `,"p":"` + pad + `"}`).
    let pads: Vec<String> = (0..=size).map(|k| "x".repeat(k)).collect();
    let meter = Meter::start();
    for i in 0..n {
        let digits = if i == 0 { 1 } else { i.ilog10() as usize + 1 };
        producer.append_json(&Msg { i, p: &pads[size.saturating_sub(13 + digits).min(size)] });
    }
    producer.flush().await.map_err(|e| e.to_string())?;
    let m = meter.stop();
    // Not timed: count what the server holds.
    let mut it = stream.read().offset(Offset::Beginning).build();
    let mut count = 0u64;
    while let Some(c) = it.next_chunk().await.map_err(|e| e.to_string())? {
        if !c.data.is_empty() {
            let items: Vec<serde::de::IgnoredAny> = serde_json::from_slice(&c.data).map_err(|e| e.to_string())?;
            count += items.len() as u64;
        }
    }
    Ok(vec![Outcome {
        workload: "W1",
        variant: None,
        params: json!({"messages": n, "msg_size": size, "batch_bytes": 1 << 20, "linger_ms": 5.0, "in_flight": 5,
                       "batches": producer.next_seq()}),
        ok: count == n,
        check: format!("{count}/{n} read back"),
        count: n,
        bytes: n * size as u64,
        unit: "msgs/s",
        throughput: n as f64 / m.elapsed_s,
        m,
        latency_ms: None,
    }])
}

// ---------------------------------------------------------------------------------
// W2 / W3: catch-up reads

/// One catch-up read from `-1`: (bytes, chunks) for W2, (messages, chunks) for W3.
async fn read_once(stream: &DurableStream, json: bool) -> R<(u64, u64)> {
    let mut it = stream.read().offset(Offset::Beginning).live(LiveMode::Off).build();
    let (mut total, mut chunks) = (0u64, 0u64);
    while let Some(c) = it.next_chunk().await.map_err(|e| e.to_string())? {
        chunks += 1;
        if !json {
            total += c.data.len() as u64;
        } else if !c.data.is_empty() {
            let items: Vec<Value> = serde_json::from_slice(&c.data).map_err(|e| e.to_string())?;
            // Touch every value, one at a time, as the application would.
            total += items.iter().filter(|v| !v.is_null()).count() as u64;
        }
    }
    Ok((total, chunks))
}

async fn catch_up(opts: &Opts, url: &str, workload: &'static str) -> R<Vec<Outcome>> {
    let json = workload == "W3";
    let reads = opts.size("reads", 3, 3)?.max(1);
    let warmup = opts.str("warmup").unwrap_or("on") != "off";
    let (path, expected, per_item) = if json {
        let (n, size) = (opts.size("messages", 1_000_000, 100_000)?, opts.size("msg-size", 100, 100)?);
        (prefilled(opts, url, "json", n, size).await?, n, size)
    } else {
        let total = opts.size("bytes", 1 << 30, 64 << 20)?;
        let rec = opts.size("append-size", 1024, 1024)?.max(12);
        ((prefilled(opts, url, "text", total / rec, rec).await?), total / rec * rec, 1)
    };
    let stream = Client::new().stream(&format!("{url}{path}"));
    if warmup {
        read_once(&stream, json).await?;
    }
    let meter = Meter::start();
    let (mut got, mut chunks) = (0u64, 0u64);
    for _ in 0..reads {
        let (g, c) = read_once(&stream, json).await?;
        got += g;
        chunks += c;
    }
    let m = meter.stop();
    let want = expected * reads;
    let (unit, throughput) =
        if json { ("items/s", got as f64 / m.elapsed_s) } else { ("MiB/s", got as f64 / 1048576.0 / m.elapsed_s) };
    Ok(vec![Outcome {
        workload,
        variant: None,
        params: json!({"expected": expected, "reads": reads, "warmup": warmup, "chunks": chunks}),
        ok: got == want,
        check: format!("{got}/{want} {} ({reads} reads)", if json { "items" } else { "bytes" }),
        count: got,
        bytes: if json { got * per_item } else { got },
        unit,
        throughput,
        m,
        latency_ms: None,
    }])
}

// ---------------------------------------------------------------------------------
// W4 / W5: live tails, latency append -> receive

#[derive(serde::Deserialize)]
struct Timed {
    i: u64,
    t: u64,
}

enum Event {
    Ready,
    Latency { i: u64, ns: u64 },
    Failed(String),
}

/// Tail one stream until the task is dropped, reporting caught-up and every message.
async fn tail_one(stream: DurableStream, live: LiveMode, tx: mpsc::UnboundedSender<Event>) {
    let mut offset = Offset::Beginning;
    if live == LiveMode::LongPoll {
        // Catch up first: this client's long-poll from -1 on an empty stream waits for data
        // instead of answering "up to date", so the tail starts at the caught-up offset.
        let mut it = stream.read().offset(Offset::Beginning).build();
        loop {
            match it.next_chunk().await {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Event::Failed(e.to_string()));
                    return;
                }
            }
        }
        offset = it.offset().clone();
        let _ = tx.send(Event::Ready);
    }
    let mut it = stream.read().offset(offset).live(live.clone()).build();
    let mut ready = live == LiveMode::LongPoll;
    loop {
        match it.next_chunk().await {
            Ok(Some(c)) => {
                let now = unix_ns();
                if !c.data.is_empty() {
                    let parsed = if c.data.first() == Some(&b'[') {
                        serde_json::from_slice::<Vec<Timed>>(&c.data)
                    } else {
                        serde_json::from_slice::<Timed>(&c.data).map(|m| vec![m])
                    };
                    match parsed {
                        Ok(ms) => {
                            for m in ms {
                                let _ = tx.send(Event::Latency { i: m.i, ns: now.saturating_sub(m.t) });
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Event::Failed(format!("bad message: {e}")));
                        }
                    }
                }
                if c.up_to_date && !ready {
                    ready = true;
                    let _ = tx.send(Event::Ready);
                }
            }
            Ok(None) => return,
            Err(e) => {
                let _ = tx.send(Event::Failed(e.to_string()));
                return;
            }
        }
    }
}

/// Tail `paths`; once all are caught up, start the writer and collect n messages.
async fn tail(url: &str, paths: &[String], live: LiveMode, n: u64, writer: Vec<String>, patience: Duration) -> R<(Measured, Value, Value, String, bool)> {
    let client = Client::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for p in paths {
        let mut s = client.stream(&format!("{url}{p}"));
        s.set_content_type(JSON);
        tasks.push(tokio::spawn(tail_one(s, live.clone(), tx.clone())));
    }
    drop(tx);
    let (k, mut ready, mut errors) = (paths.len(), 0, Vec::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while ready < k {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Event::Ready)) => ready += 1,
            Ok(Some(Event::Failed(e))) => errors.push(e),
            Ok(Some(Event::Latency { .. })) => {}
            Ok(None) | Err(_) => return Err(format!("only {ready}/{k} tails caught up: {errors:?}")),
        }
    }
    // As ds-bench: give the live requests that follow the catch-up time to reach the server.
    tokio::time::sleep(Duration::from_millis(500 + 2 * k as u64)).await;
    let meter = Meter::start();
    let writer = tokio::spawn(ds_bench(writer));
    let (mut latencies, mut seen) = (Vec::with_capacity(n as usize), vec![false; n as usize]);
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
    let m = meter.stop();
    for t in tasks {
        t.abort();
    }
    let writer = writer.await.map_err(|e| e.to_string())??;
    let writer_errors = writer.get("errors").and_then(Value::as_u64).unwrap_or(0);
    let mut check = format!("{received}/{n} received, {duplicates} dup");
    if writer_errors > 0 {
        check.push_str(&format!(", {writer_errors} append errors"));
    }
    if let Some(e) = errors.first() {
        check.push_str(&format!(", {} errors (first: {e})", errors.len()));
    }
    let ok = received == n && duplicates == 0 && errors.is_empty() && writer_errors == 0;
    latencies.sort_unstable();
    let rank = |q: f64| {
        let k = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
        latencies[k - 1] as f64 / 1e6
    };
    let lat = if latencies.is_empty() {
        Value::Null
    } else {
        json!({"p50": rank(0.5), "p99": rank(0.99), "max": latencies[latencies.len() - 1] as f64 / 1e6})
    };
    Ok((m, lat, writer, check, ok))
}

fn live_outcome(workload: &'static str, variant: Option<&'static str>, n: u64, mut params: Value, r: (Measured, Value, Value, String, bool)) -> Outcome {
    let (m, lat, writer, check, ok) = r;
    params["writer"] = writer;
    let received: u64 = check.split('/').next().and_then(|s| s.parse().ok()).unwrap_or(0);
    Outcome {
        workload,
        variant,
        params,
        ok,
        check,
        count: received.min(n),
        bytes: 0,
        unit: "msgs/s",
        throughput: received as f64 / m.elapsed_s,
        m,
        latency_ms: Some(lat),
    }
}

fn writer_args(url: &str, prefix: &str, streams: u64, n: u64, pace: [String; 2], writers: u64, size: u64) -> Vec<String> {
    let mut a: Vec<String> = ["writer", "--server-url", url, "--stream-prefix", prefix].iter().map(|s| s.to_string()).collect();
    a.extend(["--streams".into(), streams.to_string(), "--messages".into(), n.to_string()]);
    a.extend(pace);
    a.extend(["--writers".into(), writers.to_string(), "--msg-size".into(), size.to_string()]);
    a
}

async fn w4(opts: &Opts, url: &str) -> R<Vec<Outcome>> {
    let n = opts.size("messages", 1000, 200)?;
    let interval_ms = opts.float("interval-ms", 5.0)?;
    let size = opts.size("msg-size", 100, 100)?;
    let variants: Vec<(&'static str, LiveMode)> = match opts.str("live").unwrap_or("both") {
        "both" => vec![("long-poll", LiveMode::LongPoll), ("sse", LiveMode::Sse)],
        "long-poll" => vec![("long-poll", LiveMode::LongPoll)],
        "sse" => vec![("sse", LiveMode::Sse)],
        other => return Err(format!("--live: long-poll, sse or both, got {other:?}")),
    };
    let (client, run, mut out) = (Client::new(), run_id(), Vec::new());
    for (name, live) in variants {
        let prefix = format!("/bench/upstream-rust/{run}/w4-{name}/");
        create(&client, &format!("{url}{prefix}0")).await?;
        let pace = ["--interval-ms".to_string(), interval_ms.to_string()];
        let wargs = writer_args(url, &prefix, 1, n, pace, 1, size);
        eprintln!("W4 {name} (rust-upstream): {n} messages, {interval_ms} ms apart...");
        let patience = Duration::from_secs_f64(n as f64 * interval_ms / 1e3 + 30.0);
        let r = tail(url, &[format!("{prefix}0")], live, n, wargs, patience).await?;
        out.push(live_outcome("W4", Some(name), n, json!({"messages": n, "interval_ms": interval_ms, "msg_size": size}), r));
    }
    Ok(out)
}

async fn w5(opts: &Opts, url: &str) -> R<Vec<Outcome>> {
    let k = opts.size("streams", 200, 20)?;
    let n = opts.size("messages", 20_000, 2_000)?;
    let rate = opts.float("rate", 2000.0)?;
    let writers = opts.size("writers", 16, 16)?;
    let size = opts.size("msg-size", 100, 100)?;
    let client = Client::new();
    let prefix = format!("/bench/upstream-rust/{}/w5/", run_id());
    let paths: Vec<String> = (0..k).map(|i| format!("{prefix}{i}")).collect();
    for p in &paths {
        create(&client, &format!("{url}{p}")).await?;
    }
    let wargs = writer_args(url, &prefix, k, n, ["--rate".into(), rate.to_string()], writers, size);
    eprintln!("W5 (rust-upstream): tailing {k} streams over SSE, {n} messages at {rate}/s...");
    let r = tail(url, &paths, LiveMode::Sse, n, wargs, Duration::from_secs_f64(n as f64 / rate + 30.0)).await?;
    let params = json!({"streams": k, "messages": n, "rate": rate, "writers": writers, "msg_size": size});
    Ok(vec![live_outcome("W5", None, n, params, r)])
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = async {
        let workload = args.first().ok_or("usage: bench-upstream-rust w1|w2|w3|w4|w5 --server-url U [options]")?;
        let opts = Opts::parse(&args[1..])?;
        let url = opts.str("server-url").ok_or("--server-url is required")?.trim_end_matches('/').to_string();
        let outcomes = match workload.as_str() {
            "w1" => w1(&opts, &url).await?,
            "w2" => catch_up(&opts, &url, "W2").await?,
            "w3" => catch_up(&opts, &url, "W3").await?,
            "w4" => w4(&opts, &url).await?,
            "w5" => w5(&opts, &url).await?,
            other => return Err(format!("unknown workload {other:?}")),
        };
        for o in &outcomes {
            print_line(&opts, o);
        }
        Ok::<_, String>(())
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-upstream-rust: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

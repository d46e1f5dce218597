//! `ds-bench recovery`: what a fault costs the idempotent producer (issue 12 §2).
//!
//! Faults come from the reference server's own injection (`/_test/inject-error`,
//! drawn per POST with the given probability), so this needs `--server node`. Per
//! mode (one message per request with 5 in flight, and default batching), fault kind
//! and rate it prints: time, throughput against the fault-free run, requests, `409`
//! answers, failures the producer saw, and per injected fault the extra requests,
//! `409`s and stall time. Every run is read back: all messages, once, in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use durable_streams_sdk::{AppendOptions, Client, Offset, Producer, ProducerOptions, runtime};
use serde_json::{Value, json};

use crate::opts::Opts;
use crate::server::Server;

type R<T> = Result<T, String>;

/// How long the client waits for an answer, per mode; the `timeout` fault holds a
/// request 50 ms (per-message) or 500 ms (batched) longer, so its answer is lost while
/// the server still stores it: the reference server's nearest thing to a proxy's
/// commit-then-drop, but each costs the whole client timeout.
fn request_timeout(mode: &str) -> Duration {
    if mode == "per-message" { Duration::from_millis(250) } else { Duration::from_secs(2) }
}

/// The fault kinds, as the server's injection spells them (without probability).
fn kind(name: &str, mode: &str) -> R<Value> {
    let hold = request_timeout(mode) + if mode == "per-message" { Duration::from_millis(50) } else { Duration::from_millis(500) };
    Ok(match name {
        // Connection closed before the request is processed.
        "drop" => json!({"dropConnection": true}),
        // Refused without Retry-After: provably not processed.
        "503" => json!({"status": 503}),
        "delay" => json!({"delayMs": 200}),
        // Processed after the client gave up: stored, answer lost (commit-then-drop).
        "timeout" => json!({"delayMs": hold.as_millis() as u64}),
        other => return Err(format!("unknown fault kind {other:?} (drop, 503, delay, timeout, all)")),
    })
}

/// `all` arms these in turn (each at the given rate): the mix without
/// commit-then-drop, which the reference server cannot inject.
const KINDS: [&str; 3] = ["drop", "503", "delay"];

struct Run {
    mode: &'static str,
    kind: String,
    rate: f64,
    messages: u64,
    elapsed_s: f64,
    batches: u64,
    requests: u64,
    gaps: u64,
    failures: u64,
    ok: String,
}

pub fn recovery(opts: &Opts) -> R<()> {
    let server = Server::from_opts(opts)?;
    if server.kind != "node-ref" {
        return Err("recovery needs the reference server's fault injection (--server node)".into());
    }
    let rates: Vec<f64> = opts
        .string_or("rates", "1,4")
        .split(',')
        .map(|r| r.trim().parse::<f64>().map_err(|_| format!("--rates: not a number: {r:?}")))
        .collect::<R<_>>()?;
    let kinds: Vec<String> = opts.string_or("kinds", "drop,503,delay,timeout,all").split(',').map(str::to_string).collect();
    let per_message = opts.size("messages", 1000, 500)?;
    let batched = opts.size("batched-messages", 300_000, 100_000)?;
    let runs = opts.size("runs", 3, 1)?.max(1) as usize;
    println!(
        "# recovery: the reference server's fault injection (tests/chaos was not on main), {} cores shared with other work;\n\
         # per-message: max_batch_items 1, 5 in flight, client timeout 250 ms; batched: producer defaults, client timeout 2 s.\n\
         # Each row: the run with the median time of {runs} (fault-free: at least 3). Per-fault figures are net of the\n\
         # fault-free run's own requests and 409s (the reference server reorders some pipelined requests by itself).",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for (mode, n) in [("per-message", per_message), ("batched", batched)] {
        let base = median_of(runs.max(3), || run(&server.url, mode, n, "none", 0.0))?;
        print_row(&base, None);
        for k in &kinds {
            for &rate in &rates {
                print_row(&median_of(runs, || run(&server.url, mode, n, k, rate / 100.0))?, Some(&base));
            }
        }
    }
    Ok(())
}

/// The run with the median time of `n`; a failed read-back check wins, so it is seen.
fn median_of(n: usize, mut f: impl FnMut() -> R<Run>) -> R<Run> {
    let mut all: Vec<Run> = (0..n).map(|_| f()).collect::<R<_>>()?;
    if let Some(i) = all.iter().position(|r| r.ok != "all once, in order") {
        return Ok(all.swap_remove(i));
    }
    all.sort_by(|a, b| a.elapsed_s.total_cmp(&b.elapsed_s));
    Ok(all.swap_remove(n / 2))
}

fn print_row(r: &Run, base: Option<&Run>) {
    if base.is_none() {
        println!(
            "\n| mode | fault | rate | msgs | s | msgs/s | % of fault-free | requests | batches | 409s | failures seen | faults | extra req / fault | 409s / fault | stall ms / fault | check |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    }
    let tput = r.messages as f64 / r.elapsed_s;
    // Drops, 503s and timeouts are each seen by the producer as one failed request;
    // a delay is not, but each POST draws against the armed fault with the given
    // probability, so that many delays were injected on average.
    let delays = r.rate * r.requests as f64;
    let faults = match r.kind.as_str() {
        "delay" => delays,
        "all" => r.failures as f64 + delays,
        _ => r.failures as f64,
    };
    let (pct, per_fault) = match base {
        None => ("100".to_string(), ("–".to_string(), "–".to_string(), "–".to_string())),
        Some(b) if faults < 0.5 => (
            format!("{:.0}", 100.0 * tput * b.elapsed_s / b.messages as f64),
            ("no fault hit".to_string(), "–".to_string(), "–".to_string()),
        ),
        Some(b) => {
            let bt = b.messages as f64 / b.elapsed_s;
            // What the fault-free run needed for the same number of batches.
            let base_extra = (b.requests - b.batches) as f64 / b.batches.max(1) as f64 * r.batches as f64;
            let base_gaps = b.gaps as f64 / b.batches.max(1) as f64 * r.batches as f64;
            let base_time = r.messages as f64 / bt;
            let f = faults.max(1e-9);
            (
                format!("{:.0}", 100.0 * tput / bt),
                (
                    format!("{:.2}", ((r.requests - r.batches) as f64 - base_extra) / f),
                    format!("{:.2}", (r.gaps as f64 - base_gaps) / f),
                    format!("{:.0}", (r.elapsed_s - base_time) * 1e3 / f),
                ),
            )
        }
    };
    println!(
        "| {} | {} | {}% | {} | {:.2} | {:.0} | {pct} | {} | {} | {} | {} | {:.1} | {} | {} | {} | {} |",
        r.mode,
        r.kind,
        r.rate * 100.0,
        r.messages,
        r.elapsed_s,
        tput,
        r.requests,
        r.batches,
        r.gaps,
        r.failures,
        faults,
        per_fault.0,
        per_fault.1,
        per_fault.2,
        r.ok
    );
}

fn run(url: &str, mode: &'static str, n: u64, kind_name: &str, rate: f64) -> R<Run> {
    let url = url.to_string();
    let kind_name = kind_name.to_string();
    runtime::block_on(async move {
        let e = |e: durable_streams_sdk::Error| e.to_string();
        let client = Client::builder(&url).request_timeout(request_timeout(mode)).build().map_err(e)?;
        let control = Client::new(&url).map_err(e)?;
        let path = format!("/bench/recovery/{}-{mode}-{kind_name}-{}", std::process::id(), (rate * 1000.0) as u64);
        let stream = client.stream(&path).map_err(e)?;
        stream
            .create(durable_streams_sdk::CreateOptions { content_type: Some("application/json".into()), ..Default::default() })
            .await
            .map_err(e)?;
        let mut po = ProducerOptions::new("recovery");
        po.content_type = Some("application/json".into());
        if mode == "per-message" {
            po.max_batch_items = 1;
            po.max_in_flight = 5;
        }
        let producer = Producer::start_now(stream.clone(), po).map_err(e)?;
        let stop = Arc::new(AtomicBool::new(false));
        let injector = if rate > 0.0 {
            let kinds: Vec<Value> = if kind_name == "all" {
                KINDS.iter().map(|k| kind(k, mode)).collect::<R<_>>()?
            } else {
                vec![kind(&kind_name, mode)?]
            };
            let armed = rate * kinds.len() as f64;
            let (control, path, stop) = (control.clone(), path.clone(), stop.clone());
            Some(tokio::spawn(async move {
                // The server holds one fault per path: rotate through the kinds.
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let mut f = kinds[i % kinds.len()].clone();
                    f["probability"] = json!(armed);
                    f["count"] = json!(1_000_000_000u64);
                    f["method"] = json!("POST");
                    f["path"] = json!(path);
                    arm(&control, &f).await?;
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(if kinds.len() > 1 { 50 } else { 1000 })).await;
                }
                // Disarm: a fault whose method never matches.
                arm(&control, &json!({"path": path, "status": 503, "count": 1, "method": "PATCH"})).await
            }))
        } else {
            None
        };
        let mut buf = Vec::with_capacity(128);
        let t = Instant::now();
        for i in 0..n {
            crate::workloads::json_message(i, 100, &mut buf);
            producer.append(bytes::Bytes::copy_from_slice(&buf)).await.map_err(e)?;
        }
        producer.flush().await.map_err(e)?;
        let elapsed_s = t.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        if let Some(j) = injector {
            j.await.map_err(|e| e.to_string())??;
        }
        let c = producer.counters();
        let batches = producer.next_seq();
        producer.detach().await.map_err(e)?;
        let body = control.stream(&path).map_err(e)?.read_all(Offset::beginning()).await.map_err(e)?;
        let items: Vec<Value> = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let in_order = items.iter().enumerate().all(|(i, v)| v["i"].as_u64() == Some(i as u64));
        let ok = if items.len() as u64 == n && in_order {
            "all once, in order".to_string()
        } else {
            format!("FAILED: {} of {n} read back, in order: {in_order}", items.len())
        };
        Ok(Run {
            mode,
            kind: kind_name,
            rate,
            messages: n,
            elapsed_s,
            batches,
            requests: c.requests,
            gaps: c.sequence_gaps,
            failures: c.failures,
            ok,
        })
    })
}

async fn arm(control: &Client, fault: &Value) -> R<()> {
    let s = control.stream("/_test/inject-error").map_err(|e| e.to_string())?;
    s.append(fault.to_string(), AppendOptions { content_type: Some("text/plain".into()), ..Default::default() })
        .await
        .map(drop)
        .map_err(|e| format!("inject-error: {e}"))
}

//! `ds-bench recovery`: what a fault costs the idempotent producer (issue 12 §2),
//! measured through the project's chaos proxy (`tests/chaos/proxy.mjs`).
//!
//! Per run a fresh proxy (own seed) sits between one producer and the server (the
//! reference server by default, `--server rust` works too) and injects the fault kinds
//! asked for, each drawn per request with the given probability. The stream is created
//! and read back straight from the server: every run must store all messages once, in
//! order. Figures per injected fault come from the proxy's own counters: requests
//! beyond one per distinct batch (`Producer-Id`, epoch, seq), `409` answers, and time
//! beyond what the fault-free run needed for as many messages.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use durable_streams_sdk::{Client, Offset, Producer, ProducerOptions, RetryPolicy, runtime};
use serde_json::Value;

use crate::opts::Opts;
use crate::server::Server;

type R<T> = Result<T, String>;

/// Every kind the proxy injects (tests/chaos/proxy.mjs, FAULT_KINDS).
const ALL_KINDS: &str = "drop,503,503-ra,429,429-ra,commit-drop,truncate,stall,delay";

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// One message per request, 5 in flight: every fault hits a pipeline.
    PerMessage,
    /// The producer's defaults, the application appending as fast as it can.
    Batched,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::PerMessage => "per-message",
            Mode::Batched => "batched",
        }
    }

    /// The client's request timeout: a `stall` costs this much before the resend.
    fn request_timeout(self) -> Duration {
        match self {
            Mode::PerMessage => Duration::from_millis(250),
            Mode::Batched => Duration::from_secs(2),
        }
    }
}

struct Settings {
    seed: u64,
    retry_after: f64,
    delay_ms: u64,
}

struct Run {
    mode: Mode,
    kinds: String,
    rate: f64,
    messages: u64,
    elapsed_s: f64,
    /// From the proxy: producer requests, distinct batches, faults injected on them, 409s.
    requests: u64,
    batches: u64,
    faults: u64,
    gaps: u64,
    check: String,
}

pub fn recovery(opts: &Opts) -> R<()> {
    let server = Server::from_opts(opts)?;
    let rates: Vec<f64> = opts
        .string_or("rates", "1,4")
        .split(',')
        .map(|r| r.trim().parse::<f64>().map_err(|_| format!("--rates: not a number: {r:?}")))
        .collect::<R<_>>()?;
    // `;`-separated fault mixes, each a `,`-separated list of kinds; `all`: every kind at
    // once (each at the rate); `each`: one row per kind. The default adds the mix
    // (drops, 503s without Retry-After, commit-then-drop, 200 ms delays).
    let mut kinds: Vec<String> = Vec::new();
    for mix in opts.string_or("kinds", "drop,503,commit-drop,delay;all").split(';') {
        match mix {
            "all" => kinds.push(ALL_KINDS.to_string()),
            "each" => kinds.extend(ALL_KINDS.split(',').map(str::to_string)),
            list => kinds.push(list.to_string()),
        }
    }
    let settings = Settings {
        seed: opts.size("seed", 1, 1)?,
        retry_after: opts.float("retry-after", 1.0)?,
        delay_ms: opts.size("delay-ms", 200, 200)?,
    };
    let per_message = opts.size("messages", 1000, 300)?;
    let batched = opts.size("batched-messages", 300_000, 100_000)?;
    let modes: Vec<Mode> = match opts.string_or("modes", "per-message,batched").as_str() {
        "per-message" => vec![Mode::PerMessage],
        "batched" => vec![Mode::Batched],
        _ => vec![Mode::PerMessage, Mode::Batched],
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "# recovery through tests/chaos/proxy.mjs in front of the {} server ({} cores, load {});\n\
         # per-message: max_batch_items 1, 5 in flight, request timeout 250 ms (stall 1 s); batched: producer\n\
         # defaults, request timeout 2 s (stall 3 s). Delay {} ms, Retry-After {} s. Seed {} (+ row number).\n\
         # Per fault: extra req = producer requests beyond one per batch; stall = time beyond the fault-free run's.",
        server.kind,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        settings.delay_ms,
        settings.retry_after,
        settings.seed,
    );
    let mut row_seed = settings.seed;
    for mode in modes {
        let n = if mode == Mode::PerMessage { per_message } else { batched };
        let base = run(&server, &settings, row_seed, mode, n, "", 0.0)?;
        print_row(&base, None);
        for k in &kinds {
            for &rate in &rates {
                row_seed += 1;
                print_row(&run(&server, &settings, row_seed, mode, n, k, rate / 100.0)?, Some(&base));
            }
        }
    }
    Ok(())
}

fn print_row(r: &Run, base: Option<&Run>) {
    if base.is_none() {
        println!(
            "\n| mode | faults | rate per kind | msgs | s | msgs/s | % of fault-free | requests | batches | faults injected | 409s | extra req / fault | net of fault-free | 409s / fault | stall ms / fault | check |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    }
    let tput = r.messages as f64 / r.elapsed_s;
    let (pct, extra, net, gaps, stall) = match base {
        None => ("100".to_string(), "–".to_string(), "–".to_string(), "–".to_string(), "–".to_string()),
        Some(b) if r.faults == 0 => {
            (format!("{:.0}", 100.0 * tput * b.elapsed_s / b.messages as f64), "no fault hit".into(), "–".into(), "–".into(), "–".into())
        }
        Some(b) => {
            let f = r.faults as f64;
            let base_time = r.messages as f64 * b.elapsed_s / b.messages as f64;
            let extra = r.requests.saturating_sub(r.batches) as f64;
            // Pipelined requests on separate connections sometimes reach the server out of
            // order even without faults (each a 409 and a resend): the fault-free row's rate.
            let base_extra = b.requests.saturating_sub(b.batches) as f64 / b.batches.max(1) as f64 * r.batches as f64;
            (
                format!("{:.0}", 100.0 * tput * b.elapsed_s / b.messages as f64),
                format!("{:.2}", extra / f),
                format!("{:.2}", (extra - base_extra) / f),
                format!("{:.2}", r.gaps as f64 / f),
                format!("{:.0}", (r.elapsed_s - base_time) * 1e3 / f),
            )
        }
    };
    let kinds = if r.kinds.is_empty() {
        "none"
    } else if r.kinds == ALL_KINDS {
        "all 9 kinds"
    } else {
        &r.kinds
    };
    println!(
        "| {} | {kinds} | {}% | {} | {:.2} | {:.0} | {pct} | {} | {} | {} | {} | {extra} | {net} | {gaps} | {stall} | {} |",
        r.mode.name(),
        r.rate * 100.0,
        r.messages,
        r.elapsed_s,
        tput,
        r.requests,
        r.batches,
        r.faults,
        r.gaps,
        r.check
    );
}

fn run(server: &Server, s: &Settings, seed: u64, mode: Mode, n: u64, kinds: &str, rate: f64) -> R<Run> {
    let stall_ms = (mode.request_timeout() + Duration::from_secs(1)).as_millis() as u64;
    let proxy = ProxyProcess::start(&server.url, seed, rate, kinds, stall_ms, s)?;
    let (url, proxy_url) = (server.url.clone(), proxy.url.clone());
    let (elapsed_s, check) = runtime::block_on(async move {
        let e = |e: durable_streams_sdk::Error| e.to_string();
        let direct = Client::new(&url).map_err(e)?;
        let path = format!("/bench/recovery/{}-{}-{seed}", std::process::id(), mode.name());
        direct
            .stream(&path)
            .map_err(e)?
            .create(durable_streams_sdk::CreateOptions { content_type: Some("application/json".into()), ..Default::default() })
            .await
            .map_err(e)?;
        // Retries enough for runs of faults in a row (a third of all requests are faulted at 4%).
        let client = Client::builder(&proxy_url)
            .request_timeout(mode.request_timeout())
            .retry_policy(RetryPolicy { max_retries: 30, ..Default::default() })
            .build()
            .map_err(e)?;
        let mut po = ProducerOptions::new("recovery");
        po.content_type = Some("application/json".into());
        if mode == Mode::PerMessage {
            po.max_batch_items = 1;
            po.max_in_flight = 5;
        }
        let producer = Producer::start_now(client.stream(&path).map_err(e)?, po).map_err(e)?;
        let mut buf = Vec::with_capacity(128);
        let t = Instant::now();
        for i in 0..n {
            crate::workloads::json_message(i, 100, &mut buf);
            producer.append(bytes::Bytes::copy_from_slice(&buf)).await.map_err(e)?;
        }
        producer.flush().await.map_err(e)?;
        let elapsed_s = t.elapsed().as_secs_f64();
        producer.detach().await.map_err(e)?;
        let body = direct.stream(&path).map_err(e)?.read_all(Offset::beginning()).await.map_err(e)?;
        let items: Vec<Value> = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let in_order = items.iter().enumerate().all(|(i, v)| v["i"].as_u64() == Some(i as u64));
        let check = if items.len() as u64 == n && in_order {
            "all once, in order".to_string()
        } else {
            format!("FAILED: {} of {n} read back, in order: {in_order}", items.len())
        };
        Ok::<_, String>((elapsed_s, check))
    })?;
    let stats = proxy.stats()?;
    let p = &stats["producer"];
    let num = |v: &Value| v.as_u64().unwrap_or(0);
    Ok(Run {
        mode,
        kinds: kinds.to_string(),
        rate,
        messages: n,
        elapsed_s,
        requests: num(&p["requests"]),
        batches: num(&p["batches"]),
        faults: num(&p["faults"]),
        gaps: num(&p["statuses"]["409"]),
        check,
    })
}

/// `node tests/chaos/proxy.mjs`, stopped (stdin closed, then killed) when dropped.
struct ProxyProcess {
    child: Child,
    url: String,
}

impl ProxyProcess {
    fn start(upstream: &str, seed: u64, rate: f64, kinds: &str, stall_ms: u64, s: &Settings) -> R<ProxyProcess> {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/chaos/proxy.mjs");
        let mut cmd = Command::new("node");
        cmd.arg(&script).arg("--upstream").arg(upstream);
        let args = [
            ("--seed", seed.to_string()),
            ("--rate", rate.to_string()),
            ("--stall-ms", stall_ms.to_string()),
            ("--delay-ms", s.delay_ms.to_string()),
            ("--retry-after", s.retry_after.to_string()),
            ("--max-seconds", "3600".to_string()),
        ];
        for (k, v) in args {
            cmd.arg(k).arg(v);
        }
        if !kinds.is_empty() {
            cmd.arg("--kinds").arg(kinds);
        }
        let mut child = cmd
            .env_remove("DS_IGNORE_STDIN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run node {}: {e}", script.display()))?;
        let mut line = String::new();
        let stdout = child.stdout.take().ok_or("proxy stdout")?;
        BufReader::new(stdout).read_line(&mut line).map_err(|e| format!("reading the proxy's URL: {e}"))?;
        let v: Value = serde_json::from_str(line.trim()).map_err(|e| format!("proxy printed {line:?}: {e}"))?;
        let url = v["proxy"].as_str().ok_or_else(|| format!("proxy printed {line:?}"))?.to_string();
        Ok(ProxyProcess { child, url })
    }

    /// `GET /__chaos/stats` (a plain HTTP/1.0 request: the proxy never faults it).
    fn stats(&self) -> R<Value> {
        let addr = self.url.trim_start_matches("http://");
        let mut c = TcpStream::connect(addr).map_err(|e| format!("proxy stats: {e}"))?;
        write!(c, "GET /__chaos/stats HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| e.to_string())?;
        let mut raw = String::new();
        c.read_to_string(&mut raw).map_err(|e| e.to_string())?;
        let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).ok_or("proxy stats: no body")?;
        serde_json::from_str(body).map_err(|e| format!("proxy stats: {e}"))
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! `ds-bench w1-compare`: W1 through the core and through a peer client, alternating
//! on the same server instance, median and spread of several runs (bench/README.md).

use std::process::{Command, Stdio};

use serde_json::Value;

use crate::opts::Opts;
use crate::server::Server;

type R<T> = Result<T, String>;

/// The last JSON line a command printed.
fn json_line(cmd: &mut Command) -> R<Value> {
    let out = cmd.stdin(Stdio::null()).stderr(Stdio::inherit()).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed: {}", out.status));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok().filter(|v| v.get("throughput").is_some()))
        .ok_or_else(|| format!("{cmd:?} printed no result line"))
}

fn median_spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

pub fn w1_compare(opts: &Opts) -> R<()> {
    let peer = opts.str("peer-cmd").ok_or("--peer-cmd PATH is required (see scripts/bench-peer-rust.sh)")?.to_string();
    let peer_name = opts.string_or("peer-name", "rust-upstream");
    let runs = opts.size("runs", 3, 3)?.max(1) as usize;
    let messages = opts.size("messages", 100_000, 100_000)?.to_string();
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let server = Server::from_opts(opts)?;
    let (mut core, mut other) = (Vec::new(), Vec::new());
    for run in 0..runs {
        eprintln!("w1-compare: {} run {}/{runs}", server.kind, run + 1);
        let c = json_line(
            Command::new(&exe).args(["w1", "--server-url", &server.url, "--messages", &messages, "--ceiling", "off"]),
        )?;
        // The peer harness takes the workload first, as ds-bench does (bench/peer-rust).
        let p = json_line(Command::new(&peer).args(["w1", "--server-url", &server.url, "--messages", &messages]))?;
        for (name, v) in [("core", &c), (peer_name.as_str(), &p)] {
            if v["ok"] != Value::Bool(true) {
                return Err(format!("{name}: read-back check failed: {v}"));
            }
        }
        core.push(c);
        other.push(p);
    }
    let stats = |vs: &[Value], k: &str| median_spread(vs.iter().map(|v| v[k].as_f64().unwrap_or(f64::NAN)).collect());
    let (ct, pt) = (stats(&core, "throughput"), stats(&other, "throughput"));
    let (cc, pc) = (stats(&core, "cpu_s"), stats(&other, "cpu_s"));
    println!(
        "\nW1, {messages} JSON messages of 100 B, server {} ({}), {runs} runs alternating, median (min–max); {} logical CPUs shared with other work",
        server.kind,
        server.url,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| client | msgs/s | client CPU s |");
    println!("|---|---|---|");
    for (name, t, c) in [("rust-core", ct, cc), (peer_name.as_str(), pt, pc)] {
        println!("| {name} | {:.0} ({:.0}–{:.0}) | {:.3} ({:.3}–{:.3}) |", t.0, t.1, t.2, c.0, c.1, c.2);
    }
    println!("core / {peer_name}: {:.2}× the throughput at {:.2}× the CPU", ct.0 / pt.0, cc.0 / pc.0);
    Ok(())
}

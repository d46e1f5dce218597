//! The server's own ceiling, measured with `wrk` (a raw HTTP load generator) against
//! the same server, with the same request bodies / the same reads as the client.

use std::process::Command;

use serde_json::{Value, json};

use crate::report::Ceiling;

pub fn wrk_available() -> bool {
    Command::new("wrk").arg("--version").output().is_ok()
}

pub struct WrkRun {
    pub requests: u64,
    pub bytes: u64,
    pub duration_s: f64,
    pub errors: u64,
    pub raw: Value,
}

const DONE: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("DS_WRK {\"requests\":%d,\"bytes\":%d,\"duration_us\":%d,\"status_errors\":%d,\"connect_errors\":%d,\"read_errors\":%d,\"write_errors\":%d,\"timeouts\":%d,\"latency_p50_us\":%d,\"latency_p99_us\":%d}\n",
    summary.requests, summary.bytes, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"#;

fn lua_string(s: &str) -> String {
    // A long bracket that cannot occur in the body.
    let mut eq = String::from("=");
    while s.contains(&format!("]{eq}]")) {
        eq.push('=');
    }
    format!("[{eq}[{s}]{eq}]")
}

/// Run wrk with a generated script; `connections` keep one request each in flight.
fn run(url: &str, script: &str, connections: u32, secs: u64, tag: &str) -> Result<WrkRun, String> {
    run_threads(url, script, 1, connections, secs, tag)
}

fn run_threads(url: &str, script: &str, threads: u32, connections: u32, secs: u64, tag: &str) -> Result<WrkRun, String> {
    let path = std::env::temp_dir().join(format!("ds-bench-{}-{tag}.lua", std::process::id()));
    std::fs::write(&path, format!("{script}\n{DONE}")).map_err(|e| e.to_string())?;
    let out = Command::new("wrk")
        .args(["-t", &threads.to_string(), "-c", &connections.to_string(), "-d", &format!("{secs}s"), "--timeout", "300s", "-s"])
        .arg(&path)
        .arg(url)
        .output()
        .map_err(|e| format!("cannot run wrk: {e}"))?;
    let _ = std::fs::remove_file(&path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("DS_WRK "))
        .ok_or_else(|| format!("wrk printed no summary: {stdout} {}", String::from_utf8_lossy(&out.stderr)))?;
    let v: Value = serde_json::from_str(line).map_err(|e| format!("wrk summary {line:?}: {e}"))?;
    let g = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    Ok(WrkRun {
        requests: g("requests"),
        bytes: g("bytes"),
        duration_s: g("duration_us") as f64 / 1e6,
        errors: g("status_errors") + g("connect_errors") + g("read_errors") + g("write_errors") + g("timeouts"),
        raw: v,
    })
}

/// W1: POSTs of the same batch bodies the producer sends (plain appends: wrk cannot
/// number producer sequences per connection), `in_flight` connections.
pub fn appends(stream_url: &str, body: &str, content_type: &str, in_flight: u32, secs: u64, msgs_per_request: u64) -> Result<Ceiling, String> {
    let script = format!(
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"{content_type}\"\nwrk.body = {}\n",
        lua_string(body)
    );
    let r = run(stream_url, &script, in_flight, secs, "post")?;
    if r.errors > 0 {
        return Err(format!("wrk saw {} errors: {}", r.errors, r.raw));
    }
    let rps = r.requests as f64 / r.duration_s;
    Ok(Ceiling {
        tool: "wrk".into(),
        throughput: rps * msgs_per_request as f64,
        detail: json!({"requests_per_s": (rps * 10.0).round() / 10.0, "connections": in_flight, "msgs_per_request": msgs_per_request, "wrk": r.raw}),
    })
}

/// W1: POSTs of the same batch bodies with idempotent-producer headers: `writers`
/// wrk threads of one connection each, every one a producer of its own (own id, epoch 0,
/// seq 0, 1, 2, … in order), so no request is ever refused as out of order.
pub fn producer_appends(stream_url: &str, body: &str, content_type: &str, writers: u32, secs: u64, msgs_per_request: u64) -> Result<Ceiling, String> {
    let script = format!(
        r#"
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
local body = {body}
function init(args)
  seq = 0
  pid = "wrk-" .. tostring(tid) .. "-" .. tostring(os.time())
end
-- The sequence number advances on each stored batch (wrk may build a request it never
-- sends, so request() must not advance it).
function request()
  local h = {{ ["Content-Type"] = "{content_type}", ["Producer-Id"] = pid, ["Producer-Epoch"] = "0", ["Producer-Seq"] = tostring(seq) }}
  return wrk.format("POST", nil, h, body)
end
function response(status, headers, body)
  if status == 200 or status == 204 then
    seq = seq + 1
  else
    local e = headers["Producer-Expected-Seq"] or headers["producer-expected-seq"]
    if e then seq = tonumber(e) end
  end
end
"#,
        body = lua_string(body)
    );
    let r = run_threads(stream_url, &script, writers, writers, secs, "producer")?;
    // A refused first request per producer is tolerated (see the script).
    if r.errors > u64::from(writers) {
        return Err(format!("wrk saw {} errors: {}", r.errors, r.raw));
    }
    let rps = r.requests as f64 / r.duration_s;
    Ok(Ceiling {
        tool: "wrk".into(),
        throughput: rps * msgs_per_request as f64,
        detail: json!({"requests_per_s": (rps * 10.0).round() / 10.0, "producers": writers, "msgs_per_request": msgs_per_request, "wrk": r.raw}),
    })
}

/// W2/W3: repeated full catch-up GETs from the beginning on one connection; the rate is
/// bytes received over the run (partial responses count), like the client's.
pub fn reads(stream_url: &str, compression: bool, secs: u64) -> Result<WrkRun, String> {
    let mut script = String::from("wrk.method = \"GET\"\n");
    if compression {
        script.push_str("wrk.headers[\"Accept-Encoding\"] = \"gzip, deflate\"\n");
    }
    let url = format!("{stream_url}?offset=-1");
    let r = run(&url, &script, 1, secs, "get")?;
    if r.errors > 0 {
        return Err(format!("wrk saw {} errors: {}", r.errors, r.raw));
    }
    Ok(r)
}

//! Result lines: a human-readable table and one JSON object per workload.

use serde_json::{Value, json};

use crate::measure::Measured;

/// Server ceiling measured with a raw HTTP load tool.
#[derive(Debug, Clone)]
pub struct Ceiling {
    pub tool: String,
    pub throughput: f64,
    pub detail: Value,
}

pub struct Outcome {
    pub workload: &'static str,
    /// W4: `long-poll` or `sse`.
    pub variant: Option<&'static str>,
    pub server: String,
    pub compression: bool,
    pub params: Value,
    /// The workload's own check (count read back, bytes received, messages delivered).
    pub ok: bool,
    pub check: String,
    pub count: u64,
    pub bytes: u64,
    pub unit: &'static str,
    pub throughput: f64,
    pub measured: Measured,
    pub latency_ms: Option<(f64, f64, f64)>,
    pub ceiling: Option<Ceiling>,
}

pub const CLIENT: &str = "rust-core";

impl Outcome {
    pub fn pct_of_ceiling(&self) -> Option<f64> {
        self.ceiling.as_ref().filter(|c| c.throughput > 0.0).map(|c| 100.0 * self.throughput / c.throughput)
    }

    /// The result as a struct: serialized directly, its keys keep this order.
    fn line(&self) -> Line<'_> {
        let m = &self.measured;
        Line {
            schema: 1,
            workload: self.workload,
            variant: self.variant,
            client: CLIENT,
            client_version: env!("CARGO_PKG_VERSION"),
            server: &self.server,
            date: crate::measure::utc_now(),
            cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            compression: self.compression,
            params: &self.params,
            ok: self.ok,
            check: &self.check,
            count: self.count,
            bytes: self.bytes,
            elapsed_s: round(m.elapsed_s, 3),
            throughput: round(self.throughput, 1),
            unit: self.unit,
            cpu_s: round(m.cpu_user_s + m.cpu_sys_s, 3),
            cpu_user_s: round(m.cpu_user_s, 3),
            cpu_sys_s: round(m.cpu_sys_s, 3),
            peak_rss_mib: round(m.peak_rss_mib, 1),
            latency_ms: self.latency_ms.map(|(p50, p99, max)| json!({"p50": round(p50, 3), "p99": round(p99, 3), "max": round(max, 3)})),
            server_cpu_s: m.server_cpu_s.map(|s| round(s, 2)),
            ceiling: self.ceiling.as_ref().map(|c| json!({"tool": c.tool, "throughput": round(c.throughput, 1), "unit": self.unit, "detail": c.detail})),
            pct_of_ceiling: self.pct_of_ceiling().map(|p| round(p, 1)),
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.line()).unwrap_or(Value::Null)
    }

    /// The JSON line, keys in schema order.
    pub fn to_line(&self) -> String {
        serde_json::to_string(&self.line()).unwrap_or_default()
    }
}

#[derive(serde::Serialize)]
struct Line<'a> {
    schema: u32,
    workload: &'a str,
    variant: Option<&'a str>,
    client: &'a str,
    client_version: &'a str,
    server: &'a str,
    date: String,
    cpus: usize,
    compression: bool,
    params: &'a Value,
    ok: bool,
    check: &'a str,
    count: u64,
    bytes: u64,
    elapsed_s: f64,
    throughput: f64,
    unit: &'a str,
    cpu_s: f64,
    cpu_user_s: f64,
    cpu_sys_s: f64,
    peak_rss_mib: f64,
    latency_ms: Option<Value>,
    server_cpu_s: Option<f64>,
    ceiling: Option<Value>,
    pct_of_ceiling: Option<f64>,
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

pub const TABLE_HEADER: &str = "workload       client     server    throughput          elapsed_s  cpu_s   rss_MiB  p50_ms   p99_ms   max_ms   ceiling             %ceil  srv_cpu_s  check";

/// One table row from a JSON result (so `all` can tabulate its children's lines).
pub fn table_row(v: &Value) -> String {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let f = |k: &str| v.get(k).and_then(Value::as_f64);
    let name = match v.get("variant").and_then(Value::as_str) {
        Some(var) => format!("{} {}", s("workload"), var),
        None => s("workload"),
    };
    let unit = s("unit");
    let lat = |k: &str| {
        v.get("latency_ms").and_then(|l| l.get(k)).and_then(Value::as_f64).map(|x| format!("{x:.2}")).unwrap_or("-".into())
    };
    let ceiling = v
        .get("ceiling")
        .and_then(|c| c.get("throughput"))
        .and_then(Value::as_f64)
        .map(|c| format!("{} {unit}", human(c)))
        .unwrap_or("-".into());
    let pct = f("pct_of_ceiling").map(|p| format!("{p:.0}%")).unwrap_or("-".into());
    let srv = f("server_cpu_s").map(|c| format!("{c:.2}")).unwrap_or("-".into());
    let check = format!("{}{}", if v.get("ok").and_then(Value::as_bool) == Some(true) { "" } else { "FAILED " }, s("check"));
    format!(
        "{:<14} {:<10} {:<9} {:<19} {:<10.2} {:<7.2} {:<8.1} {:<8} {:<8} {:<8} {:<19} {:<6} {:<10} {}",
        name,
        s("client"),
        s("server"),
        format!("{} {unit}", human(f("throughput").unwrap_or(0.0))),
        f("elapsed_s").unwrap_or(0.0),
        f("cpu_s").unwrap_or(0.0),
        f("peak_rss_mib").unwrap_or(0.0),
        lat("p50"),
        lat("p99"),
        lat("max"),
        ceiling,
        pct,
        srv,
        check,
    )
}

fn human(v: f64) -> String {
    if v >= 10_000.0 {
        let s = format!("{:.0}", v);
        // thousands separators
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Print one result: a table row (with header) and its JSON line.
pub fn emit(outcome: &Outcome, out_file: Option<&str>) {
    let v = outcome.to_json();
    println!("{TABLE_HEADER}");
    println!("{}", table_row(&v));
    let line = outcome.to_line();
    println!("{line}");
    if let Some(path) = out_file {
        use std::io::Write;
        match std::fs::OpenOptions::new().create(true).append(true).open(path) {
            Ok(mut f) => {
                let _ = writeln!(f, "{line}");
            }
            Err(e) => eprintln!("cannot append to {path}: {e}"),
        }
    }
}

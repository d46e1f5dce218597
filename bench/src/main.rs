//! `ds-bench`: the benchmark workloads W1–W5 of the durable-streams-sdk core.
//!
//! Prints figures (a table and one JSON line per workload), never asserts them.
//! The workload definitions and the JSON result schema are in bench/README.md, so
//! the bindings and other clients can run exactly the same workloads.

mod ceiling;
mod compare;
mod measure;
mod opts;
mod recovery;
mod report;
mod server;
mod workloads;

use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};

use opts::{Opts, USAGE};
use report::{TABLE_HEADER, table_row};
use serde_json::Value;

fn main() -> ExitCode {
    let opts = match Opts::parse(std::env::args().skip(1).collect()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ds-bench: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match opts.command.as_str() {
        "w1" => run(&opts, workloads::w1),
        "w2" => run(&opts, workloads::w2),
        "w3" => run(&opts, workloads::w3),
        "w4" => run(&opts, workloads::w4),
        "w5" => run(&opts, workloads::w5),
        "all" => all(&opts),
        "prefill" => workloads::prefill(&opts),
        "writer" => workloads::writer(&opts),
        "server" => serve(&opts),
        "recovery" => recovery::recovery(&opts),
        "w1-compare" => compare::w1_compare(&opts),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ds-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(opts: &Opts, workload: fn(&Opts) -> Result<Vec<report::Outcome>, String>) -> Result<(), String> {
    for outcome in workload(opts)? {
        report::emit(&outcome, opts.str("out"));
    }
    Ok(())
}

/// Every workload, each in a fresh process (so peak RSS is per workload) with a fresh
/// server unless `--server-url` is given; then one summary table.
fn all(opts: &Opts) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut lines: Vec<Value> = Vec::new();
    let mut failed = Vec::new();
    for w in ["w1", "w2", "w3", "w4", "w5"] {
        eprintln!("=== {} ===", w.to_uppercase());
        let mut child = Command::new(&exe)
            .arg(w)
            .args(&opts.raw)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().expect("piped");
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            if line.starts_with("{\"") {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if v.get("workload").is_some() {
                        lines.push(v);
                    }
                }
            }
        }
        if !child.wait().map_err(|e| e.to_string())?.success() {
            failed.push(w);
        }
    }
    println!("\n=== summary ({}, client rust-core) ===", measure::utc_now());
    println!("{TABLE_HEADER}");
    for v in &lines {
        println!("{}", table_row(v));
    }
    if failed.is_empty() { Ok(()) } else { Err(format!("failed: {failed:?}")) }
}

/// Start a server for other clients' benchmark runs; print its URL; stop on stdin EOF.
fn serve(opts: &Opts) -> Result<(), String> {
    let server = server::Server::from_opts(opts)?;
    println!("{}", server.url);
    let mut sink = String::new();
    while std::io::stdin().read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
        sink.clear();
    }
    drop(server);
    Ok(())
}

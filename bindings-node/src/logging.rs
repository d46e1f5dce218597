//! Opt-in logging of the core's `tracing` events to stderr, `debug`-module style:
//! `DEBUG=durable-streams*` (or `durable-streams:http`, `durable-streams:producer`, …,
//! comma- or space-separated, `-name` excludes) when the module loads. Lines read
//! `durable-streams:http INFO retry method=HEAD path=/s attempt=1 reason=status 503 delay_ms=112`.
//! `DURABLE_STREAMS_LOG_LEVEL` (trace|debug|info|warn|error, default debug) sets the floor.
//! Written straight from the emitting thread: no JavaScript runs, nothing can block the
//! event loop.

use std::io::Write;

use durable_streams_sdk::trace::{Forward, LogRecord, Threshold, level_rank};
use tracing::Level;

const AREAS: [&str; 4] = ["http", "read", "producer", "consumer"];

/// Does one `debug`-style pattern (`*` wildcards) match `name`?
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            name.starts_with(head) && (0..=name.len() - head.len()).any(|i| glob(rest, &name[head.len() + i..]))
        }
    }
}

/// Which areas a `DEBUG` value turns on.
fn enabled_areas(debug: &str) -> Vec<&'static str> {
    let patterns: Vec<&str> = debug.split([',', ' ']).map(str::trim).filter(|p| !p.is_empty()).collect();
    AREAS
        .iter()
        .copied()
        .filter(|area| {
            let name = format!("durable-streams:{area}");
            let on = |p: &str| glob(p, &name) || glob(p, "durable-streams");
            patterns.iter().any(|p| !p.starts_with('-') && on(p))
                && !patterns.iter().any(|p| p.strip_prefix('-').is_some_and(|p| glob(p, &name)))
        })
        .collect()
}

/// `tracing`'s own spelling of levels (any case); anything else is the default, debug.
fn level_from_env() -> Level {
    std::env::var("DURABLE_STREAMS_LOG_LEVEL").ok().and_then(|s| s.parse().ok()).unwrap_or(Level::DEBUG)
}

#[napi_derive::module_init]
fn install_logging() {
    let Ok(debug) = std::env::var("DEBUG") else { return };
    let areas = enabled_areas(&debug);
    if areas.is_empty() {
        return;
    }
    let sink = move |r: LogRecord| {
        let area = r.target.rsplit("::").next().unwrap_or(r.target);
        if areas.contains(&area) {
            let _ = writeln!(std::io::stderr().lock(), "durable-streams:{area} {} {}", r.level, r.line);
        }
    };
    // Another subscriber already installed in this process wins.
    let _ = tracing::subscriber::set_global_default(Forward::new(Threshold::new(level_rank(level_from_env())), sink));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_patterns() {
        assert_eq!(enabled_areas("durable-streams*"), AREAS.to_vec());
        assert_eq!(enabled_areas("*"), AREAS.to_vec());
        assert_eq!(enabled_areas("durable-streams:*,-durable-streams:read"), vec!["http", "producer", "consumer"]);
        assert_eq!(enabled_areas("express:*, durable-streams:producer"), vec!["producer"]);
        assert!(enabled_areas("express:*").is_empty());
        assert!(enabled_areas("").is_empty());
    }
}

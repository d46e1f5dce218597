//! Conformance adapter for the Rust core: reads one JSON command per line on stdin,
//! runs it through `durable_streams_sdk`, writes one JSON result per line on stdout.
//!
//! The adapter holds no protocol logic: it translates commands into core calls and
//! core results/errors into result lines. Contract: shared/protocol/ADAPTER-PROTOCOL.md.

mod adapter;
mod protocol;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::adapter::Adapter;
use crate::protocol::{Command, Failure, envelope, to_line};

#[tokio::main]
async fn main() {
    // Lines end at `\n` only (U+2028/U+2029 arrive escaped); a trailing `\r` is dropped.
    let mut lines = BufReader::new(tokio::io::stdin()).split(b'\n');
    let mut stdout = tokio::io::stdout();
    let mut adapter = Adapter::default();
    loop {
        let mut bytes = match lines.next_segment().await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => break, // runner closed stdin
            Err(e) => {
                eprintln!("ds-rust-adapter: cannot read stdin: {e}");
                break;
            }
        };
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let line = String::from_utf8_lossy(&bytes);
        if line.trim().is_empty() {
            continue;
        }
        let (result, shutdown) = handle_line(&mut adapter, &line).await;
        // A failed write means the runner is gone: nothing left to do.
        if stdout.write_all(to_line(&result).as_bytes()).await.is_err() || stdout.flush().await.is_err() {
            break;
        }
        if shutdown {
            break;
        }
    }
}

/// The result line for one input line, and whether it was `shutdown`.
async fn handle_line(adapter: &mut Adapter, line: &str) -> (Value, bool) {
    let value: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        // The reference adapter's convention for an unparsable line.
        Err(e) => return (envelope("init", Err(Failure::new("PARSE_ERROR", format!("invalid JSON: {e}")))), false),
    };
    let command_type = value.get("type").and_then(Value::as_str).unwrap_or("unknown").to_string();
    let command = match serde_json::from_value::<Command>(value) {
        Ok(c) => c,
        Err(e) => {
            let f = Failure::new("PARSE_ERROR", format!("malformed {command_type} command: {e}"));
            return (envelope(&command_type, Err(f)), false);
        }
    };
    let shutdown = matches!(command, Command::Shutdown);
    (envelope(&command_type, adapter.run(command).await), shutdown)
}

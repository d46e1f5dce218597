//! Command-line options (hand-parsed: no extra dependencies).

use std::collections::BTreeMap;

pub const USAGE: &str = "\
ds-bench: workloads W1-W5 against a local Durable Streams server (prints figures, never asserts)

USAGE
  ds-bench <w1|w2|w3|w4|w5|all> [options]
  ds-bench server   [--server node|rust]           start a server, print its URL, run until stdin closes
  ds-bench prefill  --server-url U --stream P --kind json|text --count N [--msg-size B]
  ds-bench recovery [--rates 1,4] [--kinds 'drop,503,commit-drop,delay;all' (MIX;MIX, MIX = all|each|KIND,KIND)] [--modes per-message|batched|both] [--messages N (1000)] [--batched-messages N (300k)] [--retry-after S (1)] [--delay-ms 200] [--seed 1]
                   what a fault costs the producer, through tests/chaos/proxy.mjs (see bench/README.md)
  ds-bench w1-compare --peer-cmd PATH [--peer-name N] [--runs 3] [--messages 100k] [--server node|rust]
                   W1 through the core and a peer client, alternating, median and spread
  ds-bench writer   --server-url U --stream-prefix P --streams K --messages N (--rate R | --interval-ms X)

SERVER
  --server node|rust     node: tests/server/ref-server.mjs (default); rust: durable-streams-server
                         (crates.io `durable-streams` 0.1.5, --durability memory)
  --server-url URL       use a running server instead of starting one
  --ref-server PATH      path of ref-server.mjs (default: <repo>/tests/server/ref-server.mjs)

COMMON
  --quick                reduced sizes (W1 100k msgs, W2 64 MiB, W3 100k, W4 200 msgs, W5 20 streams x 2000)
  --compression on|off   ask for gzip/deflate read responses (default off; see bench/README.md)
  --ceiling on|off       measure the server ceiling with wrk (default on when wrk is installed)
  --ceiling-secs S       duration of each wrk run (default 10)
  --out FILE             also append the JSON result lines to FILE

W1  --messages N (1000000) --msg-size B (100) --batch-items N (core default: no count cap) --batch-bytes B (1MiB)
    --linger-ms MS (5) --in-flight N (5) --buffer-limit B (64MiB) --verify on|off (on)
W2  --bytes B (1GiB) --append-size B (1KiB) --reads N (3) --warmup on|off (on) --stream P (pre-filled: skip the pre-fill)
W3  --messages N (1000000) --msg-size B (100) --decode value|raw (value) --reads N (3) --warmup on|off (on) --stream P
W4  --messages N (1000) --interval-ms MS (5) --live long-poll|sse|both (both) --msg-size B (100)
W5  --streams K (200) --messages N (20000) --rate R msgs/s (2000) --writers N (16) --msg-size B (100)

Sizes accept KiB/MiB/GiB suffixes and k/M (x1000, x1000000), e.g. 64MiB, 100k.
";

#[derive(Debug, Clone, Default)]
pub struct Opts {
    pub command: String,
    flags: BTreeMap<String, String>,
    /// The raw arguments after the command (forwarded by `all`).
    pub raw: Vec<String>,
}

const SWITCHES: &[&str] = &["quick", "help"];

impl Opts {
    pub fn parse(args: Vec<String>) -> Result<Opts, String> {
        let mut it = args.into_iter();
        let command = it.next().unwrap_or_else(|| "help".into());
        let rest: Vec<String> = it.collect();
        let mut flags = BTreeMap::new();
        let mut i = 0;
        while i < rest.len() {
            let a = &rest[i];
            let Some(name) = a.strip_prefix("--") else {
                return Err(format!("unexpected argument {a:?}"));
            };
            if let Some((k, v)) = name.split_once('=') {
                flags.insert(k.to_string(), v.to_string());
            } else if SWITCHES.contains(&name) {
                flags.insert(name.to_string(), "on".to_string());
            } else {
                let v = rest.get(i + 1).ok_or_else(|| format!("--{name} needs a value"))?;
                flags.insert(name.to_string(), v.clone());
                i += 1;
            }
            i += 1;
        }
        Ok(Opts { command: command.to_lowercase(), flags, raw: rest })
    }

    pub fn str(&self, k: &str) -> Option<&str> {
        self.flags.get(k).map(String::as_str)
    }

    pub fn string_or(&self, k: &str, default: &str) -> String {
        self.str(k).unwrap_or(default).to_string()
    }

    pub fn switch(&self, k: &str) -> bool {
        matches!(self.str(k), Some("on" | "true" | "1" | "yes"))
    }

    /// A boolean that defaults to `default`.
    pub fn bool_or(&self, k: &str, default: bool) -> Result<bool, String> {
        match self.str(k) {
            None => Ok(default),
            Some("on" | "true" | "1" | "yes") => Ok(true),
            Some("off" | "false" | "0" | "no") => Ok(false),
            Some(v) => Err(format!("--{k}: expected on|off, got {v:?}")),
        }
    }

    pub fn size(&self, k: &str, default: u64, quick: u64) -> Result<u64, String> {
        match self.str(k) {
            Some(v) => parse_size(v).map_err(|e| format!("--{k}: {e}")),
            None if self.switch("quick") => Ok(quick),
            None => Ok(default),
        }
    }

    pub fn float(&self, k: &str, default: f64) -> Result<f64, String> {
        match self.str(k) {
            Some(v) => v.parse::<f64>().map_err(|_| format!("--{k}: not a number: {v:?}")),
            None => Ok(default),
        }
    }
}

pub fn parse_size(raw: &str) -> Result<u64, String> {
    let s: String = raw.chars().filter(|c| *c != '_' && *c != ',').collect();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("not a size: {raw:?}"))?;
    let mult: f64 = match unit {
        "" | "B" => 1.0,
        "k" | "K" => 1e3,
        "M" => 1e6,
        "KiB" | "Ki" => 1024.0,
        "MiB" | "Mi" => 1024.0 * 1024.0,
        "GiB" | "Gi" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("unknown unit in {raw:?} (use KiB, MiB, GiB, k or M)")),
    };
    Ok((n * mult).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("100k").unwrap(), 100_000);
        assert_eq!(parse_size("1_000_000").unwrap(), 1_000_000);
        assert!(parse_size("1x").is_err());
    }
}

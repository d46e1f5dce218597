//! The chaos proxy (`tests/chaos/proxy.mjs`), started as a child process; it starts
//! its own reference server behind it and exits when our end of its stdin closes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub struct Proxy {
    child: Child,
    pub proxy: String,
    pub server: String,
}

impl Proxy {
    pub fn start(seed: u64, rate: f64, stall_ms: u64) -> Proxy {
        let script = super::repo_root().join("tests").join("chaos").join("proxy.mjs");
        let mut child = Command::new("node")
            .arg(&script)
            .args(["--seed", &seed.to_string(), "--rate", &rate.to_string(), "--stall-ms", &stall_ms.to_string()])
            .args(["--max-seconds", "600"])
            .env_remove("DS_IGNORE_STDIN")
            .stdin(Stdio::piped()) // the proxy exits when this closes
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot run node tests/chaos/proxy.mjs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line).expect("proxy prints its URLs");
        let v: Value = serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("proxy printed {line:?}: {e}"));
        Proxy { child, proxy: v["proxy"].as_str().unwrap().into(), server: v["server"].as_str().unwrap().into() }
    }

    pub async fn stats(&self) -> Value {
        let body = reqwest::get(format!("{}/__chaos/stats", self.proxy)).await.unwrap().bytes().await.unwrap();
        serde_json::from_slice(&body).unwrap()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    /// The next request through the proxy gets fault `kind` ("stall", "drop", ..., "none").
    pub async fn force(&self, kind: &str) {
        let r = reqwest::Client::new().post(format!("{}/__chaos/force/{kind}", self.proxy)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 204, "proxy refused fault {kind}");
    }
}

//! Starting (and stopping) the server under test.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::opts::Opts;

pub struct Server {
    pub url: String,
    /// `node-ref`, `rust` or `external`.
    pub kind: String,
    pub pid: Option<u32>,
    child: Option<Child>,
    data_dir: Option<PathBuf>,
}

pub fn ref_server_path(opts: &Opts) -> PathBuf {
    if let Some(p) = opts.str("ref-server") {
        return PathBuf::from(p);
    }
    if let Ok(p) = std::env::var("DS_REF_SERVER") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/server/ref-server.mjs")
}

impl Server {
    /// The server named by the options: `--server-url`, or one started here.
    pub fn from_opts(opts: &Opts) -> Result<Server, String> {
        if let Some(url) = opts.str("server-url") {
            return Ok(Server {
                url: url.trim_end_matches('/').to_string(),
                kind: opts.string_or("server-kind", "external"),
                pid: None,
                child: None,
                data_dir: None,
            });
        }
        match opts.str("server").unwrap_or("node") {
            "node" => Server::start_node(opts),
            "rust" => Server::start_rust(),
            other => Err(format!("--server: expected node or rust, got {other:?}")),
        }
    }

    fn start_node(opts: &Opts) -> Result<Server, String> {
        let script = ref_server_path(opts);
        if !script.exists() {
            return Err(format!("{} not found (run `npm ci --prefix tests` first)", script.display()));
        }
        let log = std::env::temp_dir().join(format!("ds-bench-server-{}.log", std::process::id()));
        let log_file = std::fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let mut child = Command::new("node")
            // 1M-message JSON responses are formatted in the heap.
            .arg("--max-old-space-size=8192")
            .arg(&script)
            .env("DS_LONGPOLL_MS", "30000")
            .env("DS_PORT", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .map_err(|e| format!("cannot start node: {e}"))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map_err(|e| format!("reading the server URL: {e}"))?;
        let url = line.trim().to_string();
        if !url.starts_with("http") {
            let _ = child.kill();
            return Err(format!("reference server did not print its URL (log: {})", log.display()));
        }
        let pid = child.id();
        Ok(Server { url, kind: "node-ref".into(), pid: Some(pid), child: Some(child), data_dir: None })
    }

    fn start_rust() -> Result<Server, String> {
        let bin = find_rust_server().ok_or(
            "durable-streams-server not found: `cargo install durable-streams --version 0.1.5 --locked` (about 1 min)",
        )?;
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let dir = std::env::temp_dir().join(format!("ds-bench-rust-{}-{port}", std::process::id()));
        let log = std::env::temp_dir().join(format!("ds-bench-server-{}.log", std::process::id()));
        let log_file = std::fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let log2 = log_file.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--long-poll-timeout-ms", "30000"])
            .args(["--durability", "memory", "--data-dir"])
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::from(log2))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(15) {
                return Err(format!("durable-streams-server did not listen on {port} (log: {})", log.display()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let pid = child.id();
        Ok(Server {
            url: format!("http://127.0.0.1:{port}"),
            kind: "rust".into(),
            pid: Some(pid),
            child: Some(child),
            data_dir: Some(dir),
        })
    }

    /// Arguments that make a child `ds-bench` use this same server.
    pub fn child_args(&self) -> Vec<String> {
        vec!["--server-url".into(), self.url.clone(), "--server-kind".into(), self.kind.clone()]
    }
}

fn find_rust_server() -> Option<PathBuf> {
    let name = "durable-streams-server";
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The reference server exits when its stdin closes; the Rust one on SIGTERM.
            drop(child.stdin.take());
            // SAFETY: plain kill(2) on the pid of a child we spawned and have not reaped.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
        if let Some(dir) = self.data_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#!/usr/bin/env python3
"""W1-W5 through every client against the same server instance, one table per server.

Run by scripts/bench-all.sh, which builds what this needs and passes the paths in the
environment. This file only orchestrates: every figure comes from the existing
harnesses' JSON result lines (bench/README.md, "JSON result line"):

  rust-core       ds-bench wN --server-url U
  python-binding  bindings-python/bench/bench.py --client sdk
  pypi            bindings-python/bench/bench.py --client reference   (PyPI durable-streams)
  node-binding    bindings-node/bench/bench.mjs --client sdk
  ts              bindings-node/bench/bench.mjs --client reference    (@durable-streams/client)
  rust-upstream   bench/peer-rust bench-upstream-rust wN (the upstream Rust client's source,
                  DS_UPSTREAM_RUST_CLIENT; skipped, saying why, without it)

For each server kind and workload one server is started (`ds-bench server`) and every
client runs against it, each in its own process; W2/W3 read one stream pre-filled once
(`ds-bench prefill`). With --runs N the clients run N times, the order rotated each run
(a server's state grows as streams are added, so no client is always first or last).
Prints figures, never asserts them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WORKLOADS = ["W1", "W2", "W3", "W4", "W5"]
CLIENTS = ["core", "python", "pypi", "node", "ts", "upstream"]
LABEL = {
    "core": "rust-core",
    "python": "python-binding",
    "pypi": "pypi:durable-streams",
    "node": "node-binding",
    "ts": "npm:@durable-streams/client",
    "upstream": "rust-upstream",
}
# Flags every harness understands with the same meaning for every workload.
COMMON = ["msg-size", "reads", "warmup", "interval-ms", "live", "streams", "rate", "writers", "bytes", "append-size"]
CHILD_TIMEOUT_S = 1800  # a hung client must not stop the run: it is killed and its row says so


def parse() -> tuple[argparse.Namespace, dict[str, list[str]]]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default="both", choices=["node", "rust", "both"])
    p.add_argument("--quick", action="store_true", help="reduced sizes (ds-bench --quick)")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--workloads", default="w1,w2,w3,w4,w5")
    p.add_argument("--clients", default=",".join(CLIENTS), help=f"comma-separated subset of {','.join(CLIENTS)}")
    p.add_argument("--py-api", default="default", choices=["default", "sync", "async", "both"],
                   help="Python clients: each one's default API per workload (bench.py), or sync/async/both")
    p.add_argument("--table", metavar="FILE", help="print the tables of an earlier run's JSON lines, run nothing")
    p.add_argument("--out", help="append every JSON result line here (default /tmp/ds-bench-all-<date>.jsonl)")
    args, rest = p.parse_known_args()
    # Size flags: `--FLAG V` goes to every workload; `--wN-FLAG V` to workload N only
    # (`--messages` means something else in W1, W3, W4 and W5).
    per: dict[str, list[str]] = {w: [] for w in WORKLOADS}
    i = 0
    while i < len(rest):
        a = rest[i]
        if not a.startswith("--") or i + 1 >= len(rest):
            p.error(f"unexpected argument {a!r} (size flags take a value: --w1-messages 100k, --reads 2)")
        name, value = a[2:], rest[i + 1]
        target = [w for w in WORKLOADS if name.lower().startswith(w.lower() + "-")]
        if target:
            per[target[0]] += [f"--{name[3:]}", value]
        elif name in COMMON:
            for w in WORKLOADS:
                per[w] += [f"--{name}", value]
        else:
            p.error(f"--{name}: give it per workload (--w1-{name} V) or use one of --{', --'.join(COMMON)}")
        i += 2
    return args, per


ARGS, PER = parse()


def flag_value(workload: str, name: str) -> str | None:
    f = PER[workload]
    return next((f[i + 1] for i in range(0, len(f), 2) if f[i] == f"--{name}"), None)


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


# ---------------------------------------------------------------------------------------
# What each client runs (argv), or why it is not run


def env_path(name: str) -> str | None:
    v = os.environ.get(name)
    return v if v and os.path.exists(v) else None


def commands(client: str, w: str, url: str, kind: str, stream: str | None) -> list[tuple[str, list[str] | str]]:
    """[(row label, argv or the reason it is not run)] for one client and workload."""
    quick = ["--quick"] if ARGS.quick else []
    sizes = quick + PER[w]
    at = ["--server-url", url, "--server-kind", kind] + (["--stream", stream] if stream else [])
    ds = os.environ["DS_BENCH"]
    if client == "core":
        return [(LABEL[client], [ds, w.lower(), "--ceiling", "off", *at, *sizes])]
    if client in ("python", "pypi"):
        py = env_path("DS_BENCHALL_PYTHON")
        if not py:
            return [(LABEL[client], "no Python venv (DS_BENCHALL_PYTHON)")]
        which = "sdk" if client == "python" else "reference"
        apis = {"default": [None], "both": ["sync", "async"]}.get(ARGS.py_api, [ARGS.py_api])
        out: list[tuple[str, list[str] | str]] = []
        for api in apis:
            label = LABEL[client] + (f" ({api})" if api else "")
            if (which, w, api) == ("reference", "W1", "sync"):
                # bench/README of the binding: its blocking append waits for each ack.
                out.append((label, "its blocking append waits for each ack (one POST per message)"))
                continue
            argv = [py, str(REPO / "bindings-python/bench/bench.py"), "--client", which, "--workload", w.lower(), *at,
                    *sizes, *(["--api", api] if api else [])]
            out.append((label, argv))
        return out
    if client in ("node", "ts"):
        which = "sdk" if client == "node" else "reference"
        extra = ["--batching", "one"] if w == "W1" else []  # W1 as defined: one append call per message
        return [(LABEL[client], ["node", str(REPO / "bindings-node/bench/bench.mjs"), "--client", which,
                                 "--workload", w.lower(), *at, *extra, *sizes])]
    if client == "upstream":
        peer = env_path("DS_PEER_RUST_BENCH")
        if not peer:
            return [(LABEL[client], os.environ.get("DS_PEER_RUST_SKIP", "skipped: DS_UPSTREAM_RUST_CLIENT is not set"))]
        return [(LABEL[client], [peer, w.lower(), *at, *sizes])]
    raise ValueError(client)


# ---------------------------------------------------------------------------------------
# Servers and children


class Server:
    """`ds-bench server`: one server for every client of a workload; stops on stdin EOF."""

    def __init__(self, kind: str):
        self.proc = subprocess.Popen([os.environ["DS_BENCH"], "server", "--server", kind], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().decode().strip()
        if not self.url.startswith("http"):
            raise RuntimeError(f"ds-bench server printed {self.url!r}")
        self.kind = "node-ref" if kind == "node" else "rust"

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def run_child(argv: list[str], cwd: Path) -> tuple[list[dict[str, Any]], str | None]:
    """The JSON result lines a harness printed, and an error when it failed."""
    # Own process group, so a timeout can stop the harness and the helpers it started.
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=CHILD_TIMEOUT_S)
        err = None if proc.returncode == 0 else f"exit {proc.returncode}"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        err = f"killed after {CHILD_TIMEOUT_S} s"
    lines = []
    for line in out.decode(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                v = json.loads(line)
            except json.JSONDecodeError:
                continue
            if v.get("workload") and v.get("throughput") is not None:
                lines.append(v)
    if err is None and not lines:
        err = "printed no result line"
    return lines, err


def prefill(url: str, w: str) -> str:
    """Pre-fill the W2/W3 stream once (the harnesses' own sizes and defaults)."""
    q = ARGS.quick
    if w == "W2":
        total = parse_size(flag_value(w, "bytes") or ("64MiB" if q else "1GiB"))
        rec = max(12, parse_size(flag_value(w, "append-size") or "1024"))
        kind, count, size = "text", total // rec, rec
    else:
        kind = "json"
        count = parse_size(flag_value(w, "messages") or ("100000" if q else "1000000"))
        size = parse_size(flag_value(w, "msg-size") or "100")
    path = f"/bench/all-{int(time.time() * 1000)}-{os.getpid()}/{w.lower()}"
    print(f"bench-all: pre-filling {path}: {count} {kind} messages of {size} B (not timed)", file=sys.stderr)
    r = subprocess.run([os.environ["DS_BENCH"], "prefill", "--server-url", url, "--stream", path, "--kind", kind,
                        "--count", str(count), "--msg-size", str(size)], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, check=True)
    print(f"bench-all: pre-filled: {r.stdout.decode().strip().splitlines()[-1]}", file=sys.stderr)
    return path


def parse_size(raw: str) -> int:
    units = {"KiB": 1024, "MiB": 2**20, "GiB": 2**30, "k": 1000, "M": 1_000_000}
    for u, m in units.items():
        if raw.endswith(u):
            return int(float(raw[: -len(u)]) * m)
    return int(raw)


# ---------------------------------------------------------------------------------------
# One server kind: every workload, every client, --runs times


def row_key(v: dict[str, Any], label: str, client: str) -> tuple[str, str, str]:
    """(workload and variant, row label, client) of a result line."""
    variant = v.get("variant")
    key = v["workload"] + (f" {variant}" if variant and variant != "append/msg" else "")
    api = (v.get("params") or {}).get("api")
    # The Python harness's default API differs per workload: name it.
    return key, (f"{label} ({api})" if api and "(" not in label else label), client


def from_file(path: str) -> list[dict[str, Any]]:
    """`--table FILE`: the tables of an earlier run again, from its JSON lines."""
    by_kind: dict[str, dict[str, Any]] = {}
    for line in open(path):
        if not line.startswith("{"):
            continue
        v = json.loads(line)
        meta = v.get("bench_all") or {}
        label = meta.get("label") or v.get("client", "?")
        c = meta.get("client") or next((c for c, name in LABEL.items() if label.startswith(name)), "core")
        res = by_kind.setdefault(v.get("server", "?"), {
            "info": {"kind": v.get("server", "?"), "start": v.get("date", "?"), "load_start": meta.get("load", "0"),
                     "loads": []}, "rows": {}, "failures": {}, "skipped": {}})
        res["info"].update(end=v.get("date", "?"), load_end=meta.get("load", "0"))
        res["info"]["loads"].append(float(str(meta.get("load", "0")).split()[0]))
        res["rows"].setdefault(row_key(v, label, c), []).append(v)
        ARGS.runs = max(ARGS.runs, int(meta.get("run", 1)))
    return list(by_kind.values())


def bench_server(kind: str, clients: list[str], workloads: list[str], out: Path) -> dict[str, Any]:
    rows: dict[tuple[str, str, str], list[dict[str, Any]]] = {}  # (workload key, label, client) -> lines
    failures: dict[tuple[str, str], str] = {}
    skipped: dict[tuple[str, str], str] = {}
    info: dict[str, Any] = {"kind": "node-ref" if kind == "node" else "rust", "start": now(), "load_start": loadavg(), "loads": []}
    for w in workloads:
        server = Server(kind)
        info["url"] = server.url
        try:
            stream = prefill(server.url, w) if w in ("W2", "W3") else None
            for run in range(ARGS.runs):
                order = clients[run % len(clients):] + clients[: run % len(clients)]
                for c in order:
                    for label, argv in commands(c, w, server.url, server.kind, stream):
                        if isinstance(argv, str):
                            skipped[(w, label)] = argv
                            continue
                        load = loadavg()
                        info["loads"].append(float(load.split()[0]))
                        print(f"\n##### {server.kind} {w} run {run + 1}/{ARGS.runs}: {label} (load {load}) #####",
                              file=sys.stderr, flush=True)
                        cwd = Path("/tmp") if c in ("python", "pypi") else REPO  # import the installed wheel
                        lines, err = run_child(argv, cwd)
                        if err:
                            failures[(w, label)] = err
                            print(f"bench-all: {label} {w}: {err}", file=sys.stderr)
                        with out.open("a") as f:
                            for v in lines:
                                v["bench_all"] = {"run": run + 1, "label": label, "client": c, "load": load}
                                f.write(json.dumps(v) + "\n")
                        for v in lines:
                            rows.setdefault(row_key(v, label, c), []).append(v)
        finally:
            server.stop()
    info["end"] = now()
    info["load_end"] = loadavg()
    return {"info": info, "rows": rows, "failures": failures, "skipped": skipped}


# ---------------------------------------------------------------------------------------
# The table


def fmt(x: float | None, d: int = 0) -> str:
    return "-" if x is None else f"{x:,.{d}f}"


def stat(vals: list[float], d: int) -> str:
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    med = statistics.median(vals)
    if len(vals) == 1:
        return fmt(med, d)
    return f"{fmt(med, d)} ({fmt(min(vals), d)}–{fmt(max(vals), d)})"


def cpu_per_item(v: dict[str, Any]) -> float:
    """Client CPU µs per item (per MiB for W2)."""
    return v["cpu_s"] * 1e6 / (v["count"] / 2**20 if v.get("unit") == "MiB/s" else v["count"])


def row(k: str, label: str, ls: list[dict[str, Any]], core: tuple[float, float] | None, failure: str | None) -> str:
    """One table row; `core`: the core's median throughput and CPU per item, for the ratios."""
    mib = ls[0].get("unit") == "MiB/s"
    tputs = [v["throughput"] for v in ls]
    per = [cpu_per_item(v) for v in ls if v.get("cpu_s") is not None and v.get("count")]
    lat = [v["latency_ms"] for v in ls if v.get("latency_ms")]
    p50 = stat([x.get("p50") for x in lat], 2) if lat else "-"
    p99 = stat([x.get("p99") for x in lat], 2) if lat else "-"
    ratio = ""
    if core and label != LABEL["core"] and per and core[1]:
        cpu = statistics.median(per) / core[1]
        # W4/W5 throughput is the writer's fixed rate: only the CPU compares.
        ratio = f"{statistics.median(tputs) / core[0]:.2f}× / {cpu:.1f}×" if k[:2] in ("W1", "W2", "W3") else f"– / {cpu:.1f}×"
    bad = [v.get("check", "?") for v in ls if not v.get("ok")]
    check = "ok" if not bad else f"FAILED: {bad[0]}"
    if failure:
        check += f"; a run failed: {failure}"
    return (f"| {k} | {label} | {stat(tputs, 1 if mib else 0)} {ls[0].get('unit', '')} | "
            f"{stat([v.get('cpu_s') for v in ls], 2)} | {stat(per, 0 if mib else 2)}{'/MiB' if mib else ''} | "
            f"{p50} | {p99} | {ratio} | {check} |")


def table(res: dict[str, Any], clients: list[str], workloads: list[str]) -> str:
    info, rows = res["info"], res["rows"]
    loads = info["loads"] or [0.0]
    out = [
        f"### server {info['kind']} — {info['start']} to {info['end'][11:]}, {ARGS.runs} run(s)"
        f"{', --quick' if ARGS.quick else ''}; load (1-min) {info['load_start'].split()[0]} at start, "
        f"{min(loads):.2f}–{max(loads):.2f} before each client, {info['load_end'].split()[0]} at end; "
        f"{os.cpu_count()} CPUs shared with other work",
        "",
        "| workload | client | throughput | client CPU s | CPU µs/item | p50 ms | p99 ms | × rust-core: tput / CPU per item | check |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for w in workloads:
        keys = sorted({k for (k, _, _) in rows if k.split()[0] == w})
        for k in keys:
            cl = rows.get((k, LABEL["core"], "core"))
            core = (statistics.median(v["throughput"] for v in cl), statistics.median(cpu_per_item(v) for v in cl)) if cl else None
            for c in clients:
                for (kk, label, cc), ls in rows.items():
                    if kk == k and cc == c:
                        fail = res["failures"].get((w, label)) or res["failures"].get((w, label.rsplit(" (", 1)[0]))
                        out.append(row(k, label, ls, core, fail))
        ran = {label for (k, label, _) in rows if k.split()[0] == w}
        for (ww, label), why in res["skipped"].items():
            if ww == w:
                out.append(f"| {w} | {label} | not run | | | | | | {why} |")
        for (ww, label), why in res["failures"].items():
            if ww == w and not any(r.startswith(label) for r in ran):
                out.append(f"| {w} | {label} | failed | | | | | | {why} |")
    return "\n".join(out)


def main() -> None:
    clients = [c.strip() for c in ARGS.clients.split(",") if c.strip()]
    for c in clients:
        if c not in CLIENTS:
            sys.exit(f"bench-all: --clients: {c!r} is not one of {','.join(CLIENTS)}")
    workloads = [w.strip().upper() for w in ARGS.workloads.split(",")]
    for w in workloads:
        if w not in WORKLOADS:
            sys.exit(f"bench-all: --workloads: {w!r} is not one of w1..w5")
    if ARGS.table:
        for res in from_file(ARGS.table):
            print(table(res, clients, workloads) + "\n")
        return
    kinds = ["node", "rust"] if ARGS.server == "both" else [ARGS.server]
    out = Path(ARGS.out or f"/tmp/ds-bench-all-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}.jsonl")
    results = [bench_server(kind, clients, workloads, out) for kind in kinds]
    print(f"\n=== bench-all: W1–W5, {len(clients)} clients, one server instance per workload shared by every client; "
          f"uname {' '.join(os.uname()[i] for i in (0, 2, 4))}; JSON lines: {out} ===")
    for res in results:
        print()
        print(table(res, clients, workloads))
    print("\nthroughput: W1 msgs/s, W2 MiB/s, W3 items/s, W4/W5 received/elapsed; client CPU: user+sys of the "
          "client process over the timed section; median (min–max) over the runs; p50/p99: append → receive; "
          "× rust-core: this client's median throughput and CPU per item over the core's.")


if __name__ == "__main__":
    main()

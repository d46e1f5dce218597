#!/usr/bin/env python3
"""W1–W5 (defined in ../../bench/README.md) through the Python binding (``--client sdk``,
package ``durable_streams_sdk``) and through the pure-Python reference client
(``--client reference``, PyPI ``durable-streams``), on identical workloads against the
same server. Prints figures, never asserts them.

    python bench.py --client sdk --workload w1 --server-url URL   one client, one workload
    python bench.py --workload all [--client both]                  both clients (+ the Rust
                                                                    core via ds-bench for
                                                                    W4/W5), side by side
    python bench.py table FILE...                                   side-by-side table of
                                                                    the JSON lines in FILEs

The server (``ds-bench server``), the W2/W3 pre-fill (``ds-bench prefill``) and the W4/W5
writer (``ds-bench writer``) are the Rust benchmark's own helpers, run as separate
processes, so both clients see exactly the same traffic and the writer's CPU is not the
client's. Each (client, workload) runs in its own process, so CPU and peak RSS are its own.

API used per client (``--api`` overrides where the client has both):

    workload  sdk (durable_streams_sdk)           reference (durable-streams)
    W1        sync  Producer.append_json           async AsyncDurableStream.append (its
                                                   batching; sync has no pipelining)
    W2        sync  ReadSession chunks             sync  stream() bytes iteration
    W3        sync  ReadSession.json()             sync  stream().iter_json()
    W4        sync  ReadSession in a thread        sync  stream().iter_json_batches() in a thread
    W5        async 200 AsyncReadSessions          async 200 astream() sessions
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as _dt
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
JSON_CT = "application/json"
IDENTITY = {"accept-encoding": "identity"}  # the benchmark reads uncompressed (README)
CLIENT_NAMES = {"sdk": "python-binding", "reference": "pypi:durable-streams", "rust": "rust-core"}

# Default API per (client, workload): each client's idiomatic fast path.
DEFAULT_API = {
    "sdk": {"W1": "sync", "W2": "sync", "W3": "sync", "W4": "sync", "W5": "async"},
    "reference": {"W1": "async", "W2": "sync", "W3": "sync", "W4": "sync", "W5": "async"},
}

# ---------------------------------------------------------------------------------------
# Options: the same names and defaults as `ds-bench` (bench/README.md)


def parse_size(raw: str | int) -> int:
    s = str(raw).strip().replace("_", "").replace(",", "")
    units = [("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10),
             ("k", 1000), ("K", 1000), ("M", 1_000_000), ("B", 1)]
    for suffix, mult in units:
        if s.endswith(suffix):
            return round(float(s[: -len(suffix)]) * mult)
    return round(float(s))


def on_off(v: str) -> bool:
    if v in ("on", "true", "1", "yes"):
        return True
    if v in ("off", "false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected on|off, got {v}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", nargs="*", help="`table FILE...` prints the side-by-side table of result lines")
    p.add_argument("--client", default="both", choices=["sdk", "reference", "both"])
    p.add_argument("--workload", default="all", help="w1..w5 or all")
    p.add_argument("--api", choices=["sync", "async", "both"],
                   help="override the default API (see the docstring); both: run each client with each API it has")
    p.add_argument("--quick", action="store_true", help="reduced sizes (as ds-bench --quick)")
    p.add_argument("--server", default="node", choices=["node", "rust"], help="server ds-bench starts")
    p.add_argument("--server-url", help="use a running server")
    p.add_argument("--server-pid", type=int, help="pid of that server (for its CPU figure)")
    p.add_argument("--server-kind", help="server name in the result line")
    p.add_argument("--stream", help="W2/W3: an already pre-filled stream path")
    p.add_argument("--out", help="append the JSON result lines to this file")
    p.add_argument("--rust", default="live", choices=["off", "live", "all"],
                   help="also run the Rust core (ds-bench) for W4/W5 (live, default), every workload (all) or none")
    # sizes (None = the workload's default, or its --quick size)
    for flag in ["messages", "msg-size", "batch-items", "batch-bytes", "in-flight", "bytes", "append-size",
                 "reads", "streams", "writers", "buffer-limit"]:
        p.add_argument(f"--{flag}", type=parse_size)
    p.add_argument("--linger-ms", type=float)
    p.add_argument("--interval-ms", type=float)
    p.add_argument("--rate", type=float)
    p.add_argument("--warmup", type=on_off, default=True)
    p.add_argument("--verify", type=on_off, default=True)
    p.add_argument("--decode", default="value", choices=["value", "raw"], help="W3 (raw: sdk only)")
    p.add_argument("--live", default="both", choices=["long-poll", "sse", "both"], help="W4")
    p.add_argument("--w1-input", default="value", choices=["value", "text", "many"],
                   help="W1: append dicts one per call (value, both clients), pre-serialised JSON text (text, "
                        "sdk only) or lists of --many dicts per append_json_many call (many, sdk only)")
    p.add_argument("--many", type=parse_size, default=1000, help="W1 --w1-input many: messages per call")
    p.add_argument("--ref-window", type=parse_size, default=1000,
                   help="W1 reference: appends kept pending at once (its batching coalesces them)")
    return p


ARGS: argparse.Namespace


def size(name: str, default: int, quick: int) -> int:
    v = getattr(ARGS, name.replace("-", "_"))
    if v is not None:
        return int(v)
    return quick if ARGS.quick else default


def num(name: str, default: float) -> float:
    v = getattr(ARGS, name.replace("-", "_"))
    return default if v is None else float(v)


def api_for(client: str, workload: str) -> str:
    return ARGS.api or DEFAULT_API[client][workload]


# ---------------------------------------------------------------------------------------
# Messages (bench/README.md, "Messages")


def json_value(i: int, msg_size: int) -> dict[str, Any]:
    """Message i as a dict whose compact JSON text is exactly msg_size bytes."""
    head = len(f'{{"i":{i},"p":"')
    return {"i": i, "p": "x" * max(0, msg_size - head - 2)}


def json_text(i: int, msg_size: int) -> bytes:
    head = f'{{"i":{i},"p":"'
    return (head + "x" * max(0, msg_size - len(head) - 2) + '"}').encode()


# ---------------------------------------------------------------------------------------
# Measurement


def proc_cpu_s(pid: int | None) -> float | None:
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None


class Meter:
    """Wall time, client CPU (getrusage RUSAGE_SELF: every thread of this process) and
    server CPU over the timed section; peak RSS (ru_maxrss) at its end."""

    def __init__(self, server_pid: int | None):
        self.server_pid = server_pid
        self.srv0 = proc_cpu_s(server_pid)
        self.ru0 = resource.getrusage(resource.RUSAGE_SELF)
        self.t0 = time.perf_counter()

    def stop(self) -> dict[str, Any]:
        elapsed = time.perf_counter() - self.t0
        ru = resource.getrusage(resource.RUSAGE_SELF)
        srv = proc_cpu_s(self.server_pid)
        return {
            "elapsed_s": elapsed,
            "cpu_user_s": ru.ru_utime - self.ru0.ru_utime,
            "cpu_sys_s": ru.ru_stime - self.ru0.ru_stime,
            "peak_rss_mib": ru.ru_maxrss / 1024,  # KiB on Linux
            "server_cpu_s": None if srv is None or self.srv0 is None else srv - self.srv0,
        }


def percentiles(samples_ns: list[int]) -> dict[str, float] | None:
    if not samples_ns:
        return None
    s = sorted(samples_ns)

    def rank(p: float) -> float:  # nearest rank
        import math

        k = min(max(math.ceil(p * len(s)), 1), len(s))
        return s[k - 1] / 1e6

    return {"p50": round(rank(0.5), 3), "p99": round(rank(0.99), 3), "max": round(s[-1] / 1e6, 3)}


def rnd(x: float | None, d: int) -> float | None:
    return None if x is None else round(x, d)


def result_line(o: dict[str, Any], client: str, client_version: str, server: str) -> dict[str, Any]:
    m = o["measured"]
    return {
        "schema": 1,
        "workload": o["workload"],
        "variant": o.get("variant"),
        "client": CLIENT_NAMES[client],
        "client_version": client_version,
        "server": server,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpus": os.cpu_count(),
        "compression": False,
        "params": o["params"],
        "ok": o["ok"],
        "check": o["check"],
        "count": o["count"],
        "bytes": o["bytes"],
        "elapsed_s": rnd(m["elapsed_s"], 3),
        "throughput": rnd(o["throughput"], 1),
        "unit": o["unit"],
        "cpu_s": rnd(m["cpu_user_s"] + m["cpu_sys_s"], 3),
        "cpu_user_s": rnd(m["cpu_user_s"], 3),
        "cpu_sys_s": rnd(m["cpu_sys_s"], 3),
        "peak_rss_mib": rnd(m["peak_rss_mib"], 1),
        "latency_ms": o.get("latency"),
        "server_cpu_s": rnd(m["server_cpu_s"], 2),
        "ceiling": None,
        "pct_of_ceiling": None,
    }


# ---------------------------------------------------------------------------------------
# Helper processes (ds-bench: server, pre-fill, writer)


def ds_bench() -> str:
    exe = os.environ.get("DS_BENCH") or str(REPO / "target/release/ds-bench")
    if not os.path.exists(exe):
        sys.exit(f"bench: {exe} not found: cargo build --release -p ds-bench")
    return exe


def helper(argv: list[str]) -> dict[str, Any]:
    """Run a ds-bench helper to completion; its last stdout line is a JSON summary."""
    out = subprocess.run([ds_bench(), *argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, check=False)
    lines = out.stdout.decode().strip().splitlines()
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"ds-bench {argv[0]} failed ({out.returncode}): {out.stdout!r}")
    return json.loads(lines[-1])


class Writer:
    """`ds-bench writer` started in the background (a separate process: its CPU is not ours)."""

    def __init__(self, argv: list[str]):
        self.proc = subprocess.Popen([ds_bench(), *argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)

    def wait(self) -> dict[str, Any]:
        out, _ = self.proc.communicate()
        lines = out.decode().strip().splitlines()
        if self.proc.returncode != 0 or not lines:
            return {"errors": 1, "first_error": f"writer exited {self.proc.returncode}"}
        return json.loads(lines[-1])


class Server:
    """`ds-bench server`: a fresh server; `pid` is the server process itself (its child)."""

    def __init__(self, kind: str):
        self.proc = subprocess.Popen([ds_bench(), "server", "--server", kind], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().decode().strip()
        if not self.url.startswith("http"):
            raise RuntimeError(f"ds-bench server printed {self.url!r}")
        self.kind = "node-ref" if kind == "node" else "rust"
        self.pid: int | None = None
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                kids = f.read().split()
            self.pid = int(kids[-1]) if kids else None
        except OSError:
            pass

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def run_id() -> str:
    return f"{time.time_ns() // 1_000_000}-{os.getpid()}"


# ---------------------------------------------------------------------------------------
# Clients


def load_client(client: str) -> tuple[Any, str]:
    if client == "sdk":
        import durable_streams_sdk as sdk

        return sdk, sdk.__version__
    import durable_streams as ref

    return ref, ref.__version__


class Ctx:
    def __init__(self, url: str, server_pid: int | None, mod: Any):
        self.url = url
        self.server_pid = server_pid
        self.mod = mod


# ---------------------------------------------------------------------------------------
# W1: produce


def w1(client: str, ctx: Ctx) -> list[dict[str, Any]]:
    n = size("messages", 1_000_000, 100_000)
    msg_size = size("msg-size", 100, 100)
    api = api_for(client, "W1")
    path = f"/bench/{run_id()}/w1-{client}"
    params: dict[str, Any] = {"messages": n, "msg_size": msg_size, "api": api, "input": ARGS.w1_input}
    if client == "sdk":
        sdk = ctx.mod
        # The producer's own defaults unless a batching option is given.
        popts: dict[str, Any] = {}
        for flag, opt, scale in [("batch_items", "max_batch_items", 1), ("batch_bytes", "max_batch_bytes", 1),
                                 ("linger_ms", "linger", 1e-3), ("in_flight", "max_in_flight", 1),
                                 ("buffer_limit", "buffer_limit_bytes", 1)]:
            v = getattr(ARGS, flag)
            if v is not None:
                popts[opt] = v * scale if scale != 1 else int(v)
                params[flag] = v
        mode = ARGS.w1_input
        many = max(1, ARGS.many)
        if mode == "many":
            params["per_call"] = many
        make = json_text if mode == "text" else json_value
        if api == "sync":
            c = sdk.Client(ctx.url, compression=False)
            s = c.stream(path)
            s.create(content_type=JSON_CT)
            producer = s.producer(f"bench-w1-{os.getpid()}", **popts)
            meter = Meter(ctx.server_pid)
            if mode == "many":
                for start in range(0, n, many):
                    producer.append_json_many([make(i, msg_size) for i in range(start, min(n, start + many))])
            else:
                append = producer.append if mode == "text" else producer.append_json
                for i in range(n):
                    append(make(i, msg_size))
            producer.flush()
            measured = meter.stop()
            producer.detach()
        else:

            async def run() -> dict[str, Any]:
                c = sdk.AsyncClient(ctx.url, compression=False)
                s = c.stream(path)
                await s.create(content_type=JSON_CT)
                producer = s.producer(f"bench-w1-{os.getpid()}", **popts)
                meter = Meter(ctx.server_pid)
                if mode == "many":
                    for start in range(0, n, many):
                        await producer.append_json_many([make(i, msg_size) for i in range(start, min(n, start + many))])
                else:
                    append = producer.append if mode == "text" else producer.append_json
                    for i in range(n):
                        await append(make(i, msg_size))  # completes at once unless the buffer is full
                await producer.flush()
                m = meter.stop()
                await producer.detach()
                return m

            measured = asyncio.run(run())
        read_back = sum(1 for _ in sdk.Client(ctx.url, compression=False, request_timeout=300)
                        .stream(path).read(offset="-1", live=False).json()) if ARGS.verify else None
    else:
        if ARGS.w1_input != "value":
            raise SystemExit("W1 reference: only --w1-input value (its JSON append serialises one value per call)")
        if api != "async":
            raise SystemExit("W1 reference: the sync append blocks until acknowledged (one POST per call "
                             "from one thread); use the default --api async")
        import httpx

        ref = ctx.mod
        window = max(1, ARGS.ref_window)
        params.update(window=window, in_flight=1, batching="client's own (concurrent appends coalesced)")
        url = ctx.url + path

        async def run_ref() -> dict[str, Any]:
            async with httpx.AsyncClient(timeout=60, headers=IDENTITY) as hc:
                ds = await ref.AsyncDurableStream.create(url, content_type=JSON_CT, client=hc)
                sem = asyncio.Semaphore(window)
                pending: set[asyncio.Task[Any]] = set()
                failures: list[BaseException] = []

                def done(t: asyncio.Task[Any]) -> None:
                    pending.discard(t)
                    sem.release()
                    if not t.cancelled() and t.exception() is not None:
                        failures.append(t.exception())  # type: ignore[arg-type]

                meter = Meter(ctx.server_pid)
                for i in range(n):
                    await sem.acquire()
                    t = asyncio.ensure_future(ds.append(json_value(i, msg_size)))
                    pending.add(t)
                    t.add_done_callback(done)
                while pending:
                    await asyncio.wait(list(pending))
                m = meter.stop()
                if failures:
                    raise failures[0]
                return m

        measured = asyncio.run(run_ref())
        read_back = None
        if ARGS.verify:
            with httpx.Client(timeout=300, headers=IDENTITY) as hc, \
                    ref.stream(url, offset="-1", live=False, client=hc) as res:
                read_back = len(res.read_json())
    ok = read_back is None or read_back == n
    return [{
        "workload": "W1", "params": params, "ok": ok,
        "check": "not verified" if read_back is None else f"{read_back}/{n} read back",
        "count": n, "bytes": n * msg_size, "unit": "msgs/s", "throughput": n / measured["elapsed_s"],
        "measured": measured,
    }]


# ---------------------------------------------------------------------------------------
# W2: catch-up read of a big text stream; W3: iterate JSON messages


def prefilled(url: str, kind: str, count: int, msg_size: int) -> str:
    if ARGS.stream:
        return ARGS.stream
    path = f"/bench/{run_id()}/{'w2' if kind == 'text' else 'w3'}"
    print(f"pre-filling {path}: {count} {kind} messages of {msg_size} B (not timed)...", file=sys.stderr)
    r = helper(["prefill", "--server-url", url, "--stream", path, "--kind", kind, "--count", str(count),
                "--msg-size", str(msg_size)])
    print(f"pre-filled in {r['elapsed_s']:.1f} s", file=sys.stderr)
    return path


def w2_sizes() -> tuple[int, int, int]:
    total = size("bytes", 2**30, 64 * 2**20)
    rec = max(12, size("append-size", 1024, 1024))
    count = total // rec
    return count, rec, count * rec


def reader(client: str, ctx: Ctx, workload: str, path: str, api: str) -> Callable[[], Any]:
    """One catch-up read from -1 (W2: returns (bytes, chunks); W3: returns items)."""
    url = ctx.url + path
    if client == "sdk":
        sdk = ctx.mod
        if api == "sync":
            stream = sdk.Client(ctx.url, compression=False, request_timeout=300).stream(path)
            if workload == "W2":

                def once() -> Any:
                    total = chunks = 0
                    for chunk in stream.read(offset="-1", live=False):
                        total += len(chunk.data)
                        chunks += 1
                    return total, chunks
            elif ARGS.decode == "raw":

                def once() -> Any:
                    return sum(len(chunk.items or ()) for chunk in stream.read(offset="-1", live=False))
            else:

                def once() -> Any:
                    count = 0
                    for v in stream.read(offset="-1", live=False).json():
                        count += v is not None
                    return count
            return once
        astream = sdk.AsyncClient(ctx.url, compression=False, request_timeout=300).stream(path)

        async def aonce() -> Any:
            if workload == "W2":
                total = chunks = 0
                async for chunk in astream.read(offset="-1", live=False):
                    total += len(chunk.data)
                    chunks += 1
                return total, chunks
            if ARGS.decode == "raw":
                count = 0
                async for chunk in astream.read(offset="-1", live=False):
                    count += len(chunk.items or ())
                return count
            count = 0
            async for v in astream.read(offset="-1", live=False).json():
                count += v is not None
            return count

        return aonce
    ref = ctx.mod
    import httpx

    if ARGS.decode == "raw" and workload == "W3":
        raise SystemExit("W3 reference: --decode raw is not available (its JSON iteration always decodes)")
    if api == "sync":
        hc = httpx.Client(timeout=300, headers=IDENTITY)

        def ronce() -> Any:
            with ref.stream(url, offset="-1", live=False, client=hc) as res:
                if workload == "W2":
                    total = chunks = 0
                    for b in res:
                        total += len(b)
                        chunks += 1
                    return total, chunks
                count = 0
                for v in res.iter_json():
                    count += v is not None
                return count

        return ronce
    holder: dict[str, Any] = {}

    async def raonce() -> Any:
        if "hc" not in holder:
            holder["hc"] = httpx.AsyncClient(timeout=300, headers=IDENTITY)
        async with ref.astream(url, offset="-1", live=False, client=holder["hc"]) as res:
            if workload == "W2":
                total = chunks = 0
                async for b in res:
                    total += len(b)
                    chunks += 1
                return total, chunks
            count = 0
            async for v in res.iter_json():
                count += v is not None
            return count

    return raonce


def catch_up(client: str, ctx: Ctx, workload: str) -> list[dict[str, Any]]:
    reads = max(1, size("reads", 3, 3))
    api = api_for(client, workload)
    if workload == "W2":
        count, rec, expected = w2_sizes()
        path = prefilled(ctx.url, "text", count, rec)
    else:
        expected = size("messages", 1_000_000, 100_000)
        rec = size("msg-size", 100, 100)
        path = prefilled(ctx.url, "json", expected, rec)
    once = reader(client, ctx, workload, path, api)

    if api == "sync":
        if ARGS.warmup:
            once()
        per_read: list[float] = []
        got: list[Any] = []
        meter = Meter(ctx.server_pid)
        for _ in range(reads):
            t = time.perf_counter()
            got.append(once())
            per_read.append(round(time.perf_counter() - t, 3))
        measured = meter.stop()
    else:

        async def run() -> tuple[dict[str, Any], list[float], list[Any]]:
            if ARGS.warmup:
                await once()
            per: list[float] = []
            g: list[Any] = []
            meter = Meter(ctx.server_pid)
            for _ in range(reads):
                t = time.perf_counter()
                g.append(await once())
                per.append(round(time.perf_counter() - t, 3))
            return meter.stop(), per, g

        measured, per_read, got = asyncio.run(run())
    if workload == "W2":
        received = sum(g[0] for g in got)
        chunks = sum(g[1] for g in got)
        return [{
            "workload": "W2",
            "params": {"bytes": expected, "append_size": rec, "prefill_batch_bytes": 2**20, "reads": reads,
                       "warmup": ARGS.warmup, "read_s": per_read, "chunks": chunks, "api": api},
            "ok": received == expected * reads, "check": f"{received}/{expected * reads} bytes ({reads} reads)",
            "count": received, "bytes": received, "unit": "MiB/s",
            "throughput": received / 2**20 / measured["elapsed_s"], "measured": measured,
        }]
    received = sum(got)
    return [{
        "workload": "W3",
        "params": {"messages": expected, "msg_size": rec, "decode": ARGS.decode, "prefill_batch_items": 10_000,
                   "reads": reads, "warmup": ARGS.warmup, "read_s": per_read, "api": api},
        "ok": received == expected * reads, "check": f"{received}/{expected * reads} items ({reads} reads)",
        "count": received, "bytes": expected * reads * rec, "unit": "items/s",
        "throughput": received / measured["elapsed_s"], "measured": measured,
    }]


# ---------------------------------------------------------------------------------------
# W4 / W5: live tails, latency append -> receive


class Tally:
    """Latencies and duplicate check, shared by every reader (thread or task)."""

    def __init__(self, n: int, on_done: Callable[[], None]):
        self.n = n
        self.seen = bytearray(n)
        self.latencies: list[int] = []
        self.received = 0
        self.duplicates = 0
        self.errors: list[str] = []
        self.on_done = on_done
        self.lock = threading.Lock()

    def deliver(self, items: list[Any], now: int) -> None:
        with self.lock:
            for m in items:
                i = m["i"]
                if not 0 <= i < self.n:
                    self.errors.append(f"unexpected message {i}")
                elif self.seen[i]:
                    self.duplicates += 1
                else:
                    self.seen[i] = 1
                    self.received += 1
                self.latencies.append(now - m["t"])
            if self.received >= self.n:
                self.on_done()

    def fail(self, e: BaseException) -> None:
        with self.lock:
            self.errors.append(repr(e))
            self.on_done()


def tail_sync(client: str, ctx: Ctx, paths: list[str], live: str, n: int, wargs: list[str],
              patience: float) -> dict[str, Any]:
    """One thread per session; the main thread waits."""
    done = threading.Event()
    tally = Tally(n, done.set)
    ready = threading.Semaphore(0)
    stops: list[Callable[[], None]] = []
    if client == "sdk":
        c = ctx.mod.Client(ctx.url, compression=False)

        def follow_sdk(path: str) -> None:
            session = c.stream(path, content_type=JSON_CT).read(offset="-1", live=live)
            stops.append(session.close)
            is_ready = False
            try:
                for chunk in session:
                    now = time.time_ns()
                    if len(chunk):
                        tally.deliver(chunk.json(), now)
                    if chunk.up_to_date and not is_ready:
                        is_ready = True
                        ready.release()
            except Exception as e:  # noqa: BLE001
                if not done.is_set():
                    tally.fail(e)

        target: Callable[[str], None] = follow_sdk
    else:
        import httpx

        ref = ctx.mod
        hc = httpx.Client(timeout=httpx.Timeout(60, read=120), headers=IDENTITY,
                          limits=httpx.Limits(max_connections=None, max_keepalive_connections=None))
        # "auto": catch-up first, then long-poll (an explicit "long-poll" from -1 on an empty
        # stream would wait for data before answering, so it could never report "caught up").
        mode = "auto" if live == "long-poll" else live

        def follow_ref(path: str) -> None:
            try:
                res = ref.stream(ctx.url + path, offset="-1", live=mode, client=hc)
                stops.append(res.close)
                threading.Thread(target=watch_ready, args=(res,), daemon=True).start()
                for items in res.iter_json_batches():
                    tally.deliver(items, time.time_ns())
            except Exception as e:  # noqa: BLE001
                if not done.is_set():
                    tally.fail(e)

        def watch_ready(res: Any) -> None:
            while not res.up_to_date:  # set by the reader (catch-up response, or SSE control event)
                time.sleep(0.005)
            ready.release()

        target = follow_ref
    for p in paths:
        threading.Thread(target=target, args=(p,), daemon=True).start()
    deadline = time.monotonic() + 60
    for got in range(len(paths)):
        if not ready.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise RuntimeError(f"only {got}/{len(paths)} sessions caught up: {tally.errors[:3]}")
    # Caught up means the catch-up read answered; let the live request that follows reach the
    # server (the same pause as ds-bench).
    time.sleep(0.5 + 0.002 * len(paths))
    meter = Meter(ctx.server_pid)
    writer = Writer(wargs)
    done.wait(patience)
    measured = meter.stop()
    summary = writer.wait()
    for stop in stops:
        with contextlib.suppress(Exception):
            stop()
    return {"measured": measured, "tally": tally, "writer": summary}


def tail_async(client: str, ctx: Ctx, paths: list[str], live: str, n: int, wargs: list[str],
               patience: float) -> dict[str, Any]:
    """One asyncio task per session, all on this thread's event loop."""

    async def run() -> dict[str, Any]:
        done = asyncio.Event()
        tally = Tally(n, done.set)
        ready = asyncio.Semaphore(0)
        tasks: list[asyncio.Task[Any]] = []
        cleanup: list[Any] = []
        if client == "sdk":
            c = ctx.mod.AsyncClient(ctx.url, compression=False)

            async def follow(path: str) -> None:
                session = c.stream(path, content_type=JSON_CT).read(offset="-1", live=live)
                is_ready = False
                try:
                    async for chunk in session:
                        now = time.time_ns()
                        if len(chunk):
                            tally.deliver(chunk.json(), now)
                        if chunk.up_to_date and not is_ready:
                            is_ready = True
                            ready.release()
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # noqa: BLE001
                    tally.fail(e)
        else:
            import httpx

            ref = ctx.mod
            hc = httpx.AsyncClient(timeout=httpx.Timeout(60, read=120), headers=IDENTITY,
                                   limits=httpx.Limits(max_connections=None, max_keepalive_connections=None))
            cleanup.append(hc)
            mode = "auto" if live == "long-poll" else live

            async def follow(path: str) -> None:
                try:
                    async with ref.astream(ctx.url + path, offset="-1", live=mode, client=hc) as res:
                        watcher = asyncio.ensure_future(watch_ready(res))
                        try:
                            async for items in res.iter_json_batches():
                                tally.deliver(items, time.time_ns())
                        finally:
                            watcher.cancel()
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # noqa: BLE001
                    tally.fail(e)

            async def watch_ready(res: Any) -> None:
                while not res.up_to_date:
                    await asyncio.sleep(0.005)
                ready.release()

        for p in paths:
            tasks.append(asyncio.ensure_future(follow(p)))
        for got in range(len(paths)):
            try:
                await asyncio.wait_for(ready.acquire(), 60)
            except asyncio.TimeoutError:
                raise RuntimeError(f"only {got}/{len(paths)} sessions caught up: {tally.errors[:3]}") from None
        await asyncio.sleep(0.5 + 0.002 * len(paths))
        meter = Meter(ctx.server_pid)
        writer = Writer(wargs)
        try:
            await asyncio.wait_for(done.wait(), patience)
        except asyncio.TimeoutError:
            pass
        measured = meter.stop()
        summary = await asyncio.get_running_loop().run_in_executor(None, writer.wait)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for hc_ in cleanup:
            await hc_.aclose()
        return {"measured": measured, "tally": tally, "writer": summary}

    return asyncio.run(run())


def live_outcome(workload: str, variant: str | None, r: dict[str, Any], n: int, params: dict[str, Any]) -> dict[str, Any]:
    t: Tally = r["tally"]
    writer_errors = int(r["writer"].get("errors") or 0)
    check = f"{t.received}/{n} received, {t.duplicates} dup"
    if writer_errors:
        check += f", {writer_errors} append errors"
    if t.errors:
        check += f", {len(t.errors)} errors (first: {t.errors[0]})"
    return {
        "workload": workload, "variant": variant, "params": {**params, "writer": r["writer"]},
        "ok": t.received == n and t.duplicates == 0 and not t.errors and writer_errors == 0,
        "check": check, "count": t.received, "bytes": 0, "unit": "msgs/s",
        "throughput": t.received / r["measured"]["elapsed_s"], "measured": r["measured"],
        "latency": percentiles(t.latencies),
    }


def create_json_streams(client: str, ctx: Ctx, paths: list[str]) -> None:
    if client == "sdk":
        c = ctx.mod.Client(ctx.url, compression=False)
        for p in paths:
            c.stream(p).create(content_type=JSON_CT)
    else:
        import httpx

        with httpx.Client(headers=IDENTITY) as hc:
            for p in paths:
                ctx.mod.DurableStream.create(ctx.url + p, content_type=JSON_CT, client=hc)


def w4(client: str, ctx: Ctx) -> list[dict[str, Any]]:
    n = size("messages", 1000, 200)
    interval_ms = num("interval-ms", 5.0)
    msg_size = size("msg-size", 100, 100)
    api = api_for(client, "W4")
    variants = ["long-poll", "sse"] if ARGS.live == "both" else [ARGS.live]
    out = []
    for live in variants:
        prefix = f"/bench/{run_id()}/w4-{live}-{client}/"
        create_json_streams(client, ctx, [f"{prefix}0"])
        wargs = ["writer", "--server-url", ctx.url, "--stream-prefix", prefix, "--streams", "1", "--messages", str(n),
                 "--interval-ms", str(interval_ms), "--writers", "1", "--msg-size", str(msg_size)]
        print(f"W4 {live} ({client}, {api}): {n} messages, {interval_ms} ms apart...", file=sys.stderr)
        tail = tail_sync if api == "sync" else tail_async
        r = tail(client, ctx, [f"{prefix}0"], live, n, wargs, n * interval_ms / 1e3 + 30)
        out.append(live_outcome("W4", live, r, n, {"messages": n, "interval_ms": interval_ms, "msg_size": msg_size,
                                                    "api": api}))
    return out


def w5(client: str, ctx: Ctx) -> list[dict[str, Any]]:
    k = size("streams", 200, 20)
    n = size("messages", 20_000, 2_000)
    rate = num("rate", 2000.0)
    writers = size("writers", 16, 16)
    msg_size = size("msg-size", 100, 100)
    api = api_for(client, "W5")
    prefix = f"/bench/{run_id()}/w5-{client}/"
    paths = [f"{prefix}{i}" for i in range(k)]
    create_json_streams(client, ctx, paths)
    wargs = ["writer", "--server-url", ctx.url, "--stream-prefix", prefix, "--streams", str(k), "--messages", str(n),
             "--rate", str(rate), "--writers", str(writers), "--msg-size", str(msg_size)]
    print(f"W5 ({client}, {api}): tailing {k} streams over SSE, {n} messages at {rate:g}/s...", file=sys.stderr)
    tail = tail_sync if api == "sync" else tail_async
    r = tail(client, ctx, paths, "sse", n, wargs, n / rate + 30)
    return [live_outcome("W5", None, r, n, {"streams": k, "messages": n, "rate": rate, "writers": writers,
                                            "msg_size": msg_size, "api": api})]


WORKLOADS: dict[str, Callable[[str, Ctx], list[dict[str, Any]]]] = {
    "W1": w1, "W2": lambda c, x: catch_up(c, x, "W2"), "W3": lambda c, x: catch_up(c, x, "W3"), "W4": w4, "W5": w5,
}


def run_one(client: str, workload: str) -> None:
    server = None
    url, pid, kind = ARGS.server_url, ARGS.server_pid, ARGS.server_kind
    if not url:
        server = Server(ARGS.server)
        url, pid, kind = server.url, server.pid, server.kind
    try:
        mod, version = load_client(client)
        if client == "sdk" and os.environ.get("DS_SDK_BUILD"):
            version += f" ({os.environ['DS_SDK_BUILD']})"  # run.sh: "release"
        ctx = Ctx(url, pid, mod)
        for o in WORKLOADS[workload](client, ctx):
            line = result_line(o, client, version, kind or "external")
            print(json.dumps(line), flush=True)
    finally:
        if server:
            server.stop()


# ---------------------------------------------------------------------------------------
# Both clients (and rust-core via ds-bench), each in its own process

SIZE_FLAGS = ["messages", "msg-size", "batch-items", "batch-bytes", "in-flight", "bytes", "append-size", "reads",
              "streams", "writers", "buffer-limit", "linger-ms", "interval-ms", "rate"]


def forwarded(for_rust: bool = False) -> list[str]:
    out = ["--quick"] if ARGS.quick else []
    for k in SIZE_FLAGS:
        v = getattr(ARGS, k.replace("-", "_"))
        if v is not None:
            out += [f"--{k}", str(v)]
    if not ARGS.warmup:
        out += ["--warmup", "off"]
    if ARGS.live != "both":
        out += ["--live", ARGS.live]
    if not for_rust:
        out += ["--server", ARGS.server, "--decode", ARGS.decode, "--w1-input", ARGS.w1_input, "--many", str(ARGS.many),
                "--ref-window", str(ARGS.ref_window), "--verify", "on" if ARGS.verify else "off"]
        if ARGS.api and ARGS.api != "both":
            out += ["--api", ARGS.api]
    else:
        out += ["--server", ARGS.server]
        if ARGS.decode != "value":
            out += ["--decode", ARGS.decode]
    return out


def child(argv: list[str]) -> list[dict[str, Any]]:
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, check=False)
    lines = [json.loads(l) for l in proc.stdout.decode().splitlines() if l.startswith('{"schema"')]
    if proc.returncode != 0 and not lines:
        print(f"bench: {' '.join(argv[:6])}... failed ({proc.returncode})", file=sys.stderr)
    return lines


def run_both(workload: str) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    me = [sys.executable, str(Path(__file__).resolve())]

    def run(client: str, extra: list[str]) -> None:
        if ARGS.api == "both":
            apis = ["async"] if (client, workload) == ("reference", "W1") else ["sync", "async"]
        else:
            apis = [ARGS.api or DEFAULT_API[client][workload]]
        for api in apis:
            print(f"--- {workload} {CLIENT_NAMES[client]} ({api}) ---", file=sys.stderr)
            lines.extend(child([*me, "--workload", workload, "--client", client, *forwarded(), "--api", api, *extra]))

    if workload in ("W2", "W3"):
        # One server and one pre-filled stream, read by both clients.
        server = Server(ARGS.server)
        try:
            if workload == "W2":
                count, rec, _ = w2_sizes()
                path = prefilled(server.url, "text", count, rec)
            else:
                path = prefilled(server.url, "json", size("messages", 1_000_000, 100_000), size("msg-size", 100, 100))
            extra = ["--server-url", server.url, "--server-kind", server.kind, "--stream", path]
            if server.pid:
                extra += ["--server-pid", str(server.pid)]
            run("sdk", extra)
            run("reference", extra)
        finally:
            server.stop()
    else:
        run("sdk", [])  # a fresh server for each client
        if workload != "W1" or ARGS.w1_input == "value":  # the reference appends one value per call
            run("reference", [])
    if ARGS.rust == "all" or (ARGS.rust == "live" and workload in ("W4", "W5")):
        print(f"--- {workload} rust-core (ds-bench) ---", file=sys.stderr)
        lines.extend(child([ds_bench(), workload.lower(), "--ceiling", "off", *forwarded(for_rust=True)]))
    if ARGS.out:
        with open(ARGS.out, "a") as f:
            f.writelines(json.dumps(line) + "\n" for line in lines)
    return lines


# ---------------------------------------------------------------------------------------
# Side-by-side table


def fmt(x: float | None, d: int = 0) -> str:
    return "-" if x is None else f"{x:,.{d}f}"


def table(lines: list[dict[str, Any]]) -> str:
    groups: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        key = line["workload"] + (f" {line['variant']}" if line.get("variant") else "")
        groups.setdefault(key, []).append(line)
    head = ["workload", "client", "api", "throughput", "p50 / p99 / max ms", "cpu s", "cpu µs/item", "rss MiB",
            "srv cpu s", "check"]
    rows = [head]
    for key, ls in groups.items():
        for line in ls:
            lat = line.get("latency_ms")
            lat_s = f"{fmt(lat['p50'], 2)} / {fmt(lat['p99'], 2)} / {fmt(lat['max'], 1)}" if lat else "-"
            mib = line["unit"] == "MiB/s"
            per = None
            if line.get("count"):
                per = line["cpu_s"] * 1e6 / (line["count"] / 2**20 if mib else line["count"])
            rows.append([key, line["client"], (line.get("params") or {}).get("api", "-"),
                         f"{fmt(line['throughput'], 1 if mib else 0)} {line['unit']}", lat_s, fmt(line["cpu_s"], 2),
                         f"{fmt(per, 0)}/MiB" if mib else fmt(per, 2), fmt(line["peak_rss_mib"], 0),
                         fmt(line.get("server_cpu_s"), 2), "ok" if line["ok"] else f"FAILED: {line['check']}"])
        def api(line: dict[str, Any]) -> str | None:
            return (line.get("params") or {}).get("api")

        sdks = [l for l in ls if l["client"] == CLIENT_NAMES["sdk"]]
        refs = [l for l in ls if l["client"] == CLIENT_NAMES["reference"]]
        rust = next((l for l in ls if l["client"] == CLIENT_NAMES["rust"]), None)
        for sdk in sdks:
            # the reference row with the same API, else its only row (each client's default API)
            ref = next((r for r in refs if api(r) == api(sdk)), refs[0] if len(refs) == 1 else None)
            if ref and sdk["count"] and ref["count"]:
                tput = sdk["throughput"] / ref["throughput"]
                cpu = (sdk["cpu_s"] / sdk["count"]) / (ref["cpu_s"] / ref["count"]) if ref["cpu_s"] else None
                lat = ""
                if sdk.get("latency_ms") and ref.get("latency_ms"):
                    lat = f"p50 {sdk['latency_ms']['p50'] - ref['latency_ms']['p50']:+.2f} ms"
                rows.append([key, "binding / reference", f"{api(sdk)}/{api(ref)}", f"{tput:.2f}×", lat, "",
                             f"{fmt(cpu, 2)}×", f"{sdk['peak_rss_mib'] / ref['peak_rss_mib']:.2f}×", "", ""])
            if rust and sdk.get("latency_ms") and rust.get("latency_ms"):
                rows.append([key, "binding − rust-core", api(sdk), "",
                             f"p50 {sdk['latency_ms']['p50'] - rust['latency_ms']['p50']:+.2f} ms", "", "", "", "", ""])
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows)


def medians(lines: list[dict[str, Any]]) -> str:
    """Median and spread (min–max) per (server, workload, client, API, input) over repeated
    runs, with throughput and CPU per item relative to the reference client's median."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for line in lines:
        prm = line.get("params") or {}
        key = (line["server"], line["workload"] + (f" {line['variant']}" if line.get("variant") else ""),
               line["client"], str(prm.get("api", "-")), str(prm.get("input", "-")))
        groups.setdefault(key, []).append(line)
    def per(line: dict[str, Any]) -> float:  # CPU µs per item (per MiB for byte workloads)
        return line["cpu_s"] * 1e6 / (line["count"] / 2**20 if line["unit"] == "MiB/s" else line["count"])

    med = {k: (statistics.median(l["throughput"] for l in ls), statistics.median(per(l) for l in ls))
           for k, ls in groups.items() if all(l.get("count") for l in ls)}
    head = ["server", "workload", "client", "api", "input", "runs", "throughput median (min–max)",
            "cpu µs/item (/MiB) median (min–max)", "× reference tput", "× reference cpu"]
    rows = [head]
    for k, ls in sorted(groups.items()):
        if k not in med:
            continue
        unit = ls[0]["unit"]
        tputs = [l["throughput"] for l in ls]
        cpus = [per(l) for l in ls]
        ref = next((v for rk, v in med.items() if rk[:2] == k[:2] and rk[2] == CLIENT_NAMES["reference"]
                    and rk[3] in (k[3], "async" if k[1] == "W1" else k[3])), None)
        rows.append([*k, str(len(ls)), f"{fmt(med[k][0], 0)} {unit} ({fmt(min(tputs), 0)}–{fmt(max(tputs), 0)})",
                     f"{fmt(med[k][1], 2)} ({fmt(min(cpus), 2)}–{fmt(max(cpus), 2)})",
                     f"{med[k][0] / ref[0]:.2f}×" if ref else "", f"{med[k][1] / ref[1]:.2f}×" if ref else ""])
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows)


def main() -> None:
    global ARGS
    ARGS = build_parser().parse_args()
    if ARGS.command and ARGS.command[0] == "median":
        lines = []
        for fn in ARGS.command[1:]:
            with open(fn) as f:
                lines += [json.loads(l) for l in f if l.startswith("{")]
        print(medians(lines))
        return
    if ARGS.command and ARGS.command[0] == "table":
        lines = []
        for fn in ARGS.command[1:]:
            with open(fn) as f:
                lines += [json.loads(l) for l in f if l.startswith("{")]
        print(table(lines))
        return
    if ARGS.command:
        sys.exit(f"bench: unknown command {ARGS.command[0]!r}")
    wl = ARGS.workload.upper()
    workloads = list(WORKLOADS) if wl == "ALL" else [wl]
    for w in workloads:
        if w not in WORKLOADS:
            sys.exit(f"bench: --workload w1..w5 or all, got {ARGS.workload}")
    if ARGS.client == "both":
        everything: list[dict[str, Any]] = []
        for w in workloads:
            lines = run_both(w)
            everything += lines
            print(f"\n{table(lines)}\n", flush=True)
        if len(workloads) > 1:
            now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            print(f"=== summary ({now}, {os.cpu_count()} cpus, server {ARGS.server}) ===\n{table(everything)}")
    else:
        for w in workloads:
            run_one(ARGS.client, w)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Chaos run for the Python binding (the installed wheel).

Starts tests/chaos/proxy.mjs (which starts the reference server), sends N messages
through the proxy with the binding's producer (default producer options), reads them
back straight from the server, and runs a live reader through the same proxy that must
see every message once, in order, through mid-stream cuts and stalls. Prints one
`summary: chaos (python): ...` line and exits non-zero when a message was lost,
duplicated or reordered, or the live reader met too few mid-stream faults.

    python tests/chaos/chaos_python.py [--messages 20000] [--seed 1] [--rate 0.04]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

import durable_streams_sdk as ds

HERE = os.path.dirname(os.path.abspath(__file__))
BURST, PAUSE = 50, 0.020  # messages back to back, then a pause (as in core/tests/chaos.rs)
# Mid-stream faults the live reader must have met at the default rate (4%) or above in
# a run of at least 20,000 messages, so that it proves the reader survives them (as in core/tests/chaos.rs).
MIN_LIVE_FAULTS = 5


def tally(seen: list[int], n: int) -> tuple[int, int, int]:
    """(duplicates, lost, out of order) of the numbers seen, against 0..n."""
    count = [0] * n
    stray = 0
    for v in seen:
        if 0 <= v < n:
            count[v] += 1
        else:
            stray += 1
    dups = sum(c - 1 for c in count if c > 1) + stray
    lost = sum(1 for c in count if c == 0)
    ooo = sum(1 for a, b in zip(seen, seen[1:]) if b <= a)
    return dups, lost, ooo


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=int(os.environ.get("DS_CHAOS_MESSAGES", "20000")))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("DS_CHAOS_SEED", "1")))
    ap.add_argument("--rate", type=float, default=float(os.environ.get("DS_CHAOS_RATE", "0.04")))
    args = ap.parse_args()
    n = args.messages

    proc = subprocess.Popen(
        ["node", os.path.join(HERE, "proxy.mjs"), "--seed", str(args.seed), "--rate", str(args.rate),
         "--stall-ms", "2500", "--max-seconds", "600"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        urls = json.loads(proc.stdout.readline())
        return run(n, args.seed, args.rate, urls["proxy"], urls["server"])
    finally:
        proc.kill()
        proc.wait()


def run(n: int, seed: int, rate: float, proxy_url: str, server_url: str) -> int:
    path = f"/chaos/python-{os.getpid()}"
    direct = ds.Client(server_url).stream(path)
    direct.create(content_type="application/json")
    # Timeouts shorter than the proxy's 2.5 s stall; retries enough for a run of faults.
    proxied = ds.Client(proxy_url, request_timeout=1.0, live_idle_timeout=1.5,
                        retry=ds.RetryOptions(max_retries=30))
    live_stream = proxied.stream(path)

    live_seen: list[int] = []
    live_error: list[BaseException] = []

    def follow() -> None:
        try:
            deadline = time.monotonic() + 240
            for item in live_stream.read(offset="-1", live=True).json():
                live_seen.append(item["n"])
                if len(live_seen) >= n or time.monotonic() > deadline:
                    break
        except BaseException as e:  # reported below
            live_error.append(e)

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()

    started = time.monotonic()
    flush_error = None
    producer = live_stream.producer("chaos-python")
    try:
        for i in range(n):
            producer.append_json({"n": i})
            if i % BURST == BURST - 1:  # bursts, else default batching makes one request
                time.sleep(PAUSE)
        producer.flush()
    except ds.DurableStreamError as e:
        flush_error = e
    finally:
        try:
            producer.detach()
        except ds.DurableStreamError:
            pass
    elapsed = time.monotonic() - started

    stored = [item["n"] for item in direct.read(offset="-1").json()]
    reader.join(timeout=60)
    with urllib.request.urlopen(f"{proxy_url}/__chaos/stats") as r:
        stats = json.load(r)

    dups, lost, ooo = tally(stored, n)
    live_dups, live_lost, live_ooo = tally(live_seen, n)
    faults = sum(stats["faults"].values())
    # What the live reader went through (tests/chaos/proxy.mjs, `reader`).
    r = stats["reader"]
    min_live = MIN_LIVE_FAULTS if rate >= 0.04 and n >= 20000 else 0
    ok = (flush_error is None and not live_error and not reader.is_alive() and len(stored) == n
          and dups + lost + ooo == 0 and len(live_seen) == n and live_dups + live_lost + live_ooo == 0
          and r["midStream"] >= min_live)
    p = stats["producer"]
    # Repeats over faults on the producer's own requests (tests/chaos/proxy.mjs, extraPerFault).
    extra = (p["requests"] - p["batches"]) / max(p["faults"], 1)
    print(
        f"summary: chaos (python): {int(ok)} passed, {int(not ok)} failed, 0 skipped — sent {n}, stored {len(stored)}, "
        f"duplicates {dups}, lost {lost}, out of order {ooo}, requests per fault {extra:.2f} "
        f"(producer: {p['requests']} requests for {p['batches']} batches, {p['faults']} faults, "
        f"{p['statuses'].get('409', 0)} 409s); live consumer saw {len(live_seen)} "
        f"(duplicates {live_dups}, lost {live_lost}, out of order {live_ooo}) through {sum(r['faults'].values())} faults "
        f"({r['midStream']} mid-stream) and {r['reconnects']} reconnects; proxy requests {stats['requests']}, "
        f"faults {faults} {json.dumps(stats['faults'], separators=(',', ':'))}; {elapsed:.1f} s (seed {seed}, rate {rate})",
        flush=True,
    )
    if flush_error is not None:
        print(f"chaos (python): flush failed: {flush_error!r}", file=sys.stderr)
    if live_error:
        print(f"chaos (python): live reader failed: {live_error[0]!r}", file=sys.stderr)
    if r["midStream"] < min_live:
        print(f"chaos (python): the live reader met {r['midStream']} mid-stream faults, fewer than {min_live}: "
              "not exercised", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Smoke test of an installed release wheel (run by bindings-python/ci.sh in a fresh
virtualenv that holds nothing but the wheel): the native module loads, and the main
operations work against a real reference server.

    python smoke.py REF_SERVER_MJS

Prints one line per check and `summary: ...: N passed, N failed, N skipped`; exits 1 on
any failure."""

from __future__ import annotations

import subprocess
import sys
import traceback
import uuid
from collections.abc import Callable

import durable_streams_sdk as ds

results: list[tuple[str, BaseException | None]] = []


def check(name: str) -> Callable[[Callable[[], None]], None]:
    def run(fn: Callable[[], None]) -> None:
        try:
            fn()
            results.append((name, None))
            print(f"ok   {name}")
        except BaseException as e:  # noqa: BLE001 - reported, then counted as a failure
            results.append((name, e))
            print(f"FAIL {name}: {e!r}")
            traceback.print_exc()

    return run


def main(ref_server: str) -> int:
    # The server exits when its stdin closes.
    server = subprocess.Popen(["node", ref_server], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdin is not None
    url = server.stdout.readline().strip()
    try:
        run_checks(url)
    finally:
        server.stdin.close()
        server.wait(timeout=10)
    failed = sum(1 for _, e in results if e is not None)
    print(f"summary: release wheel smoke (fresh venv): {len(results) - failed} passed, {failed} failed, 0 skipped")
    return 1 if failed or not results else 0


def run_checks(url: str) -> None:
    client = ds.Client(url)
    s = client.stream(f"/release-smoke/{uuid.uuid4().hex}")

    @check("module is the installed wheel, not a source tree")
    def _() -> None:
        assert "site-packages" in ds.__file__, ds.__file__
        assert ds.__version__, "no version"

    @check("create, append, read back")
    def _() -> None:
        s.create(content_type="text/plain")
        s.append("hello ")
        s.append("world")
        assert s.read_all() == b"hello world"

    @check("producer: append, flush, stats")
    def _() -> None:
        with s.producer(f"smoke-{uuid.uuid4().hex[:8]}") as p:
            for i in range(100):
                p.append(f"{i},")
            p.flush()
            stats = p.stats()
        assert stats["messages_acked"] == 100 and stats["in_flight"] == 0, stats
        assert s.read_all().endswith(b"98,99,")

    @check("typed error classes")
    def _() -> None:
        try:
            client.stream(f"/release-smoke/missing-{uuid.uuid4().hex}").head()
        except ds.StreamNotFoundError as e:
            assert isinstance(e, ds.DurableStreamError) and e.code == "NOT_FOUND", (e.code, e)
        else:
            raise AssertionError("head of a missing stream succeeded")

    @check("asyncio client")
    def _() -> None:
        import asyncio

        async def go() -> bytes:
            a = ds.AsyncClient(url).stream(s.url.removeprefix(url))
            return await a.read_all()

        assert asyncio.run(go()).startswith(b"hello world")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

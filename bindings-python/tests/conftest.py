"""Fixtures: one reference server (tests/server/ref-server.mjs) for the whole session,
clients on it, unique stream paths and fault injection."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import durable_streams_sdk as ds

REPO = Path(os.environ.get("DS_REPO", Path(__file__).resolve().parents[2]))


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    script = REPO / "tests" / "server" / "ref-server.mjs"
    env = dict(os.environ, DS_PORT="0", DS_LONGPOLL_MS=os.environ.get("DS_LONGPOLL_MS", "500"))
    # The server exits when its stdin closes: keep the pipe open for the session.
    proc = subprocess.Popen(
        ["node", str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True
    )
    assert proc.stdout is not None and proc.stdin is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        pytest.fail(f"reference server did not start (first line: {url!r}); run `npm ci` in tests/")
    try:
        yield url
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def client(server_url: str) -> ds.Client:
    return ds.Client(server_url)


@pytest.fixture
def path() -> str:
    return f"/py/{uuid.uuid4().hex}"


class Faults:
    def __init__(self, base: str) -> None:
        self.base = base

    def inject(self, path: str, **fault: object) -> None:
        body = json.dumps({"path": path, **fault}).encode()
        req = urllib.request.Request(
            f"{self.base}/_test/inject-error", data=body, method="POST", headers={"content-type": "application/json"}
        )
        urllib.request.urlopen(req, timeout=5).read()

    def clear(self) -> None:
        req = urllib.request.Request(f"{self.base}/_test/inject-error", method="DELETE")
        urllib.request.urlopen(req, timeout=5).read()


@pytest.fixture
def faults(server_url: str) -> Iterator[Faults]:
    f = Faults(server_url)
    yield f
    f.clear()


def raw_get(url: str) -> tuple[int, dict[str, str], bytes]:
    """A plain HTTP GET, to check what the server holds independently of the SDK."""
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, dict(r.headers), r.read()

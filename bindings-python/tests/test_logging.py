"""The core's log records reach `logging` under the `durable_streams_sdk` logger: a
retried request logs its retry (the reference server's fault injection makes it fail
once), and no header, token or query value ever appears in a record."""

from __future__ import annotations

import logging
import time

import pytest

import durable_streams_sdk as ds

SECRET = "s3cr3t-token-4f9a"


def wait_for(caplog: pytest.LogCaptureFixture, *words: str, timeout: float = 5.0) -> list[logging.LogRecord]:
    """The SDK's records containing every word, once there is one (delivery is asynchronous)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [
            r
            for r in caplog.records
            if r.name.startswith("durable_streams_sdk") and all(w in r.getMessage() for w in words)
        ]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no {words!r} record; got {[r.getMessage() for r in caplog.records]}")


def test_a_retried_request_logs_its_retry(server_url: str, path: str, faults, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG, logger="durable_streams_sdk")
    ds._logging.sync_level()
    client = ds.Client(server_url, retry=ds.RetryOptions(max_retries=3, initial_delay=0.05))
    s = client.stream(path)
    s.create(content_type="text/plain")
    faults.inject(path, status=503, count=1, method="HEAD")
    s.head()  # 503 once, then 200
    retry = wait_for(caplog, "retry")[0]
    assert retry.name == "durable_streams_sdk.http" and retry.levelno == logging.INFO
    msg = retry.getMessage()
    assert f"method=HEAD path=/v1/stream{path}" in msg or f"path={path}" in msg or path in msg, msg
    assert "attempt=1" in msg and "reason=status 503" in msg and "delay_ms=" in msg, msg
    assert wait_for(caplog, "request method=HEAD", "status=503")
    assert wait_for(caplog, "request method=HEAD", "status=200")


def test_debug_records_are_not_produced_above_the_level(server_url: str, path: str, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING, logger="durable_streams_sdk")
    ds._logging.sync_level()
    s = ds.Client(server_url).stream(path)
    s.create(content_type="text/plain")
    s.head()
    time.sleep(0.5)
    assert not [r for r in caplog.records if r.name.startswith("durable_streams_sdk")]


def test_no_secret_in_any_log_line(server_url: str, path: str, faults, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG, logger="durable_streams_sdk")
    ds._logging.sync_level()
    client = ds.Client(
        server_url,
        headers={"authorization": f"Bearer {SECRET}"},
        dynamic_headers={"x-api-key": lambda: SECRET},
        dynamic_params={"token": lambda: SECRET},
        retry=ds.RetryOptions(max_retries=3, initial_delay=0.05),
    )
    s = client.stream(path)
    s.create(content_type="text/plain")
    faults.inject(path, status=503, count=1, method="POST")
    s.append("x")
    faults.inject(path, status=500, count=1, method="GET")
    assert s.read_all() == b"x"
    with s.producer("p-secret") as p:
        p.append("y")
        p.append("z")
        p.flush()
        stats = p.stats()
    assert stats["messages_acked"] == 2 and stats["bytes_acked"] == 2, stats
    assert stats["in_flight"] == 0 and stats["batches"] >= 1 and stats["last_error"] is None, stats
    wait_for(caplog, "retry")
    wait_for(caplog, "batch")
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("durable_streams_sdk")]
    assert len(lines) >= 5, lines
    leaked = [line for line in lines if SECRET in line or "Bearer" in line]
    assert not leaked, leaked

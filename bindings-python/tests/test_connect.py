"""A server address that does not answer fails within one connect timeout, as a
TimeoutError that says so (not after the retry policy repeated the wait)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

import durable_streams_sdk as ds


@pytest.fixture
def unanswering() -> Iterator[str]:
    """A listener that never accepts, its one-entry accept queue filled: the kernel drops
    further handshakes (the local stand-in for a blackholed host)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    addr = listener.getsockname()
    held = []
    try:
        for _ in range(16):
            c = socket.socket()
            c.settimeout(0.2)
            try:
                c.connect(addr)
            except TimeoutError:
                c.close()
                break
            held.append(c)
        else:
            pytest.fail("the accept queue of a backlog-0 listener never filled")
        yield f"http://{addr[0]}:{addr[1]}"
    finally:
        for c in held:
            c.close()
        listener.close()


def test_an_unanswering_server_fails_after_one_connect_timeout(unanswering: str) -> None:
    client = ds.Client(unanswering, connect_timeout=0.3)  # default retry policy: 5 retries
    t = time.monotonic()
    with pytest.raises(ds.TimeoutError) as exc:
        client.stream("/x").head()
    took = time.monotonic() - t
    assert exc.value.cause == "connect_timeout", exc.value
    assert f"cannot connect to {unanswering}/x: no answer within 300 ms (connect timeout" in str(exc.value)
    assert 0.29 <= took < 1.5, took  # retried, it would take >= 4.9 s

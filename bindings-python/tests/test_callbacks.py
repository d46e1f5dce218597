"""Dynamic headers and query parameters as Python callables (sync and async), called
for every request from the SDK's threads."""

from __future__ import annotations

import asyncio
import itertools
import threading

import pytest

import durable_streams_sdk as ds


def test_sync_callable_is_called_per_request(server_url: str, path: str) -> None:
    counter = itertools.count(1)
    threads: set[str] = set()

    def next_id() -> str:
        threads.add(threading.current_thread().name)
        return str(next(counter))

    c = ds.Client(server_url, dynamic_headers={"x-request-id": next_id}, dynamic_params={"tenant": lambda: "acme"})
    s = c.stream(path)
    s.create(content_type="text/plain")  # request 1
    r2 = s.append("a")
    r3 = s.append("b")
    assert r2.sent_headers == {"x-request-id": "2"} and r3.sent_headers == {"x-request-id": "3"}
    assert r3.sent_params == {"tenant": "acme"}
    session = s.read()
    list(session)
    assert session.sent_headers == {"x-request-id": "4"}
    assert threading.current_thread().name not in threads


def test_async_callable_with_the_blocking_client_runs_on_a_helper_loop(server_url: str, path: str) -> None:
    calls = 0

    async def token() -> str:
        nonlocal calls
        await asyncio.sleep(0.001)
        calls += 1
        return f"Bearer t{calls}"

    s = ds.Client(server_url, dynamic_headers={"authorization": token}).stream(path)
    s.create(content_type="text/plain")
    r = s.append("x")
    assert r.sent_headers == {"authorization": "Bearer t2"} and calls == 2


def test_async_callable_runs_on_the_callers_loop(server_url: str, path: str) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        loops: list[asyncio.AbstractEventLoop] = []
        n = 0

        async def token() -> str:
            nonlocal n
            loops.append(asyncio.get_running_loop())
            n += 1
            return str(n)

        c = ds.AsyncClient(server_url, dynamic_headers={"x-n": token})
        s = c.stream(path)
        await s.create(content_type="text/plain")
        r = await s.append("y")
        assert r.sent_headers == {"x-n": "2"}
        # The producer sends from a background task: the client's creating loop is used.
        async with s.producer("p") as p:
            await p.append("z")
        assert n == 3 and set(loops) == {loop}  # create, append, the producer's one batch

    asyncio.run(main())


def test_a_failing_callable_fails_the_request_with_a_typed_error(server_url: str, path: str) -> None:
    ok = ds.Client(server_url).stream(path)
    ok.create(content_type="text/plain")

    class TokenExpired(Exception):
        pass

    def broken() -> str:
        raise TokenExpired("cannot refresh")

    s = ds.Client(server_url, dynamic_headers={"authorization": broken}).stream(path)
    with pytest.raises(ds.CallbackFailedError, match="cannot refresh") as e:
        s.append("never sent")
    assert isinstance(e.value.__cause__, TokenExpired) and e.value.code == "CALLBACK_FAILED"
    bad_type = ds.Client(server_url, dynamic_headers={"x": lambda: 42}).stream(path)  # type: ignore[dict-item]
    with pytest.raises(ds.CallbackFailedError) as e2:
        bad_type.append("never sent")
    assert isinstance(e2.value.__cause__, TypeError)
    # The process and the client survive: the same stream works without the callable.
    ok.append("sent")
    assert ok.read_all() == b"sent"


def test_non_callables_are_rejected(server_url: str) -> None:
    with pytest.raises(ds.InvalidArgumentError):
        ds.Client(server_url, dynamic_headers={"x": "static"})  # type: ignore[dict-item]

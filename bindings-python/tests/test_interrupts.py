"""Cancellation: an asyncio task cancelled during a long-poll, Ctrl-C during a blocking read."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest

import durable_streams_sdk as ds


def test_cancelling_a_task_cancels_the_rust_future(server_url: str, path: str) -> None:
    async def main() -> None:
        # A long server long-poll window: without cancellation the read would sit for long.
        c = ds.AsyncClient(server_url)
        s = c.stream(path)
        await s.create(content_type="text/plain")
        session = s.read(offset="now", live="long-poll")
        first = await session.__anext__()  # establish the session (idle 204 after ~0.5 s)
        assert first.up_to_date

        async def reader() -> None:
            async for _ in session:
                pass

        task = asyncio.create_task(reader())
        await asyncio.sleep(0.2)
        start = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - start < 0.5
        # The cancelled wait took nothing: the same session goes on and gets what follows.
        await s.append("still works")
        got = b""
        while not got:
            got = bytes((await asyncio.wait_for(session.__anext__(), 5)).data)
        assert got == b"still works"
        assert await s.read_all() == b"still works"

    asyncio.run(main())


def test_asyncio_wait_for_timeout_cancels_an_append_in_flight(server_url: str, path: str, faults) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        s = ds.AsyncClient(server_url).stream(path)
        await s.create(content_type="text/plain")
        faults.inject(path, delayMs=3000, method="POST")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(s.append("slow"), timeout=0.3)

    asyncio.run(main())


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals go to the main thread")
def test_ctrl_c_interrupts_a_blocking_read(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="text/plain")
    # Long idle: the reader would block until the server's long-poll window ends.
    session = s.read(offset="now", live="sse")
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    start = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        for _ in session:  # an SSE session on an idle stream never ends by itself
            pass
    elapsed = time.monotonic() - start
    timer.join()
    assert elapsed < 0.3 + 0.5, elapsed
    # The interrupted wait took nothing: the session goes on with what follows.
    s.append("after")
    assert bytes(next(session).data) == b"after"
    assert s.read_all() == b"after"
    session.close()

"""Consumers: subclass style (blocking and asyncio) and iteration (`for` / `async for`)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import durable_streams_sdk as ds


def fill(s: ds.Stream, parts: list[str], close: bool, delay: float = 0.2) -> threading.Thread:
    def run() -> None:
        for p in parts:
            time.sleep(delay)
            s.append(p)
        if close:
            time.sleep(delay)
            s.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


class Collector(ds.Consumer):
    def __init__(self, stream: ds.Stream, **kw: object) -> None:
        super().__init__(stream, **kw)  # type: ignore[arg-type]
        self.data = b""
        self.up_to_date: list[str] = []
        self.closed_at: str | None = None
        self.threads: set[str] = set()

    def handle_batch(self, batch: ds.Chunk) -> None:
        self.threads.add(threading.current_thread().name)
        self.data += batch.data

    def handle_up_to_date(self, offset: str) -> None:
        self.up_to_date.append(offset)

    def handle_closed(self, final_offset: str) -> None:
        self.closed_at = final_offset


def test_subclass_consumer_runs_until_the_stream_closes(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="text/plain")
    s.append("a")
    t = fill(s, ["b", "c"], close=True)
    c = Collector(s, live="long-poll")
    end = c.run()
    t.join()
    assert end.reason == "closed" and end.offset == s.head().next_offset
    assert c.data == b"abc"
    assert c.closed_at == end.offset
    assert c.up_to_date  # caught up at least once
    assert c.checkpoint == end.offset
    assert threading.main_thread().name not in c.threads  # handlers run on SDK threads


def test_handler_can_stop_and_checkpoint_resumes(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="text/plain")
    first = s.append("one").next_offset

    class StopAfterFirst(ds.Consumer):
        def handle_batch(self, batch: ds.Chunk) -> bool:
            return False

    c = StopAfterFirst(s, live=False)
    end = c.run()
    assert end.reason == "stopped" and end.offset == first == c.checkpoint
    s.append("two")
    resumed = Collector(s, offset=end.offset, live=False)
    assert resumed.run().reason == "caught_up"
    assert resumed.data == b"two"


def test_handler_exception_stops_the_consumer_and_is_reraised(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="text/plain")
    s.append("x")
    seen: list[BaseException] = []

    class Broken(ds.Consumer):
        def handle_batch(self, batch: ds.Chunk) -> None:
            raise RuntimeError("handler bug")

        def handle_error(self, error: BaseException) -> None:
            seen.append(error)

    with pytest.raises(RuntimeError, match="handler bug"):
        Broken(s, live=False).run()
    assert len(seen) == 1 and isinstance(seen[0], RuntimeError)


def test_handle_error_can_retry_a_rejected_batch(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="text/plain")
    s.append("retry me")

    class Flaky(ds.Consumer):
        attempts = 0
        got = b""

        def handle_batch(self, batch: ds.Chunk) -> bool | None:
            Flaky.attempts += 1
            if Flaky.attempts == 1:
                raise ConnectionError("downstream unavailable")
            Flaky.got += batch.data
            return None

        def handle_error(self, error: BaseException) -> bool:
            return isinstance(error, ConnectionError)

    end = Flaky(s, live=False, backoff_base=0.01, backoff_max=0.05).run()
    assert end.reason == "caught_up" and Flaky.attempts == 2 and Flaky.got == b"retry me"


def test_missing_stream_ends_the_consumer_with_not_found(client: ds.Client, path: str) -> None:
    with pytest.raises(ds.StreamNotFoundError):
        Collector(client.stream(path)).run()


def test_stop_from_another_thread_while_run_blocks(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="text/plain")
    s.append("data")
    c = Collector(s, live="long-poll")
    threading.Timer(0.6, c.stop).start()
    start = time.monotonic()
    end = c.run()
    assert end.reason == "stopped" and time.monotonic() - start < 5
    assert c.data == b"data" and end.offset == s.head().next_offset


def test_background_start_pause_resume_wait(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="text/plain")
    c = Collector(s, live="long-poll")
    c.start()
    assert c.running
    s.append("1")
    time.sleep(0.5)
    c.pause()
    with pytest.raises(ds.TimeoutError):
        c.wait(timeout=0.2)
    c.resume()
    s.close()
    end = c.wait(timeout=10)
    assert end.reason == "closed" and c.data == b"1" and not c.running


def test_wait_after_the_consumer_already_ended(client: ds.Client, path: str) -> None:
    # Regression: the end used to be signalled only to waiters subscribed at that moment,
    # so a wait() that started after the consumer had ended timed out.
    s = client.stream(path)
    s.create(content_type="text/plain")
    s.append("x")
    c = Collector(s, live=False)
    c.start()
    deadline = time.monotonic() + 10
    while c.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not c.running
    end = c.wait(timeout=5)
    assert end.reason == "caught_up" and c.data == b"x"


def test_iterating_a_consumer(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="text/plain")
    s.append("a")
    t = fill(s, ["b"], close=True)
    kinds = []
    data = b""
    c = ds.Consumer(s, live="sse")
    for event in c:
        kinds.append(event.kind)
        if event.kind == "batch":
            assert event.batch is not None
            data += event.batch.data
    t.join()
    assert data == b"ab" and kinds[-1] == "closed" and "up_to_date" in kinds
    assert c.checkpoint == s.head().next_offset


def test_async_subclass_consumer(server_url: str, path: str) -> None:
    async def main() -> None:
        s = ds.AsyncClient(server_url).stream(path)
        await s.create(content_type="application/json")
        await s.append_json({"n": 1})
        loop = asyncio.get_running_loop()

        class AsyncCollector(ds.AsyncConsumer):
            items: list[object] = []
            loops: set[object] = set()

            async def handle_batch(self, batch: ds.Chunk) -> None:
                AsyncCollector.loops.add(asyncio.get_running_loop())
                await asyncio.sleep(0)
                AsyncCollector.items.extend(batch.json())

        async def writer() -> None:
            await asyncio.sleep(0.3)
            await s.append_json({"n": 2})
            await asyncio.sleep(0.2)
            await s.close()

        w = asyncio.create_task(writer())
        end = await AsyncCollector(s, live="auto").run()
        await w
        assert end.reason == "closed"
        assert AsyncCollector.items == [{"n": 1}, {"n": 2}]
        assert AsyncCollector.loops == {loop}  # coroutine handlers run on the caller's loop

    asyncio.run(main())


def test_async_for_over_a_consumer(server_url: str, path: str) -> None:
    async def main() -> tuple[list[str], bytes]:
        s = ds.AsyncClient(server_url).stream(path)
        await s.create(content_type="text/plain")
        await s.append("x")

        async def writer() -> None:
            await asyncio.sleep(0.3)
            await s.append("y")
            await asyncio.sleep(0.2)
            await s.close()

        w = asyncio.create_task(writer())
        kinds, data = [], b""
        async for event in ds.AsyncConsumer(s, live="long-poll"):
            kinds.append(event.kind)
            if event.batch is not None:
                data += event.batch.data
        await w
        return kinds, data

    kinds, data = asyncio.run(main())
    assert data == b"xy" and kinds[-1] == "closed"

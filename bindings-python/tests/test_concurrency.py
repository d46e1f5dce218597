"""Several callers on one object at once: producer order per caller across threads and
asyncio tasks, concurrent ``next`` on one read iterator, and close() == ``with`` exit."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import defaultdict

import pytest

import durable_streams_sdk as ds

PER_CALLER = 2000


def read_back(s: ds.Stream) -> list[dict[str, int]]:
    data: list[dict[str, int]] = json.loads(s.read_all())
    return data


def assert_each_caller_in_order(items: list[dict[str, int]], callers: list[str]) -> None:
    seen: dict[str, list[int]] = defaultdict(list)
    for item in items:
        seen[str(item["c"])].append(item["n"])
    assert sorted(seen) == sorted(callers)
    for c in callers:
        # Nothing lost, nothing duplicated, and in the order the caller appended.
        assert seen[c] == list(range(PER_CALLER)), c


def test_threads_and_tasks_append_at_once(client: ds.Client, server_url: str, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="application/json")
    # A small buffer: callers also meet back-pressure, where order must still hold.
    producer = s.producer("many-callers", buffer_limit_bytes=4096, linger=0.001)
    aproducer = ds.AsyncClient(server_url).stream(path).producer("many-callers-async", buffer_limit_bytes=4096)
    barrier = threading.Barrier(5)

    def thread(c: str) -> None:
        barrier.wait()
        for n in range(PER_CALLER):
            if n % 100 == 0:
                producer.append_json_many([{"c": c, "n": n + k} for k in range(10)])
            elif n % 100 < 10:
                continue  # sent by the batch call above
            else:
                producer.append_json({"c": c, "n": n})

    def tasks() -> None:
        async def task(c: str) -> None:
            for n in range(PER_CALLER):
                await aproducer.append_json({"c": c, "n": n})
                if n % 97 == 0:
                    await asyncio.sleep(0)  # let the other tasks interleave

        async def main() -> None:
            barrier.wait()
            await asyncio.gather(*(task(f"task{i}") for i in range(3)))
            await aproducer.flush()

        asyncio.run(main())

    workers = [threading.Thread(target=thread, args=(f"thread{i}",)) for i in range(4)]
    workers.append(threading.Thread(target=tasks))
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    producer.flush()
    items = read_back(s)
    assert len(items) == 7 * PER_CALLER
    assert_each_caller_in_order(items, [f"thread{i}" for i in range(4)] + [f"task{i}" for i in range(3)])


def test_concurrent_next_gives_each_chunk_to_one_caller(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="text/plain")
    for n in range(200):
        s.append(f"{n:04d}")
    session = s.read(max_chunk_bytes=4)  # one message per chunk
    got: list[list[bytes]] = [[] for _ in range(6)]
    barrier = threading.Barrier(len(got))

    def reader(i: int) -> None:
        barrier.wait()
        for chunk in session:
            if chunk.data:
                got[i].append(bytes(chunk.data))

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(len(got))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [d for g in got for d in g]
    assert sorted(every) == [f"{n:04d}".encode() for n in range(200)]  # each exactly once
    for g in got:
        assert g == sorted(g)  # each caller sees its chunks in stream order
    assert session.done


def test_concurrent_async_next(server_url: str, path: str) -> None:
    async def main() -> list[bytes]:
        s = ds.AsyncClient(server_url).stream(path)
        await s.create(content_type="text/plain")
        for n in range(100):
            await s.append(f"{n:04d}")
        session = s.read(max_chunk_bytes=4)

        async def reader() -> list[bytes]:
            return [bytes(c.data) async for c in session]

        parts = await asyncio.gather(*(reader() for _ in range(5)))
        return [d for p in parts for d in p if d]

    assert sorted(asyncio.run(main())) == [f"{n:04d}".encode() for n in range(100)]


def test_not_json_serialisable_is_invalid_argument(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="application/json")
    with s.producer("p") as p:
        with pytest.raises(ds.InvalidArgumentError) as e:
            p.append_json({"when": object()})
        assert e.value.field == "value" and isinstance(e.value, ValueError)
        with pytest.raises(ds.InvalidArgumentError):
            p.append_json_many([1, {2}])
        p.append_json({"ok": True})
    with pytest.raises(ds.InvalidArgumentError):
        s.append_json(float("nan"))
    assert read_back(s) == [{"ok": True}]


def test_close_and_with_exit_are_the_same(server_url: str, path: str) -> None:
    c = ds.Client(server_url)
    c.close()
    with ds.Client(server_url) as w:
        pass
    for closed in (c, w):
        assert closed.closed
        with pytest.raises(ds.ClosedError):
            closed.stream(path)
    c.close()  # again: nothing happens

    async def main() -> None:
        a = ds.AsyncClient(server_url)
        await a.close()
        async with ds.AsyncClient(server_url) as b:
            pass
        for closed in (a, b):
            assert closed.closed
            with pytest.raises(ds.ClosedError):
                closed.stream(path)

    asyncio.run(main())


def test_close_ends_what_the_client_made(server_url: str, path: str) -> None:
    # The same as Node's client.close(): producers flush and detach, live reads end,
    # every later call through the client's streams fails with ClosedError.
    c = ds.Client(server_url)
    s = c.stream(path)
    s.create(content_type="application/json")
    p = s.producer("closer", linger=30.0)  # holds everything until flushed
    for i in range(50):
        p.append_json({"n": i})
    live = s.read(offset="now", live="sse")
    got: list[object] = []
    reader = threading.Thread(target=lambda: got.extend(live))
    reader.start()

    class Idle(ds.Consumer):
        def handle_batch(self, batch: ds.Chunk) -> None:
            pass

    pushed = Idle(s, offset="now", live="sse")
    pushed.start()
    c.close()
    reader.join(5)
    assert not reader.is_alive(), "a live read ends when its client closes"
    assert pushed.wait(5).reason == "stopped"
    assert len(read_back(ds.Client(server_url).stream(path))) == 50
    for call in (lambda: s.head(), lambda: s.append_json(1), lambda: s.read_all(), lambda: p.append_json(1),
                 lambda: list(s.read()), lambda: s.producer("late")):
        with pytest.raises(ds.ClosedError):
            call()

    async def main() -> None:
        a = ds.AsyncClient(server_url)
        ap = a.stream(path).producer("async-closer", linger=30.0)
        for i in range(5):
            await ap.append_json({"m": i})
        async with a:
            pass
        with pytest.raises(ds.ClosedError):
            await ap.append_json(1)
        with pytest.raises(ds.ClosedError):
            a.stream(path)
        assert len(read_back(ds.Client(server_url).stream(path))) == 55

    asyncio.run(main())

"""asyncio reads that wait in the event loop (src/aio_wait.rs, src/wake.rs): an
``__anext__`` with nothing ready returns a ``Pending`` awaitable that is told through the
loop's wake-up descriptor and takes its chunk only when its task resumes."""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading

import pytest

import durable_streams_sdk as ds
from durable_streams_sdk import _native


def is_pending(aw: object) -> bool:
    return isinstance(aw, _native.Pending)


def test_a_wait_told_then_cancelled_takes_nothing(server_url: str, path: str, faults) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        s = ds.AsyncClient(server_url).stream(path)
        await s.create(content_type="text/plain")
        session = s.read(offset="-1", live="sse")  # the stream is empty
        faults.inject(path, delayMs=300, count=1, method="GET")  # nothing can be ready at once
        aw = session.__anext__()
        assert is_pending(aw)
        it = aw.__await__()
        fut = it.send(None)  # what a task would wait on
        before = session.offset
        await s.append("kept")
        await asyncio.wait_for(asyncio.shield(fut), 5)  # told: a chunk can be taken now
        with pytest.raises(asyncio.CancelledError):
            it.throw(asyncio.CancelledError())  # cancelled before resuming
        assert session.offset == before  # nothing was taken
        got = b""
        for _ in range(20):  # up-to-date markers may come first
            got = bytes((await asyncio.wait_for(session.__anext__(), 5)).data)
            if got:
                break
        assert got == b"kept"
        assert session.offset != before
        session.close()

    asyncio.run(main())


def test_pending_waits_are_served_in_call_order(server_url: str, path: str) -> None:
    async def main() -> list[bytes]:
        s = ds.AsyncClient(server_url).stream(path)
        await s.create(content_type="text/plain")
        await s.append("abcdef")
        session = s.read(max_chunk_bytes=1)
        waits = [session.__anext__() for _ in range(6)]
        if is_pending(waits[0]):  # a new session has nothing ready yet (unless preempted)
            assert all(is_pending(w) for w in waits)  # later calls queue behind the first
        # Awaited in reverse: still served in call order.
        got = [bytes(c.data) for c in reversed(await asyncio.gather(*reversed(waits)))]
        with pytest.raises(StopAsyncIteration):
            while True:
                assert (await session.__anext__()).data == b""
        return got

    assert asyncio.run(main()) == [b"a", b"b", b"c", b"d", b"e", b"f"]


def test_a_cancelled_wait_leaves_the_queue_to_the_next(server_url: str, path: str) -> None:
    async def main() -> None:
        s = ds.AsyncClient(server_url).stream(path)
        await s.create(content_type="text/plain")
        session = s.read(offset="-1", live="long-poll")  # the stream is empty
        assert (await session.__anext__()).up_to_date  # caught up: the next request waits
        first = asyncio.ensure_future(session.__anext__())
        second = asyncio.ensure_future(session.__anext__())
        await asyncio.sleep(0.05)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        await s.append("to the second")
        chunk = await asyncio.wait_for(second, 5)
        for _ in range(20):  # an idle long-poll answers empty
            if chunk.data:
                break
            chunk = await asyncio.wait_for(session.__anext__(), 5)
        assert bytes(chunk.data) == b"to the second"
        session.close()

    asyncio.run(main())


def test_an_error_while_pending_is_typed(server_url: str, path: str, faults) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        faults.inject(path, delayMs=300, count=1, method="GET")
        session = ds.AsyncClient(server_url).stream(path).read()  # no such stream
        aw = session.__anext__()
        assert is_pending(aw)
        with pytest.raises(ds.StreamNotFoundError):
            await aw
        with pytest.raises(StopAsyncIteration):
            await session.__anext__()

    asyncio.run(main())


def test_close_ends_a_pending_wait(server_url: str, path: str) -> None:
    async def main() -> None:
        s = ds.AsyncClient(server_url).stream(path)
        await s.create(content_type="text/plain")
        session = s.read(offset="now", live="sse")
        waits = [asyncio.ensure_future(session.__anext__()) for _ in range(3)]
        await asyncio.sleep(0.1)
        session.close()
        for w in waits:
            try:
                chunk = await asyncio.wait_for(w, 5)
                assert chunk.data == b""  # an up-to-date marker taken before the close
            except StopAsyncIteration:
                pass
        assert session.done

    asyncio.run(main())


def test_many_pieces_arrive_whole_and_in_order(server_url: str, path: str) -> None:
    data = os.urandom(3 << 20)

    async def main() -> tuple[bytes, int]:
        s = ds.AsyncClient(server_url).stream(path)
        await s.create(content_type="application/octet-stream")
        for i in range(0, len(data), 256 << 10):
            await s.append(data[i : i + (256 << 10)])
        got, pending = [], 0
        session = s.read(max_chunk_bytes=16 << 10)
        while True:
            aw = session.__anext__()
            pending += is_pending(aw)
            try:
                got.append(bytes((await aw).data))
            except StopAsyncIteration:
                return b"".join(got), pending

    got, pending = asyncio.run(main())
    assert got == data
    assert pending > 0  # the waiting path was used, not only ready chunks


def test_a_dropped_wait_does_not_block_the_next(server_url: str, path: str, faults) -> None:  # type: ignore[no-untyped-def]
    async def main() -> bytes:
        s = ds.AsyncClient(server_url).stream(path)
        await s.create(content_type="text/plain")
        await s.append("x")
        faults.inject(path, delayMs=300, count=1, method="GET")
        session = s.read()
        aw = session.__anext__()
        assert is_pending(aw)
        del aw  # never awaited
        return bytes((await asyncio.wait_for(session.__anext__(), 5)).data)

    assert asyncio.run(main()) == b"x"


def test_one_wake_up_socket_per_loop_and_none_left_by_closed_loops(server_url: str, path: str) -> None:
    async def read_twice() -> None:
        s = ds.AsyncClient(server_url).stream(path)
        for _ in range(2):
            async for _ in s.read():
                pass

    async def create() -> None:
        await ds.AsyncClient(server_url).stream(path).create(content_type="text/plain")

    asyncio.run(create())
    asyncio.run(read_twice())
    fds = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        asyncio.run(read_twice())
    assert len(os.listdir("/proc/self/fd")) <= fds + 4


def test_many_sessions_on_one_loop_miss_no_wake_up(server_url: str, path: str) -> None:
    # Wakes from several runtime threads race the loop draining its wake-up socket; a
    # lost one leaves a session waiting for good (it did: the flag saying "a byte is in
    # the socket" was cleared before the drain, and stayed set with the socket empty).
    streams, per_stream = 20, 100
    paths = [f"{path}/{i}" for i in range(streams)]
    client = ds.Client(server_url)
    for p in paths:
        client.stream(p).create(content_type="text/plain")

    def write(mine: list[str]) -> None:
        for n in range(per_stream):
            for p in mine:
                client.stream(p).append(f"{n};")

    async def follow(session: ds.AsyncReadSession) -> int:
        got = 0
        async for chunk in session:
            got += bytes(chunk.data).count(b";")
            if got == per_stream:
                break
        return got

    async def main() -> list[int]:
        aclient = ds.AsyncClient(server_url)
        sessions = [aclient.stream(p).read(offset="-1", live="sse") for p in paths]
        tasks = [asyncio.ensure_future(follow(s)) for s in sessions]
        await asyncio.sleep(0.3)  # every session waiting
        writers = [threading.Thread(target=write, args=(paths[i::4],)) for i in range(4)]
        for w in writers:
            w.start()
        try:
            done, _ = await asyncio.wait(tasks, timeout=20)
            return [t.result() if t in done else -1 for t in tasks]
        finally:
            for t in tasks:
                t.cancel()
            for s in sessions:
                s.close()
            await asyncio.to_thread(lambda: [w.join() for w in writers])

    assert asyncio.run(main()) == [per_stream] * streams  # -1: a session never saw its data


class CountingLoop(asyncio.SelectorEventLoop):
    """Counts its iterations (``_run_once`` is the loop's one step)."""

    iterations = 0

    def _run_once(self) -> None:
        self.iterations += 1
        super()._run_once()  # type: ignore[misc]


def test_a_told_wait_resumes_in_the_wake_up_iteration(server_url: str, path: str) -> None:
    # Told through the wake-up descriptor, the waiting task resumes in that same loop
    # iteration (with an asyncio future it resumed one iteration later): each wait costs
    # one loop iteration, which was most of asyncio's CPU over the blocking API.
    async def main() -> list[int]:
        s = ds.AsyncClient(server_url).stream(path)
        await s.create(content_type="text/plain")
        session = s.read(offset="-1", live="sse")
        while (await session.__anext__()).data:  # to the (empty) tail
            pass
        loop = asyncio.get_running_loop()
        writer = ds.Client(server_url).stream(path)
        spent = []
        for i in range(10):
            aw = session.__anext__()
            if not is_pending(aw):
                await aw
                continue
            # Appended from another thread while this task waits; the loop idles meanwhile.
            t = threading.Timer(0.02, writer.append, (f"{i};",))
            t.start()
            before = loop.iterations  # type: ignore[attr-defined]
            await aw
            spent.append(loop.iterations - before)  # type: ignore[attr-defined]
            t.join()
        session.close()
        return spent

    loop = CountingLoop()
    try:
        spent = loop.run_until_complete(asyncio.wait_for(main(), 30))
    finally:
        loop.close()
    assert len(spent) >= 5
    assert sorted(spent)[len(spent) // 2] == 1, spent  # the median wait: one iteration


def test_a_wait_resumes_in_its_task_context(server_url: str, path: str) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    async def reader(session: ds.AsyncReadSession) -> str:
        var.set("the task's")
        got = b""
        while not got:
            got = bytes((await session.__anext__()).data)  # waits: nothing written yet
        return var.get()

    async def main() -> str:
        s = ds.AsyncClient(server_url).stream(path)
        await s.create(content_type="text/plain")
        session = s.read(offset="-1", live="sse")
        task = asyncio.ensure_future(reader(session))
        await asyncio.sleep(0.2)
        await s.append("x")
        try:
            return await asyncio.wait_for(task, 5)
        finally:
            session.close()

    assert asyncio.run(main()) == "the task's"


def test_a_timed_out_wait_takes_nothing(server_url: str, path: str) -> None:
    async def main() -> bytes:
        s = ds.AsyncClient(server_url).stream(path)
        await s.create(content_type="text/plain")
        session = s.read(offset="-1", live="long-poll")
        assert (await session.__anext__()).up_to_date
        before = session.offset
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(session.__anext__(), 0.05)  # cancelled while waiting
        assert session.offset == before
        await s.append("after")
        got = b""
        while not got:
            got = bytes((await asyncio.wait_for(session.__anext__(), 5)).data)
        session.close()
        return got

    assert asyncio.run(main()) == b"after"


def test_keyboard_interrupt_in_a_resumed_task_stops_the_loop(server_url: str, path: str) -> None:
    # A task resumed by the wake-up callback runs inside it: what its step raises past
    # the task (KeyboardInterrupt, SystemExit) must leave the loop as it does elsewhere.
    async def interrupted(session: ds.AsyncReadSession) -> None:
        got = b""
        while not got:
            got = bytes((await session.__anext__()).data)  # waits: nothing written yet
        raise KeyboardInterrupt

    async def main() -> None:
        s = ds.AsyncClient(server_url).stream(path)
        await s.create(content_type="text/plain")
        session = s.read(offset="-1", live="sse")
        task = asyncio.ensure_future(interrupted(session))
        await asyncio.sleep(0.2)
        await s.append("x")
        try:
            await asyncio.sleep(10)  # the interrupt ends the loop before this
        finally:
            session.close()
            task.cancel()

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(main())

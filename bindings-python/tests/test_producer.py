"""The idempotent producer: non-blocking append, acknowledgements, flush, close,
context managers, fencing and the error callback; blocking and asyncio."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

import durable_streams_sdk as ds


def test_append_flush_ack(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="application/json")
    p = s.producer("writer-1", linger=0.001)
    start = time.monotonic()
    for i in range(500):
        assert p.append_json({"i": i}) is None
    enqueue_time = time.monotonic() - start
    ack = p.append_json({"i": 500}, ack=True)
    assert isinstance(ack, ds.AppendAck)
    acked = ack.result(timeout=10)
    assert ack.done()
    assert acked.epoch == 0 and not acked.duplicate and acked.next_offset
    p.flush()
    assert [m["i"] for m in s.read().json()] == list(range(501))
    # Batching: far fewer requests than messages.
    assert p.next_seq < 100
    p.detach()
    assert enqueue_time < 2.0
    with pytest.raises(ds.ClosedError):
        p.append_json({"late": True})


def test_context_manager_flushes_and_detaches(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="text/plain")
    with s.producer("cm") as p:
        for i in range(20):
            p.append(f"{i};")
    assert s.read_all().count(b";") == 20
    assert not s.head().closed  # detached, not closed
    with pytest.raises(ds.ClosedError):
        p.append("after exit")


def test_context_manager_on_exception_flushes_and_reraises(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="text/plain")
    with pytest.raises(KeyError):
        with s.producer("boom") as p:
            p.append("kept")
            raise KeyError("user error")
    assert s.read_all() == b"kept"


def test_close_closes_the_stream(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="application/json")
    with s.producer("closer") as p:
        p.append_json("first")
        res = p.close(data='"last"')
        assert res.final_offset == s.head().next_offset
        assert p.close().final_offset == res.final_offset  # repeating a close is harmless
    assert s.head().closed
    assert json.loads(s.read_all()) == ["first", "last"]


def test_stale_epoch_fails_the_old_producer(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="text/plain")
    errors: list[tuple[BaseException, list[bytes]]] = []
    got_error = threading.Event()

    def on_error(err: BaseException, msgs: list[bytes]) -> None:
        errors.append((err, msgs))
        got_error.set()

    old = s.producer("shared-id", epoch=0, on_error=on_error)
    old.append("from old")
    old.flush()
    new = s.producer("shared-id", epoch=1)
    new.append("from new")
    new.flush()
    old.append("fenced")
    with pytest.raises(ds.StaleEpochError) as e:
        old.flush()
    assert e.value.current_epoch == 1 and e.value.status == 403
    assert got_error.wait(5)
    err, msgs = errors[0]
    assert isinstance(err, ds.StaleEpochError) and msgs == [b"fenced"]
    # auto_claim takes over instead of failing.
    claimer = s.producer("shared-id", epoch=0, auto_claim=True)
    claimer.append("claimed")
    claimer.flush()
    assert claimer.epoch == 2
    assert s.read_all() == b"from oldfrom newclaimed"


def test_small_buffer_waits_instead_of_failing(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="application/octet-stream")
    # The core charges each buffered message its bytes plus a fixed overhead (96 bytes),
    # so this limit holds two of these 16-byte messages at a time.
    with s.producer("tiny", buffer_limit_bytes=256, max_batch_bytes=32) as p:
        for _ in range(100):
            p.append(b"0123456789abcdef")  # blocks (GIL released) while the buffer is full
    assert len(s.read_all()) == 1600


def test_producer_option_validation(client: ds.Client) -> None:
    s = client.stream("/validate")
    with pytest.raises(ds.InvalidArgumentError) as e:
        s.producer("x", max_batch_items=0)
    assert e.value.field == "max_batch_items"
    with pytest.raises(ds.InvalidArgumentError):
        s.producer("")
    with pytest.raises(ds.InvalidArgumentError):
        s.producer("x", epoch=-1)
    # Seconds in Python; the core checks it and names it the Python way.
    with pytest.raises(ds.InvalidArgumentError) as e:
        s.producer("x", delivery_timeout=0)
    assert e.value.field == "delivery_timeout"


def test_async_producer(server_url: str, path: str) -> None:
    async def main() -> None:
        s = ds.AsyncClient(server_url).stream(path)
        await s.create(content_type="application/json")
        async with s.producer("async-writer") as p:
            for i in range(100):
                await p.append_json(i)
            ack = await p.append_json(100, ack=True)
            assert isinstance(ack, ds.AppendAck)
            acked = await ack
            assert acked.seq >= 0 and acked.next_offset
            await p.flush()
        assert json.loads(await s.read_all()) == list(range(101))

        p2 = s.producer("async-closer")
        await p2.append(b'"end"')
        res = await p2.close()
        assert res.final_offset == (await s.head()).next_offset
        assert (await s.head()).closed

        with pytest.raises(ValueError):
            async with s.producer("async-boom") as p3:
                await p3.append_json("x")
                raise ValueError("user error")

    asyncio.run(main())


def test_async_producer_many_pending_acks(server_url: str, path: str) -> None:
    async def main() -> list[int]:
        s = ds.AsyncClient(server_url).stream(path, content_type="text/plain")
        await s.create(content_type="text/plain")
        p = s.producer("acks", max_in_flight=3, max_batch_items=10)
        acks = [await p.append(f"{i},", ack=True) for i in range(50)]
        results = await asyncio.gather(*acks)  # type: ignore[arg-type]
        await p.detach()
        return [r.seq for r in results]

    seqs = asyncio.run(main())
    assert seqs == sorted(seqs) and seqs[-1] >= 4


def test_async_settled_ack_awaits_without_a_loop_trip(server_url: str, path: str) -> None:
    # An acknowledgement whose outcome is known is awaited at once: a callback scheduled
    # on the loop before the await has not run after it (it used to: each await was a
    # round trip through the runtime and the loop). Failed ones raise their typed error
    # the same way, and awaiting twice gives the same outcome.
    async def main() -> None:
        s = ds.AsyncClient(server_url).stream(path)
        await s.create(content_type="text/plain")
        p = s.producer("settled", epoch=0)
        acks = [await p.append(f"{i};", ack=True) for i in range(20)]
        await p.flush()
        assert all(a.done() for a in acks)
        ran: list[bool] = []
        asyncio.get_running_loop().call_soon(ran.append, True)
        results = [await a for a in acks]
        assert not ran
        assert [r.seq for r in results] == sorted(r.seq for r in results)
        assert (await acks[-1]).next_offset == results[-1].next_offset

        new = s.producer("settled", epoch=1)
        await new.append("from new")
        await new.flush()
        fenced = await p.append("fenced", ack=True)
        with pytest.raises(ds.StaleEpochError):
            await p.flush()
        assert fenced.done()
        ran.clear()  # the first callback ran during the awaits above
        asyncio.get_running_loop().call_soon(ran.append, True)
        for _ in range(2):
            with pytest.raises(ds.StaleEpochError) as e:
                await fenced
            assert e.value.current_epoch == 1
        assert not ran
        await new.detach()

    asyncio.run(main())


def test_async_accepted_appends_share_one_awaitable(server_url: str, path: str) -> None:
    # Accepted enqueues all return one shared, stateless awaitable (no allocation per
    # message): awaiting it any number of times, also through gather, gives None.
    async def main() -> None:
        s = ds.AsyncClient(server_url).stream(path)
        await s.create(content_type="application/json")
        p = s.producer("shared-awaitable")
        a, b = p.append_json(0), p.append_json(1)
        assert a is b
        assert await a is None and await b is None and await a is None
        assert await asyncio.gather(*[p.append_json(i) for i in range(2, 10)]) == [None] * 8
        await p.flush()
        assert json.loads(await s.read_all()) == list(range(10))
        await p.detach()

    asyncio.run(main())


def test_settled_ack_result_still_checks_its_timeout(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="text/plain")
    p = s.producer("settled-sync")
    ack = p.append("x", ack=True)
    p.flush()
    assert ack.done()
    assert ack.result().seq == ack.result(timeout=1).seq
    with pytest.raises(ds.InvalidArgumentError):
        ack.result(timeout=-1)
    p.detach()


def test_async_pending_flush_cancel_and_await_again(server_url: str, path: str, faults) -> None:  # type: ignore[no-untyped-def]
    # A flush that waits (its batch is held 300 ms by the server) lets the loop run,
    # can be awaited by several tasks and again afterwards (as an asyncio future can),
    # and a cancelled wait leaves the producer working: nothing lost, nothing twice.
    async def main() -> None:
        s = ds.AsyncClient(server_url).stream(path)
        await s.create(content_type="application/json")
        p = s.producer("pending-flush")
        faults.inject(path, delayMs=300, count=1, method="POST")
        await p.append_json(1)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        f = p.flush()
        both = asyncio.gather(asyncio.ensure_future(f), asyncio.ensure_future(f))
        assert await both == [None, None]
        assert await f is None
        assert ticks >= 5, ticks  # the loop ran while the flush waited

        faults.inject(path, delayMs=300, count=1, method="POST")
        await p.append_json(2)
        waiting = asyncio.create_task(p.flush())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await p.append_json(3)
        await p.flush()
        ticker.cancel()
        assert json.loads(await s.read_all()) == [1, 2, 3]
        await p.detach()

    asyncio.run(main())


def test_async_pending_ack_and_back_pressure_in_order(server_url: str, path: str) -> None:
    # Acknowledgements awaited before they land, and appends that wait for buffer room
    # (a buffer of a few messages), from several tasks: every task's messages in its
    # order, each once, and each awaited ack is its own message's.
    async def main() -> None:
        s = ds.AsyncClient(server_url).stream(path)
        await s.create(content_type="application/json")
        p = s.producer("pending-acks", buffer_limit_bytes=600, max_batch_items=3)

        async def writer(c: int) -> list[int]:
            seqs = []
            for n in range(40):
                if n % 10 == 9:
                    acked = await (await p.append_json({"c": c, "n": n}, ack=True))
                    seqs.append(acked.seq)
                else:
                    await p.append_json({"c": c, "n": n})
            return seqs

        per_task = await asyncio.gather(*[writer(c) for c in range(4)])
        await p.flush()
        got = json.loads(await s.read_all())
        for c in range(4):
            assert [m["n"] for m in got if m["c"] == c] == list(range(40))
            assert per_task[c] == sorted(per_task[c])
        assert len(got) == 160
        await p.detach()

    asyncio.run(main())

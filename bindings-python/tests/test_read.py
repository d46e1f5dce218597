"""Read sessions: catch-up and every live mode, chunks and JSON items, blocking and asyncio."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import durable_streams_sdk as ds

LIVE_MODES = ["long-poll", "sse", "auto", True]


def writer_thread(s: ds.Stream, parts: list[str], close: bool = True, delay: float = 0.25) -> threading.Thread:
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


def test_catch_up_read_ends_when_up_to_date(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="text/plain")
    s.append("one,")
    s.append("two")
    session = s.read()
    chunks = list(session)
    assert b"".join(c.data for c in chunks) == b"one,two"
    assert chunks[-1].up_to_date and not chunks[-1].stream_closed
    assert session.done
    assert session.offset == s.head().next_offset
    # Resume from the saved offset: nothing new.
    assert b"".join(c.data for c in s.read(offset=session.offset)) == b""


@pytest.mark.parametrize("live", LIVE_MODES)
def test_live_read_follows_the_stream_until_closed(client: ds.Client, path: str, live: object) -> None:
    s = client.stream(path)
    s.create(content_type="text/plain")
    s.append("a")
    t = writer_thread(s, ["b", "c"])
    chunks = []
    with s.read(live=live) as session:  # type: ignore[arg-type]
        for chunk in session:
            chunks.append(chunk)
    t.join()
    assert b"".join(c.data for c in chunks) == b"abc"
    assert chunks[-1].stream_closed
    assert any(c.up_to_date for c in chunks)


@pytest.mark.parametrize("live", ["long-poll", "sse"])
def test_live_read_from_now_sees_only_new_data(client: ds.Client, path: str, live: str) -> None:
    s = client.stream(path)
    s.create(content_type="application/octet-stream")
    s.append(b"\x00old")
    writer_thread(s, [], close=False)
    t = threading.Thread(target=lambda: (time.sleep(0.3), s.append(b"\xff\x00new"), time.sleep(0.2), s.close()))
    t.start()
    data = b"".join(c.data for c in s.read(offset="now", live=live))
    t.join()
    assert data == b"\xff\x00new"  # binary data survives SSE (base64 on the wire)


def test_idle_long_poll_yields_an_empty_up_to_date_chunk(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="text/plain")
    s.append("x")
    session = s.read(offset="now", live="long-poll")
    chunk = next(session)
    assert chunk.status == 204 and chunk.up_to_date and chunk.data == b"" and len(chunk) == 0
    assert chunk.next_offset == s.head().next_offset
    session.close()
    assert list(session) == []


def test_close_ends_a_read_in_flight(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="text/plain")
    session = s.read(offset="now", live="sse")
    threading.Timer(0.3, session.close).start()
    start = time.monotonic()
    chunks = list(session)  # the blocked read ends as if the session had ended
    assert b"".join(c.data for c in chunks) == b"" and all(c.up_to_date for c in chunks)
    assert time.monotonic() - start < 2 and session.done


@pytest.mark.parametrize("live", [False, "long-poll", "sse"])
def test_json_items(client: ds.Client, path: str, live: object) -> None:
    s = client.stream(path)
    s.create(content_type="application/json")
    s.append_json_batch([{"i": 0}, {"i": 1}])
    if live:
        t = threading.Thread(target=lambda: (time.sleep(0.3), s.append_json({"i": 2}), time.sleep(0.2), s.close()))
        t.start()
    items = list(s.read(live=live).json())  # type: ignore[arg-type]
    assert items == [{"i": 0}, {"i": 1}] + ([{"i": 2}] if live else [])
    chunk = next(iter(s.read()))
    assert chunk.json() == [{"i": 0}, {"i": 1}] + ([{"i": 2}] if live else [])
    assert chunk.items is not None and chunk.items[0] == b'{"i":0}'


def test_json_on_a_byte_stream_is_refused(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="text/plain")
    s.append("not json")
    with pytest.raises(ds.InvalidArgumentError):
        list(s.read().json())


def test_async_json_items_match_the_blocking_iterator(server_url: str, path: str) -> None:
    values = [{"i": i, "p": "x" * (i % 50)} for i in range(3000)]
    blocking = ds.Client(server_url).stream(path)
    blocking.create(content_type="application/json")
    blocking.append_json_batch(values)
    blocking_items = list(blocking.read(max_chunk_bytes=4096).json())

    async def main() -> None:
        s = ds.AsyncClient(server_url).stream(path)
        items = s.read(max_chunk_bytes=4096).json()  # many partial pieces per response
        assert isinstance(items, ds.AsyncJsonIterator)
        got = [v async for v in items]
        assert got == blocking_items == values
        assert items.offset == (await s.head()).next_offset
        with pytest.raises(StopAsyncIteration):
            await items.__anext__()
        bytes_stream = ds.AsyncClient(server_url).stream(path + "-text")
        await bytes_stream.create(content_type="text/plain")
        await bytes_stream.append("not json")
        with pytest.raises(ds.InvalidArgumentError):
            [v async for v in bytes_stream.read().json()]

    asyncio.run(main())


def test_large_responses_come_in_partial_chunks(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="application/octet-stream")
    blob = bytes(range(256)) * 400
    s.append(blob)
    # A soft limit: the core cuts at network-read granularity once the limit is reached.
    chunks = list(s.read(max_chunk_bytes=1000))
    assert len(chunks) >= 5
    assert b"".join(c.data for c in chunks) == blob
    assert all(c.partial for c in chunks[:-1]) and not chunks[-1].partial


def test_offset_follows_taken_chunks_not_read_ahead(client: ds.Client, path: str) -> None:
    # The session reads ahead in the background; its offset and cursor describe what
    # the caller has taken, and only complete (non-partial) chunks move the offset.
    s = client.stream(path)
    s.create(content_type="application/octet-stream")
    s.append(bytes(range(256)) * 400)
    session = s.read(live="long-poll", max_chunk_bytes=1000)
    start = session.offset
    first = next(session)
    assert first.partial and session.offset == start
    rest = [first]
    while rest[-1].partial:
        rest.append(next(session))
    tail1 = rest[-1].next_offset
    assert session.offset == tail1 and session.cursor == rest[-1].cursor
    s.append(b"b")
    s.append(b"c")
    time.sleep(0.5)  # both appends are read ahead by now
    assert session.offset == tail1
    got = next(session)
    while got.status == 204:  # an idle long-poll may come in between
        got = next(session)
    assert session.offset == got.next_offset != tail1
    session.close()
    assert list(session) == [] and session.offset == got.next_offset


def test_async_offset_follows_taken_chunks(server_url: str, path: str) -> None:
    async def main() -> None:
        s = ds.AsyncClient(server_url).stream(path)
        await s.create(content_type="application/json")
        for i in range(3):
            await s.append_json({"i": i})
        session = s.read(live="sse")
        seen: list[object] = []
        async for chunk in session:
            seen += chunk.json()
            assert session.offset == chunk.next_offset
            if len(seen) == 3:
                break
        await asyncio.sleep(0.3)
        await s.append_json({"i": 3})
        await asyncio.sleep(0.3)  # read ahead, not taken
        assert session.offset == chunk.next_offset
        items = session.json()
        assert await items.__anext__() == {"i": 3}
        assert session.offset != chunk.next_offset
        session.close()

    asyncio.run(main())


def test_read_errors(client: ds.Client, path: str) -> None:
    with pytest.raises(ds.StreamNotFoundError) as e:
        next(client.stream(path).read(offset="now", live="long-poll"))
    assert e.value.status == 404 and path in str(e.value)
    s = client.stream(path)
    s.create(content_type="text/plain")
    with pytest.raises(ds.InvalidOffsetError) as e2:
        list(s.read(offset="not-a-valid-offset"))
    assert e2.value.status == 400


@pytest.mark.parametrize("live", LIVE_MODES)
def test_async_live_read(server_url: str, path: str, live: object) -> None:
    async def main() -> None:
        c = ds.AsyncClient(server_url)
        s = c.stream(path)
        await s.create(content_type="text/plain")
        await s.append("a")

        async def writer() -> None:
            for part in ["b", "c"]:
                await asyncio.sleep(0.25)
                await s.append(part)
            await asyncio.sleep(0.25)
            await s.close()

        w = asyncio.create_task(writer())
        chunks = []
        async with s.read(live=live) as session:  # type: ignore[arg-type]
            async for chunk in session:
                chunks.append(chunk)
        await w
        assert b"".join(ch.data for ch in chunks) == b"abc"
        assert chunks[-1].stream_closed
        assert session.done

    asyncio.run(main())


def test_async_json_items(server_url: str, path: str) -> None:
    async def main() -> list[object]:
        s = ds.AsyncClient(server_url).stream(path)
        await s.create(content_type="application/json")
        await s.append_json_batch(list(range(5)))

        async def later() -> None:
            await asyncio.sleep(0.3)
            await s.append_json_batch([5, 6])
            await s.close()

        t = asyncio.create_task(later())
        out = [item async for item in s.read(live="sse").json()]
        await t
        return out

    assert asyncio.run(main()) == list(range(7))

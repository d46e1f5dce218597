"""One-request operations, blocking and asyncio, against the reference server."""

from __future__ import annotations

import asyncio

import pytest

import durable_streams_sdk as ds
from conftest import raw_get


def test_create_append_head_read_all_close_delete(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    created = s.create(content_type="text/plain")
    assert created.created and created.status == 201 and created.content_type == "text/plain"
    again = s.create(content_type="text/plain")
    assert not again.created and again.status == 200

    r1 = s.append(b"hello ")
    r2 = s.append("world")
    assert r1.next_offset and r2.next_offset and r2.next_offset > r1.next_offset
    assert s.read_all() == b"hello world"
    assert s.read_all(offset=r1.next_offset) == b"world"

    meta = s.head()
    assert meta.content_type == "text/plain" and meta.next_offset == r2.next_offset and not meta.closed

    closed = s.close(data="!")
    assert closed.final_offset > r2.next_offset
    assert s.head().closed
    status, _, body = raw_get(s.url + "?offset=-1")
    assert status == 200 and body == b"hello world!"

    s.delete()
    with pytest.raises(ds.StreamNotFoundError):
        s.head()


def test_json_stream_appends(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="application/json")
    s.append_json({"n": 1, "text": "é"})
    s.append('[1, 2]')  # the text of one JSON value: stored as one message
    s.append_json_batch([{"n": 2}, None, 3.5])
    items = list(s.read().json())
    assert items == [{"n": 1, "text": "é"}, [1, 2], {"n": 2}, None, 3.5]
    import json

    assert json.loads(s.read_all()) == items


def test_create_options(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="text/plain", ttl_seconds=3600, data="seed")
    meta = s.head()
    assert meta.ttl_seconds == 3600
    assert s.read_all() == b"seed"
    closed = client.stream(path + "-c")
    res = closed.create(content_type="text/plain", closed=True, data="all of it")
    assert res.closed
    with pytest.raises(ds.StreamClosedError) as e:
        closed.append("more")
    assert e.value.status == 409 and e.value.next_offset == res.next_offset


def test_fork(client: ds.Client, path: str) -> None:
    src = client.stream(path)
    src.create(content_type="text/plain")
    src.append("a")
    fork = client.stream(path + "-fork")
    fork.create(content_type="text/plain", fork_from=path)
    fork.append("b")
    assert fork.read_all() == b"ab"
    assert src.read_all() == b"a"


def test_seq_and_headers(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="text/plain", headers={"x-test": "1"})
    s.append("a", seq=1)
    s.append("b", seq="2")
    with pytest.raises(ds.SequenceConflictError) as e:
        s.append("c", seq=2)
    assert e.value.status == 409 and e.value.code == "SEQUENCE_CONFLICT"
    assert s.read_all() == b"ab"


def test_invalid_arguments_fail_before_io(client: ds.Client) -> None:
    with pytest.raises(ds.InvalidArgumentError) as e:
        ds.Client("ftp://nope")
    assert isinstance(e.value, ValueError) and e.value.field == "base_url"
    with pytest.raises(ds.InvalidArgumentError):
        client.stream("/a?b")
    with pytest.raises(ds.InvalidArgumentError) as e2:
        client.stream("/x").read(offset="a,b")
    assert e2.value.field == "offset"
    with pytest.raises(ds.InvalidArgumentError):
        client.stream("/x").read(live="sometimes")
    with pytest.raises(ds.InvalidArgumentError) as e3:
        ds.RetryOptions(max_retries=-1)
    assert e3.value.field == "max_retries"
    with pytest.raises(ds.InvalidArgumentError):
        ds.Client("http://127.0.0.1:1", request_timeout=-1)
    with pytest.raises(TypeError):
        client.stream("/x").append(12345)  # type: ignore[arg-type]


@pytest.mark.parametrize("make", ["read", "Consumer", "AsyncConsumer"])
def test_read_and_consumer_options_are_checked_alike(client: ds.Client, make: str) -> None:
    """Reads and both consumers refuse the same values, naming the option (the core
    checks them: a consumer took max_chunk_bytes=0 as 1 before)."""

    def build(**options: object) -> object:
        if make == "read":
            return client.stream("/x").read(**options)  # type: ignore[arg-type]
        if make == "Consumer":
            return ds.Consumer(client.stream("/x"), **options)  # type: ignore[arg-type]
        return ds.AsyncConsumer(ds.AsyncClient(client.base_url).stream("/x"), **options)  # type: ignore[arg-type]

    bad: list[tuple[dict[str, object], str]] = [
        ({"max_chunk_bytes": 0}, "max_chunk_bytes"),
        ({"max_chunk_bytes": -1}, "max_chunk_bytes"),
        ({"live": "sometimes"}, "live"),
        ({"live": 3}, "live"),
        ({"offset": "a,b"}, "offset"),
    ]
    if make != "read":
        bad += [({"backoff_base": -1.0}, "backoff_base"), ({"backoff_max": float("nan")}, "backoff_max")]
        bad += [({"backoff_base": 0.5, "backoff_max": 0.1}, "backoff_max")]
    for options, field in bad:
        with pytest.raises(ds.InvalidArgumentError) as e:
            build(**options)
        assert e.value.field == field, (options, str(e.value))
        assert field in str(e.value), str(e.value)
    build(live=True, max_chunk_bytes=1, offset="-1")


def test_retry_options_defaults_come_from_the_core() -> None:
    r = ds.RetryOptions()
    assert (r.max_retries, r.initial_delay, r.max_delay, r.multiplier, r.append_retry) == (
        5,
        0.1,
        10.0,
        2.0,
        "when-unprocessed",
    )
    assert ds.RetryOptions.none().max_retries == 0
    assert ds.RetryOptions(max_retries=2, append_retry="at-least-once") == ds.RetryOptions(
        max_retries=2, append_retry="at-least-once"
    )
    assert ds.Client("http://127.0.0.1:1").retry == r


def test_plain_append_retries_a_500_when_at_least_once(server_url: str, path: str, faults) -> None:  # type: ignore[no-untyped-def]
    c = ds.Client(server_url, retry=ds.RetryOptions(append_retry="at-least-once", initial_delay=0.01))
    s = c.stream(path)
    s.create(content_type="text/plain")
    faults.inject(path, status=500, count=1, method="POST")
    s.append("x")
    assert s.read_all() == b"x"


def test_async_operations(server_url: str, path: str) -> None:
    async def main() -> None:
        async with ds.AsyncClient(server_url) as c:
            s = c.stream(path)
            assert (await s.create(content_type="application/json")).created
            await s.append_json({"a": 1})
            await s.append_json_batch([2, 3])
            r = await s.append(b'"four"')
            assert r.status in (200, 204) and r.next_offset
            assert (await s.head()).next_offset == r.next_offset
            assert await s.read_all() == b'[{"a":1},2,3,"four"]'
            assert (await s.close()).final_offset == r.next_offset
            await s.delete()
            with pytest.raises(ds.StreamNotFoundError):
                await s.head()
            # Many concurrent operations on one client.
            t = c.stream(path + "-many")
            await t.create(content_type="text/plain")
            await asyncio.gather(*(t.append(f"{i};") for i in range(50)))
            assert len((await t.read_all()).split(b";")) == 51

    asyncio.run(main())


def test_blocking_calls_release_the_gil(client: ds.Client, path: str) -> None:
    """While one thread waits in a long-poll, another runs Python code freely."""
    import threading
    import time

    s = client.stream(path)
    s.create(content_type="text/plain")
    session = s.read(offset="now", live="long-poll")
    counter = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal counter
        while not stop.is_set():
            counter += 1

    t = threading.Thread(target=spin)
    t.start()
    start = time.monotonic()
    chunk = next(session)  # an idle long-poll: the server answers 204 after ~0.5 s
    stop.set()
    t.join()
    assert chunk.status == 204 and chunk.up_to_date
    assert time.monotonic() - start >= 0.3
    assert counter > 100_000, counter


def test_record_reprs_show_python_values(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    created = s.create(content_type="text/plain")
    assert repr(created) == (
        f"CreateResult(created=True, status={created.status}, next_offset={created.next_offset!r}, "
        "content_type='text/plain', closed=False)"
    )
    assert repr(s.close()).startswith("CloseResult(final_offset='")
    assert repr(ds.RetryOptions(max_retries=2, append_retry="at-least-once")) == (
        "RetryOptions(max_retries=2, initial_delay=0.1, max_delay=10.0, multiplier=2.0, append_retry='at-least-once')"
    )

"""The exception hierarchy: classes, attributes, builtin bases, and the mapping of real
server failures onto them."""

from __future__ import annotations

import asyncio
import builtins
import json
import pickle
import socket
import typing
from typing import Any

import pytest

import durable_streams_sdk as ds
from durable_streams_sdk import _native, errors


def table() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(_native.error_table_json())
    return rows


def test_the_classes_are_the_core_error_table() -> None:
    """One class per row of the core's table, named stem + "Error", with the row's code,
    parent and details; nothing else. Renaming a class by hand fails here."""
    rows = table()
    assert [r["name"] + "Error" for r in rows] == errors.__all__
    for row in rows:
        cls = getattr(errors, row["name"] + "Error")
        assert getattr(ds, cls.__name__) is cls
        assert cls.code == row["code"], cls
        sdk_bases = [b for b in cls.__bases__ if issubclass(b, ds.DurableStreamError)]
        if row["parent"] is None:
            assert cls is ds.DurableStreamError
        else:
            assert [b.__name__ for b in sdk_bases] == [row["parent"] + "Error"], cls
        assert cls.details == tuple(row["details"]), cls
        assert set(row["details"]) <= set(typing.get_type_hints(cls)), cls
    python_bases = {ds.InvalidArgumentError: ValueError, ds.TimeoutError: builtins.TimeoutError}
    python_bases[ds.NetworkError] = ConnectionError
    for cls, base in python_bases.items():
        assert issubclass(cls, base)


def test_a_renamed_class_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(errors, "__all__", [n.replace("StreamGone", "Gone") for n in errors.__all__])
    assert [r["name"] + "Error" for r in table()] != errors.__all__


def test_an_application_subclass_keeps_its_parents_row() -> None:
    # Only the module's own classes take a row by name; a subclass elsewhere inherits.
    class AppNotFound(ds.StreamNotFoundError):
        pass

    e = AppNotFound("gone away")
    assert (e.code, AppNotFound.details, isinstance(e, ds.StreamNotFoundError)) == ("NOT_FOUND", (), True)
    assert errors._BY_CODE["NOT_FOUND"] is ds.StreamNotFoundError


def test_attributes_and_pickling() -> None:
    e = ds.StreamClosedError("closed", next_offset="0_5", status=409, code="STREAM_CLOSED")
    assert (e.code, e.status, e.next_offset, e.transient, str(e)) == ("STREAM_CLOSED", 409, "0_5", False, "closed")
    e2 = pickle.loads(pickle.dumps(e))
    assert type(e2) is ds.StreamClosedError and e2.next_offset == "0_5" and e2.status == 409
    assert e2.__dict__ == e.__dict__ and e2.args == e.args
    gap = ds.SequenceGapError("gap", expected_seq=3, received_seq=5)
    assert (gap.expected_seq, gap.received_seq, gap.code) == (3, 5, "SEQUENCE_GAP")
    assert isinstance(gap, ds.ConflictError)
    assert ds.StreamGoneError("g", earliest_offset="0_1").earliest_offset == "0_1"
    assert ds.RateLimitedError("r", retry_after_ms=1500).retry_after_ms == 1500
    assert ds.StaleEpochError("s", current_epoch=7).current_epoch == 7


def test_server_failures_map_to_classes(client: ds.Client, path: str, faults) -> None:  # type: ignore[no-untyped-def]
    s = client.stream(path)
    with pytest.raises(ds.StreamNotFoundError) as nf:
        s.append("x")
    assert nf.value.status == 404 and nf.value.code == "NOT_FOUND" and path in str(nf.value)

    s.create(content_type="text/plain")
    with pytest.raises(ds.ConflictError) as conflict:
        s.create(content_type="application/json")
    assert conflict.value.status == 409

    with pytest.raises(ds.ContentTypeMismatchError) as mismatch:
        s.append("{}", content_type="application/json")
    assert mismatch.value.status == 409 and mismatch.value.conformance_code == "CONFLICT"

    with pytest.raises(ds.BadRequestError) as bad:
        s.append(b"")
    assert bad.value.status == 400

    final = s.close().final_offset
    with pytest.raises(ds.StreamClosedError) as closed:
        s.append("late")
    assert closed.value.next_offset == final

    t = client.stream(path + "-faults")
    t.create(content_type="text/plain")
    no_retry = ds.Client(client.base_url, retry=ds.RetryOptions.none()).stream(path + "-faults")
    faults.inject(path + "-faults", status=500, count=1, method="HEAD")
    with pytest.raises(ds.UnexpectedStatusError) as unexpected:
        no_retry.head()
    assert unexpected.value.status == 500 and unexpected.value.transient

    faults.inject(path + "-faults", status=429, count=1, retryAfter=2, method="HEAD")
    with pytest.raises(ds.RateLimitedError) as limited:
        no_retry.head()
    assert limited.value.status == 429 and limited.value.retry_after_ms == 2000

    slow = ds.Client(client.base_url, request_timeout=0.2, retry=ds.RetryOptions.none()).stream(path + "-faults")
    faults.inject(path + "-faults", delayMs=2000, method="HEAD")
    with pytest.raises(ds.TimeoutError) as timeout:
        slow.head()
    assert isinstance(timeout.value, builtins.TimeoutError) and timeout.value.transient
    assert timeout.value.cause == "timeout"


def test_network_error(path: str) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    s = ds.Client(f"http://127.0.0.1:{port}", retry=ds.RetryOptions.none()).stream(path)
    with pytest.raises(ds.NetworkError) as e:
        s.head()
    assert isinstance(e.value, ConnectionError) and e.value.status is None and e.value.code == "NETWORK_ERROR"
    assert e.value.cause == "connection_refused" and "refused" in str(e.value), str(e.value)


def test_async_errors_are_the_same_classes(server_url: str, path: str) -> None:
    async def main() -> None:
        s = ds.AsyncClient(server_url).stream(path)
        with pytest.raises(ds.StreamNotFoundError):
            await s.head()
        with pytest.raises(ds.StreamNotFoundError):
            async for _ in s.read():
                pass

    asyncio.run(main())

"""No panic and no stray exception crosses the boundary: failures raised inside the
callbacks the core calls (dynamic headers on the producer's background batches, on
live reads, consumer handlers and error handlers) and bad numbers that would make the
core panic come back as typed Python errors, and the process keeps working."""

from __future__ import annotations

import threading

import pytest

import durable_streams_sdk as ds


class Boom(Exception):
    pass


def test_header_provider_raising_on_the_producers_background_batches(server_url: str, path: str) -> None:
    ok = ds.Client(server_url).stream(path)
    ok.create(content_type="application/json")
    calls = []

    def provider() -> str:
        calls.append(threading.get_ident())
        raise Boom("provider failed")

    s = ds.Client(server_url, dynamic_headers={"authorization": provider}, retry=ds.RetryOptions.none()).stream(path)
    producer = s.producer("no-panic")
    producer.append_json({"n": 1})
    with pytest.raises(ds.CallbackFailedError) as info:
        producer.flush()
    assert info.value.code == "CALLBACK_FAILED"
    assert "Boom('provider failed')" in str(info.value)
    assert calls, "the provider was never called"
    # The process and the core runtime are fine: the same server still takes writes.
    ok.append_json({"after": True})
    assert ok.read().json().__next__() == {"after": True}


def test_header_provider_raising_base_exceptions_on_a_live_read(server_url: str, path: str) -> None:
    ok = ds.Client(server_url).stream(path)
    ok.create(content_type="application/json")
    # Even SystemExit and KeyboardInterrupt raised on the core's behalf come back as the
    # typed error of that read, naming what was raised; nothing else escapes.
    for exc in (SystemExit(3), KeyboardInterrupt(), Boom("read provider"), ValueError(42)):

        def provider(exc: BaseException = exc) -> str:
            raise exc

        s = ds.Client(server_url, dynamic_headers={"x-token": provider}, retry=ds.RetryOptions.none()).stream(path)
        with pytest.raises(ds.CallbackFailedError) as info:
            for _ in s.read(offset="-1", live=True):
                pass
        assert not isinstance(info.value, ds.InternalError), repr(info.value)
        assert repr(exc) in str(info.value), str(info.value)
    ok.append_json({"still": "alive"})
    assert list(ok.read().json()) == [{"still": "alive"}]


def test_header_value_returned_before_the_provider_raised_never_shows(server_url: str, path: str) -> None:
    ok = ds.Client(server_url).stream(path)
    ok.create(content_type="application/json")
    calls = []

    def provider() -> str:
        calls.append(1)
        if len(calls) == 1:
            return "Bearer secret-token-0123456789"
        raise ValueError(42)

    s = ds.Client(server_url, dynamic_headers={"authorization": provider}, retry=ds.RetryOptions.none()).stream(path)
    s.append_json({"n": 1})  # first call: the header is sent
    with pytest.raises(ds.CallbackFailedError) as info:
        s.append_json({"n": 2})
    assert "ValueError(42)" in str(info.value)
    assert "secret-token" not in str(info.value) and "secret-token" not in repr(info.value)
    assert list(ok.read().json()) == [{"n": 1}]


def test_consumer_batch_handler_raising_is_reraised_and_nothing_is_accepted(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="application/json")
    s.append_json({"n": 1})

    class Broken(ds.Consumer):
        def handle_batch(self, batch: ds.Chunk) -> None:
            raise Boom("handler bug")

    # The handler's own exception, unchanged: it is the caller's code that failed.
    with pytest.raises(Boom, match="handler bug"):
        Broken(s, live=True).run()
    s.append_json({"n": 2})
    assert list(s.read().json()) == [{"n": 1}, {"n": 2}]


def test_consumer_error_handler_raising_is_reraised(client: ds.Client, path: str) -> None:
    missing = client.stream(path)  # never created: the read fails, handle_error runs

    class Broken(ds.Consumer):
        def handle_batch(self, batch: ds.Chunk) -> None:
            return None

        def handle_error(self, error: BaseException) -> bool | None:
            raise Boom(f"error handler failed on {type(error).__name__}")

    with pytest.raises(Boom, match="error handler failed on StreamNotFoundError"):
        Broken(missing, live=True).run()


@pytest.mark.parametrize("field", ["request_timeout", "live_idle_timeout", "connect_timeout"])
def test_out_of_range_timeouts_are_invalid_arguments_not_panics(server_url: str, field: str) -> None:
    with pytest.raises(ds.InvalidArgumentError) as info:
        ds.Client(server_url, **{field: 1e300})
    assert not isinstance(info.value, ds.InternalError)


@pytest.mark.parametrize("kwargs", [{"initial_delay": 1e300, "max_delay": 1e301}, {"max_delay": 1e300}])
def test_out_of_range_retry_delays_are_invalid_arguments_not_panics(kwargs: dict[str, float]) -> None:
    with pytest.raises(ds.InvalidArgumentError):
        ds.RetryOptions(**kwargs)


@pytest.mark.parametrize("kwargs", [{"linger": 1e300}, {"delivery_timeout": 1e300}])
def test_out_of_range_producer_times_are_invalid_arguments_not_panics(client: ds.Client, path: str, kwargs: dict[str, float]) -> None:
    s = client.stream(path)
    s.create(content_type="application/json")
    with pytest.raises(ds.InvalidArgumentError) as info:
        with s.producer("no-panic", **kwargs) as p:
            p.append_json({"n": 1})
    assert not isinstance(info.value, ds.InternalError)

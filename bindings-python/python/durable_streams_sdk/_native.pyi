"""Type stubs of the native extension (pyo3). Users import from ``durable_streams_sdk``."""

from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from typing import Any, Literal, final

from typing_extensions import Self

from .errors import DurableStreamError

__version__: str
__all__ = [
    "Acked",
    "AppendAck",
    "AppendResult",
    "AsyncClient",
    "AsyncJsonIterator",
    "AsyncProducer",
    "AsyncReadSession",
    "AsyncStream",
    "Chunk",
    "Client",
    "CloseResult",
    "ConsumerEvent",
    "ConsumerResult",
    "ConsumerRunner",
    "CreateResult",
    "JsonIterator",
    "Producer",
    "ReadSession",
    "Ready",
    "RetryOptions",
    "Stream",
    "StreamMetadata",
    "__version__",
]

_Data = bytes | bytearray | memoryview | str
_LiveArg = bool | Literal["off", "auto", "long-poll", "sse"]
_ValueCallable = Callable[[], str | Awaitable[str]]

@final
class RetryOptions:
    """How transient failures are retried. Unset options keep the core's defaults:
    5 retries, 0.1 s initial delay, 10 s max delay, multiplier 2.0, and plain appends
    retried only when provably unprocessed ("when-unprocessed")."""

    def __new__(
        cls,
        *,
        max_retries: int | None = None,
        initial_delay: float | None = None,
        max_delay: float | None = None,
        multiplier: float | None = None,
        append_retry: Literal["when-unprocessed", "at-least-once"] | None = None,
    ) -> Self: ...
    @staticmethod
    def none() -> RetryOptions: ...
    @property
    def max_retries(self) -> int: ...
    @property
    def initial_delay(self) -> float: ...
    @property
    def max_delay(self) -> float: ...
    @property
    def multiplier(self) -> float: ...
    @property
    def append_retry(self) -> Literal["when-unprocessed", "at-least-once"]: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class Client:
    """Blocking client. Thread-safe; share one per process (it pools connections).
    Timeouts are in seconds; unset options keep the core's defaults (connect 10 s,
    request 30 s, live idle 90 s, pool idle 90 s, compression on)."""

    def __new__(
        cls,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        dynamic_headers: Mapping[str, _ValueCallable] | None = None,
        dynamic_params: Mapping[str, _ValueCallable] | None = None,
        retry: RetryOptions | None = None,
        connect_timeout: float | None = None,
        request_timeout: float | None = None,
        live_idle_timeout: float | None = None,
        pool_idle_timeout: float | None = None,
        compression: bool | None = None,
    ) -> Self: ...
    def stream(self, path: str, *, content_type: str | None = None) -> Stream: ...
    @property
    def base_url(self) -> str: ...
    @property
    def retry(self) -> RetryOptions: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *_args: object) -> bool: ...

@final
class AsyncClient:
    """asyncio client: the same options as :class:`Client`, awaitable operations."""

    def __new__(
        cls,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        dynamic_headers: Mapping[str, _ValueCallable] | None = None,
        dynamic_params: Mapping[str, _ValueCallable] | None = None,
        retry: RetryOptions | None = None,
        connect_timeout: float | None = None,
        request_timeout: float | None = None,
        live_idle_timeout: float | None = None,
        pool_idle_timeout: float | None = None,
        compression: bool | None = None,
    ) -> Self: ...
    def stream(self, path: str, *, content_type: str | None = None) -> AsyncStream: ...
    @property
    def base_url(self) -> str: ...
    @property
    def retry(self) -> RetryOptions: ...
    def __aenter__(self) -> Awaitable[Self]: ...
    def __aexit__(self, *_args: object) -> Awaitable[bool]: ...

@final
class CreateResult:
    @property
    def created(self) -> bool: ...
    @property
    def status(self) -> int: ...
    @property
    def next_offset(self) -> str | None: ...
    @property
    def content_type(self) -> str | None: ...
    @property
    def closed(self) -> bool: ...

@final
class AppendResult:
    @property
    def status(self) -> int: ...
    @property
    def next_offset(self) -> str | None: ...
    @property
    def stream_closed(self) -> bool: ...
    @property
    def duplicate(self) -> bool: ...
    @property
    def producer_epoch(self) -> int | None: ...
    @property
    def producer_seq(self) -> int | None: ...
    @property
    def sent_headers(self) -> dict[str, str]: ...
    @property
    def sent_params(self) -> dict[str, str]: ...

@final
class CloseResult:
    @property
    def final_offset(self) -> str: ...

@final
class StreamMetadata:
    @property
    def content_type(self) -> str | None: ...
    @property
    def next_offset(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    @property
    def ttl_seconds(self) -> int | None: ...
    @property
    def expires_at(self) -> str | None: ...
    @property
    def etag(self) -> str | None: ...

@final
class Stream:
    """A handle on one stream (blocking API). No I/O until an operation is called."""

    @property
    def url(self) -> str: ...
    @property
    def content_type(self) -> str | None: ...
    def create(
        self,
        *,
        content_type: str | None = None,
        ttl_seconds: int | None = None,
        expires_at: str | None = None,
        closed: bool = False,
        data: _Data | None = None,
        fork_from: str | None = None,
        fork_offset: str | None = None,
        fork_sub_offset: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> CreateResult: ...
    def append(
        self,
        data: _Data,
        *,
        content_type: str | None = None,
        seq: str | int | None = None,
        close: bool = False,
        headers: Mapping[str, str] | None = None,
        producer: tuple[str, int, int] | None = None,
    ) -> AppendResult: ...
    def append_json(
        self, value: Any, *, seq: str | int | None = None, close: bool = False, headers: Mapping[str, str] | None = None
    ) -> AppendResult: ...
    def append_json_batch(
        self,
        values: Iterable[Any],
        *,
        seq: str | int | None = None,
        close: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> AppendResult: ...
    def close(
        self, *, data: _Data | None = None, content_type: str | None = None, headers: Mapping[str, str] | None = None
    ) -> CloseResult: ...
    def delete(self, *, headers: Mapping[str, str] | None = None) -> None: ...
    def head(self, *, headers: Mapping[str, str] | None = None) -> StreamMetadata: ...
    def read_all(self, *, offset: str | None = None) -> bytes: ...
    def read(
        self,
        *,
        offset: str | None = None,
        live: _LiveArg | None = None,
        cursor: str | None = None,
        headers: Mapping[str, str] | None = None,
        max_chunk_bytes: int | None = None,
    ) -> ReadSession: ...
    def producer(
        self,
        producer_id: str,
        *,
        epoch: int | None = None,
        auto_claim: bool | None = None,
        max_batch_items: int | None = None,
        max_batch_bytes: int | None = None,
        linger: float | None = None,
        max_in_flight: int | None = None,
        buffer_limit_bytes: int | None = None,
        delivery_timeout: float | None = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        on_error: Callable[[DurableStreamError, list[bytes]], object] | None = None,
    ) -> Producer: ...

@final
class AsyncStream:
    """A handle on one stream (asyncio API). No I/O until an operation is awaited."""

    @property
    def url(self) -> str: ...
    @property
    def content_type(self) -> str | None: ...
    def create(
        self,
        *,
        content_type: str | None = None,
        ttl_seconds: int | None = None,
        expires_at: str | None = None,
        closed: bool = False,
        data: _Data | None = None,
        fork_from: str | None = None,
        fork_offset: str | None = None,
        fork_sub_offset: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Awaitable[CreateResult]: ...
    def append(
        self,
        data: _Data,
        *,
        content_type: str | None = None,
        seq: str | int | None = None,
        close: bool = False,
        headers: Mapping[str, str] | None = None,
        producer: tuple[str, int, int] | None = None,
    ) -> Awaitable[AppendResult]: ...
    def append_json(
        self, value: Any, *, seq: str | int | None = None, close: bool = False, headers: Mapping[str, str] | None = None
    ) -> Awaitable[AppendResult]: ...
    def append_json_batch(
        self,
        values: Iterable[Any],
        *,
        seq: str | int | None = None,
        close: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> Awaitable[AppendResult]: ...
    def close(
        self, *, data: _Data | None = None, content_type: str | None = None, headers: Mapping[str, str] | None = None
    ) -> Awaitable[CloseResult]: ...
    def delete(self, *, headers: Mapping[str, str] | None = None) -> Awaitable[None]: ...
    def head(self, *, headers: Mapping[str, str] | None = None) -> Awaitable[StreamMetadata]: ...
    def read_all(self, *, offset: str | None = None) -> Awaitable[bytes]: ...
    def read(
        self,
        *,
        offset: str | None = None,
        live: _LiveArg | None = None,
        cursor: str | None = None,
        headers: Mapping[str, str] | None = None,
        max_chunk_bytes: int | None = None,
    ) -> AsyncReadSession: ...
    def producer(
        self,
        producer_id: str,
        *,
        epoch: int | None = None,
        auto_claim: bool | None = None,
        max_batch_items: int | None = None,
        max_batch_bytes: int | None = None,
        linger: float | None = None,
        max_in_flight: int | None = None,
        buffer_limit_bytes: int | None = None,
        delivery_timeout: float | None = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        on_error: Callable[[DurableStreamError, list[bytes]], object] | None = None,
    ) -> AsyncProducer: ...

@final
class Chunk:
    """One batch of stream data and where it leaves the reader."""

    @property
    def data(self) -> memoryview:
        """Read-only view of the chunk's bytes (no copy); ``bytes(chunk.data)`` copies."""
    @property
    def items(self) -> list[bytes] | None: ...
    @property
    def next_offset(self) -> str: ...
    @property
    def up_to_date(self) -> bool: ...
    @property
    def stream_closed(self) -> bool: ...
    @property
    def cursor(self) -> str | None: ...
    @property
    def partial(self) -> bool: ...
    @property
    def status(self) -> int: ...
    def json(self) -> list[Any]: ...
    def text(self) -> str: ...
    def __len__(self) -> int: ...

@final
class ReadSession:
    """A read session (blocking): iterate for chunks, or ``.json()`` for messages."""

    @property
    def offset(self) -> str: ...
    @property
    def cursor(self) -> str | None: ...
    @property
    def done(self) -> bool: ...
    @property
    def sent_headers(self) -> dict[str, str]: ...
    @property
    def sent_params(self) -> dict[str, str]: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> Chunk: ...
    def json(self) -> JsonIterator: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *_args: object) -> bool: ...

@final
class AsyncReadSession:
    """A read session (asyncio): ``async for`` chunks, or ``.json()`` for messages."""

    @property
    def offset(self) -> str: ...
    @property
    def cursor(self) -> str | None: ...
    @property
    def done(self) -> bool: ...
    @property
    def sent_headers(self) -> dict[str, str]: ...
    @property
    def sent_params(self) -> dict[str, str]: ...
    def __aiter__(self) -> Self: ...
    def __anext__(self) -> Awaitable[Chunk]: ...
    def json(self) -> AsyncJsonIterator: ...
    def close(self) -> None: ...
    def __aenter__(self) -> Awaitable[Self]: ...
    def __aexit__(self, *_args: object) -> Awaitable[None]: ...

@final
class JsonIterator:
    @property
    def offset(self) -> str: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> Any: ...

@final
class AsyncJsonIterator:
    @property
    def offset(self) -> str: ...
    def __aiter__(self) -> Self: ...
    def __anext__(self) -> Awaitable[Any]: ...

@final
class Acked:
    """Where an acknowledged message landed."""

    @property
    def next_offset(self) -> str | None: ...
    @property
    def duplicate(self) -> bool: ...
    @property
    def epoch(self) -> int: ...
    @property
    def seq(self) -> int: ...

@final
class AppendAck:
    """Resolves when the message is durably stored: ``.result()`` or ``await``."""

    def result(self, timeout: float | None = None) -> Acked: ...
    def done(self) -> bool: ...
    def __await__(self) -> Generator[Any, None, Acked]: ...

@final
class Producer:
    """Idempotent, batching producer (blocking). ``with`` flushes and detaches on exit."""

    def start(self) -> None: ...
    def append(self, data: _Data, *, ack: bool = False) -> AppendAck | None: ...
    def append_json(self, value: Any, *, ack: bool = False) -> AppendAck | None: ...
    def flush(self) -> None: ...
    def close(self, data: _Data | None = None) -> CloseResult: ...
    def detach(self) -> None: ...
    @property
    def epoch(self) -> int: ...
    @property
    def next_seq(self) -> int: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: object = None, _exc: object = None, _tb: object = None) -> bool: ...

@final
class AsyncProducer:
    """Idempotent, batching producer (asyncio). ``async with`` flushes and detaches on exit."""

    def start(self) -> Awaitable[None]: ...
    def append(self, data: _Data, *, ack: bool = False) -> Awaitable[AppendAck | None]: ...
    def append_json(self, value: Any, *, ack: bool = False) -> Awaitable[AppendAck | None]: ...
    def flush(self) -> Awaitable[None]: ...
    def close(self, data: _Data | None = None) -> Awaitable[CloseResult]: ...
    def detach(self) -> Awaitable[None]: ...
    @property
    def epoch(self) -> int: ...
    @property
    def next_seq(self) -> int: ...
    def __aenter__(self) -> Awaitable[Self]: ...
    def __aexit__(self, exc_type: object = None, _exc: object = None, _tb: object = None) -> Awaitable[bool]: ...

@final
class ConsumerResult:
    """How a consumer ended."""

    @property
    def reason(self) -> Literal["closed", "stopped", "caught_up"]: ...
    @property
    def offset(self) -> str: ...

@final
class ConsumerEvent:
    """What an iterated consumer observed."""

    @property
    def kind(self) -> Literal["batch", "up_to_date", "closed", "reconnecting"]: ...
    @property
    def batch(self) -> Chunk | None: ...
    @property
    def offset(self) -> str | None: ...
    @property
    def error(self) -> DurableStreamError | None: ...
    @property
    def retry_in(self) -> float | None: ...

@final
class ConsumerRunner:
    """Engine of :class:`~durable_streams_sdk.Consumer` (internal)."""

    def __new__(
        cls,
        stream: Stream | AsyncStream,
        *,
        offset: str | None = None,
        live: _LiveArg | None = None,
        backoff_base: float | None = None,
        backoff_max: float | None = None,
        headers: Mapping[str, str] | None = None,
        max_chunk_bytes: int | None = None,
    ) -> Self: ...
    def start(self, handler: object) -> None: ...
    def wait(self, timeout: float | None = None) -> ConsumerResult: ...
    def wait_async(self, timeout: float | None = None) -> Awaitable[ConsumerResult]: ...
    def stop(self) -> ConsumerResult: ...
    def stop_async(self) -> Awaitable[ConsumerResult]: ...
    def cancel(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    @property
    def checkpoint(self) -> str: ...
    @property
    def running(self) -> bool: ...
    def next_event(self) -> ConsumerEvent | None: ...
    def next_event_async(self) -> Awaitable[ConsumerEvent]: ...

@final
class Ready:
    """An already completed awaitable (internal)."""

    def __await__(self) -> Self: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> Any: ...

"""durable_streams_sdk: a client for the Durable Streams protocol (persistent,
resumable, append-only event streams over HTTP), built on a shared Rust core.

Blocking API: :class:`Client` → :class:`Stream`, :class:`ReadSession`, :class:`Producer`,
:class:`Consumer`. asyncio API: :class:`AsyncClient` → :class:`AsyncStream`,
:class:`AsyncReadSession`, :class:`AsyncProducer`, :class:`AsyncConsumer`.
"""

from ._native import (
    Acked,
    AppendAck,
    AppendResult,
    AsyncClient,
    AsyncProducer,
    AsyncReadSession,
    AsyncStream,
    Chunk,
    Client,
    CloseResult,
    ConsumerEvent,
    ConsumerResult,
    CreateResult,
    JsonIterator,
    Producer,
    ReadSession,
    RetryOptions,
    Stream,
    StreamMetadata,
    __version__,
)
from ._aio import AsyncJsonIterator
from .consumer import AsyncConsumer, Consumer, Live
from .stats import ConsumerStats, ProducerStats
from . import _logging
from .errors import *  # noqa: F403 (errors.__all__: the classes of the core's error table)

__all__ = [
    "Acked",
    "AppendAck",
    "AppendResult",
    "AsyncClient",
    "AsyncConsumer",
    "AsyncJsonIterator",
    "AsyncProducer",
    "AsyncReadSession",
    "AsyncStream",
    "Chunk",
    "Client",
    "CloseResult",
    "Consumer",
    "ConsumerEvent",
    "ConsumerResult",
    "ConsumerStats",
    "CreateResult",
    "JsonIterator",
    "Live",
    "Producer",
    "ProducerStats",
    "ReadSession",
    "RetryOptions",
    "Stream",
    "StreamMetadata",
    "__version__",
    # errors: the classes of the core's error table
    "DurableStreamError",
    "StreamNotFoundError",
    "StreamClosedError",
    "StreamGoneError",
    "StaleEpochError",
    "ConflictError",
    "SequenceGapError",
    "SequenceConflictError",
    "ContentTypeMismatchError",
    "BadRequestError",
    "InvalidOffsetError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "UnauthorizedError",
    "ForbiddenError",
    "NotSupportedError",
    "UnexpectedStatusError",
    "NetworkError",
    "TimeoutError",
    "MalformedResponseError",
    "InvalidArgumentError",
    "CancelledError",
    "AbortedError",
    "ClosedError",
    "BufferFullError",
    "CallbackFailedError",
    "InternalError",
]

_logging.start()  # core log records -> logging.getLogger("durable_streams_sdk")

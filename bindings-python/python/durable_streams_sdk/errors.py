"""Exceptions raised by durable_streams_sdk.

Every failure is a :class:`DurableStreamError` carrying a stable, machine-readable
``code`` (the same in every language binding), the HTTP ``status`` when there was one,
and ``transient`` (whether repeating the operation later may succeed). Subclasses let
``except`` target one kind of failure and carry the data needed to react to it.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DurableStreamError",
    "StreamNotFoundError",
    "StreamClosedError",
    "GoneError",
    "StaleEpochError",
    "SequenceGapError",
    "SequenceConflictError",
    "ContentTypeMismatchError",
    "ConflictError",
    "InvalidOffsetError",
    "BadRequestError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "UnauthorizedError",
    "ForbiddenError",
    "NotSupportedError",
    "UnexpectedStatusError",
    "NetworkError",
    "DurableStreamTimeoutError",
    "ParseError",
    "InvalidArgumentError",
    "OperationCancelledError",
    "ClosedError",
    "BufferFullError",
    "CallbackError",
    "InternalError",
]


def _rebuild(cls: type[DurableStreamError], message: str, state: dict[str, Any]) -> DurableStreamError:
    exc = cls.__new__(cls, message)
    Exception.__init__(exc, message)
    exc.__dict__.update(state)
    return exc


class DurableStreamError(Exception):
    """Base class of every error raised by durable_streams_sdk."""

    #: Default code of the class; instances carry the code of the actual failure.
    default_code: str = "UNEXPECTED_STATUS"

    code: str
    """Stable, fine-grained code (``SCREAMING_SNAKE_CASE``), identical in every binding."""
    status: int | None
    """HTTP status of the response that caused the error, if there was one."""
    transient: bool
    """Whether repeating the same operation later may succeed."""
    conformance_code: str
    """The code in the conformance-suite vocabulary (used by test adapters)."""
    message: str

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        transient: bool = False,
        conformance_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else type(self).default_code
        self.status = status
        self.transient = transient
        self.conformance_code = conformance_code if conformance_code is not None else self.code

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))

    def __repr__(self) -> str:
        extra = f", status={self.status}" if self.status is not None else ""
        return f"{type(self).__name__}({self.message!r}, code={self.code!r}{extra})"


class StreamNotFoundError(DurableStreamError):
    """404: the stream (or a fork source) does not exist."""

    default_code = "NOT_FOUND"


class StreamClosedError(DurableStreamError):
    """The stream is closed; ``final_offset`` is its final offset (when the server said)."""

    default_code = "STREAM_CLOSED"

    def __init__(self, message: str, *, final_offset: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.final_offset = final_offset


class GoneError(DurableStreamError):
    """410: the stream was deleted, or the offset is older than the retained data."""

    default_code = "GONE"

    def __init__(self, message: str, *, earliest_offset: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.earliest_offset = earliest_offset


class StaleEpochError(DurableStreamError):
    """403 on a producer request: another producer holds a newer epoch."""

    default_code = "STALE_EPOCH"

    def __init__(self, message: str, *, current_epoch: int = 0, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.current_epoch = current_epoch


class SequenceGapError(DurableStreamError):
    """409: a producer request arrived ahead of its predecessors."""

    default_code = "SEQUENCE_GAP"

    def __init__(self, message: str, *, expected: int = 0, received: int = 0, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.expected = expected
        self.received = received


class SequenceConflictError(DurableStreamError):
    """409: a ``seq`` that is not greater than the last accepted one."""

    default_code = "SEQUENCE_CONFLICT"


class ContentTypeMismatchError(DurableStreamError):
    """409 on append: the body's content type differs from the stream's."""

    default_code = "CONTENT_TYPE_MISMATCH"


class ConflictError(DurableStreamError):
    """Any other 409, e.g. create with a configuration that differs from the existing stream."""

    default_code = "CONFLICT"


class InvalidOffsetError(DurableStreamError):
    """400 on a read: the server rejected the offset."""

    default_code = "INVALID_OFFSET"


class BadRequestError(DurableStreamError):
    """400 elsewhere; ``server_message`` keeps the server's explanation."""

    default_code = "BAD_REQUEST"

    def __init__(self, message: str, *, server_message: str = "", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.server_message = server_message


class PayloadTooLargeError(DurableStreamError):
    """413."""

    default_code = "PAYLOAD_TOO_LARGE"


class RateLimitedError(DurableStreamError):
    """429 after retries ran out; ``retry_after`` in seconds when the server said."""

    default_code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class UnauthorizedError(DurableStreamError):
    """401."""

    default_code = "UNAUTHORIZED"


class ForbiddenError(DurableStreamError):
    """403 that is not a producer fence."""

    default_code = "FORBIDDEN"


class NotSupportedError(DurableStreamError):
    """405 / 501: the server does not support this operation on this stream."""

    default_code = "NOT_SUPPORTED"


class UnexpectedStatusError(DurableStreamError):
    """Any other non-success status (e.g. 5xx after retries ran out)."""

    default_code = "UNEXPECTED_STATUS"


class NetworkError(DurableStreamError, ConnectionError):
    """The connection failed, was reset, or the body was cut off."""

    default_code = "NETWORK_ERROR"


class DurableStreamTimeoutError(DurableStreamError, TimeoutError):
    """A client-side deadline passed (also a builtin ``TimeoutError``)."""

    default_code = "TIMEOUT"


class ParseError(DurableStreamError):
    """The server sent something that does not follow the protocol."""

    default_code = "PARSE_ERROR"


class InvalidArgumentError(DurableStreamError, ValueError):
    """A value was rejected before any I/O (also a builtin ``ValueError``); ``field``
    names the option as spelled in every binding (camelCase)."""

    default_code = "INVALID_ARGUMENT"

    def __init__(self, message: str, *, field: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.field = field


class OperationCancelledError(DurableStreamError):
    """The operation was cancelled (e.g. a read session whose read was interrupted)."""

    default_code = "CANCELLED"


class ClosedError(DurableStreamError):
    """The producer or consumer has already failed or been closed."""

    default_code = "CLOSED"


class BufferFullError(DurableStreamError):
    """The producer's buffer limit is reached."""

    default_code = "BUFFER_FULL"


class CallbackError(DurableStreamError):
    """Application code called by the SDK (a dynamic header callable, a consumer handler)
    failed. Usually the original exception is raised instead; this class appears where
    only its description survived (e.g. a producer batch that failed because of it)."""

    default_code = "CALLBACK_FAILED"


class InternalError(DurableStreamError):
    """A bug in the SDK (a Rust panic caught at the boundary). Please report it."""

    default_code = "INTERNAL"


_BY_CODE: dict[str, type[DurableStreamError]] = {
    cls.default_code: cls
    for cls in (
        StreamNotFoundError,
        StreamClosedError,
        GoneError,
        StaleEpochError,
        SequenceGapError,
        SequenceConflictError,
        ContentTypeMismatchError,
        ConflictError,
        InvalidOffsetError,
        BadRequestError,
        PayloadTooLargeError,
        RateLimitedError,
        UnauthorizedError,
        ForbiddenError,
        NotSupportedError,
        UnexpectedStatusError,
        NetworkError,
        DurableStreamTimeoutError,
        ParseError,
        InvalidArgumentError,
        OperationCancelledError,
        ClosedError,
        BufferFullError,
        CallbackError,
        InternalError,
    )
}


def _from_native(
    code: str,
    message: str,
    status: int | None,
    transient: bool,
    conformance_code: str,
    extra: dict[str, Any],
) -> DurableStreamError:
    """Build the exception for an error reported by the native module."""
    cls = _BY_CODE.get(code, DurableStreamError)
    return cls(message, code=code, status=status, transient=transient, conformance_code=conformance_code, **extra)

"""Exceptions raised by durable_streams_sdk.

The classes mirror the core's one error table (``_native.error_table_json()``): the
same names, codes and hierarchy in every language binding; ``tests/test_errors.py``
fails when this module and the table disagree. Every failure is a
:class:`DurableStreamError` with a stable ``code``, the HTTP ``status`` when there was
one, and ``transient`` (whether repeating the operation later may succeed). Details
carry the table's names and units (durations in milliseconds: ``retry_after_ms``).
"""

from __future__ import annotations

import builtins
from typing import Any

__all__ = [
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


def _rebuild(cls: type[DurableStreamError], message: str, state: dict[str, Any]) -> DurableStreamError:
    exc = cls.__new__(cls, message)
    Exception.__init__(exc, message)
    exc.__dict__.update(state)
    return exc


class DurableStreamError(Exception):
    """Any failure reported by the SDK."""

    #: The code of this class (the table's); instances carry the code of the failure.
    code: str = ""
    #: The detail attributes this class carries (the table's ``details``).
    details: tuple[str, ...] = ()
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
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else type(self).code
        self.status = status
        self.transient = transient
        self.conformance_code = conformance_code if conformance_code is not None else self.code
        for name in type(self).details:
            setattr(self, name, details.get(name))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))

    def __repr__(self) -> str:
        extra = f", status={self.status}" if self.status is not None else ""
        return f"{type(self).__name__}({self.message!r}, code={self.code!r}{extra})"


class StreamNotFoundError(DurableStreamError):
    """The stream (or a fork source) does not exist (404)."""

    code = "NOT_FOUND"


class StreamClosedError(DurableStreamError):
    """The stream is closed; ``next_offset`` is its final offset."""

    code = "STREAM_CLOSED"
    details = ("next_offset",)
    next_offset: str | None


class StreamGoneError(DurableStreamError):
    """The stream was deleted, or the offset is older than retained data (410)."""

    code = "GONE"
    details = ("earliest_offset",)
    earliest_offset: str | None


class StaleEpochError(DurableStreamError):
    """Another producer holds a newer epoch (403); ``current_epoch`` is the server's."""

    code = "STALE_EPOCH"
    details = ("current_epoch",)
    current_epoch: int | None


class ConflictError(DurableStreamError):
    """The request conflicts with the stream's state (409)."""

    code = "CONFLICT"


class SequenceGapError(ConflictError):
    """A producer request arrived ahead of its predecessors."""

    code = "SEQUENCE_GAP"
    details = ("expected_seq", "received_seq")
    expected_seq: int | None
    received_seq: int | None


class SequenceConflictError(ConflictError):
    """A ``Stream-Seq`` not greater than the last accepted one."""

    code = "SEQUENCE_CONFLICT"


class ContentTypeMismatchError(ConflictError):
    """The body's content type differs from the stream's."""

    code = "CONTENT_TYPE_MISMATCH"


class BadRequestError(DurableStreamError):
    """The server rejected the request (400); ``server_message`` is its explanation."""

    code = "BAD_REQUEST"
    details = ("server_message",)
    server_message: str | None


class InvalidOffsetError(BadRequestError):
    """The server rejected the read offset."""

    code = "INVALID_OFFSET"


class PayloadTooLargeError(DurableStreamError):
    """The body is larger than the server accepts (413)."""

    code = "PAYLOAD_TOO_LARGE"


class RateLimitedError(DurableStreamError):
    """Still rate limited (429) after retries; ``retry_after_ms`` when the server said."""

    code = "RATE_LIMITED"
    details = ("retry_after_ms",)
    retry_after_ms: int | None


class UnauthorizedError(DurableStreamError):
    """Authentication is missing or wrong (401)."""

    code = "UNAUTHORIZED"


class ForbiddenError(DurableStreamError):
    """Not allowed (403)."""

    code = "FORBIDDEN"


class NotSupportedError(DurableStreamError):
    """The server does not support this operation (405/501)."""

    code = "NOT_SUPPORTED"


class UnexpectedStatusError(DurableStreamError):
    """Any other failure status, e.g. 5xx after retries."""

    code = "UNEXPECTED_STATUS"


class NetworkError(DurableStreamError, ConnectionError):
    """The connection failed, was reset, or the body was cut off (also a builtin
    ``ConnectionError``); ``cause`` names what happened (``"connection_refused"``,
    ``"dns"``, ``"reset"``, ``"tls"``, ...)."""

    code = "NETWORK_ERROR"
    details = ("cause",)
    cause: str | None


class TimeoutError(DurableStreamError, builtins.TimeoutError):
    """A deadline passed (also a builtin ``TimeoutError``)."""

    code = "TIMEOUT"
    details = ("cause",)
    cause: str | None


class MalformedResponseError(DurableStreamError):
    """The server's answer does not follow the protocol."""

    code = "PARSE_ERROR"


class InvalidArgumentError(DurableStreamError, ValueError):
    """A value given by the caller was rejected before any I/O (also a builtin
    ``ValueError``); ``field`` names the argument as Python spells it."""

    code = "INVALID_ARGUMENT"
    details = ("field",)
    field: str | None


class CancelledError(DurableStreamError):
    """The operation was cancelled (session dropped, producer closed, ...)."""

    code = "CANCELLED"


class AbortedError(CancelledError):
    """The caller aborted the operation."""

    code = "ABORTED"


class ClosedError(DurableStreamError):
    """The producer or consumer has already failed or been closed."""

    code = "CLOSED"


class BufferFullError(DurableStreamError):
    """The producer's buffer limit is reached (non-waiting append)."""

    code = "BUFFER_FULL"


class CallbackFailedError(DurableStreamError):
    """Application code called by the SDK failed (its exception is ``__cause__``)."""

    code = "CALLBACK_FAILED"


class InternalError(DurableStreamError):
    """A bug in the SDK (a panic caught at the language boundary). Please report it."""

    code = "INTERNAL"


_BY_CODE: dict[str, type[DurableStreamError]] = {
    cls.code: cls for cls in (globals()[name] for name in __all__) if cls.code
}


def _from_native(info: dict[str, Any]) -> DurableStreamError:
    """Build the exception for an error record (``ErrorInfo``) of the native module."""
    cls = _BY_CODE.get(info["code"], DurableStreamError)
    return cls(info.pop("message"), **info)

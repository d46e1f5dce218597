"""Exceptions raised by durable_streams_sdk.

The classes mirror the core's one error table (``_native.error_table_json()``): the
same names, codes and hierarchy in every language binding. Each class takes its
``code`` and ``details`` from its row (a class with no row fails at import);
``tests/test_errors.py`` fails when names, order, parents or detail attributes here and
the table disagree. Every failure is a
:class:`DurableStreamError` with a stable ``code``, the HTTP ``status`` when there was
one, and ``transient`` (whether repeating the operation later may succeed). Details
carry the table's names and units (durations in milliseconds: ``retry_after_ms``).
"""

from __future__ import annotations

import builtins
import json
from typing import Any

from . import _native

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


_ROWS = {row["name"] + "Error": row for row in json.loads(_native.error_table_json())}
_BY_CODE: dict[str, type[DurableStreamError]] = {}


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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__module__ == __name__:  # the table's classes; an application's subclass keeps its parent's
            row = _ROWS[cls.__name__]
            cls.code, cls.details = row["code"], tuple(row["details"])
            _BY_CODE[cls.code] = cls

    def __repr__(self) -> str:
        extra = f", status={self.status}" if self.status is not None else ""
        return f"{type(self).__name__}({self.message!r}, code={self.code!r}{extra})"


class StreamNotFoundError(DurableStreamError):
    """The stream (or a fork source) does not exist (404)."""


class StreamClosedError(DurableStreamError):
    """The stream is closed; ``next_offset`` is its final offset."""

    next_offset: str | None


class StreamGoneError(DurableStreamError):
    """The stream was deleted, or the offset is older than retained data (410)."""

    earliest_offset: str | None


class StaleEpochError(DurableStreamError):
    """Another producer holds a newer epoch (403); ``current_epoch`` is the server's."""

    current_epoch: int | None


class ConflictError(DurableStreamError):
    """The request conflicts with the stream's state (409)."""


class SequenceGapError(ConflictError):
    """A producer request arrived ahead of its predecessors."""

    expected_seq: int | None
    received_seq: int | None


class SequenceConflictError(ConflictError):
    """A ``Stream-Seq`` not greater than the last accepted one."""


class ContentTypeMismatchError(ConflictError):
    """The body's content type differs from the stream's."""


class BadRequestError(DurableStreamError):
    """The server rejected the request (400); ``server_message`` is its explanation."""

    server_message: str | None


class InvalidOffsetError(BadRequestError):
    """The server rejected the read offset."""


class PayloadTooLargeError(DurableStreamError):
    """The body is larger than the server accepts (413)."""


class RateLimitedError(DurableStreamError):
    """Still rate limited (429) after retries; ``retry_after_ms`` when the server said."""

    retry_after_ms: int | None


class UnauthorizedError(DurableStreamError):
    """Authentication is missing or wrong (401)."""


class ForbiddenError(DurableStreamError):
    """Not allowed (403)."""


class NotSupportedError(DurableStreamError):
    """The server does not support this operation (405/501)."""


class UnexpectedStatusError(DurableStreamError):
    """Any other failure status, e.g. 5xx after retries."""


class NetworkError(DurableStreamError, ConnectionError):
    """The connection failed, was reset, or the body was cut off (also a builtin
    ``ConnectionError``); ``cause`` names what happened (``"connection_refused"``,
    ``"dns"``, ``"reset"``, ``"tls"``, ...)."""

    cause: str | None


class TimeoutError(DurableStreamError, builtins.TimeoutError):
    """A deadline passed (also a builtin ``TimeoutError``)."""

    cause: str | None


class MalformedResponseError(DurableStreamError):
    """The server's answer does not follow the protocol."""


class InvalidArgumentError(DurableStreamError, ValueError):
    """A value given by the caller was rejected before any I/O (also a builtin
    ``ValueError``); ``field`` names the argument as Python spells it."""

    field: str | None


class CancelledError(DurableStreamError):
    """The operation was cancelled (session dropped, producer closed, ...)."""


class AbortedError(CancelledError):
    """The caller aborted the operation."""


class ClosedError(DurableStreamError):
    """The producer or consumer has already failed or been closed."""


class BufferFullError(DurableStreamError):
    """The producer's buffer limit is reached (non-waiting append)."""


class CallbackFailedError(DurableStreamError):
    """Application code called by the SDK failed (its exception is ``__cause__``)."""


class InternalError(DurableStreamError):
    """A bug in the SDK (a panic caught at the language boundary). Please report it."""


def _from_native(info: dict[str, Any]) -> DurableStreamError:
    """Build the exception for an error record (the core's ``ErrorInfo``, serialized)."""
    del info["class"]  # the same row as the code
    return _BY_CODE.get(info["code"], DurableStreamError)(info.pop("message"), **info)

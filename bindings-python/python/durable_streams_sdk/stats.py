"""The shapes of ``Producer.stats()`` and ``Consumer.stats()``: plain dicts (cheap to
log or serialize), typed for checkers. The figures come from the Rust core
(``core/src/stats.rs``) and count from the start of the producer or consumer."""

from __future__ import annotations

from typing import TypedDict

__all__ = ["ProducerStats", "ConsumerStats"]


class ProducerStats(TypedDict):
    messages_enqueued: int
    """Messages handed to the producer (buffered, waiting or already stored)."""
    messages_sent: int
    """Messages in requests sent, repeats included."""
    bytes_sent: int
    messages_acked: int
    """Messages the server stored."""
    bytes_acked: int
    batches: int
    """Batches the server stored."""
    requests: int
    """Requests sent, repeats included."""
    retries: int
    """Requests repeated after a transient failure (network error, 5xx, 429)."""
    sequence_gaps: int
    """Requests repeated because they overtook their predecessor (409)."""
    in_flight: int
    buffered_bytes: int
    """Memory held for messages not stored yet."""
    last_error: str | None
    """The last failure seen, transient ones included (``CODE: message``)."""


class ConsumerStats(TypedDict):
    batches: int
    """Batches with data received."""
    bytes: int
    """Their bytes."""
    reconnects: int
    """Times the consumer re-opened its read after a failure."""
    checkpoint: str
    """The offset after the last accepted batch."""
    last_error: str | None
    """The failure behind the last reconnect (``CODE: message``)."""

"""Long-running consumers: follow a stream for as long as it exists, reconnecting with
backoff, and keep a checkpoint (the offset after the last accepted batch).

Two ways to use them:

* subclass :class:`Consumer` (or :class:`AsyncConsumer`) and override ``handle_batch``
  (plus, optionally, ``handle_error``, ``handle_up_to_date``, ``handle_closed``), then
  ``run()`` it (or ``start()`` it in the background);
* iterate it: ``for event in consumer`` / ``async for event in consumer`` yields
  :class:`ConsumerEvent` objects (``kind`` is ``"batch"``, ``"up_to_date"``, ``"closed"``
  or ``"reconnecting"``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Generic, Literal, TypeVar, Union

from . import _native
from ._native import AsyncStream, Chunk, ConsumerEvent, ConsumerResult, Stream
from .stats import ConsumerStats

Live = Union[bool, Literal["off", "auto", "long-poll", "sse"]]

__all__ = ["Consumer", "AsyncConsumer"]

_S = TypeVar("_S", Stream, AsyncStream)


class _Engine(Generic[_S]):
    """What :class:`Consumer` and :class:`AsyncConsumer` share: the options, the native
    engine and the calls that are the same in both flavours."""

    def __init__(
        self,
        stream: _S,
        *,
        offset: str | None = None,
        live: Live | None = None,
        backoff_base: float | None = None,
        backoff_max: float | None = None,
        headers: Mapping[str, str] | None = None,
        max_chunk_bytes: int | None = None,
    ) -> None:
        self._runner = _native.ConsumerRunner(
            stream,
            offset=offset,
            live=live,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            headers=dict(headers) if headers is not None else None,
            max_chunk_bytes=max_chunk_bytes,
        )

    def start(self) -> None:
        """Run in the background (an :class:`AsyncConsumer`: call from a coroutine); see
        :meth:`wait` and :meth:`stop`."""
        self._runner.start(self)

    def pause(self) -> None:
        self._runner.pause()

    def resume(self) -> None:
        self._runner.resume()

    @property
    def checkpoint(self) -> str:
        """The offset after the last accepted batch: persist it to resume later."""
        return self._runner.checkpoint

    @property
    def running(self) -> bool:
        return self._runner.running

    def stats(self) -> ConsumerStats:
        """Batches and bytes received, reconnects, checkpoint and last error so far."""
        return self._runner.stats()


class Consumer(_Engine[Stream]):
    """Blocking consumer. Handlers run on a worker thread of the SDK, one at a time.

    ``handle_batch`` returns ``None``/``True`` to accept the batch (the checkpoint moves
    past it) or ``False`` to accept it and stop; raising rejects it and goes to
    ``handle_error``. ``handle_error`` returns ``True`` to reconnect from the checkpoint
    (after backoff), ``False`` to stop with that error, or ``None`` for the default:
    reconnect after transient failures, stop on everything else.
    """

    # -- handlers (override) ---------------------------------------------------------

    def handle_batch(self, batch: Chunk) -> bool | None:
        """A batch of new data."""
        raise NotImplementedError("subclass Consumer and override handle_batch, or iterate the consumer")

    def handle_error(self, error: BaseException) -> bool | None:
        """A failure: a ``DurableStreamError``, or what ``handle_batch`` raised."""
        return None

    def handle_up_to_date(self, offset: str) -> None:
        """Caught up with the tail (once per catch-up)."""

    def handle_closed(self, final_offset: str) -> None:
        """The stream was closed and everything was handled."""

    # -- control ---------------------------------------------------------------------

    def run(self) -> ConsumerResult:
        """Start and block until the consumer ends (Ctrl-C stops it)."""
        self.start()
        try:
            return self._runner.wait()
        except BaseException:
            if self._runner.running:
                self._runner.cancel()
            raise

    def wait(self, timeout: float | None = None) -> ConsumerResult:
        """Block until the consumer ends; raises what it ended with, or
        ``TimeoutError`` when ``timeout`` (seconds) passes first."""
        return self._runner.wait(timeout)

    def stop(self) -> ConsumerResult:
        """Stop after the batch in hand and wait for the consumer to end."""
        return self._runner.stop()

    def __iter__(self) -> Iterator[ConsumerEvent]:
        return self._runner


class AsyncConsumer(_Engine[AsyncStream]):
    """asyncio consumer. Handlers may be coroutines; they run on the loop that called
    :meth:`start` / :meth:`run`. Same handler contract as :class:`Consumer`."""

    async def handle_batch(self, batch: Chunk) -> bool | None:
        """A batch of new data."""
        raise NotImplementedError("subclass AsyncConsumer and override handle_batch, or iterate the consumer")

    async def handle_error(self, error: BaseException) -> bool | None:
        """A failure: a ``DurableStreamError``, or what ``handle_batch`` raised."""
        return None

    async def handle_up_to_date(self, offset: str) -> None:
        """Caught up with the tail (once per catch-up)."""

    async def handle_closed(self, final_offset: str) -> None:
        """The stream was closed and everything was handled."""

    async def run(self) -> ConsumerResult:
        """Start and wait until the consumer ends; cancelling the task stops it."""
        self.start()
        try:
            return await self._runner.wait_async()
        except BaseException:
            if self._runner.running:
                self._runner.cancel()
            raise

    async def wait(self, timeout: float | None = None) -> ConsumerResult:
        return await self._runner.wait_async(timeout)

    async def stop(self) -> ConsumerResult:
        return await self._runner.stop_async()

    def __aiter__(self) -> AsyncIterator[ConsumerEvent]:
        return self._runner

"""asyncio helpers of read sessions: JSON message iteration, and each loop's wake-up descriptor.

JSON iteration is an async generator over the session's chunks: each message costs one
generator step, not one awaitable object and one ``StopIteration`` as a native
``__anext__`` would (which made ``async for v in session.json()`` 1.5x the blocking
iterator's CPU).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, final

if TYPE_CHECKING:
    from ._native import AsyncReadSession, _Notifier

_notifiers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Notifier] = weakref.WeakKeyDictionary()


def notifier(loop: asyncio.AbstractEventLoop) -> _Notifier:
    """The loop's wake-up descriptor for read sessions that wait (``src/wake.rs``): one per
    loop, watched with ``loop.add_reader``. Raises where the loop cannot watch a socket
    (Windows' proactor loop); the session then waits another way."""
    n = _notifiers.get(loop)
    if n is None:
        from ._native import _Notifier

        # A closed loop's descriptor is not watched any more: close it now rather than when
        # the loop is collected.
        for closed in [lp for lp in _notifiers if lp.is_closed()]:
            _notifiers.pop(closed).close()
        n = _Notifier()
        loop.add_reader(n.fileno(), n.ready)
        _notifiers[loop] = n
    return n


@final
class AsyncJsonIterator:
    """Decoded JSON messages of a read session (asyncio): ``async for v in session.json()``."""

    __slots__ = ("_session", "_messages")

    def __init__(self, session: AsyncReadSession) -> None:
        self._session = session
        self._messages = _messages(session)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._messages

    def __anext__(self) -> Any:
        return self._messages.__anext__()

    @property
    def offset(self) -> str:
        """Offset to resume from (of the underlying session)."""
        return self._session.offset


async def _messages(session: AsyncReadSession) -> AsyncIterator[Any]:
    async for chunk in session:
        for value in chunk.json():
            yield value

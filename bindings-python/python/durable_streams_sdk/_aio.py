"""asyncio iteration of a read session's decoded JSON messages.

An async generator over the session's chunks: each message costs one generator step,
not one awaitable object and one ``StopIteration`` as a native ``__anext__`` would
(which made ``async for v in session.json()`` 1.5x the blocking iterator's CPU).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, final

if TYPE_CHECKING:
    from ._native import AsyncReadSession


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

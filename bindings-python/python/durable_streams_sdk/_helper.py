"""A private asyncio loop on a daemon thread, for coroutine callbacks that have no
loop of their own (e.g. an async dynamic-header callable used by the blocking Client).
Recreated lazily after ``os.fork()``: the parent's thread does not exist in the child."""

from __future__ import annotations

import asyncio
import os
import threading

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def helper_loop() -> asyncio.AbstractEventLoop:
    global _loop, _thread
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="durable-streams-callbacks", daemon=True)
            thread.start()
            _loop, _thread = loop, thread
        return _loop


def _reset_after_fork() -> None:
    global _loop, _thread, _lock
    _lock = threading.Lock()
    _loop = None
    _thread = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)

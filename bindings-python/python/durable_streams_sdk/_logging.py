"""Delivers the core's log records to :mod:`logging` (logger ``durable_streams_sdk``).

The native side queues records without touching the GIL; this daemon thread takes them
(waiting with the GIL released) and logs them, and keeps the native threshold in step
with the loggers' effective levels, so disabled levels cost one atomic load.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading

from . import _native

_NAMES = ("durable_streams_sdk", *(f"durable_streams_sdk.{c}" for c in ("http", "read", "producer", "consumer")))
_stop = threading.Event()
_thread: threading.Thread | None = None


def _effective_level() -> int:
    return min(logging.getLogger(n).getEffectiveLevel() for n in _NAMES)


def sync_level() -> None:
    """Apply a logging level change now (the pump thread applies it within 0.2 s)."""
    _native._log_set_level(_effective_level())


def _pump() -> None:
    while not _stop.is_set():
        for name, level, line in _native._log_take(0.2):
            logging.getLogger(name).log(level, "%s", line)
        _native._log_set_level(_effective_level())


def _start_thread() -> None:
    global _thread
    _thread = threading.Thread(target=_pump, name="durable_streams_sdk-logging", daemon=True)
    _thread.start()


def _shutdown() -> None:
    # Before interpreter finalization, so the thread never re-enters a dying interpreter.
    _stop.set()
    if _thread is not None and _thread.is_alive():
        _thread.join(timeout=1.0)


def start() -> None:
    if _native._log_install(_effective_level()):
        _start_thread()
        atexit.register(_shutdown)
        os.register_at_fork(after_in_child=_start_thread)

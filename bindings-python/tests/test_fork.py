"""Fork-safety: the core's runtime and connection pool are per process, so a forked
child works, with a new client or with one the parent already used."""

from __future__ import annotations

import os
import sys

import pytest

import durable_streams_sdk as ds

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def run_in_child(fn) -> int:  # type: ignore[no-untyped-def]
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 1
        try:
            fn()
            code = 0
        except BaseException as e:  # report and fail the child
            print(f"child failed: {e!r}", file=sys.stderr, flush=True)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_new_client_in_a_forked_child_after_the_parent_used_the_runtime(server_url: str, path: str) -> None:
    parent = ds.Client(server_url).stream(path)
    parent.create(content_type="text/plain")
    parent.append("parent;")  # the parent's runtime threads are running now

    def child() -> None:
        s = ds.Client(server_url, request_timeout=5).stream(path)
        s.append("child;")
        assert s.read_all() == b"parent;child;"

    assert run_in_child(child) == 0
    assert parent.read_all() == b"parent;child;"
    parent.append("parent-again;")  # the parent is unaffected


def test_same_client_in_a_forked_child_after_use_in_the_parent(server_url: str, path: str) -> None:
    client = ds.Client(server_url, request_timeout=3, retry=ds.RetryOptions.none())
    s = client.stream(path)
    s.create(content_type="text/plain")
    s.append("parent;")

    def child() -> None:
        s.append("child;")
        assert s.read_all() == b"parent;child;"

    assert run_in_child(child) == 0
    s.append("parent-again;")
    assert s.read_all() == b"parent;child;parent-again;"

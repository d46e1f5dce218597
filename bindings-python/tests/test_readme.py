"""The README's code runs as written (against the test server instead of :4437)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import REPO


def test_readme_examples_run(server_url: str) -> None:
    text = (REPO / "bindings-python" / "README.md").read_text()
    blocks = [textwrap.dedent(b) for b in re.findall(r"```python\n(.*?)```", text, re.S)]
    assert len(blocks) >= 5
    script = "\n".join(blocks)
    script = script.replace("http://127.0.0.1:4437", server_url)
    # As written (fresh stream names per run), twice in a row.
    for _ in range(2):
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd="/")
        assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "{'order': 0}\n{'order': 1}\n{'order': 2}\n" in out
    assert "closed: True" in out
    assert "got {'event': 'signup'}" in out and "stored at" in out
    assert "[{'order': 0}, {'order': 1}, {'order': 2}]" in out
    assert "closed stopped" not in out and "\nclosed " in out  # the consumer ended with the stream
    assert "closed at " in out


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy not installed")
def test_asyncio_quick_start_passes_mypy_strict(tmp_path: Path) -> None:
    text = (REPO / "bindings-python" / "README.md").read_text()
    section = text.split("## Quick start (asyncio)", 1)[1]
    block = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    assert "ack=True" in block
    f = tmp_path / "quickstart_async.py"
    f.write_text(block)
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", str(f)], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr

"""The .pyi stubs match the runtime: mypy's stubtest when available, and an
inspect-based check of every public name and signature either way."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import durable_streams_sdk as ds
from durable_streams_sdk import _native

STUB = Path(ds.__file__).resolve().parent / "_native.pyi"


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy not installed")
def test_stubtest() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "durable_streams_sdk"], capture_output=True, text=True, cwd="/"
    )
    assert r.returncode == 0, r.stdout + r.stderr


def _stub_classes() -> dict[str, dict[str, ast.FunctionDef]]:
    tree = ast.parse(STUB.read_text())
    out: dict[str, dict[str, ast.FunctionDef]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            out[node.name] = {f.name: f for f in node.body if isinstance(f, ast.FunctionDef)}
    return out


def test_every_stub_name_and_signature_exists_at_runtime() -> None:
    classes = _stub_classes()
    assert classes, "no classes in the stub"
    for cls_name, methods in classes.items():
        cls = getattr(_native, cls_name)
        for name, fn in methods.items():
            attr = inspect.getattr_static(cls, name, None)
            assert attr is not None, f"{cls_name}.{name} missing at runtime"
            if any(isinstance(d, ast.Name) and d.id == "property" for d in fn.decorator_list):
                continue
            target = cls if name == "__new__" else getattr(cls, name)
            try:
                sig = inspect.signature(target)
            except (TypeError, ValueError):
                continue  # slot wrappers without text signatures
            stub_kwonly = {a.arg for a in fn.args.kwonlyargs}
            rt_kwonly = {p.name for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}
            assert stub_kwonly == rt_kwonly, f"{cls_name}.{name}: keyword-only {stub_kwonly} != {rt_kwonly}"
            # Positional-only names are not part of the API: compare their count only.
            stub_pos = [a.arg for a in fn.args.posonlyargs if a.arg not in ("self", "cls")]
            stub_pos = ["/"] * len(stub_pos) + [a.arg for a in fn.args.args if a.arg not in ("self", "cls")]
            rt_pos = [
                "/" if p.kind is inspect.Parameter.POSITIONAL_ONLY else p.name
                for p in sig.parameters.values()
                if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                and p.name not in ("self", "cls", "type")
            ]
            assert stub_pos == rt_pos, f"{cls_name}.{name}: positional {stub_pos} != {rt_pos}"


def test_package_exports_are_documented() -> None:
    for name in ds.__all__:
        assert hasattr(ds, name), name


def test_package_exports_every_error_class() -> None:
    # __init__ star-imports the errors; its __all__ must still name each one (type
    # checkers only read a literal __all__).
    missing = [name for name in ds.errors.__all__ if name not in ds.__all__]
    assert not missing, missing


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy not installed")
def test_package_type_checks_strictly() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "-p", "durable_streams_sdk"],
        capture_output=True,
        text=True,
        cwd="/",
    )
    assert r.returncode == 0, r.stdout + r.stderr

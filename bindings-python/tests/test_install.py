"""The suite must exercise the installed wheel, not the source tree."""

from pathlib import Path

import durable_streams_sdk as ds
from durable_streams_sdk import _native


def test_imports_the_installed_package() -> None:
    pkg = Path(ds.__file__).resolve().parent
    source = Path(__file__).resolve().parents[1] / "python" / "durable_streams_sdk"
    assert pkg != source.resolve(), f"imported the source tree {pkg}, not the installed wheel"
    assert Path(_native.__file__).name.endswith(".so")
    assert (pkg / "py.typed").exists()
    assert (pkg / "_native.pyi").exists()
    assert ds.__version__

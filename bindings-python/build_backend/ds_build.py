"""PEP 517 backend: maturin, except that a missing Rust toolchain is an error.

maturin's own backend silently downloads a private Rust toolchain (about 600 MB) into a
cache when `cargo` is not on PATH. Installing this package from its sdist should instead
say what is missing: a prebuilt wheel exists for common platforms, and building from
source needs Rust. DURABLE_STREAMS_SDK_INSTALL_RUST=1 restores maturin's download.
"""

import os
import shutil

if os.environ.get("DURABLE_STREAMS_SDK_INSTALL_RUST") != "1":
    os.environ["MATURIN_NO_INSTALL_RUST"] = "1"

from maturin import *  # noqa: E402,F401,F403  (the PEP 517 hooks)
from maturin import build_wheel as _build_wheel  # noqa: E402
from maturin import build_editable as _build_editable  # noqa: E402
from maturin import prepare_metadata_for_build_wheel as _prepare_metadata  # noqa: E402

_MESSAGE = (
    "durable-streams-sdk: building from source needs a Rust toolchain (cargo on PATH; "
    "Rust >= 1.85, https://rustup.rs), and none was found. Install a prebuilt wheel "
    "instead (pip install --only-binary durable-streams-sdk durable-streams-sdk), install "
    "Rust, or set DURABLE_STREAMS_SDK_INSTALL_RUST=1 to let maturin download a private "
    "toolchain (about 600 MB)."
)


def _require_cargo() -> None:
    if os.environ.get("DURABLE_STREAMS_SDK_INSTALL_RUST") != "1" and shutil.which("cargo") is None:
        raise RuntimeError(_MESSAGE)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _require_cargo()
    return _build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    _require_cargo()
    return _build_editable(wheel_directory, config_settings, metadata_directory)


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    _require_cargo()
    return _prepare_metadata(metadata_directory, config_settings)

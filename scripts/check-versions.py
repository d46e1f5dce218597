#!/usr/bin/env python3
"""Every package's version comes from one place: [workspace.package] version in the
workspace Cargo.toml. Crates inherit it (version.workspace = true), the Python package
takes it from its crate (dynamic = ["version"], filled in by maturin); the npm manifests
cannot inherit, so this check fails when any of them disagrees.

    python3 scripts/check-versions.py          # check
    python3 scripts/check-versions.py --fix    # rewrite the npm manifests to the workspace version
"""
import json
import pathlib
import re
import sys
import tomllib

root = pathlib.Path(__file__).resolve().parent.parent
fix = "--fix" in sys.argv[1:]
version = tomllib.loads((root / "Cargo.toml").read_text())["workspace"]["package"]["version"]
problems = []

for crate in ["core", "bindings-python", "bindings-node"]:
    pkg = tomllib.loads((root / crate / "Cargo.toml").read_text())["package"]
    if pkg.get("version") != {"workspace": True}:
        problems.append(f"{crate}/Cargo.toml: version must be `version.workspace = true`")

py = tomllib.loads((root / "bindings-python/pyproject.toml").read_text())["project"]
if "version" in py or "version" not in py.get("dynamic", []):
    problems.append('bindings-python/pyproject.toml: version must be dynamic = ["version"] (from the crate)')

manifests = [root / "bindings-node/package.json", *sorted((root / "bindings-node/npm").glob("*/package.json"))]
lock = root / "bindings-node/package-lock.json"
for path in manifests + [lock]:
    text = path.read_text()
    data = json.loads(text)
    found = [data.get("version")]
    if path == lock:
        found.append(data.get("packages", {}).get("", {}).get("version"))
    if all(v == version for v in found):
        continue
    rel = path.relative_to(root)
    if fix:
        # Only the package's own "version" keys (top level, and the lock's root entry).
        text = re.sub(r'^(  "version": )"[^"]*"', rf'\g<1>"{version}"', text, count=1, flags=re.M)
        if path == lock:
            text = re.sub(r'(\n    "": \{\n(?:      .*\n)*?      "version": )"[^"]*"', rf'\g<1>"{version}"', text, count=1)
        path.write_text(text)
        print(f"fixed {rel}: {found} -> {version}")
    else:
        problems.append(f"{rel}: version {found} != workspace version {version}")

if problems:
    print("version check failed (python3 scripts/check-versions.py --fix rewrites the npm manifests):", file=sys.stderr)
    for p in problems:
        print(f"  {p}", file=sys.stderr)
    sys.exit(1)
print(f"versions: every package is {version} ({len(manifests)} npm manifests, 3 crates, pyproject)")

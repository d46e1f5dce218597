#!/usr/bin/env bash
# Checks .github/workflows/*.yml without running them: YAML parse and structure (every job
# has runs-on and steps, every step uses or runs, needs name existing jobs, actions are
# pinned to a version), then actionlint when it is on PATH (go install
# github.com/rhysd/actionlint/cmd/actionlint@latest).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python3 - .github/workflows/*.yml <<'PY'
import sys
try:
    import yaml
except ImportError:
    sys.exit("check-workflows: PyYAML is needed (pip install pyyaml)")
bad = []
for path in sys.argv[1:]:
    doc = yaml.safe_load(open(path))
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` key as True
    if not on:
        bad.append(f"{path}: no triggers")
    jobs = doc.get("jobs") or {}
    if not jobs:
        bad.append(f"{path}: no jobs")
    for name, job in jobs.items():
        needs = job.get("needs", [])
        for n in [needs] if isinstance(needs, str) else needs:
            if n not in jobs:
                bad.append(f"{path}: job {name} needs unknown job {n}")
        if "runs-on" not in job:
            bad.append(f"{path}: job {name} has no runs-on")
        for i, step in enumerate(job.get("steps") or []):
            if ("uses" in step) == ("run" in step):
                bad.append(f"{path}: job {name} step {i} needs exactly one of uses/run")
            if "uses" in step and "@" not in step["uses"]:
                bad.append(f"{path}: job {name} step {i}: {step['uses']} is not pinned")
        if not job.get("steps"):
            bad.append(f"{path}: job {name} has no steps")
    print(f"{path}: YAML ok, {len(jobs)} jobs: {', '.join(jobs)}")
if bad:
    sys.exit("\n".join(bad))
PY
if command -v actionlint >/dev/null; then
  actionlint .github/workflows/*.yml && echo "actionlint: ok"
else
  echo "actionlint: not installed (skipped)"
fi

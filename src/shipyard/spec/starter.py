"""The commented shipyard.yaml that `shipyard init` writes, shaped by what the repository holds."""

from __future__ import annotations

import re
from pathlib import Path


def project_name(root: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", root.resolve().name).strip("-.") or "service"
    return name if name[0].isalnum() else f"p{name}"


def starter(root: Path) -> str:
    name = project_name(root)
    python = (root / "pyproject.toml").exists() or (root / "setup.py").exists()
    if python:
        jobs = """\
    lint:
      run: ruff check .
      inputs: ["**/*.py", pyproject.toml]
    test:
      needs: [lint]
      run: pytest -q
      inputs: ["**/*.py", pyproject.toml]
      timeout: 10m
      retries: 1                 # a flaky step gets one more try, with backoff
    build:
      needs: [test]
      run: python -m build --wheel --outdir dist
      inputs: ["**/*.py", pyproject.toml]
      outputs: ["dist/*.whl"]
      artifact: wheel            # registered as an immutable, versioned artifact"""
    else:
        jobs = """\
    test:
      run: make test
      inputs: ["**/*"]
      timeout: 10m
    build:
      needs: [test]
      run: make build
      inputs: ["**/*"]
      outputs: ["dist/**"]
      artifact: build"""
    return f"""\
# shipyard.yaml: how {name} is built, released and deployed.
# Validate with `shipyard validate`; the full reference is in docs/shipyard-yaml.md.
project: {name}

pipeline:
  # Jobs form a DAG through `needs` and run in parallel. Each step is cached by the content
  # of its `inputs`, its command, env and tools: an unchanged step never runs twice.
  jobs:
{jobs}

environments:
  dev:
    target: {{type: process, command: "python -m {name.replace("-", "_")} --port {{port}}", instances: 1}}
    strategy: recreate
  staging:
    promote_from: dev            # deploys the version live in dev; never rebuilds
    strategy: blue-green
    gates: [tests]
  production:
    promote_from: staging
    strategy:
      canary:
        steps:
          - {{weight: 10}}
          - {{analysis: errors, duration: 2m}}
          - {{weight: 50}}
          - {{analysis: errors, duration: 5m}}
          - {{weight: 100}}
    gates: [tests, {{approval: {{min: 1, not_author: true}}}}, freeze]

analysis:
  errors: {{provider: builtin, metric: error_rate, max_increase: 0.005}}

release:
  versioning: conventional-commits   # feat -> minor, fix -> patch, ! -> major
  freezes: []
  #  - {{name: year-end, start: 2026-12-20, end: 2027-01-04}}
  #  - {{name: weekends, start_cron: "0 18 * * FRI", end_cron: "0 8 * * MON", timezone: Europe/Berlin}}
"""

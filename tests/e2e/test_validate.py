"""`shipyard validate` as a user runs it: every problem of a file in one pass, and YAML that
would exhaust memory refused within a small, fixed amount of it."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.helpers import shipyard
from tests.yamlbomb import laughs

# Far below what expanding the aliases of issue 23 takes (1.2 GB for 8 levels, ten times that
# per level more), far above what reading any of these files needs: a regression fails here
# with a MemoryError instead of swapping the machine.
ADDRESS_SPACE = 512 * 1024 * 1024


def validate_limited(path: Path) -> tuple[int, str, int]:
    """`shipyard validate --file path` under ADDRESS_SPACE: exit status, stderr, peak RSS in KiB."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    env = {k: v for k, v in os.environ.items() if k != "SHIPYARD_SERVER"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipyard", "validate", "--file", str(path)],
        cwd=path.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=limit,
    )
    assert proc.stderr is not None
    try:
        err = proc.stderr.read().decode()
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak, not all children's
    finally:
        proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, err, usage.ru_maxrss


ORDINARY_ANCHORS = """\
project: anchors
pipeline:
  jobs:
    lint: {run: ruff check ., env: &env {CI: "1", LANG: C.UTF-8}}
    test: {run: pytest -q, needs: [lint], env: *env}
    build: {run: make, needs: [test], env: *env}
environments:
  dev: {target: &target {type: process, command: "app --port {port}", instances: 2}}
  qa: {target: *target, promote_from: dev}
"""


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> int:
    """Peak RSS (KiB) of validating an ordinary file that uses anchors, under the same limit."""
    path = tmp_path_factory.mktemp("anchors") / "shipyard.yaml"
    path.write_text(ORDINARY_ANCHORS)
    status, err, peak = validate_limited(path)
    assert status == 0, err
    return peak


@pytest.mark.parametrize("levels", [8, 9, 10])
def test_alias_bombs_are_refused_within_a_small_memory_budget(
    tmp_path: Path, baseline: int, levels: int
) -> None:
    """Nine aliases a level, 8 to 10 levels deep, are refused at the alias that crosses the
    budget, using under 50 MB more than validating an ordinary file."""
    path = tmp_path / "shipyard.yaml"
    path.write_text(laughs(levels))
    status, err, peak = validate_limited(path)
    assert status == 2, err
    assert f"error[yaml-too-complex]: {path}:6:8: aliases expand to over 10,000 nodes" in err
    assert "hint:" in err
    assert peak - baseline < 50 * 1024, (peak, baseline)


def test_ordinary_anchors_validate(tmp_path: Path) -> None:
    """A shared env block and a repeated target written once with anchors validate."""
    (tmp_path / "shipyard.yaml").write_text(ORDINARY_ANCHORS)
    proc = shipyard("validate", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout and "3 job(s)" in proc.stdout


MANY = """\
project: many
pipeline:
  jobs:
    a: {run: echo a, needs: [b]}
    b: {run: echo b, needs: [a]}
    c: {run: echo c, if: "success( &&"}
    d: {run: echo d, matrix: {x: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]
         , y: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]}}
    e: {run: echo e, timeout: 0, tiemout: 5}
environments:
  dev:
    target: {type: process, command: "python -m app"}
  staging:
    promote_from: dev
    gates: [tests, tset]
    strategy: {canary: {steps: [{weight: 50}, {weight: 10}, {analysis: errors, duration: 0}]}}
analysis:
  errors: {provider: builtin, metric: error_rate}
  latency: {provider: prometheus, metric: query, query: up, max: 1}
  q: {provider: builtin, metric: query, query: up, max: 1}
release:
  train: {cut: "0 25 * * MON", timezone: Mars/Olympus}
  freezes:
    - {name: weekends, start_cron: "0 18 * * FRY", end_cron: "0 8 * * MON"}
"""

EXPECTED = [
    # (code, line:column, key) in file order
    ("pipeline-cycle", "4:29", "pipeline.jobs.a.needs"),
    ("expression-invalid", "6:26", "pipeline.jobs.c.if"),
    ("matrix-too-large", "7:30", "pipeline.jobs.d.matrix"),
    ("spec-type", "9:31", "pipeline.jobs.e.timeout"),
    ("spec-unknown-key", "9:34", None),  # unknown keys are named in the message
    ("target-config-invalid", "12:38", "environments.dev.target.command"),
    ("gate-unknown", "15:12", "environments.staging.gates"),
    ("rollout-spec-invalid", "16:47", "environments.staging.strategy.canary.steps.1"),
    ("rollout-spec-invalid", "16:61", "environments.staging.strategy.canary.steps.2"),
    ("analysis-config-invalid", "18:39", "analysis.errors.metric"),
    ("analysis-config-invalid", "19:23", "analysis.latency.provider"),
    ("analysis-config-invalid", "20:34", "analysis.q.metric"),
    ("cron-invalid", "22:16", "release.train.cut"),
    ("timezone-unknown", "22:42", "release.train.timezone"),
    ("cron-invalid", "24:36", "release.freezes.0.start_cron"),
]


def test_every_problem_is_reported_in_one_run(tmp_path: Path) -> None:
    """A file with many kinds of problem gets each one, in file order, with its position,
    key and hint, and a count at the end."""
    (tmp_path / "shipyard.yaml").write_text(MANY)
    proc = shipyard("validate", "--file", "shipyard.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error[")]
    hints = [line for line in lines if line.startswith("  hint: ")]
    assert len(errors) == len(hints) == len(EXPECTED), proc.stderr
    for line, (code, where, key) in zip(errors, EXPECTED, strict=True):
        assert line.startswith(f"error[{code}]: shipyard.yaml:{where}: "), line
        assert key is None or f":{where}: {key}: " in line, line
    assert lines[-1] == f"{len(EXPECTED)} problems in shipyard.yaml"

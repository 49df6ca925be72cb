"""`shipyard validate` refuses what `run`, `deploy`, `freeze` and `train` would refuse later,
each problem at its file:line:column with its key and a hint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shipyard.cli.main import run

PROCESS = 'target: {type: process, command: "app --port {port}"}'


def validate(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    """Run `shipyard validate --json` on ``text``; its exit status and its JSON output."""
    path = tmp_path / "shipyard.yaml"
    path.write_text(text)
    with pytest.raises(SystemExit) as done:
        run(["validate", "--json", "--file", str(path)])
    code = done.value.code
    return int(code) if isinstance(code, int) else 1, json.loads(capsys.readouterr().out)


def problems(out: Any) -> list[dict[str, Any]]:
    """Every problem an error output lists: its ``problems``, or the error itself."""
    error = out["error"]
    found: list[dict[str, Any]] = error.get("details", {}).get("problems") or [error]
    return found


CASES = [
    # (id, yaml, code, line, column, key)
    (
        "freeze cron",
        "project: x\nrelease:\n  freezes:\n"
        '    - {name: w, start_cron: "0 18 * * FRY", end_cron: "0 8 * * MON"}\n',
        "cron-invalid",
        4,
        29,
        "release.freezes.0.start_cron",
    ),
    (
        "train cron",
        'project: x\nrelease:\n  train: {cut: "0 25 * * MON"}\n',
        "cron-invalid",
        3,
        16,
        "release.train.cut",
    ),
    (
        "needs cycle",
        "project: x\npipeline:\n  jobs:\n"
        "    a: {run: x, needs: [b]}\n    b: {run: y, needs: [a]}\n",
        "pipeline-cycle",
        4,
        24,
        "pipeline.jobs.a.needs",
    ),
    (
        "unparsable if",
        "project: x\npipeline:\n  jobs:\n    a: {run: x, if: 'success( &&'}\n",
        "expression-invalid",
        4,
        21,
        "pipeline.jobs.a.if",
    ),
    (
        "matrix over the limit",
        "project: x\npipeline:\n  jobs:\n"
        "    a: {run: x, matrix: {p: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],"
        " q: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]}}\n",
        "matrix-too-large",
        4,
        25,
        "pipeline.jobs.a.matrix",
    ),
    (
        "canary weights go down",
        f"project: x\nenvironments:\n  prod:\n    {PROCESS}\n"
        "    strategy: {canary: {steps: [{weight: 50}, {weight: 10}]}}\n",
        "rollout-spec-invalid",
        5,
        47,
        "environments.prod.strategy.canary.steps.1",
    ),
    (
        "analysis without a limit",
        "project: x\nanalysis:\n  errors: {provider: builtin, metric: error_rate}\n",
        "analysis-config-invalid",
        3,
        39,
        "analysis.errors.metric",
    ),
    (
        "prometheus without an address",
        "project: x\nanalysis:\n  p: {provider: prometheus, metric: error_rate, max: 0.01}\n",
        "analysis-config-invalid",
        3,
        17,
        "analysis.p.provider",
    ),
    (
        "query on the built-in provider",
        "project: x\nanalysis:\n  q: {metric: query, query: up, max: 1}\n",
        "analysis-config-invalid",
        3,
        15,
        "analysis.q.metric",
    ),
    (
        "process command without a port",
        'project: x\nenvironments:\n  dev:\n    target: {type: process, command: "app"}\n',
        "target-config-invalid",
        4,
        38,
        "environments.dev.target.command",
    ),
    (
        "analysis duration 0",
        f"project: x\nenvironments:\n  prod:\n    {PROCESS}\n"
        "    strategy: {canary: {steps: [{weight: 5}, {analysis: e, duration: 0}]}}\n"
        "analysis:\n  e: {max_increase: 0.01}\n",
        "rollout-spec-invalid",
        5,
        46,
        "environments.prod.strategy.canary.steps.1",
    ),
    (
        "pause 0",
        f"project: x\nenvironments:\n  prod:\n    {PROCESS}\n"
        "    strategy: {canary: {steps: [{weight: 5}, {pause: 0}]}}\n",
        "rollout-spec-invalid",
        5,
        46,
        "environments.prod.strategy.canary.steps.1",
    ),
    (
        "timeout 0",
        "project: x\npipeline:\n  jobs:\n    a: {run: x, timeout: 0}\n",
        "spec-type",
        4,
        26,
        "pipeline.jobs.a.timeout",
    ),
    (
        "unknown gate",
        f"project: x\nenvironments:\n  dev:\n    {PROCESS}\n    gates: [tests, tset]\n",
        "gate-unknown",
        5,
        12,
        "environments.dev.gates",
    ),
    (
        "freeze time zone",
        "project: x\nrelease:\n  freezes:\n"
        "    - {name: y, start: 2026-12-20, end: 2027-01-04, timezone: Mars/Olympus}\n",
        "timezone-unknown",
        4,
        63,
        "release.freezes.0.timezone",
    ),
    (
        "freeze environment",
        f"project: x\nenvironments:\n  prod:\n    {PROCESS}\nrelease:\n  freezes:\n"
        "    - {name: y, start: 2026-12-20, end: 2027-01-04, environments: [prd]}\n",
        "spec-unknown-reference",
        7,
        68,
        "release.freezes.0.environments.0",
    ),
]


@pytest.mark.parametrize(
    ("text", "code", "line", "column", "key"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_validate_refuses_what_a_later_command_would(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    code: str,
    line: int,
    column: int,
    key: str,
) -> None:
    """Each problem a later command would meet fails validate with its code, position and key."""
    status, out = validate(tmp_path, text, capsys)
    assert status == 2, out
    found = problems(out)
    assert len(found) == 1, found
    details = found[0]["details"]
    assert found[0]["code"] == code, found
    assert (details["line"], details["column"], details["key"]) == (line, column, key), found
    assert found[0]["hint"] and found[0]["message"]


def test_a_command_target_is_checked_for_its_strategy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A canary on a command target without set_weight fails validate as deploy would."""
    text = (
        "project: x\nenvironments:\n  prod:\n    target: {type: command, deploy: ./d.sh}\n"
        "    strategy: {canary: {steps: [{weight: 10}, {weight: 100}]}}\n"
    )
    status, out = validate(tmp_path, text, capsys)
    assert status == 2 and [p["code"] for p in problems(out)] == ["hook-missing"]


def test_an_environment_for_flags_alone_needs_no_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An environment nobody deploys to (flags only) validates without a target."""
    status, out = validate(tmp_path, "project: x\nenvironments:\n  flags-only: {}\n", capsys)
    assert status == 0 and out["valid"] is True


def test_an_inherited_target_is_blamed_where_it_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad target is reported once, at its own environment, not at those promoting from it."""
    text = (
        "project: x\nenvironments:\n"
        '  dev: {target: {type: process, command: "app"}}\n'
        "  prod: {promote_from: dev}\n"
    )
    status, out = validate(tmp_path, text, capsys)
    found = problems(out)
    assert status == 2 and [p["details"]["key"] for p in found] == [
        "environments.dev.target.command"
    ]


def test_every_problem_behind_a_schema_error_is_still_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A misspelt key in one job hides neither the cycle of two others nor a bad freeze."""
    text = (
        "project: x\npipeline:\n  jobs:\n"
        "    a: {run: x, needs: [b], tiemout: 5}\n"
        "    b: {run: y, needs: [a]}\n"
        "release:\n  freezes:\n"
        '    - {name: w, start_cron: "x", end_cron: "0 8 * * MON"}\n'
    )
    status, out = validate(tmp_path, text, capsys)
    found = [(p["code"], p["details"]["key"]) for p in problems(out)]
    assert status == 2
    assert found == [
        ("pipeline-cycle", "pipeline.jobs.a.needs"),
        ("spec-unknown-key", "pipeline.jobs.a.tiemout"),
        ("cron-invalid", "release.freezes.0.start_cron"),
    ]


def test_the_design_example_and_the_starter_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The example in the design and the starter pass every check validate makes."""
    from shipyard.spec.starter import starter
    from tests.unit.test_spec import DESIGN_EXAMPLE

    for text in (DESIGN_EXAMPLE, starter(tmp_path)):
        status, out = validate(tmp_path, text, capsys)
        assert status == 0 and out["valid"] is True, out

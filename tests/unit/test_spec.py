"""shipyard.yaml: the schema, and errors that point at file:line:column with a way out."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.errors import SpecError
from shipyard.spec.load import parse_spec
from shipyard.spec.source import parse
from shipyard.spec.starter import starter

DESIGN_EXAMPLE = """\
project: checkout
pipeline:
  jobs:
    lint:
      run: ruff check src
      inputs: ["src/**/*.py", pyproject.toml]
    test:
      needs: [lint]
      matrix: {python: ["3.11", "3.12"]}
      run: pytest -q
      inputs: ["src/**", "tests/**"]
      timeout: 10m
      retries: 1
    build:
      needs: [test]
      run: python -m build --wheel --outdir dist
      inputs: ["src/**", pyproject.toml]
      outputs: ["dist/*.whl"]
      artifact: wheel
environments:
  dev:
    target: {type: process, command: "python -m checkout --port {port}", instances: 2}
    strategy: recreate
  staging:
    promote_from: dev
    strategy: blue-green
    gates: [tests, vulnerabilities]
  production:
    promote_from: staging
    strategy:
      canary:
        steps: [{weight: 5}, {analysis: errors, duration: 2m}, {weight: 25}, {analysis: errors, duration: 5m}, {weight: 100}]
    gates: [tests, vulnerabilities, {approval: {min: 1, not_author: true}}, freeze]
analysis:
  errors: {provider: builtin, metric: error_rate, max_increase: 0.005}
release:
  versioning: conventional-commits
  train: {cut: "0 9 * * MON", every_weeks: 2, stabilize: 3d, timezone: Europe/Berlin}
  freezes:
    - {name: year-end, start: 2026-12-20, end: 2027-01-04}
    - {name: weekends, start_cron: "0 18 * * FRI", end_cron: "0 8 * * MON", timezone: Europe/Berlin}
"""  # noqa: E501


def test_the_design_example_is_valid() -> None:
    """The example in the design document parses with every section in place."""
    spec = parse_spec(DESIGN_EXAMPLE)
    assert spec.pipeline.jobs["test"].timeout == 600
    assert spec.pipeline.jobs["test"].retries.max == 1
    assert spec.environments["production"].strategy.kind == "canary"
    assert spec.environments["staging"].strategy.kind == "blue-green"
    assert spec.release.train is not None and spec.release.train.stabilize == 3 * 86400
    assert [f.name for f in spec.release.freezes] == ["year-end", "weekends"]


def test_the_starter_file_is_valid(tmp_path: Path) -> None:
    """The file `shipyard init` writes validates, with and without a pyproject.toml."""
    assert parse_spec(starter(tmp_path)).project == tmp_path.name
    (tmp_path / "pyproject.toml").write_text("")
    assert "lint" in parse_spec(starter(tmp_path)).pipeline.jobs


def test_an_empty_file_asks_for_a_project() -> None:
    """An empty shipyard.yaml is missing its project name."""
    with pytest.raises(SpecError) as err:
        parse_spec("")
    assert err.value.code == "spec-missing-key"


BAD = [
    # (yaml, code, line, column, words in message or hint)
    ("project: x\n  bad: [\n", "yaml-syntax", 2, 6, "YAML"),
    ("- a\n- b\n", "spec-type", 1, 1, "mapping"),
    ("project: x\nproject: y\n", "spec-duplicate-key", 2, 1, "duplicate"),
    ("project: x\nenviroments: {}\n", "spec-unknown-key", 2, 1, "did you mean 'environments'"),
    (
        "project: x\npipeline:\n  jobs:\n    a: {run: x, need: [b]}\n",
        "spec-unknown-key",
        4,
        17,
        "'needs'",
    ),
    (
        "project: x\npipeline:\n  jobs:\n    a: {run: x, timeout: soon}\n",
        "spec-type",
        4,
        26,
        "duration",
    ),
    (
        "project: x\npipeline:\n  jobs:\n    a: {run: x, cache: maybe}\n",
        "spec-type",
        4,
        24,
        "true or false",
    ),
    (
        "project: x\npipeline:\n  jobs:\n    a: {run: x, needs: [lnt]}\n    lint: {run: y}\n",
        "spec-unknown-reference",
        4,
        25,
        "did you mean 'lint'",
    ),
    (
        "project: x\nenvironments:\n  prod: {promote_from: stagin}\n  staging: {}\n",
        "spec-unknown-reference",
        3,
        24,
        "did you mean 'staging'",
    ),
    (
        "project: x\nenvironments:\n  a: {promote_from: b}\n  b: {promote_from: a}\n",
        "spec-promotion-cycle",
        3,
        21,
        "a -> b -> a",
    ),
    (
        "project: x\nenvironments:\n  p:\n    strategy: {canary: {steps: [{analysis: err}]}}\n",
        "spec-unknown-reference",
        4,
        44,
        "analysis 'err'",
    ),
    ("project: x\nenvironments:\n  p: {strategy: yolo}\n", "spec-type", 3, 17, "unknown strategy"),
    ("project: x\nenvironments:\n  p: {target: {type: vm}}\n", "spec-type", 3, 15, "process"),
    (
        "project: x\nenvironments:\n  p:\n    on_failure: bogus\n",
        "spec-type",
        4,
        17,
        "'rollback' or 'hold'",
    ),
    (
        "project: x\nrelease:\n  freezes: [{name: f, start: 2026-12-20}]\n",
        "spec-type",
        3,
        13,
        "both start and end",
    ),
    ("project: 'bad name!'\n", "spec-type", 1, 10, "names use letters"),
    (
        "project: x\npipeline:\n  jobs:\n    a: {run: x, matrix: {py: []}}\n",
        "spec-type",
        4,
        25,
        "non-empty list",
    ),
]


@pytest.mark.parametrize(("text", "code", "line", "column", "words"), BAD)
def test_bad_input_names_code_position_and_hint(
    text: str, code: str, line: int | None, column: int | None, words: str
) -> None:
    """Each malformed file fails with its code, the line and column, and a helpful word."""
    with pytest.raises(SpecError) as err:
        parse_spec(text, "shipyard.yaml")
    e = err.value
    assert e.code == code, str(e)
    if line is not None:
        assert (e.line, e.column) == (line, column), str(e)
    assert words in f"{e} {e.hint}"


def test_on_failure_hold_reaches_the_rollout_strategy() -> None:
    """`on_failure: hold` is carried into the strategy the rollout runs; rollback is the default."""
    from shipyard.domain.rollout import OnFailure
    from shipyard.services.deployments.deploy_plan import strategy_of

    text = (
        "project: x\nenvironments:\n"
        "  a: {target: {type: process, command: 'app {port}'}, on_failure: hold}\n"
        "  b: {promote_from: a, strategy: blue-green}\n"
    )
    spec = parse_spec(text)
    assert strategy_of(spec, "a").on_failure is OnFailure.HOLD
    assert strategy_of(spec, "b").on_failure is OnFailure.ROLLBACK
    assert strategy_of(spec, "a").to_dict()["on_failure"] == "hold"


def test_the_reference_page_examples_validate() -> None:
    """Every section shown in docs/shipyard-yaml.md, put together, passes `shipyard validate`."""
    import re

    from shipyard.spec.load import check_spec

    text = (Path(__file__).resolve().parents[2] / "docs" / "shipyard-yaml.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    spec = check_spec(blocks[0] + "".join(blocks[1:]), "docs/shipyard-yaml.md")
    assert spec.environments["production"].strategy.kind == "canary"
    assert spec.pipeline.jobs["test"].max_combinations == 400


@pytest.mark.parametrize(
    ("path", "key", "expected"),
    [
        (("pipeline", "jobs", "build", "run"), False, (5, 12)),
        (("pipeline", "jobs", "build", "run"), True, (5, 7)),
        (("pipeline", "jobs", "build", "needs", 1), False, (6, 18)),
        (("pipeline", "jobs", "build", "missing"), False, (5, 7)),  # nearest parent: the job
        (("pipeline", "jobs", "build", "needs", 9), True, (6, 7)),  # past the end: the list's key
        ((), False, (1, 1)),
    ],
)
def test_positions_are_found_by_walking_the_yaml(
    path: tuple[str | int, ...], key: bool, expected: tuple[int, int]
) -> None:
    """A value's or key's line and column, or its nearest parent's, read from the node tree."""
    text = "project: p\npipeline:\n  jobs:\n    build:\n      run: make\n      needs: [a, b]\n"
    located = parse(text, "shipyard.yaml")
    assert located.where(path, key=key) == expected

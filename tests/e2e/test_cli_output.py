"""What `shipyard` prints when piped or in CI: whole lines, one error format, grouped help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.helpers import as_json, shipyard

NARROW = {"COLUMNS": "30"}  # a narrow terminal's width, which a pipe must ignore


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert shipyard("init", cwd=tmp_path).returncode == 0
    return tmp_path


def test_piped_output_is_never_wrapped_or_cut_whatever_columns_says(repo: Path) -> None:
    """Through a pipe with COLUMNS=30, a long line stays on one line and no table cell is cut."""
    made = shipyard(
        "token",
        "create",
        "--role",
        "deployer",
        "--project",
        "a-long-project-name",
        cwd=repo,
        env=NARROW,
    )
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    assert lines[0].startswith("token ") and lines[0].endswith("it is not shown again:")
    assert lines[1].startswith("shp_") and len(lines) == 2  # the secret whole, on its line
    tokens = as_json(shipyard("--json", "token", "list", cwd=repo))["tokens"]
    table = shipyard("token", "list", cwd=repo, env=NARROW).stdout
    assert "…" not in table
    for token in tokens:
        row = next(x for x in table.splitlines() if token["id"] in x)
        assert "deployer" in row.split() and "a-long-project-name" in row.split()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["audit", "log", "--bogus"], "no such option: --bogus"),
        (["deploy"], "missing argument 'environment'"),
        (["runs", "--limit", "many"], "invalid value for '--limit'"),
    ],
)
def test_usage_errors_have_the_one_error_format(repo: Path, args: list[str], message: str) -> None:
    """A bad command line prints `error[usage]: message` and a hint, exits 2, and with --json
    answers {"error": {"code": "usage", ...}} like every other error."""
    proc = shipyard(*args, cwd=repo)
    assert proc.returncode == 2
    first, second = proc.stderr.splitlines()[:2]
    assert first.startswith(f"error[usage]: {message}")
    assert second.startswith("  hint: ") and f"`shipyard {args[0]}" in second
    assert "Usage:" not in proc.stderr and "Error:" not in proc.stderr
    as_data = shipyard("--json", *args, cwd=repo)
    assert as_data.returncode == 2
    error = as_json(as_data)["error"]
    assert error["code"] == "usage" and error["message"].startswith(message) and error["hint"]


def test_a_mistyped_command_gets_the_closest_names(repo: Path) -> None:
    """`shipyard relase` suggests `shipyard release`; a subcommand typo suggests its group's."""
    top = shipyard("relase", cwd=repo)
    assert top.returncode == 2
    assert top.stderr.startswith("error[usage]: no such command 'relase'")
    assert "did you mean `shipyard release`?" in top.stderr
    sub = shipyard("--json", "rollout", "stauts", cwd=repo)
    assert sub.returncode == 2
    assert "did you mean `shipyard rollout status`?" in as_json(sub)["error"]["hint"]
    alias = shipyard("brekglass", cwd=repo)
    assert "did you mean `shipyard breakglass`?" in alias.stderr


def test_help_groups_commands_and_hides_aliases(repo: Path) -> None:
    """`shipyard --help` lists commands under their sections in order, without the aliases,
    which still work."""
    text = shipyard("--help", cwd=repo).stdout
    sections = [
        "Getting started:",
        "Pipelines:",
        "Releases:",
        "Deployments:",
        "Flags:",
        "Coordination:",
        "Audit and metrics:",
        "Server:",
    ]
    positions = [text.index(s) for s in sections]
    assert positions == sorted(positions)
    deployments = text[text.index("Deployments:") : text.index("Flags:")]
    assert [line.split()[0] for line in deployments.splitlines()[1:] if line.strip()] == [
        "deploy",
        "env",
        "rollout",
        "rollback",
        "deployments",
    ]
    listed = {line.split()[0] for line in text.splitlines() if line.startswith("  ")}
    assert "break-glass" not in listed and "vulns" not in listed and "breakglass" in listed
    assert shipyard("vulns", "--help", cwd=repo).returncode == 0
    assert shipyard("break-glass", "--help", cwd=repo).returncode == 0


def test_help_imports_no_command_module_nor_typer() -> None:
    """`shipyard --help` loads click and the command table only: no command module, no Typer."""
    code = (
        "import sys; from shipyard.cli.main import run\n"
        "try:\n    run(['--help'])\nexcept SystemExit:\n    pass\n"
        "loaded = sorted(m for m in sys.modules if m == 'typer' or m.startswith('typer.')"
        " or (m.startswith('shipyard.cli.') and m not in ('shipyard.cli.main',)))\n"
        "print('LOADED', loaded)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "LOADED []" in out.stdout

"""The `shipyard` command as a user runs it: exit codes, messages, JSON, nothing lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.helpers import as_json, shipyard

GOOD = "project: shop\npipeline:\n  jobs:\n    test: {run: pytest, timeout: 5m}\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "shipyard.yaml").write_text(GOOD)
    return tmp_path


def test_help_imports_no_database_or_web_framework() -> None:
    """`shipyard --help` lists the commands without importing SQLAlchemy, FastAPI or Pydantic."""
    code = (
        "import sys; from shipyard.cli.main import run\n"
        "try:\n    run(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('sqlalchemy', 'fastapi', 'pydantic', 'uvicorn', 'yaml') "
        "if m in sys.modules]\nprint('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout
    assert "audit" in out.stdout and "validate" in out.stdout


def test_init_writes_a_starter_that_validates(tmp_path: Path) -> None:
    """`shipyard init` writes a commented shipyard.yaml that `shipyard validate` accepts."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    assert shipyard("init", cwd=tmp_path).returncode == 0
    text = (tmp_path / "shipyard.yaml").read_text()
    assert text.startswith("# shipyard.yaml") and "ruff check" in text
    proc = shipyard("validate", "--json", cwd=tmp_path)
    assert proc.returncode == 0 and as_json(proc)["valid"] is True


def test_init_refuses_to_overwrite(repo: Path) -> None:
    """`shipyard init` in a folder that has shipyard.yaml leaves it alone and exits non-zero."""
    proc = shipyard("init", cwd=repo)
    assert proc.returncode == 7 and "error[spec-exists]" in proc.stderr
    assert (repo / "shipyard.yaml").read_text() == GOOD


def test_project_root_is_found_from_a_subfolder(repo: Path) -> None:
    """validate walks up from the working directory to the folder holding shipyard.yaml."""
    sub = repo / "src" / "deep"
    sub.mkdir(parents=True)
    proc = shipyard("validate", "--json", cwd=sub)
    assert proc.returncode == 0 and as_json(proc)["file"] == str(repo / "shipyard.yaml")


@pytest.mark.parametrize(
    ("text", "code", "where", "hint"),
    [
        ("project: x\npipeline:\n  jobs: [a\n", "yaml-syntax", ":4:1", "indentation"),
        ("project: x\npipeline:\n  jobz: {}\n", "spec-unknown-key", ":3:3", "did you mean 'jobs'"),
        (
            "project: x\npipeline:\n  jobs:\n    t: {run: x, retries: many}\n",
            "spec-type",
            ":4:26",
            "",
        ),
        ("pipeline: {}\n", "spec-missing-key", ":1:1", "project"),
    ],
)
def test_bad_yaml_gives_code_position_and_hint(
    tmp_path: Path, text: str, code: str, where: str, hint: str
) -> None:
    """Each kind of bad shipyard.yaml exits 2 with error[code], file:line:column and a hint."""
    (tmp_path / "shipyard.yaml").write_text(text)
    proc = shipyard("validate", cwd=tmp_path)
    assert proc.returncode == 2
    assert f"error[{code}]" in proc.stderr
    assert f"shipyard.yaml{where}" in proc.stderr
    assert "hint:" in proc.stderr and hint in proc.stderr


def test_missing_spec_is_a_clear_error(tmp_path: Path) -> None:
    """With no shipyard.yaml anywhere up the tree, validate says so and how to make one."""
    proc = shipyard("validate", cwd=tmp_path)
    assert proc.returncode == 2
    assert "error[spec-not-found]" in proc.stderr and "shipyard init" in proc.stderr


def test_errors_are_json_with_json(tmp_path: Path) -> None:
    """With --json an error is printed as {"error": {code, message, hint}} on stdout."""
    proc = shipyard("validate", "--json", cwd=tmp_path)
    err = as_json(proc)["error"]
    assert proc.returncode == 2 and err["code"] == "spec-not-found" and err["hint"]


def test_unreachable_database_exits_3_and_hides_the_password(repo: Path) -> None:
    """A database URL that cannot connect exits 3 without printing its password."""
    env = {"SHIPYARD_DATABASE_URL": "postgresql+psycopg://bob:hunter2@127.0.0.1:1/x"}
    proc = shipyard("audit", "log", cwd=repo, env=env)
    assert proc.returncode == 3 and "error[database-unreachable]" in proc.stderr
    assert "hunter2" not in proc.stderr + proc.stdout


def test_audit_commands_round_trip(repo: Path) -> None:
    """Events written by commands are listed, verified, proved and checkpointed from the CLI."""
    created = as_json(shipyard("token", "create", "--role", "viewer", "--json", cwd=repo))
    assert created["token"].startswith("shp_")
    log = as_json(shipyard("audit", "log", "--kind", "token.*", "--json", cwd=repo))
    assert [e["kind"] for e in log["events"]] == ["token.created"]
    assert created["token"] not in str(log)  # the secret never enters the log
    proof = as_json(shipyard("audit", "prove", "0", "--json", cwd=repo))
    assert set(proof) == {"leaf_index", "tree_size", "leaf_hash", "root_hash", "audit_path"}
    shipyard("token", "create", "--role", "admin", cwd=repo)
    cons = as_json(shipyard("audit", "consistency", "1", "2", "--json", cwd=repo))
    assert set(cons) == {"first", "second", "first_root", "second_root", "proof"}
    cp = as_json(shipyard("audit", "checkpoint", "--json", cwd=repo))
    assert cp["tree_size"] == 3  # the two tokens and the signing key's key.registered
    ok = shipyard("audit", "verify", cwd=repo)
    assert ok.returncode == 0 and "verified 3 events" in ok.stdout


def test_verify_fails_with_exit_4_on_a_hand_edited_row(repo: Path) -> None:
    """After a row is edited in the database, audit verify exits 4 naming the event."""
    import sqlite3

    shipyard("token", "create", "--role", "viewer", cwd=repo)
    shipyard("token", "create", "--role", "viewer", cwd=repo)
    db = sqlite3.connect(repo / ".shipyard" / "state.db")
    db.execute("UPDATE events SET actor = 'mallory' WHERE seq = 1")
    db.commit()
    db.close()
    proc = shipyard("audit", "verify", cwd=repo)
    assert proc.returncode == 4
    assert "error[audit-tampered]" in proc.stderr and "event 1" in proc.stderr
    log = as_json(shipyard("audit", "log", "--json", cwd=repo))
    assert len(log["events"]) == 2  # nothing was deleted or repaired behind the user's back


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("audit", "prove", "99"), "audit-seq-out-of-range"),
        (("audit", "log", "--since", "yesterday-ish"), "since-invalid"),
        (("token", "create", "--role", "emperor"), "role-unknown"),
        (("token", "revoke", "nope"), "token-not-found"),
    ],
)
def test_bad_arguments_are_clear_errors(repo: Path, args: tuple[str, ...], code: str) -> None:
    """Out-of-range or unknown arguments give their own error code and a non-zero exit."""
    proc = shipyard(*args, cwd=repo)
    assert proc.returncode != 0 and f"error[{code}]" in proc.stderr and "hint:" in proc.stderr


def test_demo_tells_one_story_and_removes_its_folder(tmp_path: Path) -> None:
    """`shipyard demo` ends with a verified audit log, meets only the freeze it announces, its
    DORA block counts the deployments it made, and its temporary folder is gone afterwards."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = shipyard("demo", "--json", cwd=tmp_path, env={"TMPDIR": str(tmp)}, timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = as_json(proc)
    assert not Path(report["dir"]).exists() and list(tmp.iterdir()) == []
    steps = list(report["steps"].values())
    lines = [line for step in steps for line in step]
    assert any("answered by the up-to-date check" in line for line in lines)
    assert any(line.startswith("provenance: job build, run ") for line in lines)
    assert any(line.startswith("audit log verified") for line in lines)
    assert any("verifies" in line for line in lines)
    deploys = next(v for k, v in report["steps"].items() if k.startswith("deploy"))
    assert not any("break-glass" in line for line in deploys)
    assert any("rolled-back" in line and "canary error rate" in line for line in deploys)
    assert "live now: dev 0.1.1, staging 0.1.1, production 0.1.0" in deploys
    hotfix = next(v for k, v in report["steps"].items() if "hotfix" in k)
    assert hotfix[0].startswith("train cut: train-")
    refused = [line for line in hotfix if "refused (gates-failed)" in line]
    assert len(refused) == 1 and "frozen by 'incident-freeze'" in refused[0]
    assert any("cannot approve it: self-approval" in line for line in hotfix)
    assert "production: 0.1.2 succeeded through the freeze" in hotfix
    dora = steps[-1]
    assert "deployment frequency: 2 deployments/day (2 deployments / 1 days)" in dora[1]
    assert "  deployments counted: 0.1.0, 0.1.2" in dora
    assert "  change failures: 0.1.0 (hotfix), 0.1.1 (rolled-back)" in dora


def test_unknown_option_is_a_usage_error(repo: Path) -> None:
    """An unknown option exits 2 with a usage message, and as JSON with --json, no traceback."""
    proc = shipyard("audit", "log", "--bogus", cwd=repo)
    assert proc.returncode == 2 and "error[usage]: no such option" in proc.stderr
    assert "Traceback" not in proc.stderr
    err = as_json(shipyard("audit", "log", "--bogus", "--json", cwd=repo))["error"]
    assert err["code"] == "usage"


def test_a_named_signing_key_that_is_missing_is_an_error(repo: Path) -> None:
    """A SHIPYARD_SIGNING_KEY_FILE that does not exist is refused, never replaced by a new key."""
    missing = repo / "no-such-key.pem"
    env = {"SHIPYARD_SIGNING_KEY_FILE": str(missing)}
    proc = shipyard("audit", "checkpoint", cwd=repo, env=env)
    assert proc.returncode == 1 and "error[signing-key-missing]" in proc.stderr
    assert not missing.exists()


def test_a_corrupt_signing_key_is_an_error(repo: Path) -> None:
    """A signing key file that is not an Ed25519 PEM key gives signing-key-invalid."""
    bad = repo / "bad.pem"
    bad.write_text("not a key")
    proc = shipyard("audit", "checkpoint", cwd=repo, env={"SHIPYARD_SIGNING_KEY_FILE": str(bad)})
    assert proc.returncode == 1 and "error[signing-key-invalid]" in proc.stderr

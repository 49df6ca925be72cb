"""One acting identity for every command and event, and separation of duties enforced on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import gitrepo
from tests.e2e.helpers import as_json, shipyard

SPEC = """\
project: shop
pipeline:
  jobs:
    build:
      run: mkdir -p dist && cp app.txt dist/shop.zip
      inputs: [app.txt]
      outputs: [dist/shop.zip]
      artifact: shop
environments:
  dev:
    target: {type: command, deploy: "true"}
  production:
    promote_from: dev
    gates: [{approval: {min: 1, not_author: true}}]
"""


@pytest.fixture
def repo(tmp_path: Path, database_url: str) -> tuple[Path, dict[str, str]]:
    """A repository whose commits carol wrote; git's user.email is then alice's."""
    root = gitrepo.init(tmp_path / "shop")
    gitrepo.git(root, "config", "user.email", "carol@example.com")
    files = {"shipyard.yaml": SPEC, "app.txt": "v1\n", ".gitignore": ".shipyard/\ndist/\n"}
    gitrepo.commit(root, "feat: a shop", files)
    gitrepo.git(root, "config", "user.email", "alice@example.com")
    return root, {"SHIPYARD_DATABASE_URL": database_url, "SHIPYARD_ACTOR": ""}


def _ok(proc: object) -> None:
    assert getattr(proc, "returncode") == 0, getattr(proc, "stderr")  # noqa: B009


def test_every_command_records_the_same_actor(repo: tuple[Path, dict[str, str]]) -> None:
    """Without SHIPYARD_ACTOR, run, release, deploy, flags, lock and artifacts publish all
    record git's user.email as the actor of every event they append."""
    root, env = repo
    _ok(shipyard("run", cwd=root, env=env))
    _ok(shipyard("run", cwd=root, env=env))  # answered by the up-to-date check
    _ok(shipyard("release", cwd=root, env=env))
    _ok(shipyard("deploy", "dev", cwd=root, env=env))
    _ok(shipyard("flags", "create", "beta", "--env", "dev", cwd=root, env=env))
    _ok(shipyard("lock", "dev", "--reason", "testing", cwd=root, env=env))
    (root / "notes.txt").write_text("manual\n")
    _ok(shipyard("artifacts", "publish", "notes", "notes.txt", "--version", "1", cwd=root, env=env))
    events = as_json(shipyard("audit", "log", "--json", "--limit", "1000", cwd=root, env=env))
    kinds = {e["kind"] for e in events["events"]}
    assert {"run.started", "release.created", "deployment.started", "flag.changed"} <= kinds
    assert {"lock.acquired", "artifact.published", "rollout.stepped"} <= kinds
    assert {e["actor"] for e in events["events"]} == {"alice@example.com"}


def test_releaser_author_and_deployer_cannot_approve(repo: tuple[Path, dict[str, str]]) -> None:
    """The releaser, a commit's author and a deployer of the version are each refused with
    self-approval (exit 5) naming what they did; a fourth person's approval is accepted."""
    root, env = repo
    _ok(shipyard("release", cwd=root, env=env))
    _ok(shipyard("deploy", "dev", cwd=root, env={**env, "SHIPYARD_ACTOR": "dave@example.com"}))
    refused = {
        "alice@example.com": "released 0.1.0",
        "carol@example.com": "authored commits of 0.1.0",
        "dave@example.com": "deployed 0.1.0 to dev",
    }
    for who, what in refused.items():
        proc = shipyard(
            "approve", "production", "--version", "0.1.0", "--json",
            cwd=root, env={**env, "SHIPYARD_ACTOR": who},
        )  # fmt: skip
        assert proc.returncode == 5, (who, proc.stdout)
        error = as_json(proc)["error"]
        assert error["code"] == "self-approval" and f"{who} {what}" in error["message"]
    bob = {**env, "SHIPYARD_ACTOR": "bob@example.com"}
    _ok(shipyard("approve", "production", "--version", "0.1.0", cwd=root, env=bob))
    gates = as_json(
        shipyard("gates", "production", "--version", "0.1.0", "--json", cwd=root, env=env)
    )
    assert gates["passed"] is True and gates["gates"][0]["details"]["approvers"] == [
        "bob@example.com"
    ]

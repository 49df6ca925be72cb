"""`shipyard flags segment ...` and `flags strategy ...` as a user runs them, embedded store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.helpers import as_json, shipyard

SPEC = "project: shop\nenvironments:\n  dev: {}\n  production: {}\n"
BETA = '[{"contextName": "userId", "operator": "IN", "values": ["1", "2"]}]'


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "shipyard.yaml").write_text(SPEC)
    return tmp_path


def _eval(repo: Path, user: str) -> bool:
    out = shipyard(
        "flags", "eval", "beta", "--env", "dev", "--context", f"userId={user}", "--json", cwd=repo
    )
    return bool(as_json(out)["enabled"])


def test_segment_create_use_update_and_delete(repo: Path) -> None:
    """A segment from inline JSON gates a strategy; updating it moves users; deleting it is
    refused while used, and works once the strategy is gone."""
    made = as_json(
        shipyard(
            "flags",
            "segment",
            "create",
            "--env",
            "dev",
            "--constraints",
            BETA,
            "--name",
            "beta users",
            "--json",
            cwd=repo,
        )
    )
    assert made["id"] == 1 and made["name"] == "beta users"
    shipyard("flags", "create", "beta", "--env", "dev", "--rollout", "0", "--enabled", cwd=repo)
    added = shipyard(
        "flags",
        "strategy",
        "add",
        "beta",
        "--env",
        "dev",
        "--type",
        "default",
        "--segment",
        "1",
        cwd=repo,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    assert _eval(repo, "1") is True and _eval(repo, "3") is False
    (repo / "c.json").write_text(BETA.replace('"2"', '"3"'))
    updated = shipyard(
        "flags", "segment", "update", "1", "--env", "dev", "--constraints-file", "c.json", cwd=repo
    )
    assert "segment 1 updated in dev: 1 constraint(s)" in updated.stdout
    assert _eval(repo, "3") is True and _eval(repo, "2") is False
    refused = shipyard("flags", "segment", "delete", "1", "--env", "dev", "--json", cwd=repo)
    assert refused.returncode == 7
    error = as_json(refused)["error"]
    assert error["code"] == "flag-segment-in-use" and "beta" in error["hint"]
    listed = as_json(shipyard("flags", "segment", "list", "--env", "dev", "--json", cwd=repo))
    assert [(s["id"], s["used_by"]) for s in listed["segments"]] == [(1, ["beta"])]
    shipyard("flags", "strategy", "remove", "beta", "--env", "dev", "--index", "1", cwd=repo)
    gone = shipyard("flags", "segment", "delete", "1", "--env", "dev", cwd=repo)
    assert gone.returncode == 0 and "segment 1 deleted from dev" in gone.stdout
    log = as_json(shipyard("audit", "log", "--kind", "flag.segment-changed", "--json", cwd=repo))
    assert len(log["events"]) == 3


def test_bad_segment_constraints_exit_2_and_store_nothing(repo: Path) -> None:
    """An unknown operator, a bad regex, a bad semver or bad JSON are refused with their code."""
    cases = [
        ('[{"contextName": "a", "operator": "LIKE", "values": ["1"]}]', "flag-operator-unknown"),
        ('[{"contextName": "a", "operator": "REGEX", "value": "(a"}]', "flag-regex-invalid"),
        ('[{"contextName": "a", "operator": "SEMVER_LT", "value": "1"}]', "flag-semver-invalid"),
        ("[{", "flag-payload-invalid"),
    ]
    for text, code in cases:
        out = shipyard(
            "flags", "segment", "create", "--env", "dev", "--constraints", text, "--json", cwd=repo
        )
        assert out.returncode == 2, text
        assert as_json(out)["error"]["code"] == code
    listed = as_json(shipyard("flags", "segment", "list", "--env", "dev", "--json", cwd=repo))
    assert listed["segments"] == []


def test_strategy_add_list_remove(repo: Path) -> None:
    """userWithId plus a constraint turns the flag on for those users; bad strategies exit 2."""
    shipyard("flags", "create", "beta", "--env", "dev", "--rollout", "0", "--enabled", cwd=repo)
    constraint = json.dumps([{"contextName": "appName", "operator": "IN", "values": ["web"]}])
    added = shipyard(
        "flags",
        "strategy",
        "add",
        "beta",
        "--env",
        "dev",
        "--type",
        "userWithId",
        "--param",
        "userIds=7,8",
        "--constraints",
        constraint,
        "--json",
        cwd=repo,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    on = shipyard(
        "flags",
        "eval",
        "beta",
        "--env",
        "dev",
        "--context",
        "userId=7",
        "--context",
        "appName=web",
        "--json",
        cwd=repo,
    )
    assert as_json(on)["enabled"] is True
    listed = shipyard("flags", "strategy", "list", "beta", "--env", "dev", cwd=repo)
    assert "userWithId" in listed.stdout and "userIds=7,8" in listed.stdout
    bad = shipyard(
        "flags",
        "strategy",
        "add",
        "beta",
        "--env",
        "dev",
        "--type",
        "flexibleRollout",
        "--param",
        "rollout=150",
        "--json",
        cwd=repo,
    )
    assert bad.returncode == 2 and as_json(bad)["error"]["code"] == "flag-percentage-invalid"
    removed = as_json(
        shipyard(
            "flags",
            "strategy",
            "remove",
            "beta",
            "--env",
            "dev",
            "--index",
            "1",
            "--json",
            cwd=repo,
        )
    )
    assert [s["name"] for s in removed["strategies"]] == ["flexibleRollout"]
    log = as_json(shipyard("audit", "log", "--kind", "flag.changed", "--json", cwd=repo))
    assert len(log["events"]) == 3

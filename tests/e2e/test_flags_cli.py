"""`shipyard flags ...` as a user runs it: the real command in a subprocess, embedded store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipyard_sdk.flags import FeatureState
from tests.e2e.helpers import as_json, shipyard

CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance" / "unleash"
SPEC = """project: shop
environments:
  dev: {}
  production: {}
flags:
  dark-mode:
    type: experiment
    description: dark theme
    environments:
      dev: {enabled: true, rollout: 50}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "shipyard.yaml").write_text(SPEC)
    return tmp_path


def test_create_rollout_enable_eval_and_list(repo: Path) -> None:
    """A flag made, rolled out to 25% and enabled answers eval and shows in list."""
    assert shipyard("flags", "create", "beta", "--env", "dev", cwd=repo).returncode == 0
    assert shipyard("flags", "rollout", "beta", "25", "--env", "dev", cwd=repo).returncode == 0
    on = shipyard("flags", "enable", "beta", "--env", "dev", cwd=repo)
    assert "on, rollout 25%" in on.stdout
    evals = [
        as_json(
            shipyard(
                "flags",
                "eval",
                "beta",
                "--env",
                "dev",
                "--context",
                f"userId={u}",
                "--json",
                cwd=repo,
            )
        )["enabled"]
        for u in range(12)
    ]
    assert True in evals and False in evals
    listed = as_json(shipyard("flags", "list", "--env", "dev", "--json", cwd=repo))["flags"]
    assert [(f["name"], f["enabled"], f["rollout"]) for f in listed] == [("beta", True, 25)]
    log = as_json(shipyard("audit", "log", "--kind", "flag.changed", "--json", cwd=repo))
    assert len(log["events"]) == 3


def test_bad_input_exits_non_zero_with_a_code_and_a_hint(repo: Path) -> None:
    """Out-of-range percentage, unknown environment and unknown flag each fail with a code."""
    shipyard("flags", "create", "beta", "--env", "dev", cwd=repo)
    cases = [
        (("flags", "rollout", "beta", "150", "--env", "dev"), "flag-percentage-invalid", 2),
        (("flags", "create", "x", "--env", "qa"), "flag-environment-unknown", 2),
        (("flags", "enable", "ghost", "--env", "dev"), "flag-not-found", 6),
        (("flags", "create", "beta", "--env", "dev"), "flag-exists", 7),
        (("flags", "create", "y", "--env", "dev", "--type", "forever"), "flag-type-unknown", 2),
        (("flags", "eval", "beta", "--env", "dev", "--context", "oops"), "flag-context-invalid", 2),
    ]
    for args, code, status in cases:
        proc = shipyard(*args, "--json", cwd=repo)
        err = as_json(proc)["error"]
        assert (proc.returncode, err["code"]) == (status, code) and err["hint"], args
    listed = as_json(shipyard("flags", "list", "--json", cwd=repo))["flags"]
    assert [(f["name"], f["rollout"]) for f in listed] == [("beta", 100)]


def test_import_export_round_trip_of_a_conformance_file(repo: Path, tmp_path: Path) -> None:
    """`flags import` of a client-specification file, then `flags export`, gives its state."""
    suite = CONFORMANCE / "16-strategy-variants.json"
    done = shipyard("flags", "import", str(suite), "--env", "production", "--json", cwd=repo)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out.json"
    shipyard("flags", "export", "--env", "production", "-o", str(out), cwd=repo)
    state = json.loads(suite.read_text(encoding="utf-8"))["state"]
    exported = json.loads(out.read_text(encoding="utf-8"))
    assert FeatureState.from_payload(exported) == FeatureState.from_payload(state)


def test_a_bad_import_changes_nothing(repo: Path, tmp_path: Path) -> None:
    """A file with an invalid regex, or not JSON at all, is refused and stores no flag."""
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "version": 2,
                "features": [
                    {"name": "ok", "enabled": True, "strategies": []},
                    {
                        "name": "re",
                        "enabled": True,
                        "strategies": [
                            {
                                "name": "default",
                                "constraints": [
                                    {"contextName": "e", "operator": "REGEX", "value": "[a-"}
                                ],
                            }
                        ],
                    },
                ],
            }
        )
    )
    proc = shipyard("flags", "import", str(bad), "--env", "dev", "--strict", "--json", cwd=repo)
    assert proc.returncode == 2 and as_json(proc)["error"]["code"] == "flag-regex-invalid"
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    proc = shipyard("flags", "import", str(empty), "--env", "dev", "--json", cwd=repo)
    assert proc.returncode == 2 and as_json(proc)["error"]["code"] == "flag-import-empty"
    junk = tmp_path / "junk.json"
    junk.write_text("{nope")
    proc = shipyard("flags", "import", str(junk), "--env", "dev", "--json", cwd=repo)
    assert as_json(proc)["error"]["code"] == "flag-file-invalid"
    assert as_json(shipyard("flags", "list", "--json", cwd=repo))["flags"] == []


def test_sync_then_stale_and_token(repo: Path) -> None:
    """`flags sync` stores shipyard.yaml's flags; `stale` reports none yet; a client token is
    printed once with its environment."""
    synced = as_json(shipyard("flags", "sync", "--json", cwd=repo))
    assert synced["changed"] == ["dev/dark-mode"]
    shown = as_json(shipyard("flags", "show", "dark-mode", "--json", cwd=repo))
    assert shown["type"] == "experiment" and shown["environments"]["dev"]["rollout"] == 50
    assert as_json(shipyard("flags", "stale", "--json", cwd=repo))["stale"] == []
    token = as_json(shipyard("flags", "token", "create", "--env", "production", "--json", cwd=repo))
    assert token["token"].startswith("shop:production.") and token["environment"] == "production"
    deleted = shipyard("flags", "delete", "dark-mode", "--env", "dev", cwd=repo)
    assert deleted.returncode == 0
    assert as_json(shipyard("flags", "list", "--json", cwd=repo))["flags"] == []


def test_a_lenient_import_stores_what_unleash_serves_and_warns(repo: Path, tmp_path: Path) -> None:
    """Without --strict, a file with an invalid regular expression is imported, exits 0, and
    the oddity is a warning on stderr naming the flag and field."""
    odd = tmp_path / "odd.json"
    odd.write_text(
        json.dumps(
            {
                "version": 2,
                "features": [
                    {"name": "ok", "enabled": True, "strategies": []},
                    {
                        "name": "re",
                        "enabled": True,
                        "strategies": [
                            {
                                "name": "default",
                                "constraints": [
                                    {"contextName": "e", "operator": "REGEX", "value": "[a-"}
                                ],
                            }
                        ],
                    },
                ],
            }
        )
    )
    proc = shipyard("flags", "import", str(odd), "--env", "dev", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert "warning: flag 're' strategies[0].constraints[0]: invalid regular expression" in (
        proc.stderr
    )
    assert "2 created" in proc.stdout and "1 warning(s)" in proc.stdout
    names = {f["name"] for f in as_json(shipyard("flags", "list", "--json", cwd=repo))["flags"]}
    assert names == {"ok", "re"}

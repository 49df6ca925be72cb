"""`shipyard deploy`, `env`, `rollout` and `env stop` as a user runs them."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.e2e.helpers import as_json, shipyard
from tests.integration.test_deploy import APP, SPEC


def test_deploy_env_status_and_stop(tmp_path: Path) -> None:
    """A deploy prints its decisions, `env` shows it live, bad input exits with its family."""
    shutil.copy(APP, tmp_path / "app.py")
    (tmp_path / "shipyard.yaml").write_text(
        SPEC.format(dev_strategy="recreate", fail_rate=0, migrate="null")
    )
    try:
        done = shipyard("deploy", "dev", "--version", "1.0.0", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "rollout complete" in done.stdout and "no artifact in the registry" in done.stdout
        envs = as_json(shipyard("--json", "env", cwd=tmp_path))["environments"]
        dev = next(e for e in envs if e["environment"] == "dev")
        assert dev["version"] == "1.0.0" and len(dev["instances"]) == 2
        status = as_json(shipyard("--json", "rollout", "status", "dev", cwd=tmp_path))
        assert status["status"] == "succeeded" and status["weights"]["canary"] == 100
        skipped = shipyard("deploy", "production", "--version", "1.0.0", cwd=tmp_path)
        assert skipped.returncode == 5 and "promotion-skips-environment" in skipped.stderr
        unknown = shipyard("--json", "deploy", "qa", cwd=tmp_path)
        assert (
            unknown.returncode == 6 and as_json(unknown)["error"]["code"] == "environment-unknown"
        )
        idle = shipyard("rollout", "promote", "dev", cwd=tmp_path)
        assert idle.returncode == 7 and "no-rollout" in idle.stderr
    finally:
        stopped = shipyard("--json", "env", "stop", "dev", cwd=tmp_path)
    assert as_json(stopped)["stopped"] == 2


def test_destructive_migration_needs_allow_destructive(tmp_path: Path) -> None:
    """A flagged migration exits 5 with `migration-destructive`; --allow-destructive runs it."""
    from tests.integration.test_deploy_migration_lint import MIGRATE
    from tests.integration.test_deploy_migration_lint import SPEC as LINT_SPEC

    shutil.copy(APP, tmp_path / "app.py")
    (tmp_path / "migrate.py").write_text(MIGRATE)
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "001.sql").write_text("ALTER TABLE t ADD COLUMN c int NOT NULL;")
    (tmp_path / "shipyard.yaml").write_text(LINT_SPEC.format(expand_contract="false"))
    try:
        refused = shipyard("--json", "deploy", "dev", "--version", "1.0.0", cwd=tmp_path)
        assert refused.returncode == 5, refused.stderr
        error = as_json(refused)["error"]
        assert error["code"] == "migration-destructive"
        assert "add-not-null-column" in error["message"]
        done = shipyard(
            "deploy",
            "dev",
            "--version",
            "1.0.0",
            "--allow-destructive",
            "empty table",
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        log = as_json(shipyard("audit", "log", "--kind", "migration.*", "--json", cwd=tmp_path))[
            "events"
        ]
        assert [e["payload"]["reason"] for e in log] == ["empty table"]
    finally:
        shipyard("env", "stop", "dev", cwd=tmp_path)

"""`shipyard rollback ENV [--to V]` as a user runs it."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.e2e.helpers import as_json, shipyard
from tests.integration.test_deploy import APP, SPEC


def test_rollback_to_previous_and_named_version(tmp_path: Path) -> None:
    """Rollback prints its direct rollout, `--to` names a version, bad input has a code."""
    shutil.copy(APP, tmp_path / "app.py")
    (tmp_path / "shipyard.yaml").write_text(
        SPEC.format(dev_strategy="recreate", fail_rate=0, migrate="null")
    )
    try:
        for version in ("1.0.0", "1.1.0"):
            done = shipyard("deploy", "dev", "--version", version, cwd=tmp_path)
            assert done.returncode == 0, done.stderr
        back = shipyard("rollback", "dev", cwd=tmp_path)
        assert back.returncode == 0, back.stderr
        assert "rollback of dev from 1.1.0 to 1.0.0" in back.stdout
        assert "skipping steps and analysis" in back.stdout
        again = as_json(shipyard("--json", "rollback", "dev", "--to", "1.1.0", cwd=tmp_path))
        assert again["status"] == "succeeded" and again["version"] == "1.1.0"
        assert again["from"] == "1.0.0"
        unknown = shipyard("--json", "rollback", "dev", "--to", "7.0.0", cwd=tmp_path)
        assert unknown.returncode == 6
        assert as_json(unknown)["error"]["code"] == "rollback-target-unknown"
        envs = as_json(shipyard("--json", "env", cwd=tmp_path))["environments"]
        assert next(e for e in envs if e["environment"] == "dev")["version"] == "1.1.0"
    finally:
        shipyard("env", "stop", "dev", cwd=tmp_path)

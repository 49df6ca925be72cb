"""A server on PostgreSQL signs with a configured key and never mints one of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _start(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`shipyard server`, expected to refuse to start (it would otherwise serve until killed)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    return subprocess.run(
        [sys.executable, "-m", "shipyard", "server", "--port", "1"],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_server_without_a_configured_key_refuses_to_start(pg_url: str, tmp_path: Path) -> None:
    """No key file and no master key is signing-key-missing, with both ways out in the hint; a
    master key with no key in the database says to run `shipyard key create`; no key is
    minted in the server's home either way."""
    home = tmp_path / "a"
    env = {"SHIPYARD_DATABASE_URL": pg_url, "SHIPYARD_HOME": str(home)}
    out = _start(tmp_path, env)
    assert out.returncode == 1
    assert "error[signing-key-missing]" in out.stderr
    assert "SHIPYARD_SIGNING_KEY_FILE" in out.stderr and "SHIPYARD_MASTER_KEY" in out.stderr
    with_master = _start(tmp_path, {**env, "SHIPYARD_MASTER_KEY": "m" * 40})
    assert with_master.returncode == 1
    assert "error[signing-key-missing]" in with_master.stderr
    assert "shipyard key create" in with_master.stderr
    assert not (home / "keys").exists()

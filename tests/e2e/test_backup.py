"""`shipyard db backup` and `restore`: a consistent snapshot of the database and its blobs
that restores into a new store, on SQLite and PostgreSQL (and across them), and verifies."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from shipyard.store.seal import new_key_pem
from tests import gitrepo
from tests.conftest import PG_URL, _pg_schema_url
from tests.e2e.helpers import as_json, shipyard


@pytest.fixture
def second_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """Another empty database of the same kind, to restore into."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'state.db'}"
        return
    assert PG_URL
    schema = "r_" + secrets.token_hex(6)
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield _pg_schema_url(PG_URL, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_backup_restores_into_a_new_store_that_verifies(
    database_url: str, second_database: str, tmp_path: Path
) -> None:
    """A project with tokens, a checkpoint and a published artifact is backed up, restored
    into another database and state folder, and there `audit verify`, `artifacts verify` and
    the artifact's bytes all hold; restoring over a non-empty store is refused."""
    key = tmp_path / "signing.pem"
    key.write_bytes(new_key_pem(os.urandom(32)))
    key.chmod(0o600)
    repo = gitrepo.init(tmp_path / "app")
    gitrepo.commit(repo, "chore: start", {"shipyard.yaml": "project: app\n"})
    (repo / "app.bin").write_bytes(b"the artifact's bytes")
    env = {"SHIPYARD_DATABASE_URL": database_url, "SHIPYARD_SIGNING_KEY_FILE": str(key)}

    def run(*args: str, where: dict[str, str] = env, cwd: Path = repo) -> dict:
        proc = shipyard(*args, "--json", cwd=cwd, env=where)
        assert proc.returncode == 0, proc.stderr
        return as_json(proc)

    run("token", "create", "--role", "viewer", "--name", "reader")
    run("artifacts", "publish", "app", "app.bin", "--version", "1.0.0")
    run("audit", "checkpoint")
    archive = tmp_path / "backup.tar.gz"
    made = run("db", "backup", str(archive))
    assert made["tree_size"] >= 3 and made["tables"]["events"] >= 3
    # bytes, provenance and SBOM: files of the disk store, or rows of PostgreSQL's dump
    stored = made["tables"]["blob_objects"] if made["blob_store"] == "postgres" else made["blobs"]
    assert stored >= 3

    other = gitrepo.init(tmp_path / "restored-repo")
    gitrepo.commit(other, "chore: start", {"shipyard.yaml": "project: app\n"})
    there = {**env, "SHIPYARD_DATABASE_URL": second_database}
    restored = run("db", "restore", str(archive), where=there, cwd=other)
    assert restored["verify"]["ok"] and restored["verify"]["tree_size"] == made["tree_size"]
    assert restored["verify"]["root_hash"] == made["root_hash"]
    assert run("artifacts", "verify", "app@1.0.0", where=there, cwd=other)["ok"]
    out = tmp_path / "copy.bin"
    run("artifacts", "download", "app@1.0.0", "-o", str(out), where=there, cwd=other)
    assert out.read_bytes() == b"the artifact's bytes"
    run("token", "create", "--role", "viewer", "--name", "after", where=there, cwd=other)
    again = shipyard("db", "restore", str(archive), cwd=other, env=there)
    assert again.returncode == 7 and "restore-target-not-empty" in again.stderr


def test_a_file_that_is_not_a_backup_is_refused(tmp_path: Path) -> None:
    """Restoring from a file that is not an archive is backup-invalid (exit 2)."""
    repo = gitrepo.init(tmp_path / "app")
    gitrepo.commit(repo, "chore: start", {"shipyard.yaml": "project: app\n"})
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_text("not an archive")
    proc = shipyard("db", "restore", str(bogus), cwd=repo)
    assert proc.returncode == 2 and "backup-invalid" in proc.stderr

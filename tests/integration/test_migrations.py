"""Alembic migrations: the code's idea of the schema heads matches the migration scripts."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from shipyard.store import db
from shipyard.store.heads import SCHEMA_HEADS
from tests.e2e.helpers import as_json, shipyard


def test_schema_heads_equal_alembic_heads() -> None:
    """SCHEMA_HEADS lists exactly the heads of the migration scripts."""
    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    assert frozenset(ScriptDirectory.from_config(cfg).get_heads()) == SCHEMA_HEADS


def test_first_use_migrates_and_upgrade_is_idempotent(database_url: str, tmp_path: Path) -> None:
    """`shipyard db upgrade` brings an empty database to the heads, and again changes nothing."""
    env = {"SHIPYARD_DATABASE_URL": database_url}
    (tmp_path / "shipyard.yaml").write_text("project: x\n")
    first = as_json(shipyard("db", "upgrade", "--json", cwd=tmp_path, env=env))
    assert first["from"] == [] and first["to"] == sorted(SCHEMA_HEADS)
    again = as_json(shipyard("db", "upgrade", "--json", cwd=tmp_path, env=env))
    assert again["from"] == again["to"] == sorted(SCHEMA_HEADS)
    status = as_json(shipyard("db", "status", "--json", cwd=tmp_path, env=env))
    assert status["current"] is True

"""Alembic migrations: the code's idea of the schema heads matches the migration scripts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from shipyard.store import db, fresh
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


def test_fresh_sqlite_script_is_what_the_migrations_make() -> None:
    """The script a new SQLite store is made from equals a dump of a migrated database; when
    this fails after adding a migration, rewrite it with `python -m shipyard.store.fresh`."""
    assert fresh.SQL.read_text() == fresh.dump()


def test_a_new_sqlite_store_is_made_from_the_script_and_migrates_on(tmp_path: Path) -> None:
    """An empty SQLite file gets the script (heads current, seeded rows there); a database with
    tables of its own is left to Alembic rather than overwritten."""
    engine = db.create(f"sqlite:///{tmp_path}/new.db")
    db.ensure_schema(engine, tmp_path)
    assert db.current_heads(engine) == SCHEMA_HEADS
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT seq FROM dora_cursor").scalar() == -1
    with sqlite3.connect(tmp_path / "new.db") as raw:
        assert fresh.create(raw) is False  # not empty: nothing is run again
    engine.dispose()
    other = db.create(f"sqlite:///{tmp_path}/other.db")
    with other.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE keep (x INTEGER)")
        conn.exec_driver_sql("INSERT INTO keep VALUES (7)")
    db.ensure_schema(other, tmp_path)
    assert db.current_heads(other) == SCHEMA_HEADS
    with other.connect() as conn:
        assert conn.exec_driver_sql("SELECT x FROM keep").scalar() == 7
    other.dispose()

"""Alembic migrations: the code's idea of the schema heads matches the migration scripts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from shipyard.domain import canonical, merkle
from shipyard.services.compliance import audit
from shipyard.settings import Settings
from shipyard.store import db, fresh
from shipyard.store.heads import SCHEMA_HEADS
from shipyard.store.uow import Store
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
    this fails after adding a migration, rewrite it with `python -m shipyard.store.db`."""
    assert fresh.SQL.read_text() == db.dump_fresh()


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


def _revisions() -> list[str]:
    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    return sorted(s.revision for s in ScriptDirectory.from_config(cfg).walk_revisions())


@pytest.mark.parametrize("revision", _revisions())
def test_every_earlier_schema_upgrades_to_the_heads(
    revision: str, database_url: str, tmp_path: Path
) -> None:
    """A store at any earlier revision (each migration's own) upgrades to the current heads."""
    engine = db.create(database_url)
    try:
        db.upgrade(engine, tmp_path, revision=revision)
        assert revision in db.current_heads(engine) or revision not in SCHEMA_HEADS
        db.upgrade(engine, tmp_path)
        assert db.current_heads(engine) == SCHEMA_HEADS
    finally:
        engine.dispose()


def test_a_log_made_before_seals_is_sealed_on_upgrade(database_url: str, tmp_path: Path) -> None:
    """Events written by a store from before the sealed head (revision 0001) verify after the
    upgrade, whose head it seals with the upgrading key, and the log takes new events."""
    engine = db.create(database_url)
    db.upgrade(engine, tmp_path, revision="0001")
    frontier = merkle.Frontier()
    with engine.begin() as conn:
        for seq in range(3):
            row = (seq, "2026-01-01T00:00:00.000000Z", "p", "old.event", f"s{seq}", "alice", "{}")
            leaf = merkle.leaf_hash(canonical.event_bytes(*row))
            frontier.append(leaf)
            conn.execute(
                sa.text(
                    "INSERT INTO events (seq, ts, project, kind, subject, actor, payload,"
                    " leaf_hash, root_hash) VALUES (:seq, :ts, :p, :k, :s, :a, :pl, :l, :r)"
                ),
                dict(zip(("seq", "ts", "p", "k", "s", "a", "pl"), row, strict=True))
                | {"l": leaf, "r": frontier.root()},
            )
        conn.execute(
            sa.text("UPDATE log_head SET size = 3, root_hash = :r, frontier = :f"),
            {"r": frontier.root(), "f": b"".join(frontier.nodes)},
        )
    engine.dispose()
    store = Store.open(Settings(home=tmp_path, database_url=database_url))
    try:
        assert audit.verify(store).report.ok
        with store.begin() as uow:
            uow.events.append("new.event", "s3", "bob", {}, project="p")
        report = audit.verify(store)
        assert report.report.ok and report.report.size == 4 and report.head_sealed is True
    finally:
        store.dispose()

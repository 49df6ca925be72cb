"""A new SQLite store from one script instead of a replay of every migration.

``fresh.sqlite.sql`` is the dump of a database migrated to ``SCHEMA_HEADS``, its
``alembic_version`` rows included, so later migrations apply to it as to any other store.
Creating a store this way takes milliseconds where importing Alembic and replaying the
migrations takes about a third of a second, which every first run would pay. A test holds the
file equal to what the migrations make; after adding one, rewrite it with
``python -m shipyard.store.fresh``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy import Engine

SQL = Path(__file__).with_name("fresh.sqlite.sql")


def create(engine: Engine) -> bool:
    """Fill an empty SQLite database from the script; False, touching nothing, if not empty.

    The caller holds the migration lock.
    """
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        if driver.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            return False
        driver.executescript(SQL.read_text())  # its own BEGIN ... COMMIT: all or nothing
        return True
    finally:
        raw.close()


def dump() -> str:
    """The script: a database migrated by Alembic to the heads, dumped as SQL."""
    from shipyard.store import db

    with tempfile.TemporaryDirectory() as tmp:
        engine = db.create(f"sqlite:///{tmp}/state.db")
        try:
            db.upgrade(engine, Path(tmp))
            raw = engine.raw_connection()
            try:
                driver = raw.driver_connection
                assert driver is not None
                return "\n".join(driver.iterdump()) + "\n"
            finally:
                raw.close()
        finally:
            engine.dispose()


if __name__ == "__main__":
    SQL.write_text(dump())
    print(f"wrote {SQL}")

"""A new SQLite store from one script instead of a replay of every migration.

``fresh.sqlite.sql`` is the dump of a database migrated to ``SCHEMA_HEADS``, its
``alembic_version`` rows included, so later migrations apply to it as to any other store.
Creating a store this way takes milliseconds where importing Alembic and replaying the
migrations takes about a third of a second, which every first run would pay. A test holds the
file equal to what the migrations make; after adding one, rewrite it with
``python -m shipyard.store.db`` (``db.dump_fresh``).
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
from collections.abc import Iterator
from pathlib import Path

SQL = Path(__file__).with_name("fresh.sqlite.sql")


@contextlib.contextmanager
def lock(home: Path) -> Iterator[None]:
    """Two processes opening a fresh SQLite store at once must not both create the tables."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "migrate.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def create(conn: sqlite3.Connection) -> bool:
    """Fill an empty SQLite database from the script; False, touching nothing, if not empty.

    The caller holds the lock.
    """
    if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
        return False
    conn.executescript(SQL.read_text())  # its own BEGIN ... COMMIT: all or nothing
    return True

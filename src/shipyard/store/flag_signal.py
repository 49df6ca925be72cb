"""Waiting, cheaply, for the flags in a database to change: one waiter per server process.

PostgreSQL: ``LISTEN`` on ``store.flags.CHANNEL`` over a connection of its own; every revision
bump and token revocation sends a ``NOTIFY`` in its transaction, delivered at commit.
SQLite: ``PRAGMA data_version`` on a connection of its own, which changes whenever another
connection (in this process or another) commits; reading it touches no table.

A wake-up says only "something may have changed": the caller reads what it needs once and
fans out, so the cost does not grow with the number of open streams.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any, Protocol

from sqlalchemy.engine import make_url

from shipyard.store.flags import CHANNEL

SQLITE_POLL_S = 0.1  # a commit is seen within this; one pragma per server, not per stream


class ChangeSignal(Protocol):
    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; True if something may have changed."""

    def close(self) -> None: ...


class SqliteSignal:
    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._version = self._read()

    def _read(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            current = self._read()
            if current != self._version:
                self._version = current
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(SQLITE_POLL_S, left))

    def close(self) -> None:
        self._conn.close()


class PostgresSignal:
    def __init__(self, url: str) -> None:
        import psycopg

        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._conn: Any = psycopg.connect(conninfo, autocommit=True, connect_timeout=5)
        self._conn.execute(f"LISTEN {CHANNEL}")

    def wait(self, timeout: float) -> bool:
        got = False
        for _ in self._conn.notifies(timeout=timeout, stop_after=1):
            got = True
        if got:  # take whatever else arrived with it, so one read covers a burst
            for _ in self._conn.notifies(timeout=0.0):
                pass
        return got

    def close(self) -> None:
        self._conn.close()


def open_signal(url: str) -> ChangeSignal:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return SqliteSignal(parsed.database or ":memory:")
    return PostgresSignal(url)

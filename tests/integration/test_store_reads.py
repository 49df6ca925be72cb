"""Reads on PostgreSQL: a pooled connection that died while idle is replaced before use (so
a server answers after PostgreSQL restarts), and a snapshot read sees one moment."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from shipyard.settings import Settings
from shipyard.store import db
from shipyard.store.schema import projects
from shipyard.store.uow import Store


def _names(store: Store, **options: bool) -> list[str]:
    with store.read(**options) as uow:
        return [r[0] for r in uow.conn.execute(select(projects.c.name).order_by(projects.c.name))]


def _add(store: Store, name: str) -> None:
    with store.begin() as uow:
        uow.conn.execute(projects.insert(), {"name": name, "created_at": "now"})


@pytest.fixture
def pg_store(pg_url: str, tmp_path: Path) -> Iterator[Store]:
    store = Store.open(Settings(home=tmp_path / ".shipyard", database_url=pg_url))
    yield store
    store.dispose()


def test_an_idle_connection_killed_by_the_server_is_replaced(pg_store: Store) -> None:
    """The pooled connection's backend is terminated (as a PostgreSQL restart does); once it
    has been idle past the ping threshold, the next read pings, replaces it and succeeds."""
    _add(pg_store, "alpha")
    with pg_store.read() as uow:
        backend = uow.conn.execute(text("SELECT pg_backend_pid()")).scalar()
    with db.create(pg_store.url).connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": backend})
    time.sleep(db.IDLE_PING_S + 0.2)
    assert _names(pg_store) == ["alpha"]
    with pg_store.read() as uow:
        assert uow.conn.execute(text("SELECT pg_backend_pid()")).scalar() != backend


def test_reads_hold_no_transaction_open(pg_store: Store) -> None:
    """A plain read runs each statement on its own (READ COMMITTED gives each statement its
    own snapshot anyway): between statements nothing is left open to hold locks."""
    with pg_store.read() as uow, db.create(pg_store.url).connect() as other:
        backend = uow.conn.execute(text("SELECT pg_backend_pid()")).scalar()
        state = other.execute(
            text("SELECT state FROM pg_stat_activity WHERE pid = :p"), {"p": backend}
        ).scalar()
    assert state == "idle"


def test_a_snapshot_read_sees_one_moment(store: Store) -> None:
    """Rows committed after a snapshot read's first statement are not seen by the rest of
    it (what `shipyard db backup` relies on); a plain read on PostgreSQL sees them."""
    _add(store, "alpha")
    with store.read(snapshot=True) as uow:
        first = [r[0] for r in uow.conn.execute(select(projects.c.name))]
        if store.dialect == "postgresql":
            _add(store, "bravo")  # SQLite: the writer would wait for this reader's snapshot
        again = [r[0] for r in uow.conn.execute(select(projects.c.name))]
    assert first == again == ["alpha"]
    if store.dialect == "postgresql":
        assert _names(store) == ["alpha", "bravo"]

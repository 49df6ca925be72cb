"""Leased background work: one row per piece of work any worker may take (a rollout to drive,
scheduled flag changes to apply, notifications to deliver), and the lines controllers log.

A worker takes a row by writing itself as its owner, a new fencing token (``fence``, one more
than before) and an expiry; it keeps it by renewing the expiry (its heartbeat) and by checking
owner and token in the same transaction as each write it makes (``fenced``), so a worker that
lost its lease (paused past the expiry, cut off from the database) has its next write refused
instead of racing the worker that took over. Times are the database's clock, in epoch
seconds, so hosts whose clocks disagree still agree on who holds what. Rows are taken with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so workers polling at once never wait on each other.
"""

from __future__ import annotations

from typing import Any, TypedDict

from sqlalchemy import (
    BigInteger,
    Column,
    Executable,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from shipyard.store.schema import metadata

work_items = Table(
    "work_items",
    metadata,
    Column("id", String(300), primary_key=True),  # rollout:<id>, supervise:<project>/<env>, ...
    Column("kind", String(20), nullable=False),
    Column("project", String(100), nullable=False),
    Column("state", String(10), nullable=False),  # pending, done
    Column("owner", String(200), nullable=True),
    Column("fence", BigInteger, nullable=False),
    Column("expires_at", Float, nullable=True),  # database clock, epoch seconds
    Column("heartbeat_at", Float, nullable=True),
    Column("not_before", Float, nullable=True),  # a failed attempt waits until then
    Column("attempts", Integer, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("finished_at", String(32), nullable=True),
    Index("ix_work_items_pending", "state", "kind"),
)

controller_logs = Table(
    "controller_logs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item", String(300), nullable=False),
    Column("ts", String(32), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("fence", BigInteger, nullable=False),
    Column("line", Text, nullable=False),
    Index("ix_controller_logs_item", "item", "id"),
)


def db_now(conn: Connection) -> ColumnElement[Any]:
    """Now in epoch seconds, by the database's clock."""
    if conn.dialect.name == "postgresql":
        return func.extract("epoch", func.clock_timestamp())
    return (func.julianday("now") - 2440587.5) * 86400.0


def add(
    conn: Connection,
    item_id: str,
    kind: str,
    project: str,
    created_at: str,
    *,
    revive: bool = False,
) -> None:
    """Record work to be taken; a row already there is left as it is (pending again, if done
    and ``revive``: recurring work such as an environment's supervision). One statement each,
    so two processes recording the same work at once (a deploy and its supervisor) both
    succeed."""
    c = work_items.c
    values = {
        "id": item_id,
        "kind": kind,
        "project": project,
        "state": "pending",
        "owner": None,
        "fence": 0,
        "attempts": 0,
        "created_at": created_at,
    }
    # Each dialect has its own Insert class with on_conflict_do_nothing.
    add: Executable
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        add = pg_insert(work_items).values(**values).on_conflict_do_nothing(index_elements=["id"])
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        add = (
            sqlite_insert(work_items).values(**values).on_conflict_do_nothing(index_elements=["id"])
        )
    conn.execute(add)
    if revive:
        conn.execute(
            update(work_items)
            .where(c.id == item_id, c.state == "done")
            .values(state="pending", finished_at=None, not_before=None)
        )


class WorkItem(TypedDict):
    """A row of ``work_items``, with the seconds its lease has left (negative: expired)."""

    id: str
    kind: str
    project: str
    state: str
    owner: str | None
    fence: int
    expires_at: float | None
    heartbeat_at: float | None
    not_before: float | None
    attempts: int
    created_at: str
    finished_at: str | None
    left_s: float | None  # None: no lease was ever taken


def get(conn: Connection, item_id: str) -> WorkItem | None:
    c = work_items.c
    row = conn.execute(
        select(work_items, (c.expires_at - db_now(conn)).label("left_s")).where(c.id == item_id)
    ).first()
    if row is None:
        return None
    return {
        "id": row.id,
        "kind": row.kind,
        "project": row.project,
        "state": row.state,
        "owner": row.owner,
        "fence": row.fence,
        "expires_at": row.expires_at,
        "heartbeat_at": row.heartbeat_at,
        "not_before": row.not_before,
        "attempts": row.attempts,
        "created_at": row.created_at,
        "finished_at": row.finished_at,
        "left_s": row.left_s,
    }


def _takeable(conn: Connection) -> ColumnElement[bool]:
    c = work_items.c
    now = db_now(conn)
    return and_(
        c.state == "pending",
        or_(c.expires_at.is_(None), c.expires_at < now),
        or_(c.not_before.is_(None), c.not_before < now),
    )


def candidates(conn: Connection, kinds: list[str], limit: int) -> list[dict[str, Any]]:
    """Pending work nobody holds, oldest first, locked for this transaction (skipping rows
    another worker is taking at this moment)."""
    c = work_items.c
    q = (
        select(c.id, c.fence)
        .where(_takeable(conn), c.kind.in_(kinds))
        .order_by(c.created_at, c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return [dict(r._mapping) for r in conn.execute(q)]


def take(conn: Connection, item_id: str, fence: int, owner: str, lease_s: float) -> bool:
    """Make ``owner`` the holder of ``item_id`` with the fencing token ``fence + 1``, if the
    row is still takeable and nobody took it since it was read with ``fence``."""
    c = work_items.c
    now = db_now(conn)
    return _update_one(
        conn,
        item_id,
        (c.fence == fence, _takeable(conn)),
        owner=owner,
        fence=c.fence + 1,
        expires_at=now + lease_s,
        heartbeat_at=now,
        attempts=c.attempts + 1,
    )


def _update_one(
    conn: Connection, item_id: str, where: tuple[ColumnElement[bool], ...], **values: Any
) -> bool:
    """Set ``values`` on ``item_id`` if ``where`` still holds for it; False when it does not
    (another worker got there first)."""
    done = conn.execute(
        update(work_items).where(work_items.c.id == item_id, *where).values(**values)
    )
    return bool(done.rowcount == 1)


def renew(conn: Connection, item_id: str, owner: str, fence: int, lease_s: float) -> bool:
    """Extend the lease if ``owner`` still holds it with ``fence``: the check every write of a
    lease holder makes in its own transaction (False: the lease is lost).

    A lease past its expiry that no one has taken is still the holder's: taking it raises the
    fence, and the fence is what keeps a stale holder out. Refusing it would make a renewal
    that waited on the database's write lock past the expiry (SQLite, under load) lose a lease
    nobody else wanted, and stop a supervisor for nothing."""
    c = work_items.c
    now = db_now(conn)
    return _update_one(
        conn,
        item_id,
        (c.owner == owner, c.fence == fence, c.state == "pending"),
        expires_at=now + lease_s,
        heartbeat_at=now,
    )


def release(
    conn: Connection, item_id: str, owner: str, fence: int, *, done: bool, at: str, wait_s: float
) -> None:
    """Let go of a held lease: the work is done, or another worker may take it (after
    ``wait_s``, so work that fails at once is not retried in a tight loop)."""
    c = work_items.c
    values: dict[str, Any] = {"owner": None, "expires_at": None}
    if done:
        values |= {"state": "done", "finished_at": at}
    else:
        values["not_before"] = db_now(conn) + wait_s if wait_s > 0 else None
    conn.execute(
        update(work_items)
        .where(c.id == item_id, c.owner == owner, c.fence == fence)
        .values(**values)
    )


def finish_unheld(conn: Connection, item_id: str, at: str) -> bool:
    """Mark work done that nobody holds (a rollout cancelled before any controller took it);
    False when a worker holds it now."""
    c = work_items.c
    now = db_now(conn)
    unheld = or_(c.owner.is_(None), c.expires_at.is_(None), c.expires_at < now)
    return _update_one(conn, item_id, (c.state == "pending", unheld), **_ended(at))


def revoke(conn: Connection, item_id: str, at: str) -> None:
    """End the work whoever holds it: done, and a new fencing token, so its holder's next
    write is refused (`shipyard env stop` during a rollout)."""
    _update_one(conn, item_id, (), **_ended(at))


def _ended(at: str) -> dict[str, Any]:
    """The values of work that ended at ``at``: done, unheld, and a new fencing token so a
    holder's next write is refused."""
    c = work_items.c
    return {
        "state": "done",
        "finished_at": at,
        "owner": None,
        "expires_at": None,
        "fence": c.fence + 1,
    }


def log(conn: Connection, item_id: str, ts: str, owner: str, fence: int, line: str) -> None:
    conn.execute(
        insert(controller_logs).values(item=item_id, ts=ts, owner=owner, fence=fence, line=line)
    )


class LogLine(TypedDict):
    """A line a controller logged while holding a lease."""

    ts: str
    owner: str
    fence: int
    line: str


def logs(conn: Connection, item_id: str, limit: int) -> list[LogLine]:
    c = controller_logs.c
    rows = conn.execute(
        select(c.ts, c.owner, c.fence, c.line)
        .where(c.item == item_id)
        .order_by(c.id.desc())
        .limit(limit)
    ).all()
    return [
        {"ts": r.ts, "owner": r.owner, "fence": r.fence, "line": r.line} for r in reversed(rows)
    ]


def held(conn: Connection, kinds: list[str]) -> list[dict[str, Any]]:
    """Work a live lease holds now, for `shipyard worker status`."""
    c = work_items.c
    q = select(
        c.id, c.kind, c.project, c.owner, c.fence, (c.expires_at - db_now(conn)).label("left_s")
    ).where(
        c.state == "pending", c.kind.in_(kinds), c.owner.is_not(None), c.expires_at >= db_now(conn)
    )
    return [dict(r._mapping) for r in conn.execute(q)]

"""Scheduled flag changes: one row per change to make at a time (UTC, fixed-width text).

A row is pending until ``applied_at`` or ``cancelled_at`` is set; ``error`` says why a due
change could not be made (the flag was deleted, or the change was refused).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Index, Integer, String, Table, Text, select, update
from sqlalchemy.engine import Connection

from shipyard.store.schema import metadata

flag_schedules = Table(
    "flag_schedules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(100), nullable=False),
    Column("environment", String(100), nullable=False),
    Column("flag", String(200), nullable=False),
    Column("action", String(10), nullable=False),  # enable, disable, rollout
    Column("percentage", Integer, nullable=True),  # rollout only
    Column("at", String(32), nullable=False),  # 2026-12-01T09:00:00Z
    Column("created_by", String(200), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("applied_at", String(32), nullable=True),
    Column("cancelled_at", String(32), nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_flag_schedules_at", "at"),
)

_PENDING = (flag_schedules.c.applied_at.is_(None), flag_schedules.c.cancelled_at.is_(None))


def insert(conn: Connection, row: dict[str, Any]) -> int:
    key = conn.execute(flag_schedules.insert(), row).inserted_primary_key
    assert key is not None
    return int(key[0])


def get(conn: Connection, schedule_id: int) -> dict[str, Any] | None:
    r = conn.execute(select(flag_schedules).where(flag_schedules.c.id == schedule_id)).mappings()
    first = r.first()
    return dict(first) if first is not None else None


def rows(conn: Connection, project: str, environment: str | None = None) -> list[dict[str, Any]]:
    c = flag_schedules.c
    q = select(flag_schedules).where(c.project == project)
    if environment is not None:
        q = q.where(c.environment == environment)
    return [dict(r) for r in conn.execute(q.order_by(c.at, c.id)).mappings()]


def pending_until(
    conn: Connection, cutoff: str, project: str | None = None
) -> list[dict[str, Any]]:
    """Pending rows with ``at <= cutoff``, oldest first."""
    c = flag_schedules.c
    q = select(flag_schedules).where(*_PENDING, c.at <= cutoff)
    if project is not None:
        q = q.where(c.project == project)
    return [dict(r) for r in conn.execute(q.order_by(c.at, c.id)).mappings()]


def claim(conn: Connection, schedule_id: int, **values: Any) -> bool:
    """Set ``values`` on a row only while it is pending; whether this call did it.

    On PostgreSQL a concurrent claim waits for the row lock, then finds it no longer pending.
    """
    c = flag_schedules.c
    result = conn.execute(
        update(flag_schedules).where(c.id == schedule_id, *_PENDING).values(values)
    )
    return result.rowcount == 1

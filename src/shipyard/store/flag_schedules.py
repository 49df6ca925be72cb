"""Scheduled flag changes: one row per change to make at a time (UTC, fixed-width text).

A row is pending until ``applied_at`` or ``cancelled_at`` is set; ``error`` says why a due
change could not be made (the flag was deleted, or the change was refused).
"""

from __future__ import annotations

from typing import Any, TypedDict

from sqlalchemy import Column, Index, Integer, String, Table, Text, select, update
from sqlalchemy.engine import Connection, RowMapping

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


class NewSchedule(TypedDict):
    """What a schedule is inserted with (every column but its id)."""

    project: str
    environment: str
    flag: str
    action: str
    percentage: int | None
    at: str
    created_by: str
    created_at: str
    applied_at: str | None
    cancelled_at: str | None
    error: str | None


class ScheduleRow(NewSchedule):
    """A row of ``flag_schedules``: what it was inserted with, and its id."""

    id: int


def _row(r: RowMapping) -> ScheduleRow:
    return {
        "id": r["id"],
        "project": r["project"],
        "environment": r["environment"],
        "flag": r["flag"],
        "action": r["action"],
        "percentage": r["percentage"],
        "at": r["at"],
        "created_by": r["created_by"],
        "created_at": r["created_at"],
        "applied_at": r["applied_at"],
        "cancelled_at": r["cancelled_at"],
        "error": r["error"],
    }


def insert(conn: Connection, row: NewSchedule) -> int:
    key = conn.execute(flag_schedules.insert(), row).inserted_primary_key
    assert key is not None
    return int(key[0])


def get(conn: Connection, schedule_id: int) -> ScheduleRow | None:
    r = conn.execute(select(flag_schedules).where(flag_schedules.c.id == schedule_id)).mappings()
    first = r.first()
    return _row(first) if first is not None else None


def rows(conn: Connection, project: str, environment: str | None = None) -> list[ScheduleRow]:
    c = flag_schedules.c
    q = select(flag_schedules).where(c.project == project)
    if environment is not None:
        q = q.where(c.environment == environment)
    return [_row(r) for r in conn.execute(q.order_by(c.at, c.id)).mappings()]


def pending_until(conn: Connection, cutoff: str, project: str | None = None) -> list[ScheduleRow]:
    """Pending rows with ``at <= cutoff``, oldest first."""
    c = flag_schedules.c
    q = select(flag_schedules).where(*_PENDING, c.at <= cutoff)
    if project is not None:
        q = q.where(c.project == project)
    return [_row(r) for r in conn.execute(q.order_by(c.at, c.id)).mappings()]


def claim(conn: Connection, schedule_id: int, **values: Any) -> bool:
    """Set ``values`` on a row only while it is pending; whether this call did it.

    On PostgreSQL a concurrent claim waits for the row lock, then finds it no longer pending.
    """
    c = flag_schedules.c
    result = conn.execute(
        update(flag_schedules).where(c.id == schedule_id, *_PENDING).values(values)
    )
    return result.rowcount == 1

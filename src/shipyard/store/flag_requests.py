"""Flag protections, change requests and their approvals (tables in ``store.flags``)."""

from __future__ import annotations

from typing import Any, TypedDict

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, RowMapping

from shipyard.store.flags import flag_change_approvals, flag_change_requests, flag_protections


def protection(conn: Connection, project: str, environment: str) -> int:
    c = flag_protections.c
    value = conn.execute(
        select(c.approvals).where(c.project == project, c.environment == environment)
    ).scalar()
    return int(value or 0)


def set_protection(
    conn: Connection, project: str, environment: str, approvals: int, now: str
) -> None:
    c = flag_protections.c
    where = (c.project == project, c.environment == environment)
    conn.execute(flag_protections.delete().where(*where))
    if approvals:
        conn.execute(
            flag_protections.insert(),
            {
                "project": project,
                "environment": environment,
                "approvals": approvals,
                "updated_at": now,
            },
        )


class Protection(TypedDict):
    """An environment whose flag changes need ``approvals`` approvals."""

    environment: str
    approvals: int
    updated_at: str


def protections(conn: Connection, project: str) -> list[Protection]:
    c = flag_protections.c
    q = select(c.environment, c.approvals, c.updated_at).where(c.project == project)
    return [
        {"environment": r.environment, "approvals": r.approvals, "updated_at": r.updated_at}
        for r in conn.execute(q.order_by(c.environment))
    ]


class NewChangeRequest(TypedDict):
    """What a change request is inserted with; the closing columns start empty."""

    project: str
    environment: str
    flag: str
    change: str  # JSON: {"action": ..., "percentage": ...}
    status: str
    approvals_needed: int
    proposed_by: str
    created_at: str
    apply_at: str | None


class ChangeRequestRow(NewChangeRequest):
    """A row of ``flag_change_requests``: as inserted, with its id and how it closed."""

    id: int
    closed_at: str | None
    closed_by: str | None
    error: str | None


def _row(r: RowMapping) -> ChangeRequestRow:
    return {
        "id": r["id"],
        "project": r["project"],
        "environment": r["environment"],
        "flag": r["flag"],
        "change": r["change"],
        "status": r["status"],
        "approvals_needed": r["approvals_needed"],
        "proposed_by": r["proposed_by"],
        "created_at": r["created_at"],
        "apply_at": r["apply_at"],
        "closed_at": r["closed_at"],
        "closed_by": r["closed_by"],
        "error": r["error"],
    }


def insert(conn: Connection, row: NewChangeRequest) -> int:
    result = conn.execute(flag_change_requests.insert().values(**row))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def get(conn: Connection, request_id: int) -> ChangeRequestRow | None:
    row = conn.execute(
        select(flag_change_requests).where(flag_change_requests.c.id == request_id)
    ).first()
    return None if row is None else _row(row._mapping)


def rows(
    conn: Connection, project: str, environment: str | None = None, status: str | None = None
) -> list[ChangeRequestRow]:
    c = flag_change_requests.c
    q = select(flag_change_requests).where(c.project == project)
    if environment is not None:
        q = q.where(c.environment == environment)
    if status is not None:
        q = q.where(c.status == status)
    return [_row(r._mapping) for r in conn.execute(q.order_by(c.id))]


def due(conn: Connection, stamp: str, project: str | None = None) -> list[ChangeRequestRow]:
    """Approved requests with a time that has come, oldest first."""
    c = flag_change_requests.c
    q = select(flag_change_requests).where(
        c.status == "approved", c.apply_at.is_not(None), c.apply_at <= stamp
    )
    if project is not None:
        q = q.where(c.project == project)
    return [_row(r._mapping) for r in conn.execute(q.order_by(c.apply_at, c.id))]


def approvers(conn: Connection, request_id: int) -> list[str]:
    c = flag_change_approvals.c
    q = select(c.actor).where(c.request_id == request_id).order_by(c.at, c.actor)
    return [str(a) for a in conn.execute(q).scalars()]


def approve(conn: Connection, request_id: int, actor: str, now: str) -> None:
    conn.execute(
        flag_change_approvals.insert(), {"request_id": request_id, "actor": actor, "at": now}
    )


def move(conn: Connection, request_id: int, from_status: str, **values: Any) -> bool:
    """Set ``values`` if the request is still in ``from_status``: the claim that makes two
    appliers (or an applier and a canceller) act once."""
    c = flag_change_requests.c
    result = conn.execute(
        update(flag_change_requests)
        .where(c.id == request_id, c.status == from_status)
        .values(**values)
    )
    return bool(result.rowcount)

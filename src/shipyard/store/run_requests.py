"""Repositories of projects and the queue of requested runs (migration 0013_build)."""

from __future__ import annotations

from typing import Any, TypedDict, cast

from sqlalchemy import Column, Index, Integer, String, Table, Text, insert, select, update
from sqlalchemy.engine import Connection

from shipyard.store.schema import metadata

repositories = Table(
    "repositories",
    metadata,
    Column("project", String(100), primary_key=True),
    Column("name", String(300), nullable=False, unique=True),
    Column("remote", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("executor", String(300), nullable=False),
    Column("status_command", Text, nullable=True),
    Column("updated_at", String(32), nullable=False),
)

run_requests = Table(
    "run_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(100), nullable=False),
    Column("commit", String(64), nullable=False),
    Column("ref", String(300), nullable=False),
    Column("trigger", String(100), nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("run_id", Integer, nullable=True),
    Column("reason", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Index("ix_run_requests_status", "status", "id"),
)


class Repository(TypedDict):
    """A project's repository: a row of ``repositories``."""

    project: str
    name: str  # owner/name, as the git host knows it
    remote: str
    secret: str
    executor: str
    status_command: str | None
    updated_at: str


def _repository(row: Any) -> Repository:
    return cast(Repository, dict(row._mapping))  # the TypedDict is the table's row


def repository(conn: Connection, project: str) -> Repository | None:
    row = conn.execute(select(repositories).where(repositories.c.project == project)).first()
    return None if row is None else _repository(row)


def repository_named(conn: Connection, name: str) -> Repository | None:
    row = conn.execute(select(repositories).where(repositories.c.name == name)).first()
    return None if row is None else _repository(row)


def put_repository(conn: Connection, values: Repository) -> None:
    c = repositories.c
    if conn.execute(select(c.project).where(c.project == values["project"])).first():
        conn.execute(update(repositories).where(c.project == values["project"]).values(**values))
    else:
        conn.execute(insert(repositories).values(**values))


def add_request(conn: Connection, values: dict[str, Any]) -> int:
    result = conn.execute(insert(run_requests).values(**values).returning(run_requests.c.id))
    return int(result.scalar_one())


class RunRequest(TypedDict):
    """A requested run: a row of ``run_requests``."""

    id: int
    project: str
    commit: str
    ref: str
    trigger: str
    requested_by: str
    status: str  # queued, running, done, failed
    run_id: int | None
    reason: str
    created_at: str
    updated_at: str


def _request(row: Any) -> RunRequest:
    return cast(RunRequest, dict(row._mapping))  # the TypedDict is the table's row


def request(conn: Connection, request_id: int) -> RunRequest | None:
    row = conn.execute(select(run_requests).where(run_requests.c.id == request_id)).first()
    return None if row is None else _request(row)


def requests(conn: Connection, project: str | None, limit: int) -> list[RunRequest]:
    query = select(run_requests).order_by(run_requests.c.id.desc()).limit(limit)
    if project is not None:
        query = query.where(run_requests.c.project == project)
    return [_request(r) for r in conn.execute(query)]


def unsettled(conn: Connection) -> list[tuple[int, str]]:
    c = run_requests.c
    rows = conn.execute(
        select(c.id, c.project).where(c.status.in_(("queued", "running"))).order_by(c.id)
    )
    return [(int(r.id), str(r.project)) for r in rows]


def start(conn: Connection, request_id: int, now: str) -> None:
    conn.execute(
        update(run_requests)
        .where(run_requests.c.id == request_id)
        .values(status="running", updated_at=now)
    )


def set_run(conn: Connection, request_id: int, run_id: int) -> None:
    conn.execute(update(run_requests).where(run_requests.c.id == request_id).values(run_id=run_id))


def settle(
    conn: Connection, request_id: int, status: str, run_id: int | None, reason: str, now: str
) -> None:
    conn.execute(
        update(run_requests)
        .where(run_requests.c.id == request_id)
        .values(status=status, run_id=run_id, reason=reason, updated_at=now)
    )

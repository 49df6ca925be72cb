"""Each project's shipyard.yaml as the server holds it: every revision `shipyard apply` sent,
the newest current. History is also in the event log (``project.applied``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Integer, String, Table, Text, insert, select
from sqlalchemy.engine import Connection

from shipyard.store.schema import metadata

project_specs = Table(
    "project_specs",
    metadata,
    Column("project", String(100), primary_key=True),
    Column("revision", Integer, primary_key=True, autoincrement=False),
    Column("digest", String(71), nullable=False),
    Column("yaml", Text, nullable=False),
    Column("file", String(300), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("created_by", String(200), nullable=False),
)


def current(conn: Connection, project: str, *, text: bool = True) -> dict[str, Any] | None:
    c = project_specs.c
    cols = [c.project, c.revision, c.digest, c.file, c.created_at, c.created_by]
    if text:
        cols.append(c.yaml)
    row = conn.execute(
        select(*cols).where(c.project == project).order_by(c.revision.desc()).limit(1)
    ).first()
    return None if row is None else dict(row._mapping)


def add(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(project_specs).values(**row))


def projects(conn: Connection) -> list[str]:
    c = project_specs.c
    return [r[0] for r in conn.execute(select(c.project).distinct().order_by(c.project))]

"""Each project's shipyard.yaml as the server holds it: every revision `shipyard apply` sent,
the newest current. History is also in the event log (``project.applied``)."""

from __future__ import annotations

from typing import NotRequired, TypedDict

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


class SpecRevision(TypedDict):
    """A revision of a project's shipyard.yaml, without its text."""

    project: str
    revision: int
    digest: str
    file: str
    created_at: str
    created_by: str


class SpecRow(SpecRevision):
    """A revision of a project's shipyard.yaml."""

    yaml: NotRequired[str]  # absent when read without its text


def current(conn: Connection, project: str, *, text: bool = True) -> SpecRow | None:
    c = project_specs.c
    cols = [c.project, c.revision, c.digest, c.file, c.created_at, c.created_by]
    if text:
        cols.append(c.yaml)
    row = conn.execute(
        select(*cols).where(c.project == project).order_by(c.revision.desc()).limit(1)
    ).first()
    if row is None:
        return None
    out: SpecRow = {
        "project": row.project,
        "revision": row.revision,
        "digest": row.digest,
        "file": row.file,
        "created_at": row.created_at,
        "created_by": row.created_by,
    }
    if text:
        out["yaml"] = row.yaml
    return out


def add(conn: Connection, row: SpecRow) -> None:
    conn.execute(insert(project_specs).values(**row))


def projects(conn: Connection) -> list[str]:
    c = project_specs.c
    return [r[0] for r in conn.execute(select(c.project).distinct().order_by(c.project))]

"""Artifact registry tables: immutable name@version records and the releases that made them.

The bytes, provenance envelope and SBOM live in the content-addressed store; rows hold their
digests. History (who published what, when) is in the event log, not here.
"""

from __future__ import annotations

from typing import Any, TypedDict, cast

from sqlalchemy import BigInteger, Column, Index, String, Table, select
from sqlalchemy.engine import Connection

from shipyard.store.schema import metadata

artifacts = Table(
    "artifacts",
    metadata,
    Column("project", String(100), primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("version", String(100), primary_key=True),
    Column("digest", String(71), nullable=False),  # sha256:<64 hex>
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("filename", String(300), nullable=False),
    Column("commit", String(64), nullable=True),
    Column("run_id", String(64), nullable=True),
    Column("provenance_digest", String(71), nullable=False),
    Column("sbom_digest", String(71), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("created_by", String(200), nullable=False),
    Index("ix_artifacts_digest", "project", "digest"),
)

service_releases = Table(
    "service_releases",
    metadata,
    Column("project", String(100), primary_key=True),
    Column("service", String(100), primary_key=True),
    Column("version", String(100), primary_key=True),
    Column("previous", String(100), nullable=True),
    Column("bump", String(10), nullable=False),
    Column("tag", String(200), nullable=False),
    Column("commit", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("created_by", String(200), nullable=False),
)


class ArtifactParts(TypedDict):
    """What an artifact is: name@version, its file and the digests of its parts."""

    name: str
    version: str
    digest: str
    size: int
    media_type: str
    filename: str
    commit: str | None
    run_id: str | None
    provenance_digest: str
    sbom_digest: str


class ArtifactRow(ArtifactParts):
    """A published artifact: name@version of a project, and the digests of its parts."""

    project: str
    created_at: str
    created_by: str


def _artifact(r: Any) -> ArtifactRow:
    return cast(ArtifactRow, dict(r._mapping))  # the TypedDict is the table's row


def get(conn: Connection, project: str, name: str, version: str) -> ArtifactRow | None:
    c = artifacts.c
    row = conn.execute(
        select(artifacts).where(c.project == project, c.name == name, c.version == version)
    ).first()
    return _artifact(row) if row is not None else None


def insert(conn: Connection, row: ArtifactRow) -> None:
    conn.execute(artifacts.insert(), row)


def list_(conn: Connection, project: str, name: str | None = None) -> list[ArtifactRow]:
    c = artifacts.c
    q = select(artifacts).where(c.project == project)
    if name is not None:
        q = q.where(c.name == name)
    q = q.order_by(c.name, c.created_at, c.version)
    return [_artifact(r) for r in conn.execute(q)]


def add_release(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(service_releases.insert(), row)


def releases(conn: Connection, project: str, service: str | None = None) -> list[dict[str, Any]]:
    c = service_releases.c
    q = select(service_releases).where(c.project == project)
    if service is not None:
        q = q.where(c.service == service)
    return [dict(r) for r in conn.execute(q.order_by(c.created_at)).mappings()]

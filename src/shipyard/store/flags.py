"""Feature flag tables: each flag's Unleash definition per project and environment.

A row holds the feature exactly as the Unleash client API describes it (JSON), so the client
API serves rows without translation. History (who changed what) lives in the event log.
``flag_revisions`` is bumped in the same transaction as any change to an environment's flags:
it is the ETag of ``/api/client/features`` and what the streaming route watches. On
PostgreSQL each bump (and each token revocation) also sends a ``NOTIFY`` on ``CHANNEL``, which
PostgreSQL delivers when the transaction commits, so servers listening hear of it at once.
"""

from __future__ import annotations

import json
from typing import Any, TypedDict, cast

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    func,
    select,
    text,
)
from sqlalchemy.engine import Connection

from shipyard.store.schema import metadata

flags = Table(
    "flags",
    metadata,
    Column("project", String(100), primary_key=True),
    Column("environment", String(100), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("type", String(20), nullable=False),
    Column("definition", Text, nullable=False),  # the Unleash feature object, JSON
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

flag_segments = Table(
    "flag_segments",
    metadata,
    Column("project", String(100), primary_key=True),
    Column("environment", String(100), primary_key=True),
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("definition", Text, nullable=False),
    Column("updated_at", String(32), nullable=False),
)

flag_revisions = Table(
    "flag_revisions",
    metadata,
    Column("project", String(100), primary_key=True),
    Column("environment", String(100), primary_key=True),
    Column("revision", BigInteger, nullable=False),
)

flag_client_tokens = Table(
    "flag_client_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project", String(100), nullable=False),
    Column("environment", String(100), nullable=False),
    Column("name", String(200), nullable=False),
    Column("token_hash", LargeBinary(32), nullable=False, unique=True),
    Column("created_at", String(32), nullable=False),
    Column("revoked_at", String(32), nullable=True),
    Column("expires_at", String(32), nullable=True),
    # client (server-side SDKs: the rule set) or frontend (evaluated answers only)
    Column("kind", String(20), nullable=False, server_default="client"),
    Column("origins", Text, nullable=True),  # frontend tokens: CORS origins, JSON list
)

# Environments where a flag change needs approvals (a change request) before it is made.
flag_protections = Table(
    "flag_protections",
    metadata,
    Column("project", String(100), primary_key=True),
    Column("environment", String(100), primary_key=True),
    Column("approvals", Integer, nullable=False),
    Column("updated_at", String(32), nullable=False),
)

flag_change_requests = Table(
    "flag_change_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(100), nullable=False),
    Column("environment", String(100), nullable=False),
    Column("flag", String(200), nullable=False),
    Column("change", Text, nullable=False),  # JSON: {"action": ..., ...}
    Column("status", String(20), nullable=False),
    Column("approvals_needed", Integer, nullable=False),
    Column("proposed_by", String(200), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("apply_at", String(32), nullable=True),
    Column("closed_at", String(32), nullable=True),
    Column("closed_by", String(200), nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_flag_change_requests_status", "project", "status"),
)

flag_change_approvals = Table(
    "flag_change_approvals",
    metadata,
    Column("request_id", Integer, primary_key=True, autoincrement=False),
    Column("actor", String(200), primary_key=True),
    Column("at", String(32), nullable=False),
)

# Variant exposures SDKs report (bucket.toggles.NAME.variants), per flag, variant, app and day.
flag_variant_counts = Table(
    "flag_variant_counts",
    metadata,
    Column("project", String(100), primary_key=True),
    Column("environment", String(100), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("variant", String(200), primary_key=True),
    Column("app_name", String(200), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("count", BigInteger, nullable=False),
)

# Evaluation counts reported by SDKs, one row per flag, application and hour bucket.
flag_metrics = Table(
    "flag_metrics",
    metadata,
    Column("project", String(100), primary_key=True),
    Column("environment", String(100), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("app_name", String(200), primary_key=True),
    Column("hour", String(13), primary_key=True),  # 2026-01-31T09
    Column("yes", BigInteger, nullable=False),
    Column("no", BigInteger, nullable=False),
    Index("ix_flag_metrics_name", "project", "name", "hour"),
)

flag_clients = Table(
    "flag_clients",
    metadata,
    Column("project", String(100), primary_key=True),
    Column("environment", String(100), primary_key=True),
    Column("app_name", String(200), primary_key=True),
    Column("instance_id", String(200), primary_key=True),
    Column("sdk_version", String(100), nullable=True),
    Column("strategies", Text, nullable=False),
    Column("started", String(40), nullable=True),
    Column("last_seen", String(32), nullable=False),
)


def revision(conn: Connection, project: str, environment: str) -> int:
    c = flag_revisions.c
    value = conn.execute(
        select(c.revision).where(c.project == project, c.environment == environment)
    ).scalar()
    return int(value or 0)


CHANNEL = "shipyard_flags"


def notify(conn: Connection, message: str) -> None:
    """Tell listening servers something changed (PostgreSQL; SQLite servers watch the file)."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_notify(:channel, :message)"), {"channel": CHANNEL, "message": message}
        )


def bump(conn: Connection, project: str, environment: str) -> int:
    notify(conn, f"flags {project} {environment}")
    c = flag_revisions.c
    current = conn.execute(
        select(c.revision).where(c.project == project, c.environment == environment)
    ).scalar()
    if current is None:
        conn.execute(
            flag_revisions.insert(), {"project": project, "environment": environment, "revision": 1}
        )
        return 1
    conn.execute(
        flag_revisions.update()
        .where(c.project == project, c.environment == environment)
        .values(revision=c.revision + 1)
    )
    return int(current) + 1


class FlagRow(TypedDict):
    """A row of ``flags`` with its definition read from JSON."""

    project: str
    environment: str
    name: str
    type: str
    definition: dict[str, Any]  # the Unleash feature object
    created_at: str
    updated_at: str


def rows(
    conn: Connection, project: str, environment: str | None = None, name: str | None = None
) -> list[FlagRow]:
    c = flags.c
    q = select(flags).where(c.project == project)
    if environment is not None:
        q = q.where(c.environment == environment)
    if name is not None:
        q = q.where(c.name == name)
    return [
        {
            "project": r["project"],
            "environment": r["environment"],
            "name": r["name"],
            "type": r["type"],
            "definition": json.loads(r["definition"]),
            "created_at": r["created_at"],
            "updated_at": r["updated_at"],
        }
        for r in conn.execute(q.order_by(c.environment, c.name)).mappings()
    ]


def put(conn: Connection, row: dict[str, Any], *, exists: bool) -> None:
    values = {**row, "definition": json.dumps(row["definition"], sort_keys=True)}
    if exists:
        c = flags.c
        conn.execute(
            flags.update()
            .where(
                c.project == row["project"],
                c.environment == row["environment"],
                c.name == row["name"],
            )
            .values({k: v for k, v in values.items() if k != "created_at"})
        )
    else:
        conn.execute(flags.insert(), values)


def delete(conn: Connection, project: str, environment: str, name: str) -> None:
    c = flags.c
    conn.execute(
        flags.delete().where(c.project == project, c.environment == environment, c.name == name)
    )


def segments(conn: Connection, project: str, environment: str) -> list[dict[str, Any]]:
    c = flag_segments.c
    q = (
        select(c.definition)
        .where(c.project == project, c.environment == environment)
        .order_by(c.id)
    )
    return [json.loads(d) for d in conn.execute(q).scalars()]


def put_segment(
    conn: Connection, project: str, environment: str, segment: dict[str, Any], now: str
) -> None:
    c = flag_segments.c
    where = (c.project == project, c.environment == environment, c.id == segment["id"])
    body = json.dumps(segment, sort_keys=True)
    if conn.execute(select(c.id).where(*where)).first() is None:
        conn.execute(
            flag_segments.insert(),
            {
                "project": project,
                "environment": environment,
                "id": segment["id"],
                "definition": body,
                "updated_at": now,
            },
        )
    else:
        conn.execute(flag_segments.update().where(*where).values(definition=body, updated_at=now))


def add_metrics(
    conn: Connection,
    project: str,
    environment: str,
    app_name: str,
    hour: str,
    counts: dict[str, tuple[int, int]],
) -> None:
    c = flag_metrics.c
    for name, (yes, no) in counts.items():
        where = (
            c.project == project,
            c.environment == environment,
            c.name == name,
            c.app_name == app_name,
            c.hour == hour,
        )
        if conn.execute(select(c.yes).where(*where)).first() is None:
            conn.execute(
                flag_metrics.insert(),
                {
                    "project": project,
                    "environment": environment,
                    "name": name,
                    "app_name": app_name,
                    "hour": hour,
                    "yes": yes,
                    "no": no,
                },
            )
        else:
            conn.execute(flag_metrics.update().where(*where).values(yes=c.yes + yes, no=c.no + no))


def names(conn: Connection, project: str, environment: str) -> list[str]:
    c = flags.c
    q = select(c.name).where(c.project == project, c.environment == environment)
    return [str(n) for n in conn.execute(q).scalars()]


def add_variant_counts(
    conn: Connection,
    project: str,
    environment: str,
    app_name: str,
    day: str,
    counts: dict[tuple[str, str], int],
) -> None:
    c = flag_variant_counts.c
    for (name, variant), count in counts.items():
        where = (
            c.project == project,
            c.environment == environment,
            c.name == name,
            c.variant == variant,
            c.app_name == app_name,
            c.day == day,
        )
        if conn.execute(select(c.count).where(*where)).first() is None:
            conn.execute(
                flag_variant_counts.insert(),
                {
                    "project": project,
                    "environment": environment,
                    "name": name,
                    "variant": variant,
                    "app_name": app_name,
                    "day": day,
                    "count": count,
                },
            )
        else:
            conn.execute(flag_variant_counts.update().where(*where).values(count=c.count + count))


class Exposure(TypedDict):
    """How often one variant of a flag was handed out in an environment on a day."""

    environment: str
    day: str
    variant: str
    count: int


def exposures(conn: Connection, project: str, name: str) -> list[Exposure]:
    """Variant counts of one flag per environment, variant and day, summed over applications."""
    c = flag_variant_counts.c
    q = (
        select(c.environment, c.day, c.variant, func.sum(c.count).label("count"))
        .where(c.project == project, c.name == name)
        .group_by(c.environment, c.day, c.variant)
        .order_by(c.environment, c.day, c.variant)
    )
    return [
        {"environment": environment, "day": day, "variant": variant, "count": int(count)}
        for environment, day, variant, count in conn.execute(q)
    ]


class MetricRow(TypedDict):
    """A row of ``flag_metrics``: one flag's yes/no counts from one application in an hour."""

    project: str
    environment: str
    name: str
    app_name: str
    hour: str
    yes: int
    no: int


def metrics(conn: Connection, project: str, name: str | None = None) -> list[MetricRow]:
    c = flag_metrics.c
    q = select(flag_metrics).where(c.project == project)
    if name is not None:
        q = q.where(c.name == name)
    # A MetricRow is the table's row as it stands: its columns, in their order.
    return [cast(MetricRow, dict(r)) for r in conn.execute(q.order_by(c.name, c.hour)).mappings()]


def register_client(conn: Connection, row: dict[str, Any]) -> None:
    c = flag_clients.c
    where = (
        c.project == row["project"],
        c.environment == row["environment"],
        c.app_name == row["app_name"],
        c.instance_id == row["instance_id"],
    )
    if conn.execute(select(c.app_name).where(*where)).first() is None:
        conn.execute(flag_clients.insert(), row)
    else:
        conn.execute(flag_clients.update().where(*where).values(row))


def clients(conn: Connection, project: str) -> list[dict[str, Any]]:
    c = flag_clients.c
    q = select(flag_clients).where(c.project == project).order_by(c.app_name, c.instance_id)
    return [dict(r) for r in conn.execute(q).mappings()]


def delete_segment(conn: Connection, project: str, environment: str, segment_id: int) -> None:
    c = flag_segments.c
    conn.execute(
        flag_segments.delete().where(
            c.project == project, c.environment == environment, c.id == segment_id
        )
    )

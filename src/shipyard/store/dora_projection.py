"""The DORA projection: the event log's production changes as narrow, indexed rows.

``dora_deployments`` holds one row per counted ``deployment.finished`` event (statuses
succeeded, rolled-back, failed) and per ``flag.changed`` event (``kind`` deploy or flag; only
deployments count in the four keys and in the ``dora_week_counts`` roll-up); ``dora_commits``
one row per commit a finished deployment brought (from the latest ``deployment.started`` event
of the same subject before it), with its lead time already computed. Times are seconds since
1970 (UTC); ``week`` is the day number (days since 1970-01-01) of the Monday of the UTC week
the change finished in. ``dora_cursor`` holds the seq of the last event projected.

The event log stays the source of truth. ``project_events`` catches the projection up from the
cursor (in batches, reading only the kinds that matter) and is cheap when nothing is new;
``rebuild`` empties the tables and projects the whole log again. ``dora_hotfixes`` holds the
``hotfix.started`` events that name the deployment they repair (change-failure links).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    text,
)
from sqlalchemy.engine import Connection

from shipyard.store.metrics import COUNTED_STATUSES, FLAG_SERVICE
from shipyard.store.schema import metadata

dora_deployments = Table(
    "dora_deployments",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("project", String(100), nullable=False),
    Column("id", String(300), nullable=False),
    Column("service", String(200), nullable=True),
    Column("env", String(100), nullable=True),
    Column("kind", String(10), nullable=False),  # deploy | flag
    Column("status", String(20), nullable=False),
    Column("ok", Integer, nullable=False),  # 1: succeeded
    Column("started_at", Float(53), nullable=True),
    Column("finished_at", Float(53), nullable=False),
    Column("week", Integer, nullable=False),
    Index("ix_dora_deployments_window", "env", "finished_at", "project", "service", "ok", "week"),
    Index("ix_dora_deployments_next", "env", "service", "ok", "finished_at", "project"),
    Index(
        "ix_dora_deployments_failures",
        "env",
        "ok",
        "finished_at",
        "project",
        "service",
        "status",
        "week",
    ),
    Index("ix_dora_deployments_id", "project", "id"),
)

dora_commits = Table(
    "dora_commits",
    metadata,
    Column("deployment_seq", BigInteger, nullable=False),
    Column("position", Integer, nullable=False),
    Column("sha", String(64), nullable=True),
    Column("project", String(100), nullable=False),
    Column("service", String(200), nullable=True),
    Column("env", String(100), nullable=True),
    Column("ok", Integer, nullable=False),
    Column("week", Integer, nullable=False),
    Column("committed_at", Float(53), nullable=False),
    Column("finished_at", Float(53), nullable=False),
    Column("lead", Float(53), nullable=False),  # finished_at - committed_at, exact to the µs
    Index("ix_dora_commits_lead", "env", "ok", "week", "lead", "finished_at", "project", "service"),
)

dora_week_counts = Table(
    "dora_week_counts",
    metadata,
    Column("env", String(100), primary_key=True),  # '' for none
    Column("project", String(100), primary_key=True),
    Column("service", String(200), primary_key=True),  # '' for none
    Column("week", Integer, primary_key=True, autoincrement=False),
    Column("deployments", BigInteger, nullable=False),
    Column("succeeded", BigInteger, nullable=False),
)

# Successful deployments' commits with a lead time >= 0, per week and BUCKET of lead time.
dora_week_leads = Table(
    "dora_week_leads",
    metadata,
    Column("env", String(100), primary_key=True),
    Column("project", String(100), primary_key=True),
    Column("week", Integer, primary_key=True, autoincrement=False),
    Column("bucket", Integer, primary_key=True, autoincrement=False),
    Column("n", BigInteger, nullable=False),
    Column("total", Float(53), nullable=False),
)

# hotfix.started events that name the deployment they repair: change-failure links.
dora_hotfixes = Table(
    "dora_hotfixes",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("project", String(100), nullable=False),
    Column("id", String(300), nullable=False),  # the event's subject
    Column("deployment_id", String(300), nullable=False),
    Index("ix_dora_hotfixes_deployment", "project", "deployment_id"),
)

dora_cursor = Table(
    "dora_cursor",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
)

KINDS = ("deployment.started", "deployment.finished", "flag.changed", "hotfix.started")
BATCH = 20_000
BUCKET = 3600.0  # seconds of lead time per roll-up bucket
EPOCH = date(1970, 1, 1)

DEPLOYMENT_COLUMNS = (
    "seq, project, id, service, env, kind, status, ok, started_at, finished_at, week"
)
COMMIT_COLUMNS = (
    "deployment_seq, position, sha, project, service, env, ok, week, committed_at,"
    " finished_at, lead"
)


def parse_time(value: str) -> datetime:
    """An ISO 8601 time of the log (or of a commit) as an aware UTC datetime."""
    t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def epoch(t: datetime) -> float:
    return t.timestamp()


def week_of(seconds: float) -> int:
    """The day number of the Monday (UTC) of the week a time falls in (1970-01-01 = 0)."""
    day = int(seconds // 86400)
    return day - (day + 3) % 7  # 1970-01-01 was a Thursday


def monday(week: int) -> str:
    return (EPOCH + timedelta(days=week)).isoformat()


def cursor(conn: Connection) -> int:
    seq = conn.execute(text("SELECT seq FROM dora_cursor WHERE id = 1")).scalar()
    return -1 if seq is None else int(seq)


def behind(conn: Connection) -> bool:
    """Whether the log holds events the projection has not seen (one indexed lookup each)."""
    last = conn.execute(text("SELECT MAX(seq) FROM events")).scalar()
    return last is not None and int(last) > cursor(conn)


def _lock_cursor(conn: Connection) -> int:
    """The cursor, locked until the transaction ends so two catch-ups never both project."""
    lock = " FOR UPDATE" if conn.dialect.name == "postgresql" else ""
    seq = conn.execute(text(f"SELECT seq FROM dora_cursor WHERE id = 1{lock}")).scalar()
    if seq is None:
        conn.execute(text("INSERT INTO dora_cursor (id, seq) VALUES (1, -1)"))
        return -1
    return int(seq)


class _Projector:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.started: dict[tuple[str, str], tuple[float | None, list[Any]]] = {}
        self.deployments: list[tuple[Any, ...]] = []
        self.commits: list[tuple[Any, ...]] = []
        self.hotfixes: list[tuple[Any, ...]] = []
        self.week_counts: dict[tuple[str, str, str, int], list[int]] = {}
        self.week_leads: dict[tuple[str, str, int, int], list[Any]] = {}

    def _count(
        self, env: str | None, project: str, service: str | None, week: int, ok: int
    ) -> None:
        cell = self.week_counts.setdefault((env or "", project, service or "", week), [0, 0])
        cell[0] += 1
        cell[1] += ok

    def _started_before(
        self, project: str, subject: str, seq: int
    ) -> tuple[float | None, list[Any]]:
        """Start time and commits of the latest deployment.started before ``seq``."""
        hit = self.started.get((project, subject))
        if hit is not None:
            return hit
        row = self.conn.execute(
            text(
                "SELECT ts, payload FROM events WHERE project = :p AND subject = :s"
                " AND kind = 'deployment.started' AND seq < :seq ORDER BY seq DESC LIMIT 1"
            ),
            {"p": project, "s": subject, "seq": seq},
        ).first()
        if row is None:
            return (None, [])
        return (epoch(parse_time(row[0])), json.loads(row[1]).get("commits") or [])

    def add(self, seq: int, project: str, ts: str, kind: str, subject: str, body: str) -> None:
        p = json.loads(body)
        if kind == "hotfix.started":
            if p.get("deployment_id"):  # a hotfix of nothing live links no deployment
                self.hotfixes.append((seq, project, subject, p["deployment_id"]))
            return
        if kind == "deployment.started":
            self.started[(project, subject)] = (
                epoch(parse_time(ts)),
                p.get("commits") or [],
            )
            return
        finished = parse_time(ts)
        at = epoch(finished)
        week = week_of(at)
        env = p.get("environment")
        if kind == "flag.changed":
            name = subject.removeprefix("flag:")
            service = p.get("service") or FLAG_SERVICE
            # A change, not a deployment: kept for the `changes` figure, out of the roll-ups
            # the four keys are read from.
            self.deployments.append(
                (seq, project, f"flag:{name}@{seq}", service, env, "flag", "succeeded", 1)
                + (None, at, week)
            )
            return
        status = p.get("status")
        if status not in COUNTED_STATUSES:
            return  # an aborted rollout never reached users: neither a change nor a failure
        service = p.get("service")
        ok = 1 if status == "succeeded" else 0
        started_at, commits = self._started_before(project, subject, seq)
        did = subject.removeprefix("deployment:")
        self.deployments.append(
            (seq, project, did, service, env, "deploy", status, ok) + (started_at, at, week)
        )
        self._count(env, project, service, week, ok)
        for i, c in enumerate(commits):
            t = parse_time(c["time"])
            lead = (finished - t).total_seconds()
            self.commits.append(
                (seq, i, c.get("sha"), project, service, env, ok, week, epoch(t), at, lead)
            )
            if ok and lead >= 0:
                # int(x / w), not x // w: the same IEEE division the SQL bucket expression does
                key = (env or "", project, week, int(lead / BUCKET))
                cell = self.week_leads.setdefault(key, [0, 0.0])
                cell[0] += 1
                cell[1] += lead

    def flush(self) -> None:
        raw = self.conn.connection.driver_connection
        pg = self.conn.dialect.name == "postgresql"
        for table, columns, rows in (
            ("dora_deployments", DEPLOYMENT_COLUMNS, self.deployments),
            ("dora_commits", COMMIT_COLUMNS, self.commits),
            ("dora_hotfixes", "seq, project, id, deployment_id", self.hotfixes),
        ):
            if not rows:
                continue
            if pg:
                with raw.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as cp:  # type: ignore[union-attr]
                    for row in rows:
                        cp.write_row(row)
            else:
                marks = ",".join("?" * (columns.count(",") + 1))
                raw.cursor().executemany(  # type: ignore[union-attr]
                    f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows
                )
            rows.clear()
        if self.week_counts:
            keys = ("env", "project", "service", "week")
            _add_up(
                self.conn, "dora_week_counts", keys, ("deployments", "succeeded"), self.week_counts
            )
            self.week_counts.clear()
        if self.week_leads:
            keys = ("env", "project", "week", "bucket")
            _add_up(self.conn, "dora_week_leads", keys, ("n", "total"), self.week_leads)
            self.week_leads.clear()


def _add_up(
    conn: Connection,
    table: str,
    keys: tuple[str, ...],
    sums: tuple[str, ...],
    cells: Mapping[tuple[Any, ...], Sequence[Any]],
) -> None:
    """Add ``cells`` (the ``keys`` columns' values -> what to add to the ``sums`` columns) into
    the roll-up ``table``: a new row, or the sums added to the row already there."""
    columns = (*keys, *sums)
    conn.execute(
        text(
            f"INSERT INTO {table} ({', '.join(columns)})"
            f" VALUES ({', '.join(':' + c for c in columns)})"
            f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
            + ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in sums)
        ),
        [dict(zip(columns, (*key, *added), strict=True)) for key, added in cells.items()],
    )


def project_events(conn: Connection, batch: int = BATCH) -> int:
    """Project the events after the cursor; returns how many events were read.

    Runs in the caller's transaction (which must be allowed to write): the rows and the
    cursor commit together, so a crash leaves the projection where it was. Idempotent.
    """
    last = _lock_cursor(conn)
    top = conn.execute(text("SELECT MAX(seq) FROM events")).scalar()
    if top is None or int(top) <= last:
        return 0
    kinds = ", ".join(f"'{k}'" for k in KINDS)
    sql = text(
        "SELECT seq, project, ts, kind, subject, payload FROM events"
        f" WHERE seq > :after AND seq <= :top AND kind IN ({kinds}) ORDER BY seq LIMIT :limit"
    )
    projector = _Projector(conn)
    read = 0
    after = last
    while True:
        chunk = conn.execute(sql, {"after": after, "top": int(top), "limit": batch}).all()
        for row in chunk:
            projector.add(int(row[0]), row[1], row[2], row[3], row[4], row[5])
        read += len(chunk)
        projector.flush()
        if len(chunk) < batch:
            break
        after = int(chunk[-1][0])
        # Deployments rarely straddle a batch; the ones that do are looked up by subject.
        projector.started.clear()
    conn.execute(text("UPDATE dora_cursor SET seq = :seq WHERE id = 1"), {"seq": int(top)})
    return read


def rebuild(conn: Connection, batch: int = BATCH) -> int:
    """Empty the projection and project the whole log again; returns the events read."""
    _lock_cursor(conn)
    for table in (
        "dora_commits",
        "dora_deployments",
        "dora_week_counts",
        "dora_week_leads",
        "dora_hotfixes",
    ):
        conn.execute(text(f"DELETE FROM {table}"))
    conn.execute(text("UPDATE dora_cursor SET seq = -1 WHERE id = 1"))
    return project_events(conn, batch)


def counts(conn: Connection) -> Mapping[str, int]:
    """Rows per projection table and the cursor, for ``shipyard metrics rebuild``."""
    return {
        "deployments": int(
            conn.execute(text("SELECT COUNT(*) FROM dora_deployments")).scalar_one()
        ),
        "commits": int(conn.execute(text("SELECT COUNT(*) FROM dora_commits")).scalar_one()),
        "cursor": cursor(conn),
    }


def catch_up(store: Any) -> None:
    """Bring the projection up to date before a read; a no-op when it already is."""
    with store.read() as uow:
        if not behind(uow.conn):
            return
    with store.begin() as uow:
        project_events(uow.conn)

"""Appending to the event log through a DB-API cursor.

The one write path for events: the unit of work uses it inside its transaction, and the
up-to-date check (`shipyard run` with nothing to do) uses it before SQLAlchemy is loaded.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, TypedDict

from shipyard.domain import merkle
from shipyard.domain.canonical import canonical_json, event_bytes
from shipyard.errors import InputError
from shipyard.store import seal

# The id of the API token a request acts with (the API sets it per request, see api/app.py):
# every event the request makes records it as ``actor_token`` in its payload, beside the
# token's principal in ``actor``. Token names are not unique; ids are.
ACTING_TOKEN: ContextVar[str | None] = ContextVar("shipyard_acting_token", default=None)


def utcnow() -> str:
    """Now in UTC to the microsecond, as every stored timestamp is written."""
    ns = time.time_ns()
    second = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000))
    return f"{second}.{ns // 1000 % 1_000_000:06d}Z"


def _statements(postgres: bool) -> dict[str, str]:
    sql = {
        "head": "SELECT size, frontier, root_hash, seal FROM log_head WHERE id = 1"
        + (" FOR UPDATE" if postgres else ""),  # SQLite serialises writers with BEGIN IMMEDIATE
        "insert": "INSERT INTO events (seq, project, ts, kind, subject, actor, payload, leaf_hash,"
        " root_hash) VALUES (:seq, :project, :ts, :kind, :subject, :actor, :payload, :leaf_hash,"
        " :root_hash)",
        "rows": "SELECT seq, ts, project, kind, subject, actor, payload, leaf_hash, root_hash"
        " FROM events WHERE seq > :after ORDER BY seq LIMIT :limit",
        "advance": "UPDATE log_head SET size = :size, root_hash = :root_hash,"
        " frontier = :frontier, seal = :seal WHERE id = 1",
    }
    if postgres:
        sql = {k: re.sub(r":(\w+)", r"%(\1)s", v) for k, v in sql.items()}
    return sql


SQL = {False: _statements(False), True: _statements(True)}


def read_frontier(cur: Any, postgres: bool, key: bytes) -> merkle.Frontier:
    """The log's frontier, read (and on PostgreSQL locked) inside the caller's transaction.

    Refused unless the head carries this store's seal and the frontier makes its root: a log
    changed by hand is never extended (store/seal.py).
    """
    cur.execute(SQL[postgres]["head"])
    size, blob, root, stored_seal = cur.fetchone()
    frontier = merkle.Frontier(size, [blob[i : i + 32] for i in range(0, len(blob), 32)])
    if frontier.root() != bytes(root) or not seal.holds(key, size, bytes(root), stored_seal):
        raise seal.broken(size)
    return frontier


def append_event(
    cur: Any,
    postgres: bool,
    frontier: merkle.Frontier,
    key: bytes,
    kind: str,
    subject: str,
    actor: str,
    payload: Mapping[str, Any] | None,
    *,
    project: str,
    ts: str | None = None,
) -> tuple[int, str]:
    """Insert one event and advance the head; returns its sequence number and timestamp."""
    new: list[NewEvent] = [(kind, subject, actor, payload, project, ts)]
    return append_events(cur, postgres, frontier, new, key)[0]


# kind, subject, actor, payload, project, ts (None: now)
NewEvent = tuple[str, str, str, "Mapping[str, Any] | None", str, "str | None"]


class _EventRow(TypedDict):
    seq: int
    project: str
    ts: str
    kind: str
    subject: str
    actor: str
    payload: str
    leaf_hash: bytes
    root_hash: bytes


def append_events(
    cur: Any, postgres: bool, frontier: merkle.Frontier, new: list[NewEvent], key: bytes
) -> list[tuple[int, str]]:
    """Insert events in order with one statement and advance (and seal) the head once; each
    one's sequence number and timestamp. A run records thousands of steps this way."""
    rows: list[_EventRow] = []
    token = ACTING_TOKEN.get()
    for kind, subject, actor, payload, project, ts in new:
        if token is not None:
            payload = {**(payload or {}), "actor_token": token}
        try:
            body = canonical_json(payload or {})
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"event payload for '{kind}' is not JSON: {exc}",
                "payloads hold strings, numbers, booleans, lists and mappings",
                code="event-payload-invalid",
            ) from exc
        seq = frontier.size
        ts = ts or utcnow()
        leaf = merkle.leaf_hash(event_bytes(seq, ts, project, kind, subject, actor, body))
        frontier.append(leaf)
        rows.append(
            {
                "seq": seq,
                "project": project,
                "ts": ts,
                "kind": kind,
                "subject": subject,
                "actor": actor,
                "payload": body,
                "leaf_hash": leaf,
                "root_hash": frontier.root(),
            }
        )
    if not rows:
        return []
    sql = SQL[postgres]
    cur.executemany(sql["insert"], rows)
    size, root = frontier.size, rows[-1]["root_hash"]
    head = {"size": size, "root_hash": root, "seal": seal.seal(key, size, root)}
    cur.execute(sql["advance"], {**head, "frontier": b"".join(frontier.nodes)})
    return [(r["seq"], r["ts"]) for r in rows]

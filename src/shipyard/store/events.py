"""The event log repository: append inside the caller's transaction, never update or delete."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from sqlalchemy import select
from sqlalchemy.engine import Connection

from shipyard.domain import merkle
from shipyard.store.append import SQL, NewEvent, append_events, read_frontier, utcnow
from shipyard.store.schema import checkpoints, events, log_head


class EventOut(TypedDict):
    """An event as the API and `shipyard audit log --json` show it."""

    seq: int
    ts: str
    project: str
    kind: str
    subject: str
    actor: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Event:
    seq: int
    ts: str
    project: str
    kind: str
    subject: str
    actor: str
    payload: dict[str, Any]

    def to_dict(self) -> EventOut:
        return {
            "seq": self.seq,
            "ts": self.ts,
            "project": self.project,
            "kind": self.kind,
            "subject": self.subject,
            "actor": self.actor,
            "payload": self.payload,
        }


class EventLog:
    def __init__(self, conn: Connection, seal_key: Callable[[], bytes]) -> None:
        self.conn = conn
        self._seal_key = seal_key  # read from the key file on the first append only
        self._frontier: merkle.Frontier | None = None
        self._cur: Any = None

    def _sql(self, name: str) -> str:
        return SQL[self._postgres][name]

    @property
    def _postgres(self) -> bool:
        return self.conn.dialect.name == "postgresql"

    def _cursor(self) -> Any:
        if self._cur is None:
            # The driver's own cursor, inside the same transaction: appending is the hottest
            # write path, and SQLAlchemy's per-statement machinery cost more than the insert.
            self._cur = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        return self._cur

    def append(
        self,
        kind: str,
        subject: str,
        actor: str,
        payload: Mapping[str, Any] | None = None,
        *,
        project: str,
        ts: str | None = None,
    ) -> Event:
        seq, ts = self.append_many([(kind, subject, actor, payload, project, ts)])[0]
        return Event(seq, ts, project, kind, subject, actor, dict(payload or {}))

    def append_many(self, new: list[NewEvent]) -> list[tuple[int, str]]:
        """Append events in order in one statement; each one's sequence number and timestamp."""
        if self._frontier is None:
            self._frontier = read_frontier(self._cursor(), self._postgres, self._seal_key())
        return append_events(self._cursor(), self._postgres, self._frontier, new, self._seal_key())

    def head(self) -> tuple[int, bytes]:
        size, root = self.conn.execute(
            select(log_head.c.size, log_head.c.root_hash).where(log_head.c.id == 1)
        ).one()
        return int(size), bytes(root)

    def head_seal(self) -> bytes | None:
        found = self.conn.execute(select(log_head.c.seal).where(log_head.c.id == 1)).scalar()
        return None if found is None else bytes(found)

    def query(
        self,
        *,
        project: str | None = None,
        kind: str | None = None,
        subject: str | None = None,
        since: str | None = None,
        after_seq: int | None = None,
        limit: int | None = None,
        descending: bool = False,
    ) -> list[Event]:
        c = events.c
        q = select(c.seq, c.ts, c.project, c.kind, c.subject, c.actor, c.payload)
        if project is not None:
            q = q.where(c.project == project)
        if kind is not None:
            q = q.where(c.kind.like(kind.replace("*", "%")) if "*" in kind else c.kind == kind)
        if subject is not None:
            q = q.where(c.subject == subject)
        if since is not None:
            q = q.where(c.ts >= since)
        if after_seq is not None:
            q = q.where(c.seq > after_seq)
        q = q.order_by(c.seq.desc() if descending else c.seq)
        if limit is not None:
            q = q.limit(limit)
        return [
            Event(int(r.seq), r.ts, r.project, r.kind, r.subject, r.actor, json.loads(r.payload))
            for r in self.conn.execute(q)
        ]

    def rows(self, batch: int = 50_000) -> Iterator[tuple[Any, ...]]:
        """Every row in seq order, in batches so a large log never sits in memory at once.

        Read through the driver's cursor: verification is bound by row fetching, and both
        drivers already return the hash columns as bytes.
        """
        cur = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        sql = self._sql("rows")
        last = -1
        while True:
            cur.execute(sql, {"after": last, "limit": batch})
            chunk = cur.fetchall()
            if not chunk:
                return
            yield from chunk
            last = chunk[-1][0]
            if len(chunk) < batch:
                return

    def leaves(self, size: int) -> list[bytes]:
        rows = self.conn.execute(
            select(events.c.leaf_hash).where(events.c.seq < size).order_by(events.c.seq)
        ).scalars()
        return [bytes(x) for x in rows]

    def add_checkpoint(self, size: int, root: bytes, key_id: str, signature: bytes) -> None:
        exists = self.conn.execute(
            select(checkpoints.c.tree_size).where(checkpoints.c.tree_size == size)
        ).first()
        if exists is None:
            self.conn.execute(
                checkpoints.insert(),
                {
                    "tree_size": size,
                    "root_hash": root,
                    "ts": utcnow(),
                    "key_id": key_id,
                    "signature": signature,
                },
            )

    def checkpoints(self) -> list[tuple[int, bytes, str, str, bytes]]:
        c = checkpoints.c
        return [
            (int(r[0]), bytes(r[1]), r[2], r[3], bytes(r[4]))
            for r in self.conn.execute(
                select(c.tree_size, c.root_hash, c.ts, c.key_id, c.signature).order_by(c.tree_size)
            )
        ]

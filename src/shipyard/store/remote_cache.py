"""The remote cache's index and daily counts (see migration 0012_build); bytes are blobs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypedDict

from sqlalchemy import BigInteger, Column, Index, String, Table, text
from sqlalchemy.engine import Connection

from shipyard.domain.remote_cache import Stored
from shipyard.store.schema import metadata

remote_cache_entries = Table(
    "remote_cache_entries",
    metadata,
    Column("kind", String(8), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("digest", String(80), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("last_used", String(32), nullable=False),
    Index("ix_remote_cache_last_used", "last_used"),
    Index("ix_remote_cache_digest", "digest"),
)

COUNTS = ("hits", "misses", "writes", "refused", "bytes_read", "bytes_written", "evicted")

remote_cache_counts = Table(
    "remote_cache_counts",
    metadata,
    Column("day", String(10), primary_key=True),
    Column("kind", String(8), primary_key=True),
    *(Column(name, BigInteger, nullable=False) for name in COUNTS),
)


def lookup(conn: Connection, kind: str, key: str) -> tuple[str, int] | None:
    """The digest and size of an entry, or None."""
    row = conn.execute(
        text("SELECT digest, size FROM remote_cache_entries WHERE kind = :kind AND key = :key"),
        {"kind": kind, "key": key},
    ).first()
    return None if row is None else (str(row[0]), int(row[1]))


def put(conn: Connection, kind: str, key: str, digest: str, size: int, now: str) -> None:
    """Store an entry; a write of a key already there replaces it (the last write wins)."""
    conn.execute(
        text(
            "INSERT INTO remote_cache_entries (kind, key, digest, size, created_at, last_used)"
            " VALUES (:kind, :key, :digest, :size, :now, :now)"
            " ON CONFLICT (kind, key) DO UPDATE SET digest = excluded.digest,"
            " size = excluded.size, last_used = excluded.last_used"
        ),
        {"kind": kind, "key": key, "digest": digest, "size": size, "now": now},
    )


def delete(conn: Connection, kind: str, key: str) -> None:
    conn.execute(
        text("DELETE FROM remote_cache_entries WHERE kind = :kind AND key = :key"),
        {"kind": kind, "key": key},
    )


def delete_digest(conn: Connection, digest: str) -> None:
    """Forget every entry whose bytes are this blob."""
    conn.execute(
        text("DELETE FROM remote_cache_entries WHERE digest = :digest"), {"digest": digest}
    )


def touch(conn: Connection, used: Iterable[tuple[str, str]], now: str) -> None:
    """Mark entries as used now (least-recently-used eviction reads it)."""
    rows = [{"kind": k, "key": key, "now": now} for k, key in used]
    if rows:
        conn.execute(
            text(
                "UPDATE remote_cache_entries SET last_used = :now WHERE kind = :kind AND key = :key"
            ),
            rows,
        )


def add_counts(conn: Connection, day: str, kind: str, deltas: dict[str, int]) -> None:
    """Add to the day's counts of one namespace."""
    values = {name: int(deltas.get(name, 0)) for name in COUNTS}
    names = ", ".join(COUNTS)
    marks = ", ".join(f":{n}" for n in COUNTS)
    update = ", ".join(f"{n} = remote_cache_counts.{n} + excluded.{n}" for n in COUNTS)
    conn.execute(
        text(
            f"INSERT INTO remote_cache_counts (day, kind, {names}) VALUES (:day, :kind, {marks})"
            f" ON CONFLICT (day, kind) DO UPDATE SET {update}"
        ),
        {"day": day, "kind": kind, **values},
    )


def totals(conn: Connection) -> tuple[int, int]:
    """The number of entries and the bytes they hold."""
    row = conn.execute(text("SELECT count(*), coalesce(sum(size), 0) FROM remote_cache_entries"))
    count, size = row.one()
    return int(count), int(size)


def oldest(conn: Connection, limit: int) -> list[Stored]:
    """The ``limit`` least recently used entries, oldest first."""
    rows = conn.execute(
        text(
            "SELECT kind, key, size, last_used FROM remote_cache_entries"
            " ORDER BY last_used, kind, key LIMIT :limit"
        ),
        {"limit": limit},
    ).all()
    return [Stored(str(k), str(key), int(size), str(used)) for k, key, size, used in rows]


def referenced(conn: Connection, digest: str) -> bool:
    """Whether any entry still names this blob."""
    row = conn.execute(
        text("SELECT 1 FROM remote_cache_entries WHERE digest = :digest LIMIT 1"),
        {"digest": digest},
    ).first()
    return row is not None


def digest_of(conn: Connection, kind: str, key: str) -> str | None:
    found = lookup(conn, kind, key)
    return None if found is None else found[0]


class Counts(TypedDict):
    """A namespace's counts (``COUNTS``, in that order)."""

    hits: int
    misses: int
    writes: int
    refused: int
    bytes_read: int
    bytes_written: int
    evicted: int


def _counts(values: Iterable[int]) -> Counts:
    hits, misses, writes, refused, bytes_read, bytes_written, evicted = values
    return {
        "hits": hits,
        "misses": misses,
        "writes": writes,
        "refused": refused,
        "bytes_read": bytes_read,
        "bytes_written": bytes_written,
        "evicted": evicted,
    }


def no_counts() -> Counts:
    return _counts([0] * len(COUNTS))


def counts(conn: Connection, since_day: str, until_day: str) -> dict[str, Counts]:
    """Each namespace's counts over the days from ``since_day`` to ``until_day`` inclusive."""
    sums = ", ".join(f"coalesce(sum({n}), 0)" for n in COUNTS)
    rows = conn.execute(
        text(
            f"SELECT kind, {sums} FROM remote_cache_counts"
            " WHERE day >= :since AND day <= :until GROUP BY kind ORDER BY kind"
        ),
        {"since": since_day, "until": until_day},
    ).all()
    return {str(r[0]): _counts(int(v) for v in r[1:]) for r in rows}

"""Blobs in the database: a server's default, since every replica and worker already reaches
it, so shared bytes need no other service.

Each blob is stored as rows of at most 1 MiB (``store/blobs.py``), inserted one chunk at a time
from a file and read back one chunk per query, so neither a write nor a read holds a whole
blob in memory, and a slow download holds no connection between chunks. Written for
PostgreSQL; on SQLite it works the same (the tests run it on both).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.adapters.blobs.base import (
    CHUNK,
    check_digest,
    checked,
    file_chunks,
    missing,
    unreachable,
    write_chunks,
)
from shipyard.adapters.cas.digest import digest_bytes, digest_file
from shipyard.ports.blobs import BlobInfo

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.engine import Connection


def _insert_ignoring(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert, leaving rows already there as they are (a concurrent writer of the same bytes)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    conn.execute(insert(table).on_conflict_do_nothing(), rows)


class DatabaseBlobs:
    def __init__(self, engine: Engine, space: str) -> None:
        self.engine = engine
        self.space = space

    def _where(self) -> str:
        return f"the database, space {self.space}"

    def _fail(self, exc: Exception) -> Exception:
        return unreachable(
            "database",
            type(exc).__name__,
            "check that the database is reachable (SHIPYARD_DATABASE_URL) and try again",
        )

    def has(self, digest: str) -> bool:
        return self._chunk_count(digest) is not None

    def _chunk_count(self, digest: str) -> int | None:
        """How many chunks the blob ``digest`` is stored in; None when it is not stored."""
        from sqlalchemy import select
        from sqlalchemy.exc import SQLAlchemyError

        from shipyard.store.blobs import blob_objects as o

        check_digest(digest)
        try:
            with self.engine.connect() as conn:
                n = conn.execute(
                    select(o.c.chunks).where(o.c.space == self.space, o.c.digest == digest)
                ).scalar()
        except SQLAlchemyError as exc:
            raise self._fail(exc) from exc
        return None if n is None else int(n)

    def put_bytes(self, data: bytes) -> str:
        digest = digest_bytes(data)
        if not self.has(digest):
            pieces = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)] or [b""]
            self._write(digest, len(data), iter(pieces))
        return digest

    def put_file(self, src: Path) -> str:
        return self.put_file_sized(src)[0]

    def put_file_sized(self, src: Path | str) -> tuple[str, int]:
        digest = digest_file(src)  # a first pass: rows are named by the digest
        size = os.path.getsize(src)
        if not self.has(digest):
            self._write(digest, size, file_chunks(src))
        return digest, size

    def _write(self, digest: str, size: int, chunks: Iterator[bytes]) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        from shipyard.store.append import utcnow
        from shipyard.store.blobs import blob_chunks, blob_objects

        try:
            with self.engine.begin() as conn:
                n = 0
                for seq, chunk in enumerate(chunks):
                    row = {"space": self.space, "digest": digest, "seq": seq, "data": chunk}
                    _insert_ignoring(conn, blob_chunks, [row])
                    n = seq + 1
                _insert_ignoring(
                    conn,
                    blob_objects,
                    [
                        {
                            "space": self.space,
                            "digest": digest,
                            "size": size,
                            "chunks": n,
                            "created_at": utcnow(),
                        }
                    ],
                )
        except SQLAlchemyError as exc:
            raise self._fail(exc) from exc

    def _count(self, digest: str) -> int:
        n = self._chunk_count(digest)
        if n is None:
            raise missing(digest, self._where())
        return n

    def chunks(self, digest: str, *, verify: bool = True) -> Iterator[bytes]:
        n = self._count(digest)  # raised here, before the first chunk, when missing
        read = self._read(digest, n)
        return checked(digest, read, self._where()) if verify else read

    def _read(self, digest: str, n: int) -> Iterator[bytes]:
        from sqlalchemy import select
        from sqlalchemy.exc import SQLAlchemyError

        from shipyard.store.blobs import blob_chunks as c

        for seq in range(n):
            try:
                with self.engine.connect() as conn:
                    data = conn.execute(
                        select(c.c.data).where(
                            c.c.space == self.space, c.c.digest == digest, c.c.seq == seq
                        )
                    ).scalar()
            except SQLAlchemyError as exc:
                raise self._fail(exc) from exc
            if data is None:  # deleted while being read
                raise missing(digest, self._where())
            yield bytes(data)

    def get_bytes(self, digest: str, *, verify: bool = True) -> bytes:
        return b"".join(self.chunks(digest, verify=verify))

    def restore(self, digest: str, dest: Path, *, verify: bool = True) -> None:
        write_chunks(self.chunks(digest, verify=verify), dest)

    def blobs(self) -> Iterator[BlobInfo]:
        from datetime import datetime

        from sqlalchemy import select
        from sqlalchemy.exc import SQLAlchemyError

        from shipyard.store.blobs import blob_objects as o

        try:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(o.c.digest, o.c.size, o.c.created_at).where(o.c.space == self.space)
                ).all()
        except SQLAlchemyError as exc:
            raise self._fail(exc) from exc
        for digest, size, created in rows:
            yield BlobInfo(digest, int(size), datetime.fromisoformat(created).timestamp())

    def delete(self, digest: str) -> None:
        from sqlalchemy import delete
        from sqlalchemy.exc import SQLAlchemyError

        from shipyard.store.blobs import blob_chunks as c
        from shipyard.store.blobs import blob_objects as o

        check_digest(digest)
        try:
            with self.engine.begin() as conn:  # the row first: readers never meet a gap
                conn.execute(delete(o).where(o.c.space == self.space, o.c.digest == digest))
                conn.execute(delete(c).where(c.c.space == self.space, c.c.digest == digest))
        except SQLAlchemyError as exc:
            raise self._fail(exc) from exc

    def close(self) -> None:
        pass

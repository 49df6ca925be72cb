"""`shipyard db backup` / `restore`: one consistent snapshot of the database and its blobs.

The archive (a .tar.gz) holds ``manifest.json`` (format, schema revisions, the log's tree
size and root), ``tables/<table>.jsonl`` (every row of every table, read in one snapshot
transaction: REPEATABLE READ on PostgreSQL, a read transaction on SQLite's WAL), and
``blobs/`` (the disk blob store, ``.shipyard/cas``; blobs kept in PostgreSQL are rows of the
dump; an S3 bucket is backed up by its own means). Blobs are content-addressed and written
before the rows that name them commit, so every blob the snapshot names is in the copy taken
after it.

Restore fills an empty store of the same schema revision, on either database (a SQLite backup
restores into PostgreSQL and back), in one transaction, then runs `audit verify` against it.
The signing key is not in the archive (it is a secret): the restored log verifies with the
key that sealed it, so give the restoring process the same SHIPYARD_SIGNING_KEY_FILE (or
SHIPYARD_MASTER_KEY, or copy .shipyard/keys).
"""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from shipyard.errors import Conflict, InputError
from shipyard.store.uow import Store

if TYPE_CHECKING:
    from shipyard.services.compliance.audit import Verification

FORMAT = 1


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b64": base64.b64encode(bytes(value)).decode()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$b64"}:
        return base64.b64decode(value["$b64"])
    return value


def _tables(conn: Any) -> list[Any]:
    from sqlalchemy import MetaData

    meta = MetaData()
    meta.reflect(bind=conn)
    return list(meta.sorted_tables)  # parents before children


class BackupManifest(TypedDict):
    """The archive's ``manifest.json``."""

    format: int
    dialect: str
    revisions: list[str]  # the schema's
    tree_size: int
    root_hash: str
    tables: dict[str, int]  # rows in each
    blobs: int
    blob_store: str


class BackupWritten(BackupManifest):
    archive: str  # first in the document


def backup(store: Store, out: Path) -> BackupWritten:
    """Write the archive to ``out`` (atomically: a partial archive is never left there)."""
    from sqlalchemy import select

    from shipyard.store.db import current_heads

    out = out.expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".backup-", suffix=".tar.gz", dir=out.parent)
    os.close(fd)
    counts: dict[str, int] = {}
    try:
        with tarfile.open(tmp_name, "w:gz") as tar, store.read(snapshot=True) as uow:
            size, root = uow.events.head()
            for table in _tables(uow.conn):
                lines = io.BytesIO()
                n = 0
                for row in uow.conn.execute(select(table)).mappings():
                    record = {k: _encode(v) for k, v in row.items()}
                    lines.write(json.dumps(record, sort_keys=True).encode() + b"\n")
                    n += 1
                counts[table.name] = n
                _add(tar, f"tables/{table.name}.jsonl", lines.getvalue())
            heads = sorted(current_heads(store.engine))
            blobs = _add_blobs(tar, store)
            manifest: BackupManifest = {
                "format": FORMAT,
                "dialect": store.dialect,
                "revisions": heads,
                "tree_size": size,
                "root_hash": root.hex(),
                "tables": counts,
                "blobs": blobs,
                "blob_store": store.blobs_url,
            }
            _add(tar, "manifest.json", json.dumps(manifest, indent=2).encode())
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return {"archive": str(out), **manifest}


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def _add_blobs(tar: tarfile.TarFile, store: Store) -> int:
    if store.blobs_url != "disk":
        return 0  # PostgreSQL blobs are rows of the dump; S3 keeps its own copies
    root = store.home / "cas"
    n = 0
    for path in sorted(root.rglob("*")) if root.is_dir() else []:
        if path.is_file() and not path.name.startswith((".", "tmp")):
            tar.add(path, arcname=f"blobs/{path.relative_to(root)}", recursive=False)
            n += 1
    return n


def _rows(tar: tarfile.TarFile, name: str) -> Iterator[dict[str, Any]]:
    member = tar.extractfile(f"tables/{name}.jsonl")
    if member is None:
        return
    for line in member:
        if line.strip():
            yield {k: _decode(v) for k, v in json.loads(line).items()}


def _unreadable(src: Path, why: str) -> InputError:
    return InputError(
        f"{src} is not a Shipyard backup: {why}",
        "give an archive written by `shipyard db backup`",
        code="backup-invalid",
    )


class BackupRestored(TypedDict):
    restored: str  # the archive
    revisions: list[str]
    tables: dict[str, int]
    blobs: int
    tree_size: int
    verify: Verification


def restore(store: Store, src: Path) -> BackupRestored:
    """Fill the (empty, current) store from the archive, then verify its event log."""
    from sqlalchemy import func, select, text

    from shipyard.services.compliance import audit
    from shipyard.store.db import current_heads

    try:
        tar = tarfile.open(src.expanduser(), "r:gz")  # noqa: SIM115 (closed by the with below)
    except (OSError, tarfile.TarError) as exc:
        raise _unreadable(src, exc.__class__.__name__) from exc
    with tar:
        try:
            member = tar.extractfile("manifest.json")
            manifest = json.loads(member.read()) if member else None
        except (KeyError, ValueError) as exc:
            raise _unreadable(src, "no manifest") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise _unreadable(src, "an unknown format")
        heads = sorted(current_heads(store.engine))
        if manifest["revisions"] != heads:
            raise InputError(
                f"the backup is of schema {', '.join(manifest['revisions'])}, this store is at "
                f"{', '.join(heads)}",
                "restore with the Shipyard version that made the backup, then upgrade",
                code="backup-version-mismatch",
            )
        with store.begin() as uow:
            if (
                uow.events.head()[0]
                or uow.conn.execute(text("SELECT count(*) FROM projects")).scalar()
            ):
                raise Conflict(
                    "the store to restore into is not empty",
                    "restore into a new database (SHIPYARD_DATABASE_URL) and state folder",
                    code="restore-target-not-empty",
                )
            tables = _tables(uow.conn)
            for table in reversed(tables):
                uow.conn.execute(table.delete())
            for table in tables:
                batch: list[dict[str, Any]] = []
                for row in _rows(tar, table.name):
                    batch.append(row)
                    if len(batch) >= 1000:
                        uow.conn.execute(table.insert(), batch)
                        batch = []
                if batch:
                    uow.conn.execute(table.insert(), batch)
            if store.dialect == "postgresql":
                for table in tables:  # serial ids continue after the restored rows
                    for col in table.primary_key.columns:
                        seq = uow.conn.execute(
                            text("SELECT pg_get_serial_sequence(:t, :c)"),
                            {"t": table.name, "c": col.name},
                        ).scalar()
                        if seq:
                            top = uow.conn.execute(select(func.max(col))).scalar()
                            uow.conn.execute(
                                text("SELECT setval(:s, :v, :called)"),
                                {"s": seq, "v": top or 1, "called": top is not None},
                            )
        blobs = 0
        if store.blobs_url == "disk":
            root = store.home / "cas"
            for info in tar.getmembers():
                if info.isfile() and info.name.startswith("blobs/"):
                    rel = Path(info.name).relative_to("blobs")
                    if ".." in rel.parts or rel.is_absolute():
                        raise _unreadable(src, f"a blob path leaves the store: {info.name}")
                    target = root / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    data = tar.extractfile(info)
                    if data is not None:
                        target.write_bytes(data.read())
                        blobs += 1
    verified = audit.verify(store).to_dict()
    return {
        "restored": str(src),
        "revisions": heads,
        "tables": manifest["tables"],
        "blobs": blobs,
        "tree_size": manifest["tree_size"],
        "verify": verified,
    }

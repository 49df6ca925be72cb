"""The remote build cache a server shares: Bazel's HTTP protocol and Gradle's, over a blob store.

An entry is a row of ``remote_cache_entries`` (namespace, key, the digest of its bytes, size,
last use) and a blob. A CAS entry's key is its digest, checked on upload; an AC or Gradle
entry's bytes are anything the client stored. Reads check every blob against its digest: a
damaged blob is dropped with its entries and answered as a miss, so the client rebuilds.

Counting every hit in the database would cost a durable write per request, so hits, misses
and last uses are gathered in memory and written every second (``FLUSH_EVERY_S``) by a
background thread, then the cache is brought within its size (least recently used first).
A server that dies loses at most that second of counts, never an entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypedDict

from shipyard.domain import remote_cache as rc
from shipyard.domain.access import Permission
from shipyard.errors import InputError, IntegrityFailure, NotFound, ShipyardError
from shipyard.store import remote_cache as repo
from shipyard.store.uow import Store

FLUSH_EVERY_S = 1.0
AUTH_TTL_S = 5.0  # a revoked token stops working for the cache within this
DEFAULT_MAX_SIZE = "10GiB"
DEFAULT_MAX_BLOB = "1GiB"
EVICT_BATCH = 500
# Blobs up to this size are read and checked whole before the first byte is sent; larger ones
# stream, and one found damaged at its end is cut short (the client checks digests too).
WHOLE_BELOW = 16 * 1024 * 1024


class Blobs(Protocol):
    """What the cache needs of a blob store (``ports/blobs.py``)."""

    def has(self, digest: str) -> bool: ...
    def put_file_sized(self, src: Path | str) -> tuple[str, int]: ...
    def get_bytes(self, digest: str, *, verify: bool = True) -> bytes: ...
    def chunks(self, digest: str, *, verify: bool = True) -> Iterator[bytes]: ...
    def delete(self, digest: str) -> None: ...


class BlobTooLarge(ShipyardError):
    code = "cache-blob-too-large"
    exit_status = 2
    http_status = 413


class DigestMismatch(InputError):
    code = "digest-mismatch"
    http_status = 400


@dataclass(frozen=True)
class Limits:
    max_size: int  # the whole cache, bytes
    max_blob: int  # one upload, bytes

    @classmethod
    def from_env(cls) -> Limits:
        from shipyard.services.pipelines.pipeline_history import parse_size

        def size(name: str, default: str) -> int:
            text = os.environ.get(name) or default
            try:
                return parse_size(text)
            except InputError as exc:
                raise InputError(
                    f"{name}={text!r} is not a size",
                    "write a size such as 500MB, 2GiB or 1000000",
                    code="size-invalid",
                ) from exc

        return cls(
            size("SHIPYARD_CACHE_MAX_SIZE", DEFAULT_MAX_SIZE),
            size("SHIPYARD_CACHE_MAX_BLOB", DEFAULT_MAX_BLOB),
        )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _day(ts: str) -> str:
    return ts[:10]


class RemoteCache:
    """The cache of one server process; ``close()`` writes what is gathered in memory."""

    def __init__(self, store: Store, blobs: Blobs, limits: Limits, tmp: Path) -> None:
        self.store = store
        self.blobs = blobs
        self.limits = limits
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._used: set[tuple[str, str]] = set()
        self._auth: dict[bytes, tuple[float, Any]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- requests ------------------------------------------------------------------------

    def principal(self, token: str | None) -> Any:
        """The token's principal, remembered for ``AUTH_TTL_S``: Bazel sends thousands of
        requests a build, each with the same token."""
        from shipyard.services.tokens import authenticate

        digest = hashlib.sha256((token or "").encode()).digest()
        now = time.monotonic()
        known = self._auth.get(digest)
        if known is not None and known[0] > now:
            return known[1]
        principal = authenticate(self.store, token)
        if len(self._auth) > 1000:
            self._auth.clear()
        self._auth[digest] = (now + AUTH_TTL_S, principal)
        return principal

    def read(self, token: str | None, kind: str, key: str) -> bytes | Iterator[bytes] | None:
        """``get`` for a token that may read."""
        self.principal(token).require(Permission.READ)
        return self.get(kind, key)

    def size_of(self, token: str | None, kind: str, key: str) -> int | None:
        """``head`` for a token that may read."""
        self.principal(token).require(Permission.READ)
        return self.head(kind, key)

    def get(self, kind: str, key: str) -> bytes | Iterator[bytes] | None:
        """An entry's bytes (in chunks when large), or None on a miss (a damaged blob is
        dropped and is a miss)."""
        if kind == rc.CAS:  # named by its digest: the blob store answers without the index
            found = self._cas_blob(key)
        else:
            with self.store.read() as uow:
                found = repo.lookup(uow.conn, kind, key)
        data: bytes | Iterator[bytes] | None = None
        if found is not None:
            digest, size = found
            try:
                if size < WHOLE_BELOW:
                    data = self.blobs.get_bytes(digest)
                elif self.blobs.has(digest):
                    data = self._streamed(kind, key, digest)
                else:
                    self._drop(kind, key, digest, corrupt=False)
            except (NotFound, IntegrityFailure) as exc:
                self._drop(kind, key, digest, corrupt=exc.code == "blob-corrupt")
        self._count(kind, "hits" if data is not None else "misses")
        if data is not None:
            self._count(kind, "bytes_read", found[1] if found else 0)
            with self._lock:
                self._used.add((kind, key))
        return data

    def _cas_blob(self, key: str) -> tuple[str, int] | None:
        """A CAS entry's digest and size, from the blob store's own listing where it keeps one
        (the disk), else from the index."""
        digest = f"sha256:{key}"
        locate = getattr(self.blobs, "locate", None)
        if locate is not None:
            where = locate(digest)
            return None if where is None else (digest, where[2])
        with self.store.read() as uow:
            return repo.lookup(uow.conn, rc.CAS, key)

    def _streamed(self, kind: str, key: str, digest: str) -> Iterator[bytes]:
        try:
            yield from self.blobs.chunks(digest)
        except IntegrityFailure:
            self._drop(kind, key, digest, corrupt=True)
            raise

    def head(self, kind: str, key: str) -> int | None:
        """An entry's size, or None; a blob that has gone is a miss."""
        with self.store.read() as uow:
            found = repo.lookup(uow.conn, kind, key)
        if found is None or not self.blobs.has(found[0]):
            return None
        return found[1]

    def put(self, kind: str, key: str, path: Path, digest: str, size: int) -> None:
        """Store an uploaded file (already hashed as it arrived) under ``kind``/``key``."""
        if kind == rc.CAS and digest != f"sha256:{key}":
            self._count(kind, "refused")
            raise DigestMismatch(
                f"the uploaded bytes hash to {digest}, not to the key sha256:{key}",
                "a CAS entry is named by the SHA-256 of its content; upload it under that",
            )
        stored, n = self.blobs.put_file_sized(path)
        if stored != digest or n != size:  # the bytes changed between hashing and storing
            raise IntegrityFailure(
                "the upload changed while it was stored", "upload it again", code="blob-corrupt"
            )
        with self.store.begin() as uow:
            repo.put(uow.conn, kind, key, digest, size, _now())
        self._count(kind, "writes")
        self._count(kind, "bytes_written", size)

    def refused(self, kind: str) -> None:
        self._count(kind, "refused")

    def spool(self) -> Spool:
        """A temporary file an upload streams into, hashing as it goes."""
        return Spool(self.tmp, self.limits.max_blob)

    def _drop(self, kind: str, key: str, digest: str, *, corrupt: bool) -> None:
        """Forget an entry whose blob is missing or damaged; damaged bytes are deleted with
        every entry that names them."""
        with self.store.begin() as uow:
            if corrupt:
                repo.delete_digest(uow.conn, digest)
            else:
                repo.delete(uow.conn, kind, key)
        if corrupt:
            self.blobs.delete(digest)

    def _count(self, kind: str, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[kind][name] += n

    # --- the background writer -----------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="remote-cache", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_EVERY_S):
            with contextlib.suppress(ShipyardError):  # a busy database: next second
                self.flush()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        with contextlib.suppress(ShipyardError):
            self.flush()

    def flush(self) -> None:
        """Write the gathered counts and last uses; then evict until the cache fits."""
        with self._lock:
            counts, self._counts = self._counts, defaultdict(lambda: defaultdict(int))
            used, self._used = self._used, set()
        now = _now()
        if counts or used:
            with self.store.begin() as uow:
                repo.touch(uow.conn, sorted(used), now)
                for kind, deltas in sorted(counts.items()):
                    repo.add_counts(uow.conn, _day(now), kind, dict(deltas))
        self.evict()

    def evict(self) -> int:
        """Drop least recently used entries until the cache holds at most 90% of its limit;
        the number dropped."""
        dropped = 0
        while True:
            orphans: list[str] = []
            with self.store.begin() as uow:
                _count, total = repo.totals(uow.conn)
                chosen = rc.to_evict(
                    repo.oldest(uow.conn, EVICT_BATCH), total, self.limits.max_size
                )
                if not chosen:
                    return dropped
                digests = {repo.digest_of(uow.conn, e.kind, e.key) for e in chosen}
                by_kind: dict[str, int] = defaultdict(int)
                for entry in chosen:
                    repo.delete(uow.conn, entry.kind, entry.key)
                    by_kind[entry.kind] += 1
                orphans = [d for d in digests if d and not repo.referenced(uow.conn, d)]
                for kind, n in sorted(by_kind.items()):
                    repo.add_counts(uow.conn, _day(_now()), kind, {"evicted": n})
            for digest in orphans:  # after the commit: a reader never finds a row without bytes
                self.blobs.delete(digest)
            dropped += len(chosen)

    # --- figures -------------------------------------------------------------------------

    def report(self, since: datetime, until: datetime) -> CacheReport:
        self.flush()
        return report(self.store, since, until, self.limits)


class KindFigures(repo.Counts):
    hit_rate: float | None  # None before any read


class CacheReport(TypedDict):
    """The remote cache's figures over a window (in `shipyard metrics builds`)."""

    entries: int
    bytes: int
    max_bytes: int
    hits: int
    misses: int
    hit_rate: float | None
    by_kind: dict[str, KindFigures]  # ac, cas, gradle


def report(
    store: Store, since: datetime, until: datetime, limits: Limits | None = None
) -> CacheReport:
    """Hits, misses and bytes by namespace over the window's days, and what the cache holds."""
    lo = since.strftime("%Y-%m-%d")
    hi = (until - timedelta(microseconds=1)).strftime("%Y-%m-%d")
    with store.read() as uow:
        by_kind = repo.counts(uow.conn, lo, hi)
        entries, size = repo.totals(uow.conn)
    kinds: dict[str, KindFigures] = {}
    for kind in rc.KINDS:
        c = by_kind.get(kind, repo.no_counts())
        kinds[kind] = {**c, "hit_rate": rc.hit_rate(c["hits"], c["misses"])}
    hits = sum(k["hits"] for k in kinds.values())
    misses = sum(k["misses"] for k in kinds.values())
    return {
        "entries": entries,
        "bytes": size,
        "max_bytes": (limits or Limits.from_env()).max_size,
        "hits": hits,
        "misses": misses,
        "hit_rate": rc.hit_rate(hits, misses),
        "by_kind": kinds,
    }


class Spool:
    """An upload on its way in: written to a temporary file and hashed, within a size."""

    def __init__(self, folder: Path, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._hash = hashlib.sha256()
        fd, name = tempfile.mkstemp(prefix=".upload-", dir=folder)
        self.path = Path(name)
        self._fh = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise BlobTooLarge(
                f"the upload is larger than the cache takes ({self.limit:,} bytes)",
                "raise SHIPYARD_CACHE_MAX_BLOB on the server, or leave this output uncached",
            )
        self._hash.update(chunk)
        self._fh.write(chunk)

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def finish(self) -> None:
        self._fh.close()

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._fh.close()
        self.path.unlink(missing_ok=True)

"""The remote cache as a second tier behind the local one, for `shipyard run --remote-cache`.

A step that misses the local cache asks the remote one for ``ac/<action key>``; a hit names
its files and log by digest, carries the small ones itself and the others are fetched from
``cas/<digest>``, all into the local CAS (each checked against its digest) and restored from
there as a local hit is. A step that ran and may be cached is uploaded by a background thread:
the blobs its entry does not carry, then its entry, so an entry never names bytes the cache
does not have. The run waits for the uploads at its end.

The remote cache never fails a build. When it does not answer, refuses the token, or serves
damaged bytes, the run says so once on stderr and goes on with the local cache alone (a
token that may read but not write keeps reading).
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict

from shipyard.adapters.cas.digest import digest_bytes
from shipyard.adapters.remote_cache.http import HttpCache, RemoteCacheError
from shipyard.domain.remote_cache import AC, CAS, INLINE_MAX, action_bytes, action_entry, to_inline
from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from shipyard.store.runlog import CacheEntry

UPLOAD_WAIT_S = 120.0  # at the end of a run, for the uploads still queued
PREFETCH_THREADS = 8  # entries asked for at once when many steps are ready together


def _stderr(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


if TYPE_CHECKING:  # types only, as in pipeline.py, which imports this module for a run

    class Fetched(CacheEntry):
        """A remote hit as the local cache keeps it: ``size`` is the bytes it added there."""

        size: int

    class RemoteFigures(TypedDict):
        """The remote cache in a run's summary."""

        url: str
        hits: int
        misses: int
        uploaded: int
        warnings: list[str]


class RemoteTier:
    def __init__(self, client: HttpCache, cas: Any, warn: Callable[[str], None] = _stderr) -> None:
        self.client = client
        self.cas = cas
        self.warn = warn
        self.reads = True
        self.writes = True
        self.hits = 0
        self.misses = 0
        self.uploaded = 0
        self.warnings: list[str] = []
        self._sent: set[str] = set()  # blobs uploaded (or found there) in this run
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pool: Any = None
        self._fetched: dict[str, Any] = {}  # prefetched: key -> what _download returned

    def _give_up(self, exc: ShipyardError, *, reading: bool = True) -> None:
        """Stop using the cache (or only writing to it), with one warning."""
        with self._lock:
            if reading:
                self.reads = False
            self.writes = False
            text = f"warning[{exc.code}]: {exc.message}; "
            text += "building with the local cache only" if reading else "reading only"
            if self.warnings and exc.code == "remote-cache-unreachable":
                return  # said once
            self.warnings.append(text)
        self.warn(text)

    # --- reading -------------------------------------------------------------------------

    def prefetch(self, keys: list[str]) -> None:
        """Ask for several entries at once, each on a connection of its own; ``fetch`` then
        answers them without waiting."""
        keys = [k for k in dict.fromkeys(keys) if k not in self._fetched]
        if not self.reads or len(keys) < 2:
            return
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(PREFETCH_THREADS, thread_name_prefix="remote-get")
        for key, got in zip(keys, self._pool.map(self._download, keys), strict=True):
            self._fetched[key] = got

    def fetch(self, key: str) -> Fetched | None:
        """The entry of ``key`` with its blobs in the local CAS, or None."""
        if not self.reads:
            return None
        got = self._fetched.pop(key) if key in self._fetched else self._download(key)
        if isinstance(got, ShipyardError):
            self._give_up(got, reading=got.code != "remote-cache-forbidden")
            self.misses += 1
            return None
        if got is None:
            self.misses += 1
            return None
        entry, blobs, carried = got
        size = 0
        for digest, blob in blobs.items():  # here, not in the threads: the CAS has one writer
            if not self.cas.has(digest):
                self.cas.put_bytes(blob)
                size += len(blob)
            if digest not in carried:  # known to be in the server's CAS
                self._sent.add(digest)
        self.hits += 1
        return {
            "key": key,
            "files": entry["files"],
            "outputs": entry["outputs"],
            "log_digest": entry["log_digest"],
            "duration": entry["duration"],
            "size": size,
        }

    def _download(
        self, key: str
    ) -> tuple[dict[str, Any], dict[str, bytes], set[str]] | ShipyardError | None:
        """An entry, the blobs the local CAS lacks (each checked against its digest) and which
        of them the entry carried; None on a miss; the error that should stop the reads. Safe
        in several threads at once."""
        try:
            data = self.client.get(AC, key)
            entry = action_entry(data) if data is not None else None
            if entry is None:
                return None
            carried = entry.pop("inline")
            blobs: dict[str, bytes] = {}
            for digest in [*entry["files"].values(), entry["log_digest"]]:
                if digest in blobs or self.cas.has(digest):
                    continue
                blob = carried.get(digest)
                if blob is not None:
                    if digest_bytes(blob) != digest:  # an entry no client of ours wrote
                        return None
                    blobs[digest] = blob
                    continue
                blob = self.client.get(CAS, digest.removeprefix("sha256:"))
                if blob is None:  # evicted since: a miss
                    return None
                if digest_bytes(blob) != digest:
                    return RemoteCacheError(
                        f"the remote cache served damaged bytes for {digest}",
                        "the server drops such blobs when it reads them; report it",
                        code="remote-cache-corrupt",
                    )
                blobs[digest] = blob
        except RemoteCacheError as exc:
            return exc
        return entry, blobs, set(carried)

    # --- writing -------------------------------------------------------------------------

    def store(
        self,
        key: str,
        files: Mapping[str, str],
        outputs: Mapping[str, str],
        log_digest: str,
        duration: float,
    ) -> None:
        """Queue a step's upload: the blobs its entry does not carry, then its entry."""
        if not self.writes:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._upload, name="remote-cache", daemon=True)
            self._thread.start()
        self._queue.put((key, dict(files), dict(outputs), log_digest, duration))

    def _upload(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            if not self.writes:
                continue
            key, files, outputs, log_digest, duration = item
            try:
                small: dict[str, bytes] = {}  # what the entry may carry
                for digest in dict.fromkeys([*files.values(), log_digest]):
                    if digest in self._sent:
                        continue
                    blob = self.cas.get_bytes(digest)
                    if len(blob) <= INLINE_MAX:
                        small[digest] = blob
                    else:
                        self._put_blob(digest, blob)
                carried = to_inline({d: len(b) for d, b in small.items()})
                for digest, blob in small.items():
                    if digest not in carried:
                        self._put_blob(digest, blob)
                inline = {d: small[d] for d in carried}
                self.client.put(AC, key, action_bytes(files, outputs, log_digest, duration, inline))
                self.uploaded += 1
            except RemoteCacheError as exc:
                self._give_up(exc, reading=exc.code != "remote-cache-forbidden")
            except ShipyardError as exc:  # a local blob gone or damaged: this entry only
                self.warn(f"warning[{exc.code}]: not uploaded: {exc.message}")
        self.client.close()

    def _put_blob(self, digest: str, blob: bytes) -> None:
        self.client.put(CAS, digest.removeprefix("sha256:"), blob)
        self._sent.add(digest)

    def close(self) -> RemoteFigures:
        """Wait for the uploads; the figures the run's summary reports."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(UPLOAD_WAIT_S)
            self._thread = None
        self.client.close()
        return {
            "url": self.client.where,
            "hits": self.hits,
            "misses": self.misses,
            "uploaded": self.uploaded,
            "warnings": list(self.warnings),
        }

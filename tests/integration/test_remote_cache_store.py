"""The remote cache's index, counts and eviction on a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shipyard.adapters.cas.disk import DiskCAS
from shipyard.services.pipelines.remote_cache import DigestMismatch, Limits, RemoteCache
from shipyard.store.uow import Store


def _cache(store: Store, tmp_path: Path, max_size: int = 10**9) -> RemoteCache:
    return RemoteCache(store, DiskCAS(tmp_path / "blobs"), Limits(max_size, 10**6), tmp_path / "up")


def _put(cache: RemoteCache, kind: str, key: str, data: bytes) -> None:
    spool = cache.spool()
    spool.write(data)
    spool.finish()
    try:
        cache.put(kind, key, spool.path, spool.digest, spool.size)
    finally:
        spool.discard()


def test_entries_are_served_counted_and_reported(store: Store, tmp_path: Path) -> None:
    """Stored entries are served, misses are None, and the report counts both by namespace."""
    cache = _cache(store, tmp_path)
    blob = b"bytes"
    _put(cache, "cas", hashlib.sha256(blob).hexdigest(), blob)
    _put(cache, "ac", "a" * 64, b"result")
    _put(cache, "ac", "a" * 64, b"result two")  # the last write wins
    assert cache.get("cas", hashlib.sha256(blob).hexdigest()) == blob
    assert cache.get("ac", "a" * 64) == b"result two"
    assert cache.get("ac", "b" * 64) is None
    now = datetime.now(UTC)
    report = cache.report(now - timedelta(days=1), now + timedelta(days=1))
    assert report["entries"] == 2 and report["bytes"] == len(blob) + len(b"result two")
    assert report["by_kind"]["ac"]["hits"] == 1 and report["by_kind"]["ac"]["misses"] == 1
    assert report["by_kind"]["ac"]["writes"] == 2 and report["by_kind"]["cas"]["hit_rate"] == 1.0


def test_a_cas_upload_under_another_digest_stores_nothing(store: Store, tmp_path: Path) -> None:
    """A CAS write whose bytes do not hash to its key raises digest-mismatch and stores no row."""
    cache = _cache(store, tmp_path)
    with pytest.raises(DigestMismatch):
        _put(cache, "cas", "c" * 64, b"not that")
    assert cache.get("cas", "c" * 64) is None and cache.head("cas", "c" * 64) is None


def test_eviction_keeps_what_was_used_last(store: Store, tmp_path: Path) -> None:
    """Over its size the cache drops its least recently used entries and their blobs."""
    cache = _cache(store, tmp_path, max_size=250)
    blobs = [bytes([65 + i]) * 100 for i in range(3)]
    keys = [hashlib.sha256(b).hexdigest() for b in blobs]
    for key, blob in zip(keys[:2], blobs[:2], strict=True):
        _put(cache, "cas", key, blob)
    cache.get("cas", keys[0])
    cache.flush()  # the first is now the most recently used
    _put(cache, "cas", keys[2], blobs[2])
    cache.flush()
    assert [cache.head("cas", k) for k in keys] == [100, None, 100]
    assert not DiskCAS(tmp_path / "blobs").has("sha256:" + keys[1])

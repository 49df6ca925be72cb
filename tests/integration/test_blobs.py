"""The blob store's backends (disk, the database, S3-compatible storage) keep the same
contract: bytes by digest, streamed in chunks, checked on the way."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from dataclasses import replace
from pathlib import Path

import pytest

from shipyard.adapters.blobs import open_blobs, pipeline_cas
from shipyard.adapters.blobs.base import CHUNK
from shipyard.errors import IntegrityFailure, NotFound, ShipyardError
from shipyard.ports.blobs import BlobStore
from shipyard.store.uow import Store
from tests.fakes import FakeBlobStore

# Each backend once; the database backend on SQLite and on PostgreSQL.
REAL = [("sqlite", "disk"), ("sqlite", "postgres"), ("postgres", "postgres"), ("sqlite", "s3")]
BACKENDS = pytest.mark.parametrize(("database_url", "kind"), REAL, indirect=True)
# The contract a fake must keep too (tests/fakes.py), all but holding bytes out of memory.
CONTRACT = pytest.mark.parametrize(
    ("database_url", "kind"), [*REAL, ("sqlite", "fake")], indirect=True
)


@pytest.fixture
def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "s3":
        return request.getfixturevalue("s3_env")["SHIPYARD_BLOBS"]
    return str(request.param)


@pytest.fixture
def blobs(store: Store, kind: str) -> BlobStore:
    if kind == "fake":
        return FakeBlobStore()
    return open_blobs(replace(store, blobs_url=kind), "artifacts")


def _big(path: Path, size: int) -> str:
    data = os.urandom(size)
    path.write_bytes(data)
    return "sha256:" + hashlib.sha256(data).hexdigest()


@CONTRACT
def test_round_trip_in_chunks(blobs: BlobStore, tmp_path: Path) -> None:
    """A file of several chunks comes back byte for byte, in chunks no larger than one."""
    src = tmp_path / "a.bin"
    digest = _big(src, 2 * CHUNK + 123)
    assert not blobs.has(digest)
    assert blobs.put_file_sized(src) == (digest, 2 * CHUNK + 123)
    assert blobs.put_file_sized(src) == (digest, 2 * CHUNK + 123)  # again: nothing changes
    assert blobs.has(digest)
    chunks = list(blobs.chunks(digest))
    assert max(len(c) for c in chunks) <= CHUNK
    assert b"".join(chunks) == src.read_bytes()
    blobs.restore(digest, tmp_path / "out" / "b.bin")
    assert (tmp_path / "out" / "b.bin").read_bytes() == src.read_bytes()
    assert digest in {b.digest for b in blobs.blobs()}
    small = blobs.put_bytes(b"{}")
    assert blobs.get_bytes(small) == b"{}"
    blobs.delete(digest)
    assert not blobs.has(digest)


@CONTRACT
def test_missing_blob_is_refused_before_any_chunk(blobs: BlobStore) -> None:
    """Asking for bytes never stored is blob-missing, raised before a chunk is produced."""
    with pytest.raises(NotFound) as err:
        blobs.chunks("sha256:" + "0" * 64)
    assert err.value.code == "blob-missing"
    with pytest.raises(NotFound) as bad:
        blobs.has("sha256:../../etc")
    assert bad.value.code == "digest-invalid"


def _corrupt(store: Store, kind: str, digest: str) -> None:
    """Change the stored bytes behind the store's back, as a faulty disk or a person would."""
    if kind == "disk":
        path = store.home / "cas" / "blobs" / digest[7:9] / digest[7:]
        path.chmod(0o644)
        raw = bytearray(path.read_bytes())
        raw[-1] ^= 1
        path.write_bytes(bytes(raw))
    elif kind == "postgres":
        from sqlalchemy import update

        from shipyard.store.blobs import blob_chunks

        with store.engine.begin() as conn:
            conn.execute(
                update(blob_chunks)
                .where(blob_chunks.c.digest == digest, blob_chunks.c.seq == 0)
                .values(data=b"tampered")
            )
    else:
        s3 = open_blobs(replace(store, blobs_url=kind), "artifacts")
        s3.client.put_object(Bucket=s3.bucket, Key=s3._key(digest), Body=b"tampered")  # type: ignore[attr-defined]


@CONTRACT
def test_corrupt_blob_fails_after_the_last_chunk_and_restores_nothing(
    store: Store, kind: str, blobs: BlobStore, tmp_path: Path
) -> None:
    """Bytes that no longer hash to their name raise blob-corrupt and leave no file behind."""
    src = tmp_path / "a.bin"
    digest = _big(src, CHUNK + 10)
    blobs.put_file(src)
    if isinstance(blobs, FakeBlobStore):
        blobs.corrupt(digest)
    else:
        _corrupt(store, kind, digest)
    with pytest.raises(IntegrityFailure) as err:
        b"".join(blobs.chunks(digest))
    assert err.value.code == "blob-corrupt"
    with pytest.raises(IntegrityFailure):
        blobs.restore(digest, tmp_path / "out.bin")
    assert list(tmp_path.glob("*out*")) == []
    assert list(blobs.chunks(digest, verify=False))  # unchecked, for `verify` to hash


@BACKENDS
def test_a_large_blob_is_never_held_whole_in_memory(blobs: BlobStore, tmp_path: Path) -> None:
    """Storing and reading back a 24 MiB file stays within a few chunks of memory."""
    src = tmp_path / "big.bin"
    digest = _big(src, 24 * CHUNK)
    tracemalloc.start()
    try:
        blobs.put_file_sized(src)
        for _chunk in blobs.chunks(digest):
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * CHUNK


def test_unknown_backend_is_refused(tmp_path: Path) -> None:
    """SHIPYARD_BLOBS naming no backend is blob-store-invalid, with the choices in the hint."""
    for bad in ("ftp://x", "s3://", "memory"):
        with pytest.raises(ShipyardError) as err:
            open_blobs(Store("sqlite://", tmp_path, blobs_url=bad), "artifacts")
        assert err.value.code == "blob-store-invalid"
        assert "s3://" in (err.value.hint or "")


def test_unreachable_s3_says_so_without_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An S3 endpoint that does not answer is blob-store-failed; no secret is in the message."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASECRETKEYID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "supersecretvalue")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("SHIPYARD_S3_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    s3 = open_blobs(Store("sqlite://", tmp_path, blobs_url="s3://bucket"), "artifacts")
    with pytest.raises(ShipyardError) as err:
        s3.has("sha256:" + "1" * 64)
    assert err.value.code == "blob-store-failed"
    text = f"{err.value.message} {err.value.hint}"
    assert "s3://bucket" in text
    assert "supersecret" not in text and "AKIASECRET" not in text


@BACKENDS
def test_pipeline_cache_shares_through_the_shared_store(
    store: Store, kind: str, tmp_path: Path
) -> None:
    """A pipeline blob stored on one host reaches another through the shared store when the
    first closes; on disk alone the cache stays a plain local CAS."""
    one = pipeline_cas(replace(store, pipeline_blobs_url=kind, home=tmp_path / "one"))
    two = pipeline_cas(replace(store, pipeline_blobs_url=kind, home=tmp_path / "two"))
    small = one.put_bytes(b"log line\n")  # packed
    src = tmp_path / "out.bin"
    big = _big(src, 200_000)
    one.put_file_sized(src)
    one.close()
    if kind == "disk":
        assert type(one).__name__ == "DiskCAS"
        with pytest.raises(NotFound):
            two.get_bytes(small)
        return
    assert two.get_bytes(small) == b"log line\n"
    two.restore(big, tmp_path / "restored.bin")
    assert (tmp_path / "restored.bin").read_bytes() == src.read_bytes()
    assert big in {b.digest for b in two.blobs()}  # kept locally from then on

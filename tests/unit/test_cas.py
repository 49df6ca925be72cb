"""The disk CAS: small blobs in packs, large ones in files of their own."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from shipyard.adapters.cas.disk import DiskCAS
from shipyard.errors import IntegrityFailure, NotFound


def _cas(tmp_path: Path) -> DiskCAS:
    return DiskCAS(tmp_path / "cas", pack_below=1024)


@pytest.mark.parametrize(
    ("size", "packed"),
    [(0, True), (10, True), (1023, True), (1024, False), (5000, False)],
)
def test_blobs_below_the_threshold_are_packed(tmp_path: Path, size: int, packed: bool) -> None:
    """Below ``pack_below`` a blob goes to a pack, from there on to a file of its own; either
    way it reads back the same, from this instance and from a new one."""
    cas = _cas(tmp_path)
    data = bytes(i % 251 for i in range(size))
    digest = cas.put_bytes(data)
    assert cas.path(digest).is_file() is not packed
    found = cas.locate(digest)
    assert found is not None and found[0].suffix == (".pack" if packed else "")
    for reader in (cas, _cas(tmp_path)):
        assert reader.has(digest)
        assert reader.get_bytes(digest) == data
    cas.restore(digest, tmp_path / "out" / "x")
    assert (tmp_path / "out" / "x").read_bytes() == data


def test_a_blob_stored_twice_is_packed_once(tmp_path: Path) -> None:
    cas = _cas(tmp_path)
    assert cas.put_bytes(b"same") == cas.put_bytes(b"same")
    assert _cas(tmp_path).put_bytes(b"same")  # another process: already in a pack
    assert sum(p.stat().st_size for p in (tmp_path / "cas/packs").glob("*.pack")) == 4


def test_a_deleted_packed_blob_is_gone_and_compaction_frees_it(tmp_path: Path) -> None:
    """Deleting marks the blob dead; compacting rewrites its pack without it once its writer
    is done, and every other blob stays readable, also for a reader that loaded the old index."""
    writer = _cas(tmp_path)
    keep = writer.put_bytes(b"keep me")
    drop = writer.put_bytes(b"drop me!")
    stale = _cas(tmp_path)
    assert stale.get_bytes(keep) == b"keep me"  # loads the index as it is now
    gc = _cas(tmp_path)
    gc.delete(drop)
    assert not gc.has(drop) and not _cas(tmp_path).has(drop)
    with pytest.raises(NotFound):
        _cas(tmp_path).get_bytes(drop)
    assert gc.compact() == 0  # the writer still holds its pack
    writer.close()
    assert gc.compact() == len(b"drop me!")
    assert [b.digest for b in _cas(tmp_path).blobs()] == [keep]
    assert stale.get_bytes(keep) == b"keep me"
    assert not list((tmp_path / "cas/packs").glob("*.dead"))


def test_a_record_cut_short_by_a_crash_is_ignored(tmp_path: Path) -> None:
    cas = _cas(tmp_path)
    digest = cas.put_bytes(b"whole")
    (idx,) = (tmp_path / "cas/packs").glob("*.idx")
    with open(idx, "ab") as fh:
        fh.write(b"\x01" * 20)  # half a record
    assert _cas(tmp_path).get_bytes(digest) == b"whole"
    assert len(list(_cas(tmp_path).blobs())) == 1


def test_a_damaged_packed_blob_is_refused(tmp_path: Path) -> None:
    """Packed bytes that no longer match their digest are never returned or restored."""
    cas = _cas(tmp_path)
    digest = cas.put_bytes(b"original")
    found = cas.locate(digest)
    assert found is not None
    pack, offset, size = found
    pack.chmod(0o644)
    with open(pack, "r+b") as fh:
        fh.seek(offset)
        fh.write(b"X" * size)
    with pytest.raises(IntegrityFailure) as exc:
        _cas(tmp_path).get_bytes(digest)
    assert exc.value.code == "blob-corrupt"
    with pytest.raises(IntegrityFailure):
        _cas(tmp_path).restore(digest, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("refusal", [None, errno.EXDEV, errno.ENOSYS])
def test_a_large_file_is_stored_whole_whether_or_not_the_kernel_copies_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refusal: int | None
) -> None:
    """A file past the in-memory size is copied by the kernel, or read and written where the
    kernel refuses (another file system, an older kernel): the same blob either way."""
    if refusal is not None:

        def refuse(*_args: object) -> int:
            raise OSError(refusal, os.strerror(refusal))

        monkeypatch.setattr(os, "copy_file_range", refuse)
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(3 << 20))
    cas = DiskCAS(tmp_path / "cas", pack_below=4096)
    digest, size = cas.put_file_sized(src)
    assert size == 3 << 20 and cas.get_bytes(digest) == src.read_bytes()


def test_packed_blobs_are_read_after_compaction_and_close(tmp_path: Path) -> None:
    """A pack kept open for reading does not outlive what the index says: after compaction
    and after close, every blob still reads as stored."""
    cas = DiskCAS(tmp_path, pack_below=4096)
    kept, gone = cas.put_bytes(b"kept"), cas.put_bytes(b"gone")
    assert cas.get_bytes(kept) == b"kept"  # the pack is now open for reading
    cas.delete(gone)
    cas.close()
    assert cas.compact() == 4
    assert cas.get_bytes(kept) == b"kept"
    with pytest.raises(NotFound):
        cas.get_bytes(gone)
    cas.close()
    assert DiskCAS(tmp_path, pack_below=4096).get_bytes(kept) == b"kept"

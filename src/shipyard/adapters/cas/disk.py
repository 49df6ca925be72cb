"""A content-addressed store on the local disk: blobs named by their SHA-256.

Writes go to a temporary file in the same folder and are renamed into place, so a reader never
sees half a blob and two writers of the same content cannot corrupt each other.

A store made with ``pack_below`` keeps blobs smaller than that in packs instead, as git does:
creating a file per blob costs more than a small step itself (an inode, a directory entry and a
rename; on ext4 soon after many deletions, most of a millisecond). Each process appends to a
pack of its own, ``packs/NAME.pack``, and records each blob in ``NAME.idx`` after its bytes, as
(raw digest, offset, size). Readers check every blob's digest, as they do for files. Deleting a
packed blob writes its offset to ``NAME.dead``; ``compact()`` rewrites such packs without them,
skipping any a live writer still holds (it keeps a shared lock on its pack).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from shipyard.adapters.cas.digest import CHUNK, digest_bytes, digest_file
from shipyard.errors import IntegrityFailure, NotFound
from shipyard.ports.blobs import BlobInfo

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_RECORD = struct.Struct("<32sQQ")  # a pack index entry: raw digest, offset, size


def _hex(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    if algo != "sha256" or not _SHA256_HEX.fullmatch(hexpart):
        raise NotFound(
            f"'{digest}' is not a sha256 digest",
            "digests look like sha256:<64 hex>",
            code="digest-invalid",
        )
    return hexpart


class DiskCAS:
    def __init__(self, root: Path, *, pack_below: int = 0) -> None:
        self.root = root
        self._blobs = str(root / "blobs")
        self._packs = root / "packs"
        self.pack_below = pack_below
        self._index: dict[str, tuple[str, int, int]] | None = None  # digest -> pack, offset, size
        self._pack: tuple[int, int, str] | None = None  # this process's pack: fd, index fd, path
        self._end = 0  # where the next blob goes in it
        # Packs opened for reading, kept open: a run reads thousands of small blobs. One that
        # ``compact`` removed still reads as it was, and the index no longer points into it.
        self._readers: dict[str, int] = {}

    def path(self, digest: str) -> Path:
        return Path(self._where(digest))

    def _where(self, digest: str) -> str:
        # Strings, not Paths, on the write path: a run stores a blob or two per step.
        h = _hex(digest)
        return f"{self._blobs}/{h[:2]}/{h}"

    def locate(self, digest: str) -> tuple[Path, int, int] | None:
        """The file that holds a blob, where in it the blob starts, and its size."""
        where = self._where(digest)
        if os.path.isfile(where):
            return Path(where), 0, os.path.getsize(where)
        found = self._packed(digest)
        return None if found is None else (Path(found[0]), found[1], found[2])

    def has(self, digest: str) -> bool:
        return os.path.isfile(self._where(digest)) or self._packed(digest) is not None

    def put_bytes(self, data: bytes) -> str:
        digest = digest_bytes(data)
        if len(data) < self.pack_below:
            if self._packed(digest) is None:  # a copy in a file of its own does no harm
                self._append(digest, data)
            return digest
        where = self._where(digest)
        if not os.path.isfile(where):
            self._write(where, lambda fh: fh.write(data))
        return digest

    def put_file(self, src: Path) -> str:
        return self.put_file_sized(src)[0]

    def put_file_sized(self, src: Path | str) -> tuple[str, int]:
        """Store a file; its digest and size."""
        with open(src, "rb", buffering=0) as fh:  # a small file is read once for both
            size = os.fstat(fh.fileno()).st_size
            if size < CHUNK:
                data = fh.readall()
                return self.put_bytes(data), len(data)
        digest = digest_file(src)
        where = self._where(digest)
        if not os.path.isfile(where):

            def copy(fh: BinaryIO) -> None:
                with open(src, "rb", buffering=0) as inp:
                    _copy_fd(inp.fileno(), fh.fileno())

            self._write(where, copy)
        return digest, os.stat(where).st_size

    # --- packs -------------------------------------------------------------------------------

    def _packed(self, digest: str) -> tuple[str, int, int] | None:
        if self.pack_below <= 0:
            return None
        if self._index is None:
            self._index = self._read_index()
        return self._index.get(digest)

    def _read_index(self) -> dict[str, tuple[str, int, int]]:
        index: dict[str, tuple[str, int, int]] = {}
        if not self._packs.is_dir():
            return index
        for idx in sorted(self._packs.glob("*.idx")):
            pack = str(idx.with_suffix(".pack"))
            dead = self._dead(idx)
            raw = idx.read_bytes()
            usable = len(raw) - len(raw) % _RECORD.size  # a record cut short by a crash
            for key, offset, size in _RECORD.iter_unpack(raw[:usable]):
                if offset not in dead:
                    index["sha256:" + key.hex()] = (pack, offset, size)
        return index

    @staticmethod
    def _dead(idx: Path) -> set[int]:
        try:
            raw = idx.with_suffix(".dead").read_bytes()
        except FileNotFoundError:
            return set()
        return {n for (n,) in struct.iter_unpack("<Q", raw[: len(raw) - len(raw) % 8])}

    def _append(self, digest: str, data: bytes) -> None:
        if self._pack is None:
            self._packs.mkdir(parents=True, exist_ok=True)
            name = f"{self._packs}/{os.getpid()}-{os.urandom(6).hex()}"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
            fd = os.open(f"{name}.pack", flags, 0o444)
            fcntl.flock(fd, fcntl.LOCK_SH)  # held while this process may still append
            self._pack = (fd, os.open(f"{name}.idx", flags, 0o444), f"{name}.pack")
            self._end = 0
        fd, idx, pack = self._pack
        _write_all(fd, data)
        _write_all(idx, _RECORD.pack(bytes.fromhex(_hex(digest)), self._end, len(data)))
        if self._index is None:
            self._index = self._read_index()
        self._index[digest] = (pack, self._end, len(data))
        self._end += len(data)

    def close(self) -> None:
        """Stop appending to this process's pack, so that ``compact`` may rewrite it."""
        if self._pack is not None:
            os.close(self._pack[0])
            os.close(self._pack[1])
            self._pack = None
        readers, self._readers = self._readers, {}
        for fd in readers.values():
            os.close(fd)

    def _read_packed(self, digest: str) -> bytes | None:
        for _ in range(2):
            found = self._packed(digest)
            if found is None:
                return None
            pack, offset, size = found
            fd = self._readers.get(pack)
            if fd is None:
                try:
                    fd = os.open(pack, os.O_RDONLY | os.O_CLOEXEC)
                except FileNotFoundError:
                    self._index = None  # compacted meanwhile: read the indexes again
                    continue
                kept = self._readers.setdefault(pack, fd)
                if kept != fd:  # another thread opened it meanwhile
                    os.close(fd)
                    fd = kept
            return os.pread(fd, size, offset)
        return None

    def compact(self) -> int:
        """Rewrite packs that hold deleted blobs without them; the bytes freed."""
        freed = 0
        if not self._packs.is_dir():
            return freed
        for dead in sorted(self._packs.glob("*.dead")):
            idx, pack = dead.with_suffix(".idx"), dead.with_suffix(".pack")
            if self._pack is not None and str(pack) == self._pack[2]:
                continue
            try:
                fd = os.open(pack, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                dead.unlink(missing_ok=True)
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # its writer is still running
                os.close(fd)
                continue
            try:
                gone = self._dead(idx)
                raw = idx.read_bytes()
                raw = raw[: len(raw) - len(raw) % _RECORD.size]
                for key, offset, size in _RECORD.iter_unpack(raw):
                    if offset in gone:
                        freed += size
                        continue
                    data = os.pread(fd, size, offset)
                    digest = "sha256:" + key.hex()
                    if digest_bytes(data) == digest:  # a damaged blob is dropped, not copied
                        self._append(digest, data)
                for f in (idx, dead, pack):  # the index first: a reader never meets a gap
                    f.unlink(missing_ok=True)
            finally:
                os.close(fd)
        self._index = None
        return freed

    def _write(self, where: str, fill: Callable[[BinaryIO], object]) -> None:
        folder = os.path.dirname(where)
        tmp = f"{folder}/.tmp-{os.urandom(8).hex()}"
        # Created read-only (blobs are immutable); the descriptor is writable all the same.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:  # the folder usually exists; creating it first costs a failing mkdir per blob
            fd = os.open(tmp, flags, 0o444)
        except FileNotFoundError:
            os.makedirs(folder, exist_ok=True)
            fd = os.open(tmp, flags, 0o444)
        try:
            with os.fdopen(fd, "wb") as fh:
                fill(fh)
            os.replace(tmp, where)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def get_bytes(self, digest: str, *, verify: bool = True) -> bytes:
        path = self.path(digest)
        packed = self._read_packed(digest)  # small blobs are packed: no failed open first
        if packed is not None:
            data = packed
        else:
            try:
                data = path.read_bytes()
            except FileNotFoundError as exc:
                raise NotFound(
                    f"blob {digest} is not in the store",
                    "it may have been evicted by `shipyard cache gc`; run the step again",
                    code="blob-missing",
                ) from exc
            os.utime(path)  # last use, for LRU eviction
        if verify and digest_bytes(data) != digest:
            raise IntegrityFailure(
                f"blob {digest} is corrupted on disk",
                f"delete {path} and run the step again"
                if path.exists()
                else "run the step again: it is stored anew",
                code="blob-corrupt",
            )
        return data

    def restore(self, digest: str, dest: Path, *, verify: bool = True) -> None:
        """Copy a blob to ``dest``, checking its digest on the way."""
        src = self.path(digest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.shipyard-tmp")
        if self._packed(digest) is not None or not src.is_file():
            tmp.write_bytes(self.get_bytes(digest, verify=verify))  # packed, or missing
            os.replace(tmp, dest)
            return
        shutil.copyfile(src, tmp)
        if verify and digest_file(tmp) != digest:
            tmp.unlink(missing_ok=True)
            raise IntegrityFailure(
                f"blob {digest} is corrupted on disk",
                f"delete {src} and run the step again",
                code="blob-corrupt",
            )
        os.replace(tmp, dest)
        os.utime(src)

    def blobs(self) -> Iterator[BlobInfo]:
        base = self.root / "blobs"
        if base.is_dir():
            for sub in base.iterdir():
                for f in sub.iterdir():
                    if f.name.startswith(".tmp-"):
                        continue
                    st = f.stat()
                    yield BlobInfo("sha256:" + f.name, st.st_size, st.st_mtime)
        if self.pack_below > 0:
            self._index = self._read_index()
            for digest, (pack, _, size) in self._index.items():
                yield BlobInfo(digest, size, os.path.getmtime(pack))

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)
        found = self._packed(digest)
        if found is not None and self._index is not None:
            pack, offset, _ = found
            with open(Path(pack).with_suffix(".dead"), "ab") as fh:
                fh.write(struct.pack("<Q", offset))
            del self._index[digest]


def _copy_fd(src: int, dest: int) -> None:
    """Copy the rest of a file within the kernel where it can (a large output is stored at
    disk speed), else through this process (another file system, an older kernel)."""
    try:
        while os.copy_file_range(src, dest, 1 << 30):
            pass
        return
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    while chunk := os.read(src, CHUNK):  # from where the kernel's copy stopped
        _write_all(dest, chunk)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]

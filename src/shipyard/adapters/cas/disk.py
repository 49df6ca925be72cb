"""A content-addressed store on the local disk: blobs named by their SHA-256.

Writes go to a temporary file in the same folder and are renamed into place, so a reader never
sees half a blob and two writers of the same content cannot corrupt each other.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from shipyard.adapters.cas.digest import CHUNK, digest_bytes, digest_file
from shipyard.errors import IntegrityFailure, NotFound

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def _hex(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    if algo != "sha256" or not _SHA256_HEX.fullmatch(hexpart):
        raise NotFound(
            f"'{digest}' is not a sha256 digest",
            "digests look like sha256:<64 hex>",
            code="digest-invalid",
        )
    return hexpart


@dataclass(frozen=True)
class BlobInfo:
    digest: str
    size: int
    atime: float


class DiskCAS:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._blobs = str(root / "blobs")

    def path(self, digest: str) -> Path:
        return Path(self._where(digest))

    def _where(self, digest: str) -> str:
        # Strings, not Paths, on the write path: a run stores a blob or two per step.
        h = _hex(digest)
        return f"{self._blobs}/{h[:2]}/{h}"

    def has(self, digest: str) -> bool:
        return os.path.isfile(self._where(digest))

    def put_bytes(self, data: bytes) -> str:
        digest = digest_bytes(data)
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
                with open(src, "rb") as inp:
                    shutil.copyfileobj(inp, fh, CHUNK)

            self._write(where, copy)
        return digest, os.stat(where).st_size

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
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(
                f"blob {digest} is not in the store",
                "it may have been evicted by `shipyard cache gc`; run the step again",
                code="blob-missing",
            ) from exc
        if verify and digest_bytes(data) != digest:
            raise IntegrityFailure(
                f"blob {digest} is corrupted on disk",
                f"delete {path} and run the step again",
                code="blob-corrupt",
            )
        os.utime(path)  # last use, for LRU eviction
        return data

    def restore(self, digest: str, dest: Path, *, verify: bool = True) -> None:
        """Copy a blob to ``dest``, checking its digest on the way."""
        src = self.path(digest)
        if not src.is_file():
            raise NotFound(
                f"blob {digest} is not in the store", "run the step again", code="blob-missing"
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.shipyard-tmp")
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
        if not base.is_dir():
            return
        for sub in base.iterdir():
            for f in sub.iterdir():
                if f.name.startswith(".tmp-"):
                    continue
                st = f.stat()
                yield BlobInfo("sha256:" + f.name, st.st_size, st.st_mtime)

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

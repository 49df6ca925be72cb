"""The blob store: immutable bytes named by their SHA-256 (``sha256:<hex>``).

Artifacts, provenance envelopes, SBOMs and the pipeline cache keep their bytes here. Backends
(``adapters/blobs/``): the local disk (embedded default), the database (a server's default:
PostgreSQL, chunked) and S3-compatible object storage. Every backend streams: a blob is
written from a file and read back in chunks, never held whole in memory unless asked for
(``get_bytes``, for the small envelopes and logs). Readers check the digest as they go and
raise ``blob-corrupt`` at the end of a blob that does not hash to its name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class BlobInfo:
    digest: str
    size: int
    atime: float  # last use, where the backend knows it (disk); else when it was stored


@runtime_checkable
class BlobStore(Protocol):
    def has(self, digest: str) -> bool: ...

    def put_bytes(self, data: bytes) -> str:
        """Store ``data``; its digest. Storing bytes already there does nothing."""
        ...

    def put_file(self, src: Path) -> str: ...

    def put_file_sized(self, src: Path | str) -> tuple[str, int]:
        """Store a file, read in chunks; its digest and size."""
        ...

    def get_bytes(self, digest: str, *, verify: bool = True) -> bytes:
        """The whole blob (``blob-missing`` if absent, ``blob-corrupt`` if it does not hash to
        its name); for small blobs only."""
        ...

    def chunks(self, digest: str, *, verify: bool = True) -> Iterator[bytes]:
        """The blob in chunks. ``blob-missing`` is raised before the first chunk; a blob that
        does not hash to its name raises ``blob-corrupt`` after its last one."""
        ...

    def restore(self, digest: str, dest: Path, *, verify: bool = True) -> None:
        """Write the blob to ``dest`` (through a temporary file: never half a file there)."""
        ...

    def blobs(self) -> Iterator[BlobInfo]: ...

    def delete(self, digest: str) -> None: ...

    def close(self) -> None: ...

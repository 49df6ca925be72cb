"""The pipeline cache on a shared blob store: the local disk in front, the shared store behind.

A run writes and reads its outputs and logs on the local disk as it always does (the hot path
stays a file or a pack append), and pushes what it stored to the shared store when it closes,
in one pass; a blob missing locally (stored by another machine's run) is fetched from the
shared store once and kept. ``delete``, ``blobs`` and ``compact`` (what `cache gc` uses) act on
the local copy only. A run killed before it closes leaves its new blobs local: another host's
hit on them finds them missing and runs the step again, as for any evicted blob.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from shipyard.adapters.cas.disk import DiskCAS
from shipyard.errors import NotFound
from shipyard.ports.blobs import BlobInfo, BlobStore


class Tiered:
    def __init__(self, local: DiskCAS, shared: BlobStore) -> None:
        self.local = local
        self.shared = shared
        self.pending: set[str] = set()

    def has(self, digest: str) -> bool:
        return self.local.has(digest) or self.shared.has(digest)

    def put_bytes(self, data: bytes) -> str:
        digest = self.local.put_bytes(data)
        self.pending.add(digest)
        return digest

    def put_file(self, src: Path) -> str:
        return self.put_file_sized(src)[0]

    def put_file_sized(self, src: Path | str) -> tuple[str, int]:
        digest, size = self.local.put_file_sized(src)
        self.pending.add(digest)
        return digest, size

    def _fetch(self, digest: str) -> None:
        """Bring a blob the local disk lacks from the shared store (``blob-missing`` if
        neither has it)."""
        if self.local.has(digest):
            return
        import tempfile

        self.local.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="shipyard-fetch-", dir=self.local.root) as tmp:
            path = Path(tmp) / "blob"
            self.shared.restore(digest, path, verify=True)
            self.local.put_file_sized(path)

    def get_bytes(self, digest: str, *, verify: bool = True) -> bytes:
        try:
            return self.local.get_bytes(digest, verify=verify)
        except NotFound:
            self._fetch(digest)
        return self.local.get_bytes(digest, verify=verify)

    def chunks(self, digest: str, *, verify: bool = True) -> Iterator[bytes]:
        self._fetch(digest)
        return iter((self.local.get_bytes(digest, verify=verify),))

    def restore(self, digest: str, dest: Path, *, verify: bool = True) -> None:
        try:
            self.local.restore(digest, dest, verify=verify)
        except NotFound:
            self._fetch(digest)
            self.local.restore(digest, dest, verify=verify)

    def blobs(self) -> Iterator[BlobInfo]:
        return self.local.blobs()

    def delete(self, digest: str) -> None:
        self.local.delete(digest)
        self.pending.discard(digest)

    def compact(self) -> int:
        return self.local.compact()

    def push(self) -> int:
        """Copy what this process stored to the shared store; how many blobs went."""
        sent = 0
        for digest in sorted(self.pending):
            if self.shared.has(digest):
                continue
            found = self.local.locate(digest)
            if found is None:
                continue  # deleted meanwhile
            path, offset, size = found
            if offset == 0 and path.stat().st_size == size:
                self.shared.put_file_sized(path)
            else:  # packed: small, read whole
                data = self.local.get_bytes(digest)
                self.shared.put_bytes(data)
            sent += 1
        self.pending.clear()
        return sent

    def close(self) -> None:
        self.local.close()
        self.push()
        self.shared.close()

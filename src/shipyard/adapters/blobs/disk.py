"""Blobs on the local disk: the content-addressed store of ``adapters/cas/disk.py`` (files,
and packs for small blobs), read back in chunks. The embedded default; a server with several
hosts needs a shared backend instead (``postgres`` or ``s3``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import BinaryIO

from shipyard.adapters.blobs.base import CHUNK, checked
from shipyard.adapters.cas.disk import DiskCAS


class DiskBlobs(DiskCAS):
    def chunks(self, digest: str, *, verify: bool = True) -> Iterator[bytes]:
        try:
            fh = open(self.path(digest), "rb")  # noqa: SIM115 (the generator closes it)
        except FileNotFoundError:
            # Not a file of its own: packed (small, read whole) or missing (raised here).
            return iter((self.get_bytes(digest, verify=verify),))
        read = self._read(fh, digest)
        return checked(digest, read, str(self.root)) if verify else read

    def _read(self, fh: BinaryIO, digest: str) -> Iterator[bytes]:
        with fh:
            while chunk := fh.read(CHUNK):
                yield chunk
        os.utime(self.path(digest))  # last use, for LRU eviction

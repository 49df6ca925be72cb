"""Content digests as the CAS names blobs: ``sha256:<hex>``; standard library only."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CHUNK = 1 << 20


def digest_file(path: Path | str) -> str:
    # Read whole when small: hashlib.file_digest allocates a 256 KiB buffer per call, which
    # costs more than hashing a few kilobytes.
    with open(path, "rb", buffering=0) as fh:
        if os.fstat(fh.fileno()).st_size < CHUNK:
            return digest_bytes(fh.readall())
        return "sha256:" + hashlib.file_digest(fh, "sha256").hexdigest()


def digest_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()

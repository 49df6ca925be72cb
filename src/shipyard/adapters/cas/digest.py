"""Content digests as the CAS names blobs: ``sha256:<hex>``; standard library only."""

from __future__ import annotations

import hashlib
from pathlib import Path


def digest_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return "sha256:" + hashlib.file_digest(fh, "sha256").hexdigest()


def digest_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()

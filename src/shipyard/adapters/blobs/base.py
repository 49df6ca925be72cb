"""What every blob backend shares: its errors, digest checks while streaming, and writing a
blob to a file through a temporary one."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from shipyard.errors import IntegrityFailure, NotFound, StoreError

CHUNK = 1 << 20  # bytes per chunk read, written, stored as a row or sent
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def check_digest(digest: str) -> str:
    """``digest`` if it names a blob; a key built from anything else could escape a prefix."""
    if not _DIGEST.fullmatch(digest):
        raise NotFound(
            f"'{digest}' is not a sha256 digest",
            "digests look like sha256:<64 hex>",
            code="digest-invalid",
        )
    return digest


def missing(digest: str, where: str) -> NotFound:
    return NotFound(
        f"blob {digest} is not in the store ({where})",
        "it may have been deleted; publish or run the step again",
        code="blob-missing",
    )


def corrupt(digest: str, where: str) -> IntegrityFailure:
    return IntegrityFailure(
        f"blob {digest} is corrupted in {where}",
        "do not use these bytes; publish or run the step again",
        code="blob-corrupt",
    )


def unreachable(what: str, reason: str, hint: str) -> StoreError:
    return StoreError(f"the blob store ({what}) failed: {reason}", hint, code="blob-store-failed")


def checked(digest: str, chunks: Iterable[bytes], where: str) -> Iterator[bytes]:
    """``chunks`` passed through, hashed on the way; ``blob-corrupt`` after the last one if
    they do not hash to ``digest``."""
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
        yield chunk
    if "sha256:" + h.hexdigest() != digest:
        raise corrupt(digest, where)


def file_chunks(src: Path | str) -> Iterator[bytes]:
    with open(src, "rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def write_chunks(chunks: Iterable[bytes], dest: Path) -> None:
    """Write ``chunks`` to ``dest`` through a temporary file beside it, renamed at the end; on
    any error (a corrupt blob included) nothing is left at ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.urandom(4).hex()}.shipyard-tmp")
    try:
        with open(tmp, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise

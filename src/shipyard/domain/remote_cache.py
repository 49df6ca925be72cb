"""The remote cache's decisions: which namespace a path names, what a write may hold, what to
evict, and what an entry of Shipyard's own action cache may restore.

The server speaks Bazel's HTTP remote-cache protocol (``/cache/ac/<sha256 hex>`` for action
results, ``/cache/cas/<sha256 hex>`` for content named by its digest) and Gradle's HTTP build
cache (``/cache/<key>``). Shipyard's own runs use the same two namespaces: an action key is a
SHA-256 hex, so a step's entry lives at ``ac/<key>`` and its files and log at ``cas/<digest>``,
except small ones: an entry carries blobs up to ``INLINE_MAX`` bytes itself (``inline``, as
Bazel's ActionResult may carry an output's contents), so a hit of a small step is one request.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

AC: Final = "ac"
CAS: Final = "cas"
GRADLE: Final = "gradle"
KINDS: Final = (AC, CAS, GRADLE)

_SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}")
# Gradle's build-cache keys are hex hashes (32 characters today); allow what a hash may be.
_GRADLE_KEY: Final = re.compile(r"[0-9a-f]{32,128}")
_DIGEST: Final = re.compile(r"sha256:[0-9a-f]{64}")
_OUTPUT: Final = re.compile(r"[A-Za-z0-9_.-]+")
INLINE_MAX: Final = 16 * 1024  # one blob carried in its entry, at most
INLINE_TOTAL: Final = 64 * 1024  # all the blobs one entry carries, at most


@dataclass(frozen=True)
class Address:
    """A cache entry's namespace and key, from the path under ``/cache/``."""

    kind: str
    key: str


def address(path: str) -> Address | None:
    """``ac/<hex>``, ``cas/<hex>`` or a Gradle ``<key>``; None for anything else."""
    first, sep, rest = path.partition("/")
    if sep:
        if first in (AC, CAS) and _SHA256_HEX.fullmatch(rest):
            return Address(first, rest)
        return None
    if _GRADLE_KEY.fullmatch(first):
        return Address(GRADLE, first)
    return None


def writable(method: str) -> bool:
    """Whether an HTTP method changes the cache (and so needs a token that may write)."""
    return method.upper() not in ("GET", "HEAD")


@dataclass(frozen=True)
class Stored:
    """One entry as eviction sees it."""

    kind: str
    key: str
    size: int
    last_used: str  # ISO-8601 UTC: orders as time does


def to_evict(entries: Iterable[Stored], total: int, limit: int, low: float = 0.9) -> list[Stored]:
    """The least recently used entries to drop so that the cache holds at most ``low`` of
    ``limit``: nothing while ``total`` is within ``limit`` (no churn at the boundary)."""
    if total <= limit:
        return []
    target = int(limit * low)
    out: list[Stored] = []
    for entry in sorted(entries, key=lambda e: (e.last_used, e.kind, e.key)):
        if total <= target:
            break
        out.append(entry)
        total -= entry.size
    return out


def safe_relpath(path: str) -> bool:
    """A relative POSIX path that stays inside the folder it is joined to."""
    if not path or path.startswith("/") or "\\" in path or "\x00" in path:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def action_entry(data: bytes) -> dict[str, Any] | None:
    """A Shipyard action-cache entry read from ``ac/<key>``, or None when the bytes are not
    one: another client's entry, damaged, or naming a file outside the workspace."""
    try:
        entry = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(entry, dict) or entry.get("shipyard") != 1:
        return None
    files, outputs = entry.get("files"), entry.get("outputs")
    log, duration = entry.get("log_digest"), entry.get("duration")
    if not isinstance(files, dict) or not isinstance(outputs, dict):
        return None
    if not all(
        isinstance(p, str) and safe_relpath(p) and isinstance(d, str) and _DIGEST.fullmatch(d)
        for p, d in files.items()
    ):
        return None
    if not all(
        isinstance(k, str) and _OUTPUT.fullmatch(k) and isinstance(v, str)
        for k, v in outputs.items()
    ):
        return None
    if not isinstance(log, str) or not _DIGEST.fullmatch(log):
        return None
    if isinstance(duration, bool) or not isinstance(duration, int | float) or duration < 0:
        return None
    inline = _inline(entry.get("inline", {}))
    if inline is None:
        return None
    return {
        "files": files,
        "outputs": outputs,
        "log_digest": log,
        "duration": float(duration),
        "inline": inline,
    }


def _inline(raw: object) -> dict[str, bytes] | None:
    """The blobs an entry carries, by digest (their bytes are checked by the reader)."""
    if not isinstance(raw, dict):
        return None
    out: dict[str, bytes] = {}
    for digest, text in raw.items():
        if not (isinstance(digest, str) and _DIGEST.fullmatch(digest) and isinstance(text, str)):
            return None
        try:
            out[digest] = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return None
    return out


def action_bytes(
    files: Mapping[str, str],
    outputs: Mapping[str, str],
    log_digest: str,
    duration: float,
    inline: Mapping[str, bytes] | None = None,
) -> bytes:
    """The bytes of a Shipyard action-cache entry, as ``action_entry`` reads them; ``inline``
    are blobs it carries (``to_inline`` chooses them)."""
    entry: dict[str, Any] = {
        "shipyard": 1,
        "files": dict(sorted(files.items())),
        "outputs": dict(sorted(outputs.items())),
        "log_digest": log_digest,
        "duration": round(float(duration), 6),
    }
    if inline:
        entry["inline"] = {d: base64.b64encode(b).decode() for d, b in sorted(inline.items())}
    return json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()


def to_inline(sizes: Mapping[str, int]) -> set[str]:
    """Which of an entry's blobs (digest -> size) it carries: those up to ``INLINE_MAX``,
    smallest first, while they fit in ``INLINE_TOTAL``."""
    chosen: set[str] = set()
    total = 0
    for digest, size in sorted(sizes.items(), key=lambda kv: (kv[1], kv[0])):
        if size > INLINE_MAX or total + size > INLINE_TOTAL:
            break
        chosen.add(digest)
        total += size
    return chosen


def hit_rate(hits: int, misses: int) -> float | None:
    return hits / (hits + misses) if hits + misses else None

"""File names that arrive from elsewhere (a server, an upload) made safe to join to a folder."""

from __future__ import annotations

import re
from typing import Final

_UNSAFE: Final = re.compile(r"[\x00-\x1f\x7f]")
_MAX_BYTES: Final = 255  # the longest name common file systems take


def safe_basename(untrusted: str | None, fallback: str) -> str:
    """The last component of ``untrusted`` with either separator, without control characters;
    ``fallback`` when nothing usable is left (empty, ``.``, ``..``). Joined to a folder, the
    result always names an entry directly inside it."""
    name = _UNSAFE.sub("", (untrusted or "").replace("\\", "/").rsplit("/", 1)[-1])
    while len(name.encode()) > _MAX_BYTES:
        name = name[:-1]
    if name in ("", ".", ".."):
        return fallback
    return name

"""The packages a ``uv.lock`` pins, as distributions a wheel's dependencies resolve against.

Each locked package's dependencies (with their markers and extras) and its
``optional-dependencies`` become ``Requires-Dist`` lines, the latter under ``extra == "..."``,
so ``domain/dependencies.py`` walks them exactly as it walks installed metadata.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from shipyard.domain.dependencies import Dist, normalize
from shipyard.errors import InputError


class LockInvalid(InputError):
    code = "lock-invalid"
    default_hint = "regenerate it with `uv lock`"


def _line(dep: dict[str, Any], extra: str | None = None) -> str:
    name = dep["name"]
    extras = dep.get("extra") or []
    text = f"{name}[{','.join(extras)}]" if extras else name
    markers = [m for m in (dep.get("marker"), f'extra == "{extra}"' if extra else None) if m]
    if markers:
        text += "; " + " and ".join(f"({m})" for m in markers)
    return text


def read(path: Path) -> dict[str, Dist]:
    """Locked packages by normalised name (the first of several versions of one name)."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LockInvalid(f"{path} is not a readable uv.lock: {exc}") from exc
    out: dict[str, Dist] = {}
    for pkg in data.get("package", []):
        if "name" not in pkg or "version" not in pkg:
            continue  # the project itself when it is virtual
        requires = [_line(d) for d in pkg.get("dependencies", [])]
        for extra, deps in pkg.get("optional-dependencies", {}).items():
            requires += [_line(d, extra) for d in deps]
        out.setdefault(normalize(pkg["name"]), Dist(pkg["name"], pkg["version"], tuple(requires)))
    return out

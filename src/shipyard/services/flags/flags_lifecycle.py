"""`shipyard flags stale`: gather each flag's facts, find code that names it, let the domain
decide which flags are due for removal."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

from shipyard.domain.flag_lifecycle import FlagFacts, find_stale
from shipyard.store import flags as repo
from shipyard.store.uow import Store

_SKIP_DIRS = {
    ".git",
    ".shipyard",
    "node_modules",
    "__pycache__",
    ".venv",
    "venv",
    ".tox",
    "dist",
    "build",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
}
_SKIP_FILES = {"shipyard.yaml"}  # declaring a flag is not using it
_MAX_FILE = 1_000_000


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def references(root: Path, names: Iterable[str]) -> dict[str, list[str]]:
    """``file:line`` of every line under ``root`` that names each flag as a whole word."""
    names = list(names)
    found: dict[str, list[str]] = {n: [] for n in names}
    if not names:
        return found
    # A flag name is a word when no name character touches it: `new-checkout` does not match
    # `new-checkout-v2`.
    pattern = re.compile(
        r"(?<![\w.-])("
        + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        + r")(?![\w-])"
    )
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for fname in sorted(files):
            if fname in _SKIP_FILES:
                continue
            path = Path(folder) / fname
            try:
                if path.stat().st_size > _MAX_FILE:
                    continue
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue  # binary or unreadable: not code
            for lineno, line in enumerate(text.splitlines(), 1):
                for match in pattern.finditer(line):
                    found[match.group(1)].append(f"{path.relative_to(root)}:{lineno}")
    return found


class StaleReport(TypedDict):
    days: int
    checked: int  # flags looked at
    stale: list[dict[str, Any]]  # as StaleFlag.to_dict writes them


def stale(
    store: Store, project: str, root: Path | None, days: int = 7, now: datetime | None = None
) -> StaleReport:
    """Flags that look stale; code references are searched under ``root`` (none when None)."""
    now = now or datetime.now(UTC)
    with store.read() as uow:
        rows = repo.rows(uow.conn, project)
        usage = repo.metrics(uow.conn, project)
    last_seen: dict[str, datetime] = {}
    for m in usage:
        # The end of the hour the counts were reported in.
        seen = datetime.fromisoformat(m["hour"] + ":59:59+00:00")
        if m["yes"] + m["no"] and seen > last_seen.get(m["name"], datetime.min.replace(tzinfo=UTC)):
            last_seen[m["name"]] = seen
    by_name: dict[str, list[repo.FlagRow]] = {}
    for r in rows:
        by_name.setdefault(r["name"], []).append(r)
    refs = references(root, by_name) if root is not None else {}
    facts = [
        FlagFacts(
            name=name,
            type=group[0]["type"],
            created_at=min(_ts(r["created_at"]) for r in group),
            environments={r["environment"]: (r["definition"], _ts(r["updated_at"])) for r in group},
            last_evaluated=last_seen.get(name),
            references=tuple(refs.get(name, ())),
        )
        for name, group in by_name.items()
    ]
    found = find_stale(facts, now, days)
    return {
        "days": days,
        "checked": len(facts),
        "stale": [s.to_dict() for s in found],
    }

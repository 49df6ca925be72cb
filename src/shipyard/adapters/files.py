"""The workspace as a pipeline sees it: globs over its files, content digests, tool versions.

The stat cache remembers (size, mtime_ns, inode) -> digest per absolute path in one JSON file
under SHIPYARD_HOME, so a run where nothing changed stats files instead of reading them. It is
a file, not a table: stat data only means something on this machine's file system (it must not
be shared through a server's PostgreSQL), it is read once per run and written once, and loading
a few thousand entries from JSON costs about a millisecond where a query per file would not.
A file modified just before it was hashed is not remembered, since a second write in the same
timestamp tick would leave its stat unchanged (``racy``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.adapters.cas.digest import digest_file
from shipyard.adapters.racy import racy
from shipyard.errors import InputError

IGNORED_DIRS = frozenset({".shipyard", ".git"})
_GLOB_CHARS = re.compile(r"[*?\[]")


class StatCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, list[Any]] = {}
        self.dirty = False
        # What this run saw of each path (size, mtime_ns, inode, digest), for the up-to-date
        # stamp; a path seen twice with different stats makes the run ``unstable``.
        self.seen: dict[str, list[Any]] = {}
        self.unstable = False
        try:
            self.entries = json.loads(path.read_text())
        except (OSError, ValueError):
            self.entries = {}  # missing or damaged: start over, it is only a cache
        if not isinstance(self.entries, dict):
            self.entries = {}

    def digest(self, path: Path | str) -> str:
        """The content digest of ``path``, read only when its stat changed."""
        key = str(path)
        st = os.stat(path)
        stat = [st.st_size, st.st_mtime_ns, st.st_ino]
        entry = self.entries.get(key)
        seen = self.seen.get(key)
        if entry is not None and entry[:3] == stat:
            digest = str(entry[3])
        elif seen is not None and seen[:3] == stat:
            # Written by a step of this run and hashed when it was stored: the same stat within
            # the run is the same file, though too fresh to trust across runs.
            digest = str(seen[3])
        else:
            digest = digest_file(path)
            self._remember(key, st, digest)
        self._saw(key, st, digest)
        return digest

    def observe(self, path: Path | str, digest: str) -> None:
        """Note a file this run wrote or restored, whose digest is already known."""
        self._saw(str(path), os.stat(path), digest)

    def tool(self, path: str, probe: Any) -> str:
        """A tool's version by the stat of its executable; ``probe()`` asks it when unknown."""
        key = "tool:" + path
        st = os.stat(path)
        entry = self.entries.get(key)
        if entry is not None and entry[:3] == [st.st_size, st.st_mtime_ns, st.st_ino]:
            version = str(entry[3])
        else:
            version = str(probe())
            self._remember(key, st, version)
        self._saw(key, st, version)
        return version

    def _saw(self, key: str, st: os.stat_result, value: str) -> None:
        seen = [st.st_size, st.st_mtime_ns, st.st_ino, value]
        if self.seen.setdefault(key, seen) != seen:
            self.unstable = True

    def _remember(self, key: str, st: os.stat_result, value: str) -> None:
        if racy(st.st_mtime_ns, time.time_ns()):
            self.entries.pop(key, None)
            return
        self.entries[key] = [st.st_size, st.st_mtime_ns, st.st_ino, value]
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.entries, separators=(",", ":")))
        os.replace(tmp, self.path)
        self.dirty = False


def listing_digest(files: list[str]) -> str:
    return hashlib.sha256("\n".join(files).encode()).hexdigest()


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A POSIX glob as a regex over relative paths: ``**`` spans folders, ``*`` does not."""
    parts = pattern.strip("/").split("/")
    out = ""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out += ".*" if last else "(?:.*/)?"
            continue
        j = 0
        while j < len(part):
            c = part[j]
            if c == "*":
                out += "[^/]*"
            elif c == "?":
                out += "[^/]"
            elif c == "[" and "]" in part[j + 1 :]:
                end = part.index("]", j + 1)
                body = part[j + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out += "[" + body.replace("\\", "\\\\") + "]"
                j = end
            else:
                out += re.escape(c)
            j += 1
        if not last:
            out += "/"
    return re.compile(out + r"\Z")


def _base(pattern: str) -> str:
    """The folders before the first glob character: only they need walking."""
    fixed: list[str] = []
    for part in pattern.strip("/").split("/")[:-1]:
        if _GLOB_CHARS.search(part) or part == "**":
            break
        fixed.append(part)
    return "/".join(fixed)


@dataclass
class Workspace:
    """Files under ``root``; ``changed()`` forgets listings after a step wrote files."""

    root: Path
    _listings: dict[str, list[str]] = field(default_factory=dict)
    # The first listing of each walked folder, as a digest, for the up-to-date stamp; a folder
    # listed again with other files makes the run ``unstable``.
    listed: dict[str, str] = field(default_factory=dict)
    unstable: bool = False

    def changed(self) -> None:
        self._listings.clear()

    def _files_under(self, base: str) -> list[str]:
        if base not in self._listings:
            found: list[str] = []
            start = self.root / base if base else self.root
            for folder, dirs, files in os.walk(start):
                rel = os.path.relpath(folder, self.root)
                prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
                dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS)
                found.extend(prefix + f for f in sorted(files))
            self._listings[base] = found
            digest = listing_digest(found)
            if self.listed.setdefault(base, digest) != digest:
                self.unstable = True
        return self._listings[base]

    def listing(self, base: str) -> str:
        """The digest of the files under ``base``, as the up-to-date stamp records it."""
        return listing_digest(self._files_under(base))

    def match(self, pattern: str) -> list[str]:
        """Relative paths of the files a pattern names; a folder names every file below it."""
        clean = pattern.strip().removeprefix("./")
        if not _GLOB_CHARS.search(clean):
            target = f"{self.root}/{clean}"
            if os.path.isfile(target):
                return [clean]
            if os.path.isdir(target):
                return self.match(clean.rstrip("/") + "/**")
            return []
        regex = glob_regex(clean)
        return [p for p in self._files_under(_base(clean)) if regex.match(p)]

    def expand(self, patterns: list[str] | tuple[str, ...], what: str, node: str) -> list[str]:
        """Every file the patterns name, sorted; a pattern naming nothing is an error."""
        files: set[str] = set()
        for pattern in patterns:
            matched = self.match(pattern)
            if not matched:
                raise InputError(
                    f"{node}: {what} pattern {pattern!r} matches no file",
                    f"check the path relative to {self.root}, or remove the pattern",
                    code="glob-matches-nothing",
                )
            files.update(matched)
        return sorted(files)


def output_folders(base: Path, patterns: tuple[str, ...], made: set[str]) -> None:
    """Create the folders declared outputs go in, as Bazel and ninja do, so a step need not."""
    for pattern in patterns:
        folder = f"{base}/{_base(pattern.strip().removeprefix('./'))}"
        if folder not in made:
            with contextlib.suppress(OSError):  # a file in the way: the step reports it
                os.makedirs(folder, exist_ok=True)
            made.add(folder)


def tool_version(name: str, cache: StatCache) -> str:
    """The first line ``NAME --version`` prints; a tool that is not installed is an error."""
    path = shutil.which(name)
    if path is None:
        raise InputError(
            f"tool {name!r} is not installed or not on PATH",
            f"install {name}, or remove it from the job's `tools`",
            code="tool-missing",
        )

    def probe() -> str:
        try:
            proc = subprocess.run(
                [path, "--version"], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InputError(
                f"tool {name!r}: `{name} --version` failed: {exc}",
                "a tool listed in `tools` must answer --version",
                code="tool-version-failed",
            ) from exc
        text = (proc.stdout.strip() or proc.stderr.strip()).splitlines()
        if proc.returncode != 0 or not text:
            raise InputError(
                f"tool {name!r}: `{name} --version` exited {proc.returncode} without a version",
                "a tool listed in `tools` must answer --version",
                code="tool-version-failed",
            )
        return text[0].strip()

    return cache.tool(path, probe)


def copy_inputs(root: Path, files: list[str], dest: Path) -> None:
    """The sandbox: only the declared inputs, at the same relative paths."""
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)

"""The commit checked out in a work tree, read from .git the way git stores it.

Every run records its commit, and starting git for it would cost more than the whole up-to-date
check of a large pipeline. Anything less plain (a linked work tree, $GIT_DIR, a ref that is
neither loose nor packed) is left to git itself.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")


def head_commit(root: Path) -> str:
    """The sha HEAD points at; "" outside a repository or before the first commit."""
    if "GIT_DIR" not in os.environ:
        for folder in (root, *root.parents):
            dot = folder / ".git"
            if dot.is_dir():
                return _read(dot) or _ask_git(root)
            if dot.exists():
                break  # a .git file: a linked work tree or a submodule
        else:
            return ""
    return _ask_git(root)


def _read(git_dir: Path) -> str | None:
    try:
        head = (git_dir / "HEAD").read_text().strip()
        if _SHA.fullmatch(head):
            return head  # detached
        ref = head.removeprefix("ref: ")
        loose = git_dir / ref
        if loose.is_file():
            sha = loose.read_text().strip()
            return sha if _SHA.fullmatch(sha) else None
        packed = git_dir / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                sha, _, name = line.partition(" ")
                if name == ref and _SHA.fullmatch(sha):
                    return sha
    except OSError:
        pass
    return None


def _ask_git(root: Path) -> str:
    import subprocess

    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""

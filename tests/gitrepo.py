"""Scripted git histories in temporary folders, for tests of versioning and releases."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(root: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def init(root: Path, branch: str = "main") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", branch)
    git(root, "config", "user.name", "Test Author")
    git(root, "config", "user.email", "author@example.invalid")
    git(root, "config", "commit.gpgsign", "false")
    git(root, "config", "tag.gpgsign", "false")
    return root


def commit(root: Path, message: str, files: dict[str, str] | None = None) -> str:
    """Write the files (or touch a counter file) and commit them; returns the new sha."""
    if not files:
        counter = root / ".counter"
        n = int(counter.read_text()) + 1 if counter.exists() else 1
        files = {".counter": str(n)}
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        git(root, "add", name)
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def tag(root: Path, name: str, ref: str = "HEAD") -> None:
    git(root, "tag", "-a", name, "-m", name, ref)

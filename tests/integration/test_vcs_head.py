"""The checked-out commit read from .git agrees with `git rev-parse HEAD` in every layout."""

from __future__ import annotations

import subprocess
from pathlib import Path

from shipyard.adapters.vcs.head import head_commit


def git(cwd: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "a",
        "GIT_AUTHOR_EMAIL": "a@example.com",
        "GIT_COMMITTER_NAME": "a",
        "GIT_COMMITTER_EMAIL": "a@example.com",
        "HOME": str(cwd),
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _repo(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


def test_unborn_and_outside(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "r")
    assert head_commit(repo) == ""  # no commit yet
    outside = tmp_path / "plain"
    outside.mkdir()
    assert head_commit(outside) == ""


def test_loose_packed_detached_subfolder_and_worktree(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "r")
    (repo / "a.txt").write_text("1")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-qm", "one")
    first = git(repo, "rev-parse", "HEAD")
    assert head_commit(repo) == first  # a loose ref
    (repo / "sub").mkdir()
    assert head_commit(repo / "sub") == first  # found by walking up
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git/refs/heads/main").exists()
    assert head_commit(repo) == first  # a packed ref
    (repo / "a.txt").write_text("2")
    git(repo, "commit", "-qam", "two")
    second = git(repo, "rev-parse", "HEAD")
    assert head_commit(repo) == second  # the loose ref wins over the stale packed one
    git(repo, "checkout", "-q", "--detach", first)
    assert head_commit(repo) == first  # detached
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), "main")
    assert head_commit(tmp_path / "wt") == second  # a .git file: asks git

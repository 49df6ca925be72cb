"""Clones of a project's remote repository through the plain `git` command, for a server and
its workers (no one is at their terminal, so git never prompts): a worker's work tree of one
commit (``checkout``, for ``services/pipelines/run_requests.py``) and the server's clone that
mirrors the remote (``mirror``, for ``services/checkouts.py``). Unlike ``git.py`` these fetch
over the network; a remote's password never appears in what they raise."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from shipyard.errors import NotFound, Refused, ShipyardError

# Mirrors the remote: its branches as local branches (so `release/...` resolves here as it
# does there) and its tags; a branch or tag gone from the remote goes from here too.
MIRROR = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")


class RepositoryUnreachable(Refused):
    code = "repository-unreachable"
    http_status = 502


class CommitMissing(NotFound):
    code = "commit-not-found"


def redact(url: str) -> str:
    """``url`` without its password, fit for a message or an event."""
    return re.sub(r"(//[^:/@]*):[^@]*@", r"\1:***@", url)


def git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`git` that never prompts (no one is at a worker's or a server's terminal)."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def checkout(remote: str, commit: str, dest: Path) -> Path:
    """A work tree of ``commit`` from ``remote``, fetched without a shared file system."""
    cloned = git("clone", "--quiet", "--no-checkout", remote, str(dest))
    if cloned.returncode != 0:
        raise RepositoryUnreachable(
            f"cannot fetch from {redact(remote)}: {cloned.stderr.strip()[:300]}",
            "check the repository's remote and the worker's access to it",
        )
    if git("cat-file", "-e", f"{commit}^{{commit}}", cwd=dest).returncode != 0:
        fetched = git("fetch", "--quiet", "origin", commit, cwd=dest)  # a pull request's head
        if fetched.returncode != 0:
            raise CommitMissing(
                f"{redact(remote)} has no commit {commit}",
                "push it first, or check the commit id",
            )
    done = git("checkout", "--quiet", "--detach", commit, cwd=dest)
    if done.returncode != 0:
        raise CommitMissing(f"cannot check out {commit}: {done.stderr.strip()[:300]}", "")
    return dest


def mirror(remote: str, dest: Path) -> Path:
    """``dest`` brought up to date with ``remote``, cloned anew when it is missing or when
    git cannot bring it up to date (a crash mid-operation, the default branch gone)."""
    if (dest / ".git").is_dir():
        try:
            return _sync(remote, dest)
        except RepositoryUnreachable:
            raise
        except ShipyardError:
            pass
    shutil.rmtree(dest, ignore_errors=True)
    partial = dest.with_name(dest.name + ".new")
    shutil.rmtree(partial, ignore_errors=True)
    cloned = git("clone", "--quiet", remote, str(partial))
    if cloned.returncode != 0:
        raise RepositoryUnreachable(
            f"cannot fetch from {redact(remote)}: {cloned.stderr.strip()[:300]}",
            "check the repository's remote and the server's access to it",
        )
    if git("config", "user.email", cwd=partial).returncode != 0:
        # Commits made here (a cherry-pick) need a committer; the server may have none.
        _ok(git("config", "user.name", "Shipyard", cwd=partial))
        _ok(git("config", "user.email", "shipyard@localhost", cwd=partial))
    partial.rename(dest)  # a clone interrupted half way is never taken for one
    return _sync(remote, dest)


def _sync(remote: str, dest: Path) -> Path:
    _ok(git("remote", "set-url", "origin", remote, cwd=dest))  # the configured one, if changed
    fetched = git(
        "fetch", "--quiet", "--prune", "--force", "--update-head-ok", "origin", *MIRROR, cwd=dest
    )
    if fetched.returncode != 0:
        raise RepositoryUnreachable(
            f"cannot fetch from {redact(remote)}: {fetched.stderr.strip()[:300]}",
            "check the repository's remote and the server's access to it",
        )
    # What an interrupted request left behind goes: a cherry-pick, a work tree, stray files.
    git("cherry-pick", "--abort", cwd=dest)
    git("worktree", "prune", cwd=dest)
    _ok(git("reset", "--quiet", "--hard", "HEAD", cwd=dest))
    _ok(git("clean", "-ffdxq", cwd=dest))
    return dest


def _ok(done: subprocess.CompletedProcess[str]) -> None:
    from shipyard.adapters.vcs.git import GitFailed

    if done.returncode != 0:
        raise GitFailed(f"git {done.args[1]} failed in the server's checkout: {done.stderr[:300]}")

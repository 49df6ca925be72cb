"""The server's git working trees of its projects: a clone of each project's configured
repository (``PUT /api/v1/projects/{project}/repository``) under ``SHIPYARD_HOME/checkouts``.

A server never works in the folder it was started in. Cutting a train, picking onto it,
starting a hotfix, custom gate commands and stale-flag references use this clone instead,
fetched from the remote before each use so it is what the remote holds: every branch and tag
mirrored, the default branch checked out clean. Branches made here are pushed back to the
remote (``push``); the remote is the record, the clone only scratch space.

One request at a time uses a project's clone: a per-project ``flock(2)`` (the kernel drops it
when its holder dies), so two requests, or two servers sharing a home, never move it under
each other. Servers with homes of their own each keep a clone; the remote refuses a push that
is not a fast-forward, so the first to push wins.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

from shipyard.adapters.vcs import clones
from shipyard.errors import InputError
from shipyard.store import run_requests as repo
from shipyard.store.uow import Store

FOLDER = "checkouts"


class RepositoryRequired(InputError):
    code = "repository-required"


@contextlib.contextmanager
def worktree(store: Store, project: str) -> Iterator[Path | None]:
    """The project's clone, fetched just now and held for this context alone; None when no
    repository is configured for the project."""
    with store.read() as uow:
        configured = repo.repository(uow.conn, project)
    if configured is None:
        yield None
        return
    base = store.home / FOLDER
    base.mkdir(parents=True, exist_ok=True)
    key = _key(project)
    with _locked(base / f"{key}.lock"):
        yield clones.mirror(str(configured["remote"]), base / key)


@contextlib.contextmanager
def required(store: Store, project: str) -> Iterator[Path]:
    """`worktree`, refusing with ``repository-required`` when none is configured."""
    with worktree(store, project) as root:
        if root is None:
            raise RepositoryRequired(
                f"this needs {project}'s git repository, and none is configured for it",
                f"an admin sets it: PUT /api/v1/projects/{project}/repository",
            )
        yield root


def push(root: Path, branches: list[str]) -> None:
    """Push ``branches`` from the clone to its remote, all or none, never forcing."""
    from shipyard.adapters.vcs.git import GitRepo

    GitRepo(root).push("origin", [f"refs/heads/{b}:refs/heads/{b}" for b in branches])


def _key(project: str) -> str:
    # A folder name whatever the project's name holds ("/", ".."), still readable.
    readable = re.sub(r"[^A-Za-z0-9._-]", "_", project)[:60].lstrip(".")
    return f"{readable}-{hashlib.sha256(project.encode()).hexdigest()[:12]}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)

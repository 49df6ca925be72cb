"""The server's clones of projects' repositories (services/checkouts.py): one user at a time,
fresh from the remote each time, none without a configured repository."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from shipyard.services import checkouts
from shipyard.services.compliance.audit import ensure_project
from shipyard.store import run_requests as repo
from shipyard.store.append import utcnow
from shipyard.store.uow import Store
from tests import gitrepo


def _configure(store: Store, project: str, remote: Path) -> None:
    with store.begin() as uow:
        ensure_project(uow, project)
        repo.put_repository(
            uow.conn,
            {
                "project": project,
                "name": f"acme/{project}",
                "remote": str(remote),
                "secret": "s" * 20,
                "executor": "local",
                "status_command": None,
                "updated_at": utcnow(),
            },
        )


def _origin(tmp_path: Path) -> tuple[Path, Path]:
    work = gitrepo.init(tmp_path / "work")
    gitrepo.commit(work, "feat: start")
    origin = tmp_path / "origin.git"
    gitrepo.git(tmp_path, "clone", "-q", "--bare", str(work), str(origin))
    return work, origin


def test_no_configured_repository_means_no_worktree(store: Store) -> None:
    """A project without a repository has no clone, and `required` says how to set one."""
    with checkouts.worktree(store, "shop") as root:
        assert root is None
    with pytest.raises(checkouts.RepositoryRequired) as caught, checkouts.required(store, "shop"):
        pass
    assert "PUT /api/v1/projects/shop/repository" in caught.value.hint


def test_the_clone_follows_the_remote_and_forgets_local_leftovers(
    store: Store, tmp_path: Path
) -> None:
    """Each use sees the remote's newest main, its branches and tags; a stray file and a local
    branch the remote never got are gone by the next use."""
    work, origin = _origin(tmp_path)
    _configure(store, "shop", origin)
    with checkouts.required(store, "shop") as root:
        (root / "stray.txt").write_text("left by a gate command\n")
        gitrepo.git(root, "branch", "release/unpushed")
    newer = gitrepo.commit(work, "fix: newer")
    gitrepo.tag(work, "v1.0.0")
    gitrepo.git(work, "branch", "release/pushed")
    gitrepo.git(work, "push", "-q", str(origin), "main", "release/pushed", "v1.0.0")
    with checkouts.required(store, "shop") as again:
        assert again == root
        assert gitrepo.git(root, "rev-parse", "HEAD") == newer
        assert gitrepo.git(root, "rev-parse", "release/pushed") == newer
        assert gitrepo.git(root, "rev-parse", "v1.0.0^{commit}") == newer
        assert gitrepo.git(root, "branch", "--list", "release/unpushed") == ""
        assert not (root / "stray.txt").exists()


def test_one_user_of_a_projects_clone_at_a_time(store: Store, tmp_path: Path) -> None:
    """Threads that each make and push a branch in the clone never overlap, and every branch
    reaches the remote."""
    _work, origin = _origin(tmp_path)
    _configure(store, "shop", origin)
    inside: list[int] = []
    overlaps: list[int] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for k in range(3):
                with checkouts.required(store, "shop") as root:
                    inside.append(n)
                    if len(inside) > 1:
                        overlaps.append(n)
                    gitrepo.git(root, "branch", f"b-{n}-{k}")
                    time.sleep(0.02)
                    checkouts.push(root, [f"b-{n}-{k}"])
                    inside.remove(n)
        except BaseException as exc:  # reported below, not lost in a thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and overlaps == []
    pushed = gitrepo.git(origin, "branch", "--list", "b-*").split()
    assert sorted(pushed) == sorted(f"b-{n}-{k}" for n in range(3) for k in range(3))

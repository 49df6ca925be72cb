"""Projects' specs in the database: what `shipyard apply` sends, and what a server serves.

A server holds any number of projects and reads each one's shipyard.yaml from the database,
never from its working directory. `shipyard apply` sends the file; it is checked exactly as
`shipyard validate` checks it (every problem with file, line and column), and a changed file
becomes a new revision with its ``project.applied`` event in the same transaction. Sending the
same bytes again changes nothing.

A server started inside a repository takes that repository's shipyard.yaml as the first
revision of its project when the database holds none yet (read once per process), so a
one-project server works without an `apply`; after that only `apply` changes it.
"""

from __future__ import annotations

import hashlib
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from shipyard.errors import Forbidden, InputError, NotFound
from shipyard.services.audit import ensure_project
from shipyard.store import specs as repo
from shipyard.store.append import utcnow
from shipyard.store.uow import Store


class SpecNotApplied(NotFound):
    code = "spec-not-applied"
    default_hint = "send it with `shipyard apply` from the project's repository"


def digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def apply(
    store: Store, text: str, file: str, actor: str, *, project: str | None = None
) -> dict[str, Any]:
    """Check ``text`` as `shipyard validate` does and keep it as the project's newest revision;
    ``project``, when given (the URL's), must be the file's."""
    from shipyard.spec.load import check_spec

    spec = check_spec(text, file)
    if project is not None and spec.project != project:
        raise InputError(
            f"{file} is project '{spec.project}', not '{project}'",
            f"send it to /api/v1/projects/{spec.project}/spec, or fix `project:` in the file",
            code="spec-project-mismatch",
        )
    d = digest(text)
    with store.begin() as uow:
        now = repo.current(uow.conn, spec.project, text=False)
        if now is not None and now["digest"] == d:
            return _view(now, changed=False, environments=list(spec.environments))
        revision = (now["revision"] + 1) if now is not None else 1
        ensure_project(uow, spec.project)
        row = {
            "project": spec.project,
            "revision": revision,
            "digest": d,
            "yaml": text,
            "file": file[-300:],
            "created_at": utcnow(),
            "created_by": actor,
        }
        repo.add(uow.conn, row)
        uow.events.append(
            "project.applied",
            f"project:{spec.project}",
            actor,
            {
                "revision": revision,
                "digest": d,
                "previous": now["digest"] if now is not None else None,
                "environments": list(spec.environments),
                "flags": len(spec.flags),
                "jobs": len(spec.pipeline.jobs),
            },
            project=spec.project,
        )
    return _view(row, changed=True, environments=list(spec.environments))


def _view(row: dict[str, Any], **extra: Any) -> dict[str, Any]:
    keys = ("project", "revision", "digest", "file", "created_at", "created_by")
    return {**{k: row[k] for k in keys}, **extra}


@lru_cache(maxsize=256)
def _parsed(text: str, file: str) -> Any:
    from shipyard.spec.load import parse_spec

    return parse_spec(text, file)


def current(store: Store, project: str) -> Any | None:
    """The project's newest spec, or None when none was applied (and the server's own
    repository, if it runs in one of this project, was not taken as its first)."""
    with store.read() as uow:
        row = repo.current(uow.conn, project)
    if row is None and _bootstrap(store, project):
        with store.read() as uow:
            row = repo.current(uow.conn, project)
    return None if row is None else _parsed(row["yaml"], f"{project}@{row['revision']}")


def get(store: Store, project: str) -> dict[str, Any]:
    """The newest revision's text and facts (`GET /api/v1/projects/{name}/spec`)."""
    with store.read() as uow:
        row = repo.current(uow.conn, project)
    if row is None:
        raise SpecNotApplied(f"project '{project}' has no shipyard.yaml on this server")
    return {**_view(row), "yaml": row["yaml"]}


def require(store: Store, project: str) -> Any:
    spec = current(store, project)
    if spec is None:
        raise SpecNotApplied(f"project '{project}' has no shipyard.yaml on this server")
    return spec


_local_lock = threading.Lock()
_local: dict[Path, tuple[str, str] | None] = {}  # working directory -> (project, text), read once


def local_project() -> str | None:
    """The project of the repository the server was started in, if any (read once)."""
    found = _local_file()
    return found[0] if found is not None else None


def _local_file() -> tuple[str, str] | None:
    here = Path.cwd()
    with _local_lock:
        if here not in _local:
            _local[here] = _read_local()
        return _local[here]


def _read_local() -> tuple[str, str] | None:
    from shipyard.errors import ShipyardError
    from shipyard.spec.load import find_spec, parse_spec, read_spec

    try:
        path = find_spec()
        text = read_spec(path)
        return parse_spec(text, str(path)).project, text
    except ShipyardError:
        return None


def _bootstrap(store: Store, project: str) -> bool:
    """Take the working directory's shipyard.yaml as ``project``'s first revision."""
    from shipyard.errors import ShipyardError

    found = _local_file()
    if found is None or found[0] != project:
        return False
    try:
        apply(store, found[1], "shipyard.yaml", "server")
    except ShipyardError:
        return False  # a file `validate` refuses is not served; `apply` says why
    return True


def repository_root(project: str) -> Path | None:
    """The server's working tree, when it is the repository of ``project`` (for deploying a
    version from the tree rather than from the registry)."""
    if local_project() != project:
        return None
    from shipyard.spec.load import find_spec

    return find_spec().resolve().parent


def choose(principal: Any, project: str | None) -> str:
    """The project a request is about: the one asked for, the token's own, or the server's
    repository's."""
    chosen = project or principal.project or local_project()
    if chosen is None:
        raise InputError(
            "which project? this token is not limited to one",
            "pass ?project=NAME",
            code="project-required",
        )
    if principal.project is not None and chosen != principal.project:
        raise Forbidden(
            f"this token is limited to project '{principal.project}'",
            "use a token for this project",
        )
    return chosen

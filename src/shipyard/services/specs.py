"""Projects' specs in the database: what `shipyard apply` sends, and what a server serves.

A server holds any number of projects and reads each one's shipyard.yaml from the database,
never from its working directory. `shipyard apply` sends the file; it is checked exactly as
`shipyard validate` checks it (every problem with file, line and column), and a changed file
becomes a new revision with its ``project.applied`` event in the same transaction. Sending the
same bytes again changes nothing.

A request that names no project is about its token's project, or the one project the server
holds (`choose`); where the server runs says nothing about it.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import TYPE_CHECKING

from shipyard.domain.projects import choose_project
from shipyard.errors import InputError, NotFound
from shipyard.services.compliance.audit import ensure_project
from shipyard.store import specs as repo
from shipyard.store.append import utcnow
from shipyard.store.specs import SpecRevision, SpecRow
from shipyard.store.uow import Store

if TYPE_CHECKING:
    from shipyard.services.tokens import Principal
    from shipyard.spec.models import Spec as Spec  # the type api/ and web/ name it by


class SpecNotApplied(NotFound):
    code = "spec-not-applied"
    default_hint = "send it with `shipyard apply` from the project's repository"


def digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class SpecApplied(SpecRevision):
    """`shipyard apply`: the project's newest revision, and whether this made it."""

    changed: bool
    environments: list[str]


class SpecText(SpecRevision):
    yaml: str


def apply(
    store: Store, text: str, file: str, actor: str, *, project: str | None = None
) -> SpecApplied:
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
            return {**_view(now), "changed": False, "environments": list(spec.environments)}
        revision = (now["revision"] + 1) if now is not None else 1
        ensure_project(uow, spec.project)
        row: SpecRow = {
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
    return {**_view(row), "changed": True, "environments": list(spec.environments)}


def _view(row: SpecRow) -> SpecRevision:
    return {
        "project": row["project"],
        "revision": row["revision"],
        "digest": row["digest"],
        "file": row["file"],
        "created_at": row["created_at"],
        "created_by": row["created_by"],
    }


@lru_cache(maxsize=256)
def _parsed(text: str, file: str) -> Spec:
    from shipyard.spec.load import parse_spec

    return parse_spec(text, file)


def current(store: Store, project: str) -> Spec | None:
    """The project's newest spec, or None when none was applied."""
    with store.read() as uow:
        row = repo.current(uow.conn, project)
    return None if row is None else _parsed(row["yaml"], f"{project}@{row['revision']}")


def get(store: Store, project: str) -> SpecText:
    """The newest revision's text and facts (`GET /api/v1/projects/{name}/spec`)."""
    with store.read() as uow:
        row = repo.current(uow.conn, project)
    if row is None:
        raise SpecNotApplied(f"project '{project}' has no shipyard.yaml on this server")
    return {**_view(row), "yaml": row["yaml"]}


def require(store: Store, project: str) -> Spec:
    spec = current(store, project)
    if spec is None:
        raise SpecNotApplied(f"project '{project}' has no shipyard.yaml on this server")
    return spec


def held(store: Store) -> list[str]:
    """Every project the server holds, by name."""
    from shipyard.services.projects import list_projects

    return list_projects(store, None)


def choose(store: Store, principal: Principal | None, project: str | None) -> str:
    """The project a request is about: the one asked for, the token's own, or the only one
    the server holds (``project-required`` when that leaves it open). Without a principal
    (the public status page) only the last applies."""
    token = principal.project if principal is not None else None
    if project is None and token is None:
        return choose_project(None, None, held(store))
    return choose_project(project, token, ())

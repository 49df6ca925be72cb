"""Which projects a server holds, and who may add one.

A write through the API names its project. A token tied to a project writes to that project
(it was made for it); a token tied to none writes only to a project the server already holds,
so that a developer's typo or a hostile ``?project=`` cannot make new projects. A global admin
adds one, explicitly (``POST /api/v1/projects``) or by writing to it.
"""

from __future__ import annotations

from typing import TypedDict

from sqlalchemy import select

from shipyard.domain.access import Role, covers
from shipyard.errors import Forbidden, InputError, NotFound
from shipyard.services.compliance.audit import ensure_project
from shipyard.services.tokens import Principal
from shipyard.store.schema import projects
from shipyard.store.uow import Store

_MAX_NAME = 100


def exists(store: Store, name: str) -> bool:
    with store.read() as uow:
        row = uow.conn.execute(select(projects.c.name).where(projects.c.name == name)).first()
    return row is not None


def admit(store: Store, who: Principal, name: str) -> None:
    """Let ``who`` write to project ``name``, recording it when the writer may create it."""
    if not covers(who.project, name):
        raise Forbidden(
            f"this token is limited to project '{who.project}'", "use a token for this project"
        )
    if exists(store, name):
        return
    if who.project is None and who.role is not Role.ADMIN:
        raise NotFound(
            f"no project '{name}' on this server",
            "check the name; a global admin adds a project with POST /api/v1/projects",
            code="project-not-found",
        )
    create(store, name)


class ProjectMade(TypedDict):
    name: str


def create(store: Store, name: str) -> ProjectMade:
    if not name or len(name) > _MAX_NAME or name == "*" or not name.isprintable():
        raise InputError(
            f"'{name}' is not a project name",
            f"use up to {_MAX_NAME} printable characters",
            code="project-name-invalid",
        )
    with store.begin() as uow:
        ensure_project(uow, name)
    return {"name": name}


def list_projects(store: Store, scope: str | None) -> list[str]:
    """The projects a token tied to ``scope`` (None: every one) sees."""
    query = select(projects.c.name).order_by(projects.c.name)
    if scope is not None:
        query = query.where(projects.c.name == scope)
    with store.read() as uow:
        return [r.name for r in uow.conn.execute(query)]
